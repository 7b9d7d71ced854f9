// The record holds to its last line: the compiled gateway signs checkpoints of its audit log,
// the admin API serves the latest, and `gatehouse verify --checkpoint` with that copy finds the
// records an attacker cut off the end after a kill -9, which the hash chain alone cannot.
import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Checkpoint } from "../src/audit/checkpoint.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";

let gw: GatewayProcess | undefined;
let upstream: ReturnType<typeof Bun.serve> | undefined;
afterAll(() => {
  gw?.cleanup();
  upstream?.stop(true);
});

/** The admin API's checkpoint once `ok` holds of it, polled; fails naming `what`. */
async function checkpointWhen(adminUrl: string, ok: (cp: Checkpoint) => boolean, what: string): Promise<Checkpoint> {
  return await waitFor(`the admin API to serve ${what}`, async () => {
    const r = await fetch(`${adminUrl}/audit/checkpoint`);
    if (r.status !== 200) {
      await r.arrayBuffer();
      return null;
    }
    const cp = (await r.json()) as Checkpoint;
    return ok(cp) ? cp : null;
  });
}

test("verify --checkpoint with the admin API's copy: passes on the log after kill -9, fails once its last records are cut; stop writes a checkpoint", async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:0 } }
audit: { path: ./state/audit/audit.log, checkpoints: { records: 10 } }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: 127.0.0.1:0, upstream: "http://127.0.0.1:${upstream.port}" }
rules:
  - { name: read, groups: [dev], http: { methods: [GET], paths: ["/ok/**"] }, effect: allow }
`;
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml } });
  const port = gw.port("api");
  const token = (await runCli(["token", "--config", gw.configPath, "--sub", "cp", "--groups", "dev"])).stdout.trim();
  const key = await runCli(["audit-key", "--config", gw.configPath]);
  expect(key.code).toBe(0);
  const publicKey = key.stdout.trim();
  expect(publicKey).toMatch(/^ed25519:[A-Za-z0-9_-]{43}$/);

  // The start itself is checkpointed, so there is one to serve at once.
  const atStart = await checkpointWhen(gw.adminUrl, () => true, "a checkpoint after start");
  expect(atStart.key_id).toMatch(/^[0-9a-f]{16}$/);
  const get = async (i: number) => {
    const r = await fetch(`http://127.0.0.1:${port}/ok/${i}`, { headers: { authorization: `Bearer ${token}` } });
    await r.arrayBuffer();
    expect(r.status).toBe(200);
  };
  for (let i = 0; i < 30; i++) await get(i);
  const saved = await checkpointWhen(gw.adminUrl, (cp) => cp.seq >= atStart.seq + 20, "a checkpoint covering the requests");
  const savedFile = join(gw.dir, "checkpoint.json");
  writeFileSync(savedFile, JSON.stringify(saved));
  for (let i = 30; i < 35; i++) await get(i);
  await gw.kill9();

  const intact = await runCli(["verify", gw.auditPath, "--key", publicKey, "--checkpoint", savedFile]);
  expect(intact.stdout).toContain(`saved head: seq ${saved.seq} is in the log with hash ${saved.hash}`);
  expect(intact.code).toBe(0);

  // An attacker cuts the log back to before the saved head: the chain that is left is intact.
  const lines = readFileSync(gw.auditPath, "utf8").split("\n").slice(0, -1);
  const at = lines.findIndex((l) => (JSON.parse(l) as { seq: number }).seq === saved.seq);
  expect(at).toBeGreaterThan(0);
  const original = readFileSync(gw.auditPath);
  writeFileSync(gw.auditPath, lines.slice(0, at - 2).map((l) => l + "\n").join(""));
  const chainOnly = await runCli(["verify", gw.auditPath, "--key", publicKey]);
  expect(chainOnly.stdout).toStartWith(`ok: ${at - 2} records, chain intact\n`);
  expect(chainOnly.code).toBe(0);
  const cutFound = await runCli(["verify", gw.auditPath, "--key", publicKey, "--checkpoint", savedFile]);
  expect(cutFound.stdout).toContain(`the log was cut or rewritten: it ends at seq ${at - 2}, but the saved head is seq ${saved.seq}`);
  expect(cutFound.code).toBe(1);
  // With the configuration, verify finds the key in the state folder itself.
  expect((await runCli(["verify", "--config", gw.configPath, "--checkpoint", savedFile])).code).toBe(1);

  // Restored, restarted and stopped: the stop's own record is the last one a checkpoint signs.
  writeFileSync(gw.auditPath, original);
  await gw.restart();
  expect(await gw.stop()).toBe(0);
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.at(-1)?.type === "audit.checkpoint", "a checkpoint as the last record after stop");
  expect(records.at(-2)!.type).toBe("gateway.stop");
  const afterStop = await runCli(["verify", "--config", gw.configPath, "--checkpoint", savedFile]);
  expect(afterStop.stdout).toContain("not yet checkpointed: 0 records\n");
  expect(afterStop.code).toBe(0);
});

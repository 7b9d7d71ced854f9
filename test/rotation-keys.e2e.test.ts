// End to end, the gateway's own keys. The dev issuer's key file replaced while the gateway runs:
// tokens signed with the new key are accepted without a restart, tokens signed with the old one
// are refused from then on (whoever held the old key could mint tokens of any lifetime), and the
// audit log records the change by key id. The audit checkpoint key replaced across a restart:
// `gatehouse verify` checks the log with both keys, and not with the new one alone.
// Compiled binary.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { auditRecordsWhen, makeTempDir, runCli, startGatewayProcess, type GatewayProcess } from "./helpers/gateway.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(90_000);

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let dir: string;

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (req.headers.get("upgrade") === "websocket" && srv.upgrade(req, { data: {} }) ? undefined : Response.json({ ok: true })),
    websocket: { message: (ws, msg) => void ws.send(`echo:${String(msg)}`) },
  });
  dir = makeTempDir("gatehouse-rotation-keys-");
  mkdirSync(join(dir, "keys"));
  for (const name of ["a", "b"]) {
    const r = Bun.spawnSync(["openssl", "genpkey", "-algorithm", "ed25519", "-out", join(dir, `keys/${name}.pem`)]);
    if (r.exitCode !== 0) throw new Error(`openssl genpkey failed: ${r.stderr.toString()}`);
    chmodSync(join(dir, `keys/${name}.pem`), 0o600);
  }
  copyFileSync(join(dir, "keys/a.pem"), join(dir, "keys/audit.pem"));
  chmodSync(join(dir, "keys/audit.pem"), 0o600);
  gw = await startGatewayProcess({
    dir,
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log, checkpoints: { key_file: ./keys/audit.pem, records: 1 } }
identity: { dev_issuer: true }
targets:
  - name: api
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:${upstream.port}
rules:
  - name: devs
    groups: [developers]
    http: { methods: [GET], paths: ["/**"] }
    effect: allow
`,
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  upstream?.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

async function mint(stateDir: string): Promise<string> {
  const r = await runCli(["token", "--state-dir", stateDir, "--sub", "alice", "--groups", "developers", "--ttl", "1h"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim().split("\n")[0]!;
}

const get = (token: string) => fetch(`http://127.0.0.1:${gw.port("api")}/x`, { headers: { authorization: `Bearer ${token}` } });

test("a replaced dev issuer key: new tokens are accepted without a restart, tokens of the old key are refused and their live WebSocket ends, the change is recorded", async () => {
  const old = await mint(join(dir, "state"));
  expect((await get(old)).status).toBe(200);
  // A session opened with the old key: a WebSocket, authenticated once at its start.
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port("api")}/ws`, { headers: { authorization: `Bearer ${old}` } } as unknown as string[]);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
  const echoed = new Promise<string>((resolve) => (ws.onmessage = (e) => resolve(String(e.data))));
  await within("the WebSocket to open", new Promise<void>((resolve, reject) => ((ws.onopen = () => resolve()), (ws.onerror = () => reject(new Error("websocket failed to open"))))));
  ws.send("hi");
  expect(await within("the echo", echoed)).toBe("echo:hi");

  // A new key made elsewhere, installed by a rename (mode 0600, as the gateway requires).
  const elsewhere = join(dir, "elsewhere");
  const fresh = await mint(elsewhere);
  const target = join(dir, "state/dev-issuer/key.jwk");
  copyFileSync(join(elsewhere, "dev-issuer/key.jwk"), `${target}.new`);
  chmodSync(`${target}.new`, 0o600);
  renameSync(`${target}.new`, target);

  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((r) => r.type === "key.rotated"), "a key.rotated record");
  const rotated = records.find((r) => r.type === "key.rotated")!;
  expect(rotated.details).toMatchObject({ key: "dev_issuer", kid: expect.any(String), previous_kid: expect.any(String) });
  expect((rotated.details as { kid: string }).kid).not.toBe((rotated.details as { previous_kid: string }).previous_kid);

  expect((await get(fresh)).status).toBe(200);
  expect((await get(old)).status).toBe(401);
  expect(await within("the old key's WebSocket to close", closed)).toEqual({ code: 1008, reason: "credential revoked" });
});

test("a replaced audit checkpoint key signs after a restart; verify trusts the log with both keys, not with the new one alone", async () => {
  const keyA = await runCli(["audit-key", "--config", gw.configPath]);
  expect(keyA.code).toBe(0);
  const publicA = /ed25519:[A-Za-z0-9_-]+/.exec(keyA.stdout)?.[0];
  expect(publicA).toBeDefined();
  await gw.stop();

  // The new key moved into place while the gateway is down; it signs from the restart on.
  copyFileSync(join(dir, "keys/b.pem"), join(dir, "keys/audit.pem.new"));
  chmodSync(join(dir, "keys/audit.pem.new"), 0o600);
  renameSync(join(dir, "keys/audit.pem.new"), join(dir, "keys/audit.pem"));
  await gw.restart();
  const keyB = await runCli(["audit-key", "--config", gw.configPath]);
  const publicB = /ed25519:[A-Za-z0-9_-]+/.exec(keyB.stdout)?.[0];
  expect(publicB).toBeDefined();
  expect(publicB).not.toBe(publicA);
  const token = await mint(join(dir, "state"));
  expect((await get(token)).status).toBe(200);
  await gw.stop();

  const both = await runCli(["verify", gw.auditPath, "--key", publicA!, "--key", publicB!]);
  expect(both.stdout + both.stderr).toContain("every signature valid");
  expect(both.code).toBe(0);
  const onlyNew = await runCli(["verify", gw.auditPath, "--key", publicB!]);
  expect(onlyNew.code).not.toBe(0);
  await gw.restart();
  await waitFor("the gateway to serve again", async () => (await get(token)).status === 200);
});

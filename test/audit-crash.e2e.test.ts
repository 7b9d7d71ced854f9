// Nothing acknowledged is lost: kill -9 the compiled gateway again and again while clients
// drive it, restart it, and check that the chain verifies and that every request a client saw
// answered has its decision in the log.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";

// Five kill-and-restart rounds: seconds on an idle machine, much longer on a loaded one.
setDefaultTimeout(120_000);

let gw: GatewayProcess | undefined;
let upstream: ReturnType<typeof Bun.serve> | undefined;
afterAll(() => {
  gw?.cleanup();
  upstream?.stop(true);
});

test("kill -9 under load loses no acknowledged decision and leaves a verifiable chain", async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:0 } }
audit: { path: ./state/audit/audit.log, rotate_size: 64KB }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: 127.0.0.1:0, upstream: "http://127.0.0.1:${upstream.port}" }
rules:
  - { name: read, groups: [dev], http: { methods: [GET], paths: ["/ok/**"] }, effect: allow }
`;
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml } });
  const tok = (await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "crash", "--groups", "dev"])).stdout.trim();
  const answered: string[] = [];
  let n = 0;
  for (let round = 0; round < 5; round++) {
    // Each start binds a new port.
    const port = gw.port("api");
    let running = true;
    const client = async () => {
      while (running) {
        const path = `/${n % 3 === 0 ? "no" : "ok"}/${round}-${n++}`;
        try {
          const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${tok}` } });
          await r.arrayBuffer();
          if (r.status === 200 || r.status === 403) answered.push(path);
        } catch {
          return; // the gateway died under us: that request was never answered
        }
      }
    };
    const clients = Array.from({ length: 8 }, client);
    // Kill while the clients are busy, after a number of answers that differs by round.
    const enough = answered.length + 30 + round * 10;
    await waitFor(`${enough} answered requests (round ${round})`, () => answered.length >= enough);
    await gw.kill9();
    running = false;
    await Promise.all(clients);
    await gw.restart();
  }
  await gw.stop();
  expect(answered.length).toBeGreaterThan(100);

  const v = await runCli(["verify", gw.auditPath]);
  expect(v.stdout + v.stderr).not.toContain("hash mismatch");
  expect(v.code).toBe(0);

  const all = await runCli(["tail", gw.auditPath, "--type", "decision", "--json"]);
  expect(all.code).toBe(0);
  const logged = new Set(all.stdout.trim().split("\n").map((l) => JSON.parse(l).action?.path as string));
  const missing = answered.filter((p) => !logged.has(p));
  expect(missing).toEqual([]);
  // The restarts were audited; a torn tail, if a kill left one, was repaired and reported.
  // Across the rotated files too: a start can be the record that fills the live file.
  const started = await runCli(["tail", gw.auditPath, "--type", "gateway.start", "--json"]);
  expect(started.code).toBe(0);
  expect(started.stdout.trim().split("\n").length).toBe(6); // the first start and five restarts
});

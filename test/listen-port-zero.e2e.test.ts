// Listeners on port 0: the system picks free ports, the gateway binds them and says which in its
// "serving" log line, so that tests (and anyone running several gateways) never pick a port and
// race another process to it. Each target and the admin API get a port of their own.
import { afterAll, expect, test } from "bun:test";
import { type GatewayProcess, startGatewayProcess } from "./helpers/gateway.ts";

let gw: GatewayProcess | undefined;
let upstream: ReturnType<typeof Bun.serve> | undefined;
afterAll(() => {
  gw?.cleanup();
  upstream?.stop(true);
});

test("targets and the admin API on port 0 get distinct free ports, reported in the serving line, that accept connections", async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
  gw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${upstream.port}" }
  - { name: other, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${upstream.port}" }
  - name: db
    kind: postgres
    listen: "127.0.0.1:0"
    upstream: { host: 127.0.0.1, port: 1, database: postgres, user: nobody }
rules:
  - { name: none, groups: [nobody], effect: allow }
`,
    },
  });
  const ports = [gw.port("api"), gw.port("other"), gw.port("db"), gw.adminPort];
  for (const p of ports) expect(p).toBeGreaterThan(0);
  expect(new Set(ports).size).toBe(4);
  // Each answers as what it is: the HTTP targets refuse a request without a token, the admin API is healthy.
  for (const name of ["api", "other"]) expect((await fetch(`http://127.0.0.1:${gw.port(name)}/x`)).status).toBe(401);
  expect((await fetch(`${gw.adminUrl}/healthz`)).status).toBe(200);
  const pgSocket = await Bun.connect({ hostname: "127.0.0.1", port: gw.port("db"), socket: { data() {} } });
  pgSocket.end();
});

// End to end: the compiled gateway's audit log becomes unwritable while it serves (its file
// size limit, RLIMIT_FSIZE, is lowered to the log's size with prlimit, so the next write fails
// with EFBIG). A request already forwarded finishes, and its lost request record is logged at
// error level, counted in /metrics and turns /healthz unhealthy; every later request, whose
// decision record cannot be written, is refused with a 503 that says why, and none reaches the
// upstream.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { type GatewayProcess, auditRecordsWhen, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let base: string;
let token: string;
const seen: string[] = [];
let slowArrived!: () => void;
const slowArrival = new Promise<void>((r) => (slowArrived = r));
let releaseSlow!: () => void;
const slowRelease = new Promise<void>((r) => (releaseSlow = r));

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      seen.push(path);
      if (path === "/slow") {
        slowArrived();
        await slowRelease;
      }
      return Response.json({ path });
    },
  });
  gw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": httpGatewayYaml({
        adminPort: 0,
        listen: "127.0.0.1:0",
        upstream: `http://127.0.0.1:${upstream.port}`,
        rules: `
  - name: developers-read
    groups: [developers]
    http: { methods: [GET], paths: ["/**"] }
    effect: allow
`,
      }),
    },
    // Ignored SIGXFSZ is inherited across exec: a write past the limit then fails with EFBIG
    // instead of killing the process.
    argvPrefix: ["sh", "-c", 'trap "" XFSZ; exec "$0" "$@"'],
  });
  base = `http://127.0.0.1:${gw.port("api")}`;
  const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "alice", "--groups", "developers", "--ttl", "30m"]);
  expect(r.code).toBe(0);
  token = r.stdout.trim();
}, 30_000);

afterAll(() => {
  releaseSlow?.();
  gw?.cleanup();
  upstream?.stop(true);
});

/** From now on every write to the gateway's audit log fails (EFBIG). */
async function makeAuditLogUnwritable(): Promise<void> {
  const size = statSync(gw.auditPath).size;
  const p = Bun.spawn(["prlimit", "--pid", String(gw.proc.pid), `--fsize=${size}:${size}`], { stderr: "pipe" });
  const code = await p.exited;
  if (code !== 0) throw new Error(`prlimit failed: ${await new Response(p.stderr).text()}`);
}

test("the audit log fails mid-request: the completion is lost loudly, then every request is refused with 503", async () => {
  const admin = gw.adminUrl;
  expect((await fetch(`${admin}/healthz`)).status).toBe(200);
  expect((await fetch(`${admin}/readyz`)).status).toBe(200);
  const auth = { authorization: `Bearer ${token}` };

  // Forwarded (its decision is in the log) before the log fails; answered after.
  const slow = fetch(`${base}/slow`, { headers: auth });
  await slowArrival;
  await auditRecordsWhen(gw.auditPath, (all) => all.some((r) => r.type === "decision" && (r.action as { path?: string } | undefined)?.path === "/slow"), "the decision record of GET /slow");
  await makeAuditLogUnwritable();
  releaseSlow();
  const slowRes = await slow;
  expect(slowRes.status).toBe(200);
  expect(await slowRes.json()).toEqual({ path: "/slow" });

  await gw.waitForLog("audit record lost: the request record could not be written");
  expect(gw.logs()).toMatch(/ERROR .*audit record lost: the request record could not be written.*EFBIG: file too large/);
  const metrics = await (await fetch(`${admin}/metrics`)).text();
  expect(metrics).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="request"} 1');
  const health = await fetch(`${admin}/healthz`);
  expect(health.status).toBe(503);
  const h = (await health.json()) as { status: string; reason: string };
  expect(h.status).toBe("unhealthy");
  expect(h.reason).toContain("EFBIG: file too large");
  const ready = await fetch(`${admin}/readyz`);
  expect(ready.status).toBe(503);
  expect(((await ready.json()) as { reason: string }).reason).toContain("audit log write failed");

  // Now every action waits on a record the log cannot take: refused, and says so.
  seen.length = 0;
  const refused = await fetch(`${base}/ok`, { headers: auth });
  expect(refused.status).toBe(503);
  const body = (await refused.json()) as { error: string; message: string };
  expect(body.error).toBe("audit_unavailable");
  expect(body.message).toContain("audit log unavailable, request denied");
  const noToken = await fetch(`${base}/ok`);
  expect(noToken.status).toBe(503);
  expect(((await noToken.json()) as { error: string }).error).toBe("audit_unavailable");
  expect(seen).toEqual([]);
  const after = await (await fetch(`${admin}/metrics`)).text();
  expect(after).toContain('gatehouse_audit_write_failures_total{outcome="refused",record="decision"} 1');
  expect(after).toContain('gatehouse_audit_write_failures_total{outcome="refused",record="auth.rejected"} 1');
}, 30_000);

// End to end: a refused HTTP request tells the caller why in its 403 JSON body, without opening
// the policy: the method and canonical path the gateway saw and, when a rule would have allowed
// it but for its hours, that rule and its window. An explicit deny rule keeps its own message.
// The audit record says the same.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen, type GatewayProcess, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";

setDefaultTimeout(60_000);

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let base: string;
let tok: string;
const day = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

beforeAll(async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true }) });
  const yaml = httpGatewayYaml({
    adminPort: 0,
    listen: "127.0.0.1:0",
    upstream: `http://127.0.0.1:${upstream.port}`,
    rules: `
  - name: public-read
    http: { methods: [GET], paths: ["/public/**"] }
    effect: allow
  - name: office-api
    groups: [developers]
    http: { methods: [GET], paths: ["/api/**"] }
    when: { timezone: UTC, hours: "09:00-17:00" }
    effect: allow
  - name: no-deletes
    http: { methods: [DELETE] }
    effect: deny
    message: Deletes go through the change process.
`,
  });
  // After office hours at the gateway's clock.
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml }, env: { GATEHOUSE_FAKE_NOW: `${day}T18:00:00Z` } });
  base = `http://127.0.0.1:${gw.port("api")}`;
  const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "dev1", "--groups", "developers", "--ttl", "48h"]);
  if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
  tok = r.stdout.trim().split("\n")[0]!;
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  upstream?.stop(true);
});

const call = async (method: string, path: string) => {
  const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${tok}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};
const denials = (all: AuditRecord[]) => all.filter((r) => r.type === "decision" && r.decision?.effect === "deny");

test("no rule: the 403 body names the method and canonical path seen", async () => {
  const r = await call("GET", "/public/../private/./report?x=1");
  expect(r).toEqual({
    status: 403,
    body: { error: "forbidden", message: "no rule allows this request", rule: null, detail: "GET /private/report; no rule allows it for you" },
  });
  const all = await auditRecordsWhen(gw.auditPath, (a) => denials(a).some((d) => (d.action as { path?: string }).path === "/private/report"), "the denied GET /private/report");
  const rec = denials(all).find((d) => (d.action as { path?: string }).path === "/private/report")!;
  expect((rec.details as Record<string, unknown>)["denial"]).toBe("GET /private/report; no rule allows it for you");
});

test("outside the rule's hours: the 403 body names the rule and its window", async () => {
  const r = await call("GET", "/api/orders");
  expect(r.status).toBe(403);
  expect(r.body["detail"]).toBe("GET /api/orders; rule office-api allows it only 09:00-17:00 UTC");
  const all = await auditRecordsWhen(gw.auditPath, (a) => denials(a).some((d) => (d.action as { path?: string }).path === "/api/orders"), "the denied GET /api/orders");
  const rec = denials(all).find((d) => (d.action as { path?: string }).path === "/api/orders")!;
  expect((rec.details as Record<string, unknown>)["denial"]).toBe("GET /api/orders; rule office-api allows it only 09:00-17:00 UTC");
});

test("an explicit deny rule keeps its own message, and an allowed request passes", async () => {
  expect(await call("DELETE", "/public/x")).toEqual({ status: 403, body: { error: "forbidden", message: "Deletes go through the change process.", rule: "no-deletes" } });
  expect(await call("GET", "/public/x")).toEqual({ status: 200, body: { ok: true } });
});

test("gatehouse explain predicts the gateway's answer, body and all", async () => {
  const at = `${day}T18:00:00Z`;
  for (const [method, path] of [["GET", "/public/a"], ["GET", "/public/../api/x"], ["DELETE", "/public/a"], ["POST", "/api//orders/./1"], ["GET", "/api/%2e%2e%2fadmin"]] as const) {
    const e = await runCli(["explain", "--config", gw.configPath, "--as", "dev1", "--groups", "developers", "--at", at, "--json", `${method} ${path}`]);
    expect(e.code).toBe(0);
    const req = JSON.parse(e.stdout).requests[0] as { decision: { effect: string }; answer?: string };
    const got = await call(method, path);
    const label = `${method} ${path}`;
    if (req.decision.effect === "allow") expect({ label, status: got.status }).toEqual({ label, status: 200 });
    else expect({ label, answer: `${got.status} ${JSON.stringify(got.body)}` }).toEqual({ label, answer: req.answer! });
  }
});

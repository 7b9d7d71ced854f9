// What the audit log says of Kubernetes requests (verb, resource, namespace, name, decision,
// status, duration, the body's sha-256 and the masked body of a write), an impersonation a rule
// allows (the gateway does it), and a response the gateway cannot mask (refused, not sent).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

let k: KubeSetup;
const PASSWORD = "s3cr3t-pa55word";

beforeAll(async () => {
  k = await startKubeSetup({
    rules: `  - name: leads-impersonate-bob
    groups: [leads]
    targets: [prod-*]
    kubernetes: { verbs: [impersonate], resources: [users], names: [bob] }
    effect: allow
  - name: leads-read-staging
    groups: [leads]
    targets: [prod-*]
    kubernetes: { verbs: [read], namespaces: [staging] }
    effect: allow
  - name: auditors-read-pods-masked
    groups: [auditors]
    targets: [prod-*]
    kubernetes: { verbs: [read], namespaces: [staging], resources: [pods, pods/log] }
    effect: allow
    mask: { detectors: [email] }
`,
  });
  k.api.addPod("staging", "web", { containers: ["app"] });
  k.api.appendLog("staging", "web", "app", "user bob@example.com logged in");
}, 60_000);

afterAll(async () => {
  await k?.stop();
});

test("a write's records: the decision names verb, resource, namespace, name; the request record has status, duration, the body's sha-256 and the body with Secret data masked", async () => {
  const manifest = JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "db", namespace: "staging" }, stringData: { password: PASSWORD } });
  const r = await k.kubectl(["create", "-f", "-"], { stdin: manifest });
  expect(r.stderr).toBe("");
  const records = await auditRecordsWhen(k.gw.auditPath, (all) => all.some((x) => x.type === "request" && (x.action as { resource?: string; verb?: string })?.resource === "secrets" && (x.action as { verb?: string }).verb === "create"), "the request record of the secret's create");
  const decision = records.find((x) => x.type === "decision" && (x.action as { resource?: string; verb?: string })?.resource === "secrets" && (x.action as { verb?: string }).verb === "create")!;
  expect(decision.action).toMatchObject({ kind: "kubernetes", verb: "create", resource: "secrets", namespace: "staging" });
  expect(decision.decision).toMatchObject({ effect: "allow", rule: "developers-write-staging" });
  const done = records.find((x) => x.type === "request" && (x.action as { resource?: string })?.resource === "secrets")!;
  const d = done.details as { status: number; duration_ms: number; body_sha256: string; body?: string };
  expect(d.status).toBe(201);
  expect(typeof d.duration_ms).toBe("number");
  expect(d.body_sha256).toMatch(/^[0-9a-f]{64}$/);
  expect(d.body).toContain('"password"');
  expect(d.body).not.toContain(PASSWORD);
  expect(JSON.stringify(records)).not.toContain(PASSWORD);
  // The decision and the request record name the same body.
  expect((decision.details as { body_sha256: string }).body_sha256).toBe(d.body_sha256);
}, 60_000);

test("kubectl --as bob by a lead: allowed by the impersonate rule, and the gateway passes Impersonate-User on", async () => {
  const before = k.api.requests.length;
  const r = await k.kubectl(["get", "pods", "-n", "staging", "--as", "bob"], { sub: "lee", groups: ["leads"] });
  expect(r.stderr).toBe("");
  expect(r.stdout).toMatch(/^web\s/m);
  const sent = k.api.requests.slice(before).filter((x) => x.path.endsWith("/pods"));
  expect(sent.length).toBeGreaterThan(0);
  expect(sent[0]!.impersonate.map((h) => h.toLowerCase())).toEqual(["impersonate-user: bob"]);
  expect(sent[0]!.authorization).toBe(`Bearer ${k.api.token}`);
  // Another user is not allowed.
  const other = await k.kubectl(["get", "pods", "-n", "staging", "--as", "admin"], { sub: "lee", groups: ["leads"] });
  expect(other.stderr).toContain("impersonation refused");
}, 60_000);

test("a mask on pods and a text log response: refused with a clear Status, the log never sent", async () => {
  const ok = await k.kubectl(["get", "pods", "-n", "staging"], { sub: "audrey", groups: ["auditors"] });
  expect(ok.code).toBe(0);
  const r = await k.kubectl(["logs", "web", "-n", "staging"], { sub: "audrey", groups: ["auditors"] });
  expect(r.code).not.toBe(0);
  expect(r.stdout).not.toContain("bob@example.com");
  expect(r.stderr).toContain("cannot mask");
}, 60_000);

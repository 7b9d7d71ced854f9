// Secret data never leaves the gateway unmasked: kubectl get secret -o yaml, -o json, the
// default Table, --watch; and a rule's JSON-path mask on a ConfigMap field, in JSON and Table.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { waitFor } from "./helpers/wait.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

const SECRET = "hunter2-very-secret";
const secretB64 = Buffer.from(SECRET).toString("base64");
let k: KubeSetup;

beforeAll(async () => {
  k = await startKubeSetup({
    rules: `  - name: staging-configmaps-masked
    groups: [auditors]
    targets: [prod-*]
    kubernetes: { verbs: [read], namespaces: [staging], resources: [configmaps] }
    effect: allow
    mask: { json: ["$.data.password"] }
`,
  });
  k.api.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "db", namespace: "production", annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ data: { password: secretB64 } }) } }, type: "Opaque", data: { password: secretB64 } });
  k.api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "app", namespace: "staging" }, data: { password: SECRET, color: "blue" } });
}, 60_000);

afterAll(async () => {
  await k?.stop();
});

test("kubectl get secret -o yaml: data values masked, keys kept, last-applied annotation masked", async () => {
  const r = await k.kubectl(["get", "secret", "db", "-n", "production", "-o", "yaml"]);
  expect(r.stderr).toBe("");
  expect(r.stdout).toContain("password:");
  expect(r.stdout).not.toContain(secretB64);
  expect(r.stdout).toContain(Buffer.from("[masked]").toString("base64"));
  expect(r.stdout).not.toContain(SECRET);
}, 60_000);

test("kubectl get secrets -o json (a list) and the default Table", async () => {
  const j = await k.kubectl(["get", "secrets", "-n", "production", "-o", "json"]);
  expect(j.code).toBe(0);
  expect(j.stdout).not.toContain(secretB64);
  const t = await k.kubectl(["get", "secrets", "-n", "production"]);
  expect(t.code).toBe(0);
  expect(t.stdout).toMatch(/^db\s+Opaque\s+1/m);
  expect(t.stdout).not.toContain(secretB64);
  // The API server was asked for JSON, never protobuf.
  const reads = k.api.requests.filter((x) => x.path.includes("/secrets"));
  for (const x of reads) expect(x.accept).not.toContain("protobuf");
}, 60_000);

test("kubectl describe secret shows sizes of the masked values, not the secret", async () => {
  const d = await k.kubectl(["describe", "secret", "db", "-n", "production"]);
  expect(d.stderr).toBe("");
  expect(d.stdout).toContain("password:");
  expect(d.stdout).not.toContain(SECRET);
}, 60_000);

test("kubectl get secrets --watch -o json: each event's object masked", async () => {
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${k.dir}/kube-cache`, "get", "secrets", "-n", "production", "--watch", "-o", "json"], { env: { ...process.env, HOME: k.dir }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of p.stdout) out += dec.decode(c);
  })();
  await waitFor("the watch to print the existing secret", () => out.includes('"name": "db"'));
  const second = Buffer.from("another-secret-value").toString("base64");
  k.api.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "api", namespace: "production" }, type: "Opaque", data: { key: second } });
  await waitFor("the watch to print the new secret", () => out.includes('"name": "api"'));
  p.kill();
  await p.exited;
  expect(out).not.toContain(secretB64);
  expect(out).not.toContain(second);
}, 60_000);

test("kubectl get secrets --watch (Table form) masks too", async () => {
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${k.dir}/kube-cache`, "get", "secrets", "-n", "production", "--watch"], { env: { ...process.env, HOME: k.dir }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of p.stdout) out += dec.decode(c);
  })();
  await waitFor("the Table watch to print the secret", () => /^db\s/m.test(out));
  p.kill();
  await p.exited;
  expect(out).not.toContain(secretB64);
}, 60_000);

test("a rule's JSON-path mask hides a ConfigMap field in -o yaml and in the Table's rows", async () => {
  const y = await k.kubectl(["get", "configmap", "app", "-n", "staging", "-o", "yaml"], { sub: "audrey", groups: ["auditors"] });
  expect(y.stderr).toBe("");
  expect(y.stdout).toContain("color: blue");
  expect(y.stdout).not.toContain(SECRET);
  expect(y.stdout).toContain("[masked]");
  const t = await k.kubectl(["get", "configmaps", "-n", "staging", "-o", "wide"], { sub: "audrey", groups: ["auditors"] });
  expect(t.code).toBe(0);
  expect(t.stdout).toMatch(/^app\s/m);
  expect(t.stdout).not.toContain(SECRET);
}, 60_000);

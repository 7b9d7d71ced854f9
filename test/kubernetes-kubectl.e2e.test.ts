// Real kubectl through the compiled gateway's kind: kubernetes target, in front of the stand-in
// API server, with the seed prod-approval policy: reads, writes in staging, describe, logs -f,
// watch, dry runs, discovery; what reaches the cluster carries the gateway's credential only.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

let k: KubeSetup;

beforeAll(async () => {
  k = await startKubeSetup();
  k.api.addPod("production", "web", { containers: ["app"] });
  k.api.addPod("staging", "web", { containers: ["app"] });
}, 60_000);

afterAll(async () => {
  await k?.stop();
});

test("kubectl get pods in production: the table kubectl prints, allowed by developers-read", async () => {
  const r = await k.kubectl(["get", "pods", "-n", "production"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^NAME\s+READY\s+STATUS/m);
  expect(r.stdout).toMatch(/^web\s/m);
  const records = await auditRecordsWhen(k.gw.auditPath, (all) => all.some((x) => x.type === "request" && (x.action as { resource?: string })?.resource === "pods"), "the request record of the pods list");
  const decision = records.find((x) => x.type === "decision" && (x.action as { resource?: string; verb?: string })?.resource === "pods" && (x.action as { verb?: string }).verb === "list");
  expect(decision?.decision?.rule).toBe("developers-read");
  const done = records.find((x) => x.type === "request" && (x.action as { resource?: string })?.resource === "pods");
  expect((done?.details as { status?: number }).status).toBe(200);
}, 60_000);

test("kubectl get pod -o yaml and describe", async () => {
  const y = await k.kubectl(["get", "pod", "web", "-n", "production", "-o", "yaml"]);
  expect(y.code).toBe(0);
  expect(y.stdout).toContain("name: web");
  expect(y.stdout).toContain("namespace: production");
  const d = await k.kubectl(["describe", "pod", "web", "-n", "staging"]);
  expect(d.stderr).toBe("");
  expect(d.code).toBe(0);
  expect(d.stdout).toMatch(/^Name:\s+web$/m);
}, 60_000);

test("the caller's token never reaches the API server: every request there carries the gateway's", async () => {
  await k.kubectl(["get", "pods", "-n", "staging"]);
  expect(k.api.requests.length).toBeGreaterThan(0);
  for (const r of k.api.requests) expect(r.authorization).toBe(`Bearer ${k.api.token}`);
}, 60_000);

test("kubectl apply -f in staging creates; delete deletes (developers-write-staging)", async () => {
  const manifest = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: staging\ndata:\n  color: blue\n`;
  const a = await k.kubectl(["apply", "-f", "-"], { stdin: manifest });
  expect(a.stderr).toBe("");
  expect(a.stdout).toContain("configmap/settings created");
  expect(k.api.get("v1", "ConfigMap", "staging", "settings")?.data).toEqual({ color: "blue" });
  const d = await k.kubectl(["delete", "configmap", "settings", "-n", "staging"]);
  expect(d.stdout).toContain('configmap "settings" deleted');
  expect(k.api.get("v1", "ConfigMap", "staging", "settings")).toBeUndefined();
}, 60_000);

test("kubectl apply --server-side in staging (an apply patch in YAML) creates", async () => {
  const manifest = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  namespace: staging\ndata:\n  mode: server-side\n`;
  const a = await k.kubectl(["apply", "--server-side", "-f", "-"], { stdin: manifest });
  expect(a.stderr).toBe("");
  expect(a.stdout).toContain("configmap/ssa serverside-applied");
  expect(k.api.get("v1", "ConfigMap", "staging", "ssa")?.data).toEqual({ mode: "server-side" });
}, 60_000);

test("kubectl delete pod waits for the pod to be gone (a watch) and returns", async () => {
  k.api.addPod("staging", "doomed", { containers: ["main"] });
  const r = await k.kubectl(["delete", "pod", "doomed", "-n", "staging"]);
  expect(r.stderr).toBe("");
  expect(r.stdout).toContain('pod "doomed" deleted');
  expect(k.api.get("v1", "Pod", "staging", "doomed")).toBeUndefined();
}, 60_000);

test("kubectl delete namespace production is denied with the operator's message, and never reaches the cluster", async () => {
  const before = k.api.requests.length;
  const r = await k.kubectl(["delete", "namespace", "production"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Error from server (Forbidden)");
  expect(r.stderr).toContain("the production namespace is not deleted through the gateway");
  expect(k.api.requests.slice(before).some((x) => x.method === "DELETE")).toBe(false);
  expect(k.api.get("v1", "Namespace", "", "production")).toBeDefined();
}, 60_000);

test("a user in no group gets 403 for a list in production (default deny), and kubectl says so", async () => {
  const r = await k.kubectl(["get", "pods", "-n", "production"], { sub: "mallory", groups: [] });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Error from server (Forbidden)");
}, 60_000);

test("--dry-run=server in staging passes through; in production it waits for approval like the write", async () => {
  const ok = await k.kubectl(["create", "configmap", "dry", "-n", "staging", "--from-literal=a=b", "--dry-run=server"]);
  expect(ok.stderr).toBe("");
  expect(ok.stdout).toContain("configmap/dry created (server dry run)");
  expect(k.api.get("v1", "ConfigMap", "staging", "dry")).toBeUndefined();
  const held = await k.kubectl(["create", "configmap", "dry", "-n", "production", "--from-literal=a=b", "--dry-run=server"]);
  expect(held.code).not.toBe(0);
  // kubectl create words it "error: failed to create configmap: configmaps \"dry\" is forbidden: ...".
  expect(held.stderr).toContain(`configmaps "dry" is forbidden`);
  expect(held.stderr).toMatch(/gatehouse approve apr_[0-9a-f]+/);
}, 60_000);

test("kubectl logs -f streams lines as the container writes them", async () => {
  k.api.appendLog("production", "web", "app", "first line");
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${k.dir}/kube-cache`, "logs", "-f", "web", "-n", "production"], { env: { ...process.env, HOME: k.dir }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of p.stdout) out += dec.decode(c);
  })();
  await waitFor("kubectl logs -f to print the first line", () => out.includes("first line"));
  k.api.appendLog("production", "web", "app", "second line");
  await waitFor("kubectl logs -f to print a line written after it started", () => out.includes("second line"));
  k.api.endLogs("production", "web");
  expect(await p.exited).toBe(0);
}, 60_000);

test("kubectl get pods --watch shows a pod created after the watch began", async () => {
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${k.dir}/kube-cache`, "get", "pods", "-n", "staging", "--watch"], { env: { ...process.env, HOME: k.dir }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of p.stdout) out += dec.decode(c);
  })();
  await waitFor("kubectl --watch to list the existing pod", () => /^web\s/m.test(out));
  k.api.addPod("staging", "worker", { containers: ["main"] });
  await waitFor("kubectl --watch to show the new pod", () => /^worker\s/m.test(out));
  p.kill();
  await p.exited;
}, 60_000);

test("kubectl auth can-i is answered from the policy for the caller, not by the cluster for the gateway", async () => {
  const before = k.api.requests.filter((x) => x.path.includes("selfsubjectaccessreviews")).length;
  const yes = await k.kubectl(["auth", "can-i", "list", "pods", "-n", "production"]);
  expect(yes.stdout.trim()).toBe("yes");
  expect(yes.code).toBe(0);
  const no = await k.kubectl(["auth", "can-i", "delete", "namespace/production"]);
  expect(no.stdout.trim()).toBe("no - gatehouse: the production namespace is not deleted through the gateway; the platform team decommissions it by its runbook");
  const held = await k.kubectl(["auth", "can-i", "create", "deployments", "-n", "production"]);
  expect(held.stdout.trim()).toBe("no - gatehouse: needs approval (rule production-writes-need-approval)");
  expect(k.api.requests.filter((x) => x.path.includes("selfsubjectaccessreviews")).length).toBe(before);
  // Someone with no rule for the target is not answered (the default deny), nor sent to the cluster.
  const stranger = await k.kubectl(["auth", "can-i", "list", "pods", "-n", "production"], { sub: "mallory", groups: [] });
  expect(stranger.stdout.trim()).not.toBe("yes");
  expect(stranger.stderr).toContain("Forbidden");
  expect(k.api.requests.filter((x) => x.path.includes("selfsubjectaccessreviews")).length).toBe(before);
}, 60_000);

test("kubectl --as (Impersonate-User) is denied unless a rule allows impersonate; the header never reaches the cluster", async () => {
  const before = k.api.requests.length;
  const r = await k.kubectl(["get", "pods", "-n", "staging", "--as", "admin"]);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("Error from server (Forbidden)");
  expect(r.stderr).toContain("impersonation refused");
  expect(k.api.requests.slice(before).some((x) => x.impersonate.length > 0)).toBe(false);
}, 60_000);

test("a watch ends when a reload stops trusting the caller's credential (dev issuer turned off)", async () => {
  const path = await k.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${k.dir}/kube-cache`, "get", "pods", "-n", "staging", "--watch"], { env: { ...process.env, HOME: k.dir }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of p.stdout) out += dec.decode(c);
  })();
  await waitFor("kubectl --watch to list the pod", () => /^web\s/m.test(out));
  const text = await Bun.file(k.gw.configPath).text();
  await Bun.write(k.gw.configPath, text.replace("identity: { dev_issuer: true }", "identity: { dev_issuer: false }"));
  await k.gw.waitForLog("policy reloaded");
  // Bounded by the test's timeout: the watch must end without the pod or the server changing.
  await p.exited;
  const after = await k.kubectl(["get", "pods", "-n", "staging"]);
  expect(after.code).not.toBe(0);
  expect(after.stderr).toContain("Unauthorized");
}, 60_000);

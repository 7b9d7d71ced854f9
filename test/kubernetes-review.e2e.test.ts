// Writes in production wait for sre, through real kubectl, in both review modes: `answer`
// (the default: 403 at once naming the approval and the command; the retry after
// `gatehouse approve` passes once) and `hold` (kubectl waits; `gatehouse approve` lets it through).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

const manifest = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: production\ndata:\n  color: green\n`;

async function approve(k: KubeSetup, id: string, forTime?: string): Promise<void> {
  const token = await k.token("sam", ["sre"]);
  const r = await runCli(["approve", id, "--admin", k.gw.adminUrl, "--token", token, ...(forTime ? ["--for", forTime] : [])], { cwd: k.dir });
  if (r.code !== 0) throw new Error(`gatehouse approve failed: ${r.stderr}${r.stdout}`);
}

let answer: KubeSetup;
let hold: KubeSetup;

beforeAll(async () => {
  [answer, hold] = await Promise.all([startKubeSetup(), startKubeSetup({ target: ["review: hold"] })]);
}, 60_000);

afterAll(async () => {
  await Promise.all([answer?.stop(), hold?.stop()]);
});

test("answer mode: kubectl apply in production prints the approval id and the approver's command; after approval the same apply passes, once", async () => {
  const first = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("settings") });
  expect(first.code).not.toBe(0);
  expect(first.stderr).toContain("Error from server (Forbidden)");
  // What kubectl prints: the object (named in the body), the approval and the approver's command.
  expect(first.stderr).toMatch(/configmaps "settings" is forbidden: gatehouse: create in the namespace "production": approval (apr_[0-9a-f]+) requested: an approver \(sre\) runs "gatehouse approve \1"; retry once it is approved/);
  const id = /gatehouse approve (apr_[0-9a-f]+)/.exec(first.stderr)?.[1];
  expect(id).toBeDefined();
  expect(answer.api.get("v1", "ConfigMap", "production", "settings")).toBeUndefined();

  // Retried before anyone decided: the same approval, not a new one.
  const again = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("settings") });
  expect(again.stderr).toContain(`approval ${id} is still pending`);

  await approve(answer, id!);
  const retry = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("settings") });
  expect(retry.stderr).toBe("");
  expect(retry.stdout).toContain("configmap/settings created");
  expect(answer.api.get("v1", "ConfigMap", "production", "settings")?.data).toEqual({ color: "green" });

  // Once: the next write asks again.
  const del = await answer.kubectl(["delete", "configmap", "settings", "-n", "production"]);
  expect(del.code).not.toBe(0);
  expect(del.stderr).toMatch(/gatehouse approve apr_[0-9a-f]+/);
  expect(del.stderr).not.toContain(id!);
}, 90_000);

test("answer mode: an approval is for the request approved, not another one of the same caller", async () => {
  const first = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("one") });
  const id = /gatehouse approve (apr_[0-9a-f]+)/.exec(first.stderr)?.[1];
  expect(id).toBeDefined();
  await approve(answer, id!);
  const other = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("two") });
  expect(other.code).not.toBe(0);
  expect(answer.api.get("v1", "ConfigMap", "production", "two")).toBeUndefined();
  // Nor for another caller sending the same request.
  const bob = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("one"), sub: "bob" });
  expect(bob.code).not.toBe(0);
  expect(answer.api.get("v1", "ConfigMap", "production", "one")).toBeUndefined();
}, 90_000);

test("answer mode: approve --for 1h grants the rule for that time: other writes of the same caller pass too", async () => {
  const first = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("granted-a") }, );
  const id = /gatehouse approve (apr_[0-9a-f]+)/.exec(first.stderr)?.[1];
  expect(id).toBeDefined();
  await approve(answer, id!, "1h");
  const a = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("granted-a") });
  expect(a.stdout).toContain("configmap/granted-a created");
  const b = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("granted-b") });
  expect(b.stderr).toBe("");
  expect(b.stdout).toContain("configmap/granted-b created");
  // The grant is the caller's, not bob's.
  const bob = await answer.kubectl(["apply", "-f", "-"], { stdin: manifest("granted-c"), sub: "bob" });
  expect(bob.code).not.toBe(0);
}, 90_000);

test("hold mode: kubectl apply waits, silent, until sre approves, then succeeds", async () => {
  const path = await hold.kubeconfig("alice", ["developers"]);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--cache-dir", `${hold.dir}/kube-cache`, "apply", "-f", "-"], {
    env: { ...process.env, HOME: hold.dir },
    stdin: new TextEncoder().encode(manifest("held")),
    stdout: "pipe",
    stderr: "pipe",
  });
  const id = await waitFor("the held request to show in gatehouse requests", async () => {
    const token = await hold.token("sam", ["sre"]);
    const r = await runCli(["requests", "--admin", hold.gw.adminUrl, "--token", token, "--ids"], { cwd: hold.dir });
    return r.stdout.trim().split("\n").find((l) => l.startsWith("apr_"));
  });
  expect(hold.api.get("v1", "ConfigMap", "production", "held")).toBeUndefined();
  await approve(hold, id);
  const [stdout, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  expect(code).toBe(0);
  expect(stdout).toContain("configmap/held created");
  expect(hold.api.get("v1", "ConfigMap", "production", "held")).toBeDefined();
}, 90_000);

test("answer mode: an approved request sent five times at once passes once; the others ask again", async () => {
  const name = "settings-burst";
  const body = JSON.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace: "production" }, data: { color: "blue" } });
  const token = await answer.token("dev", ["developers"]);
  const ca = readFileSync(join(answer.dir, "state/kubernetes/prod-k8s/tls.crt"), "utf8");
  const post = () =>
    fetch(`https://localhost:${answer.gw.port("prod-k8s")}/api/v1/namespaces/production/configmaps`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
      tls: { ca },
    } as RequestInit).then(async (r) => ({ status: r.status, text: await r.text() }));
  const first = await post();
  expect(first.status).toBe(403);
  const id = /gatehouse approve (apr_[0-9a-f]+)/.exec(first.text)?.[1];
  expect(id).toBeDefined();
  await approve(answer, id!);
  const posts = () => answer.api.requests.filter((x) => x.method === "POST" && x.path.endsWith(`/namespaces/production/configmaps`)).length;
  const before = posts();
  const burst = await Promise.all([post(), post(), post(), post(), post()]);
  expect(burst.filter((r) => r.status === 201)).toHaveLength(1);
  expect(burst.filter((r) => r.status === 403)).toHaveLength(4);
  expect(posts() - before).toBe(1);
});

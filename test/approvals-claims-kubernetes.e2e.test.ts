// End to end, through the compiled binary and real kubectl: the Kubernetes target's `answer`
// review mode remembers an approval for the same request retried by the same caller, and "the
// same caller" is the caller as the policy sees it. GitLab's protected and unprotected jobs of
// one ref share `sub`; a real OIDC provider issues both tokens (GitLab's id_token shape). The
// protected job's write in production is approved once: the unprotected job's identical write
// must not pass under it (it asks for its own approval), and the protected job's retry still does.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { runCli } from "./helpers/gateway.ts";
import { type OidcProviderHandle, startOidcProvider } from "./helpers/oidc-provider.ts";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";

const AUD = "https://gatehouse.acme.example";
let gitlab: OidcProviderHandle;
let k: KubeSetup;

function gitlabToken(refProtected: "true" | "false", jobId: string): Promise<string> {
  const claims = { namespace_path: "acme", project_id: "20", project_path: "acme/deploy", pipeline_id: "9001", job_id: jobId, ref: "main", ref_type: "branch", ref_protected: refProtected };
  const sub = `project_path:${claims.project_path}:ref_type:${claims.ref_type}:ref:${claims.ref}`;
  return gitlab.getToken({ platform: { claims: { sub, aud: AUD, ...claims }, alg: "RS256", typ: "JWT", ttlSeconds: 3600 } });
}

const manifest = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n  namespace: production\ndata:\n  color: green\n`;

/** kubectl apply of `manifest(name)` as the job whose token this is (the kubeconfig's server and CA, this bearer token). */
async function applyAs(token: string, name: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const path = await k.kubeconfig("ci-placeholder", []);
  const p = Bun.spawn(["kubectl", "--kubeconfig", path, "--token", token, "--cache-dir", join(k.dir, "kube-cache"), "apply", "-f", "-"], {
    cwd: k.dir,
    env: { ...process.env, HOME: k.dir, NO_COLOR: "1" },
    stdin: new TextEncoder().encode(manifest(name)),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

beforeAll(async () => {
  gitlab = await startOidcProvider();
  k = await startKubeSetup({
    identity: `{ dev_issuer: true, issuers: [{ name: gitlab-ci, issuer: "${gitlab.issuer}", audience: "${AUD}", require_groups: false }] }`,
    rules: `  - name: ci-production-writes
    targets: [prod-*]
    claims: { project_path: acme/deploy }
    kubernetes: { verbs: [write], namespaces: [production] }
    effect: review
    approvers: [sre]
  - name: ci-reads
    targets: [prod-*]
    claims: { project_path: acme/deploy }
    kubernetes: { verbs: [read], namespaces: [production] }
    effect: allow
  # Protected refs write staging directly: the policy tells the two jobs apart.
  - name: ci-protected-staging
    targets: [prod-*]
    claims: { project_path: acme/deploy, ref_protected: true }
    kubernetes: { verbs: [write], namespaces: [staging] }
    effect: allow
`,
  });
}, 60_000);

afterAll(async () => {
  await k?.stop();
  await gitlab?.close();
});

test("answer mode: a one-time approval of the protected job's write does not pass the unprotected job's identical write (same sub); the protected job's retry passes", async () => {
  const protectedJob = await gitlabToken("true", "31337");
  const unprotectedJob = await gitlabToken("false", "31338");

  const first = await applyAs(protectedJob, "release");
  expect(first.code).not.toBe(0);
  const id = /gatehouse approve (apr_[0-9a-f]+)/.exec(first.stderr)?.[1];
  expect(id).toBeDefined();
  const approver = await k.token("sam", ["sre"]);
  const approved = await runCli(["approve", id!, "--admin", k.gw.adminUrl, "--token", approver], { cwd: k.dir });
  expect(approved.stderr).toBe("");
  expect(approved.code).toBe(0);

  // The same request from the unprotected job: not under that approval; it asks for its own.
  const other = await applyAs(unprotectedJob, "release");
  expect(other.code).not.toBe(0);
  expect(k.api.get("v1", "ConfigMap", "production", "release")).toBeUndefined();
  const otherId = /gatehouse approve (apr_[0-9a-f]+)/.exec(other.stderr)?.[1];
  expect(otherId).toBeDefined();
  expect(otherId).not.toBe(id);

  // The protected job's retry (a fresh token of the same job) still finds its approval.
  const retry = await applyAs(await gitlabToken("true", "31337"), "release");
  expect(retry.stderr).toBe("");
  expect(retry.stdout).toContain("configmap/release created");
  expect(k.api.get("v1", "ConfigMap", "production", "release")?.data).toEqual({ color: "green" });
}, 90_000);

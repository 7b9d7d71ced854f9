// End to end, through the compiled binary: an approval binds to the caller as the policy sees it.
// GitLab's protected and unprotected jobs of one ref name share `sub`
// (project_path:…:ref_type:branch:ref:main); a real OIDC provider issues both tokens, shaped as
// GitLab's id_tokens. A review rule on an HTTP target matches both; another rule reads
// ref_protected, so the policy tells them apart. `gatehouse approve ID --for 30m` for the
// protected job's request must not let the unprotected job's token through, before or after a
// restart (grants are rebuilt from the audit log).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { type OidcProviderHandle, startOidcProvider } from "./helpers/oidc-provider.ts";
import { onFreePort } from "./helpers/ports.ts";
import { waitFor } from "./helpers/wait.ts";

let gitlab: OidcProviderHandle;
let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let base: string;
let approver: string;
const seenUpstream: string[] = [];
const AUD = "https://gatehouse.acme.example";

/** A GitLab CI job's id_token for ref main of acme/deploy; only ref_protected differs between the two jobs. */
function gitlabToken(refProtected: "true" | "false", jobId: string): Promise<string> {
  const claims = { namespace_id: "72", namespace_path: "acme", project_id: "20", project_path: "acme/deploy", pipeline_id: "9001", job_id: jobId, ref: "main", ref_type: "branch", ref_path: "refs/heads/main", ref_protected: refProtected, user_login: "alice" };
  const sub = `project_path:${claims.project_path}:ref_type:${claims.ref_type}:ref:${claims.ref}`;
  return gitlab.getToken({ platform: { claims: { sub, aud: AUD, ...claims }, alg: "RS256", typ: "JWT", ttlSeconds: 3600 } });
}

const cli = (args: string[]) => runCli([...args, "--config", gw.configPath], { env: { GATEHOUSE_TOKEN: approver } });

async function pendingIds(): Promise<string[]> {
  const r = await cli(["requests", "--ids"]);
  if (r.code !== 0) throw new Error(`gatehouse requests failed (${r.code}): ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** A held request that is not one of `seen`; fails naming `what` if none appears in time. */
function newHeld(seen: readonly string[], what: string): Promise<string> {
  return waitFor(what, async () => (await pendingIds()).find((id) => !seen.includes(id)), { timeoutMs: 30_000 });
}

/**
 * POSTs with `token` and reports what happened first: the gateway answered (`answered 200`), or
 * the request was held for approval (`held as ID`, added to `seen`). A held request is then
 * aborted (the gateway cancels its approval), so nothing is left waiting.
 */
async function outcome(token: string, path: string, seen: string[]): Promise<string> {
  const abort = new AbortController();
  let answered: string | undefined;
  const settled = fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}", signal: abort.signal }).then(
    async (r) => {
      answered = `answered ${r.status}`;
      await r.arrayBuffer();
    },
    (e: Error) => void (answered ??= `failed: ${e.message}`),
  );
  const first = await waitFor(`POST ${path} to be answered or held`, async () => {
    if (answered !== undefined) return answered;
    const id = (await pendingIds()).find((i) => !seen.includes(i));
    return id === undefined ? undefined : `held as ${id}`;
  }, { timeoutMs: 30_000 });
  if (first.startsWith("held as ")) {
    seen.push(first.slice("held as ".length));
    abort.abort();
  }
  await settled;
  return first;
}

beforeAll(async () => {
  gitlab = await startOidcProvider();
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      seenUpstream.push(`${req.method} ${new URL(req.url).pathname}`);
      return Response.json({ ok: true });
    },
  });
  // The admin API's port is fixed because the CLI finds it in the config (see helpers/ports.ts);
  // the target binds port 0 and is read from the gateway's serving line, after a restart too.
  gw = await onFreePort((adminPort) => startGatewayProcess({
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${adminPort}" } }
audit: { path: ./state/audit/audit.log }
identity:
  dev_issuer: true
  issuers:
    - name: gitlab-ci
      issuer: "${gitlab.issuer}"
      audience: ${AUD}
      require_groups: false
      display_name: "gitlab:{project_path}@{ref}"
      record_claims: [project_path, ref, pipeline_id]
targets:
  - { name: api, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${upstream.port}" }
rules:
  # Any job of acme/deploy may deploy once an approver agrees.
  - name: gitlab-deploys
    targets: [api]
    claims: { project_path: acme/deploy }
    http: { methods: [POST], paths: ["/deploy/**"] }
    effect: review
    approvers: [approvers]
    grant_max: 1h
    timeout: 10m
  # Only protected refs read the release status: the policy tells the two jobs apart.
  - name: gitlab-protected-status
    targets: [api]
    claims: { project_path: acme/deploy, ref_protected: true }
    http: { methods: [GET], paths: ["/status"] }
    effect: allow
`,
    },
  }));
  base = `http://127.0.0.1:${gw.port("api")}`;
  const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "bob", "--groups", "approvers", "--ttl", "15m"]);
  expect(r.code).toBe(0);
  approver = r.stdout.trim();
});

afterAll(async () => {
  gw?.cleanup();
  upstream?.stop(true);
  await gitlab?.close();
});

test("approve --for 30m for the protected job's token does not pass the unprotected job's token with the same sub; after a restart neither changes", async () => {
  const protectedJob = await gitlabToken("true", "31337");
  const unprotectedJob = await gitlabToken("false", "31338");
  const sub = (t: string) => JSON.parse(Buffer.from(t.split(".")[1]!, "base64url").toString()).sub as string;
  expect(sub(unprotectedJob)).toBe(sub(protectedJob));

  // The protected job's deploy is held; an approver grants the rule for 30m.
  const first = fetch(`${base}/deploy/prod`, { method: "POST", headers: { authorization: `Bearer ${protectedJob}` }, body: "{}" });
  const id = await newHeld([], "the protected job's POST /deploy/prod to be held");
  const grant = await cli(["approve", id, "--for", "30m"]);
  expect(grant.stderr).toBe("");
  expect(grant.code).toBe(0);
  expect((await first).status).toBe(200);
  const seen = [id];

  // Under the grant: the protected job (and another token of it) passes at once.
  expect(await outcome(protectedJob, "/deploy/prod", seen)).toBe("answered 200");
  expect(await outcome(await gitlabToken("true", "31337"), "/deploy/canary", seen)).toBe("answered 200");
  // The unprotected job of the same ref, same sub: held, not passed.
  expect(await outcome(unprotectedJob, "/deploy/prod", seen)).toMatch(/^held as apr_/);
  expect(seenUpstream.filter((r) => r === "POST /deploy/prod")).toHaveLength(2);

  // A restart rebuilds the grant from the audit log, with its binding.
  expect(await gw.stop()).toBe(0);
  await gw.restart();
  base = `http://127.0.0.1:${gw.port("api")}`;
  expect(await outcome(protectedJob, "/deploy/prod", seen)).toBe("answered 200");
  expect(await outcome(unprotectedJob, "/deploy/prod", seen)).toMatch(/^held as apr_/);
  expect(seenUpstream.filter((r) => r === "POST /deploy/prod")).toHaveLength(3);
});

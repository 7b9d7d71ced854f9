// End to end, through the compiled gateway: CI jobs and workloads log in with the token their
// platform issues, and rules decide on its claims. Four real OIDC providers (npm oidc-provider),
// one per platform, issue tokens shaped exactly like GitHub Actions', GitLab CI's id_tokens,
// Kubernetes projected service-account tokens and SPIFFE JWT-SVIDs (claims, audience, lifetime,
// key type; the issuers are local). In front: a real PostgreSQL as prod-db (psql with the token
// as PGPASSWORD) and an HTTP API on a Bun upstream.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { auditRecordsWhen, type GatewayProcess, startGatewayProcess } from "./helpers/gateway.ts";
import { type OidcProviderHandle, startOidcProvider } from "./helpers/oidc-provider.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

let github: OidcProviderHandle;
let gitlab: OidcProviderHandle;
let kube: OidcProviderHandle;
let spire: OidcProviderHandle;
let pg: PostgresInstance;
let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let api: string;
const seenUpstream: string[] = [];

const GITHUB_JOB = {
  ref: "refs/heads/main",
  sha: "8a7e6b1c0d9f4e3a2b1c0d9e8f7a6b5c4d3e2f1a",
  repository: "acme/deploy",
  repository_owner: "acme",
  repository_owner_id: "1001",
  repository_id: "4242",
  repository_visibility: "private",
  run_id: "7001",
  run_number: "12",
  run_attempt: "1",
  actor: "octocat",
  actor_id: "583231",
  workflow: "deploy",
  event_name: "push",
  ref_type: "branch",
  ref_protected: "true",
  head_ref: "",
  base_ref: "",
  job_workflow_ref: "acme/deploy/.github/workflows/deploy.yml@refs/heads/main",
  job_workflow_sha: "8a7e6b1c0d9f4e3a2b1c0d9e8f7a6b5c4d3e2f1a",
  workflow_ref: "acme/deploy/.github/workflows/deploy.yml@refs/heads/main",
  runner_environment: "github-hosted",
};

/** A GitHub Actions job's token as `curl "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=gatehouse"` returns it: RS256, typ JWT, ids and ref_protected as strings, nbf five minutes before iat, exp six hours after. */
function githubToken(job: Partial<typeof GITHUB_JOB> & { environment?: string } = {}, aud = "gatehouse"): Promise<string> {
  const c = { ...GITHUB_JOB, ...job };
  const sub = c.environment !== undefined ? `repo:${c.repository}:environment:${c.environment}` : `repo:${c.repository}:ref:${c.ref}`;
  return github.getToken({ platform: { claims: { sub, aud, ...c }, alg: "RS256", typ: "JWT", ttlSeconds: 6 * 3600, notBeforeSeconds: 300 } });
}

/** A GitLab CI job's id_token (id_tokens: { GATEHOUSE_TOKEN: { aud: ... } }): ref_protected is the string "true" or "false". */
function gitlabToken(over: Record<string, unknown> = {}, aud = "https://gatehouse.acme.example"): Promise<string> {
  const claims = {
    namespace_id: "72",
    namespace_path: "acme",
    project_id: "20",
    project_path: "acme/deploy",
    user_id: "5",
    user_login: "alice",
    user_email: "alice@acme.example",
    user_access_level: "maintainer",
    pipeline_id: "9001",
    pipeline_source: "push",
    job_id: "31337",
    ref: "main",
    ref_type: "branch",
    ref_path: "refs/heads/main",
    ref_protected: "true",
    environment: "production",
    environment_protected: "true",
    deployment_tier: "production",
    runner_id: 1,
    runner_environment: "self-hosted",
    sha: "714a629c0b401fdce83e847fc9589983fc6f46bc",
    project_visibility: "private",
    ci_config_ref_uri: "gitlab.acme.example/acme/deploy//.gitlab-ci.yml@refs/heads/main",
    ci_config_sha: "714a629c0b401fdce83e847fc9589983fc6f46bc",
    ...over,
  };
  const sub = `project_path:${claims.project_path}:ref_type:${claims.ref_type}:ref:${claims.ref}`;
  return gitlab.getToken({ platform: { claims: { sub, aud, ...claims }, alg: "RS256", typ: "JWT", ttlSeconds: 3600 } });
}

/** A projected service-account token (serviceAccountToken: { audience: gatehouse, expirationSeconds: 600 }): RS256, no typ. */
function kubeToken(namespace: string, account: string, aud: string[] = ["gatehouse"]): Promise<string> {
  const claims = {
    sub: `system:serviceaccount:${namespace}:${account}`,
    aud,
    "kubernetes.io": {
      namespace,
      node: { name: "node-1", uid: "0b9d5e0a-7b4c-4c43-9a4f-1e2d3c4b5a69" },
      pod: { name: `${account}-7d9f8c-x2x4q`, uid: "5f2e0d3c-1b4a-4e9f-8d7c-6b5a4c3d2e1f" },
      serviceaccount: { name: account, uid: "a1b2c3d4-e5f6-4a5b-8c7d-9e0f1a2b3c4d" },
      warnafter: Math.floor(Date.now() / 1000) + 480,
    },
  };
  return kube.getToken({ platform: { claims, alg: "RS256", ttlSeconds: 600 } });
}

/** A JWT-SVID as SPIRE's workload API hands it out: ES256, sub the SPIFFE ID, five minutes. */
function svid(spiffeId: string, aud: string[] = ["gatehouse"]): Promise<string> {
  return spire.getToken({ platform: { claims: { sub: spiffeId, aud }, alg: "ES256", typ: "JWT", ttlSeconds: 300 } });
}

async function psql(token: string, sql: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(gw.port("prod-db")), "-U", "ci", "-d", "prod-db", "-v", "ON_ERROR_STOP=1", "-c", sql], {
    env: { ...process.env, PGPASSWORD: token, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function call(token: string, method: string, path: string): Promise<number> {
  const r = await fetch(`${api}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  await r.arrayBuffer();
  return r.status;
}

beforeAll(async () => {
  [github, gitlab, kube, spire] = await Promise.all([startOidcProvider(), startOidcProvider(), startOidcProvider(), startOidcProvider()]);
  pg = await startPostgres();
  await pg.psql("CREATE TABLE public.releases (id serial PRIMARY KEY, version text NOT NULL); INSERT INTO public.releases (version) VALUES ('1.0.0');");
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (req) => {
      seenUpstream.push(`${req.method} ${new URL(req.url).pathname}`);
      return Response.json({ ok: true });
    },
  });
  gw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:0 } }
audit: { path: ./state/audit/audit.log }
identity:
  issuers:
    - name: github-actions
      issuer: "${github.issuer}"
      audience: gatehouse
      algorithms: [RS256]
      require_groups: false
      display_name: "github:{repository}@{ref}"
      record_claims: [repository, repository_id, ref, environment, run_id, job_workflow_ref]
    - name: gitlab-ci
      issuer: "${gitlab.issuer}"
      audience: https://gatehouse.acme.example
      require_groups: false
      display_name: "gitlab:{project_path}@{ref}"
      record_claims: [project_path, project_id, ref, ref_protected, pipeline_id]
    - name: kubernetes
      issuer: "${kube.issuer}"
      audience: gatehouse
      require_groups: false
      display_name: "k8s:{kubernetes.io.namespace}/{kubernetes.io.serviceaccount.name}"
      record_claims: [kubernetes.io.namespace, kubernetes.io.serviceaccount.name, kubernetes.io.pod.name]
    - name: spiffe
      issuer: "${spire.issuer}"
      audience: gatehouse
      algorithms: [ES256]
      require_groups: false
targets:
  - name: prod-db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
  - { name: api, kind: http, listen: 127.0.0.1:0, upstream: "http://127.0.0.1:${upstream.port}" }
rules:
  # GitHub: the deploy workflow on main of acme/deploy (by ids, which are never re-used) writes.
  - name: deploy-writes-prod
    targets: [prod-db]
    claims:
      repository_owner_id: "1001"
      repository_id: "4242"
      ref: refs/heads/main
      job_workflow_ref: acme/deploy/.github/workflows/deploy.yml@refs/heads/main
    postgres: { classes: [read, insert, update], tables: ["public.*"] }
    effect: allow
  # Any job of a repository named acme/deploy (another branch, a fork's re-registered name) may read.
  - name: deploy-repo-reads
    targets: [prod-db]
    claims: { repository: acme/deploy }
    postgres: { classes: [read], tables: ["public.*"] }
    effect: allow
  # GitLab: protected refs of acme/deploy deploy; any of its jobs reads.
  - name: gitlab-protected-deploys
    targets: [api]
    claims: { project_path: acme/deploy, ref_protected: true }
    http: { methods: [POST], paths: ["/deploy/**"] }
    effect: allow
  - name: gitlab-reads
    targets: [api]
    claims: { project_path: acme/deploy }
    http: { methods: [GET], paths: ["/deploy/**"] }
    effect: allow
  # Kubernetes: the agent service account of namespace ops reads /ops.
  - name: ops-agent
    targets: [api]
    claims: { kubernetes.io.namespace: ops, kubernetes.io.serviceaccount.name: agent }
    http: { methods: [GET], paths: ["/ops/**"] }
    effect: allow
  # SPIFFE: workloads of trust domain acme.test under /ns/ops read metrics.
  - name: ops-workloads-metrics
    targets: [api]
    claims: { sub: "spiffe://acme.test/ns/ops/**" }
    http: { methods: [GET], paths: ["/metrics/**"] }
    effect: allow
`,
    },
  });
  api = `http://127.0.0.1:${gw.port("api")}`;
});

afterAll(async () => {
  gw?.cleanup();
  upstream?.stop(true);
  await pg?.stop();
  await Promise.all([github, gitlab, kube, spire].map((p) => p?.close()));
});

describe("GitHub Actions", () => {
  test("the tokens are shaped as GitHub's: RS256, typ JWT, sub repo:…:ref:…, string ids, valid from five minutes before issue for six hours", async () => {
    const t = await githubToken();
    expect(decodeProtectedHeader(t)).toMatchObject({ alg: "RS256", typ: "JWT" });
    const c = decodeJwt(t);
    expect(c).toMatchObject({ sub: "repo:acme/deploy:ref:refs/heads/main", aud: "gatehouse", repository_id: "4242", iss: github.issuer });
    expect(c.exp! - c.iat!).toBe(6 * 3600);
    expect(c.iat! - c.nbf!).toBe(300);
    expect(c["groups"]).toBeUndefined();
  });

  test("the deploy job on main of acme/deploy writes to prod-db, and its records name it and carry its record_claims, never the token", async () => {
    const token = await githubToken();
    const r = await psql(token, "INSERT INTO public.releases (version) VALUES ('1.1.0') RETURNING version");
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")[0]).toBe("1.1.0");
    const all = await auditRecordsWhen(gw.auditPath, (rs) => rs.some((x) => x.decision?.rule === "deploy-writes-prod"), "the deploy job's allowed INSERT");
    const rec = all.find((x) => x.decision?.rule === "deploy-writes-prod")!;
    expect(rec.identity).toEqual({
      method: "oidc",
      subject: "repo:acme/deploy:ref:refs/heads/main",
      issuer: github.issuer,
      groups: [],
      name: "github:acme/deploy@refs/heads/main",
      claims: { repository: "acme/deploy", repository_id: "4242", ref: "refs/heads/main", run_id: "7001", job_workflow_ref: "acme/deploy/.github/workflows/deploy.yml@refs/heads/main" },
    });
    expect(readFileSync(gw.auditPath, "utf8")).not.toContain(token.split(".")[1]!);
  });

  test("the same workflow on another branch may only read", async () => {
    const token = await githubToken({ ref: "refs/heads/feature", job_workflow_ref: "acme/deploy/.github/workflows/deploy.yml@refs/heads/feature" });
    expect((await psql(token, "SELECT count(*) > 0 FROM public.releases")).stdout.trim()).toBe("t");
    const w = await psql(token, "INSERT INTO public.releases (version) VALUES ('evil')");
    expect(w.code).not.toBe(0);
    expect(w.stderr).toContain("ERROR:  no rule allows this request");
  });

  test("a fork or a re-registered acme/deploy (same names, other ids) on main may only read, even in the session's cached path", async () => {
    // The real job first, twice: the INSERT's decision is known to its session by then.
    const real = await githubToken();
    expect((await psql(real, "INSERT INTO public.releases (version) VALUES ('1.2.0'); INSERT INTO public.releases (version) VALUES ('1.2.1')")).code).toBe(0);
    const impostor = await githubToken({ repository_owner_id: "6666", repository_id: "9999" });
    // The same subject: only the id claims differ.
    expect(decodeJwt(impostor).sub).toBe(decodeJwt(real).sub);
    expect((await psql(impostor, "SELECT count(*) > 0 FROM public.releases")).stdout.trim()).toBe("t");
    const w = await psql(impostor, "INSERT INTO public.releases (version) VALUES ('1.2.0'); INSERT INTO public.releases (version) VALUES ('1.2.1')");
    expect(w.code).not.toBe(0);
    expect(w.stderr).toContain("ERROR:  no rule allows this request");
    expect((await pg.psql("SELECT count(*) FROM public.releases WHERE version LIKE '1.2.%'")).trim()).toBe("2");
  });

  test("an environment job (sub repo:…:environment:…) is still matched on its ref and ids", async () => {
    const token = await githubToken({ environment: "production" });
    expect(decodeJwt(token).sub).toBe("repo:acme/deploy:environment:production");
    expect((await psql(token, "UPDATE public.releases SET version = version WHERE false")).code).toBe(0);
  });

  test("a token for another audience is refused at login", async () => {
    const token = await githubToken({}, "https://github.com/acme");
    const r = await psql(token, "SELECT 1");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("audience");
  });
});

describe("GitLab CI", () => {
  test("a protected ref's job deploys; an unprotected one (ref_protected \"false\") with the same subject is refused it, also after the route is known", async () => {
    const protectedJob = await gitlabToken();
    const unprotected = await gitlabToken({ ref_protected: "false", environment_protected: "false" });
    expect(decodeJwt(protectedJob).sub).toBe(decodeJwt(unprotected).sub);
    expect(decodeJwt(unprotected)["ref_protected"]).toBe("false");
    // Twice: the second takes the HTTP target's known-route path.
    expect(await call(protectedJob, "POST", "/deploy/run")).toBe(200);
    expect(await call(protectedJob, "POST", "/deploy/run")).toBe(200);
    const before = seenUpstream.length;
    expect(await call(unprotected, "POST", "/deploy/run")).toBe(403);
    expect(await call(unprotected, "POST", "/deploy/run")).toBe(403);
    expect(seenUpstream.length).toBe(before);
    expect(await call(unprotected, "GET", "/deploy/status")).toBe(200);
  });

  test("an id_token for another audience is refused", async () => {
    expect(await call(await gitlabToken({}, "https://gitlab.acme.example"), "GET", "/deploy/status")).toBe(401);
  });
});

describe("Kubernetes service-account tokens", () => {
  test("the ops agent reaches what its rule names and nothing else; another namespace or account reaches nothing", async () => {
    const agent = await kubeToken("ops", "agent");
    expect(decodeProtectedHeader(agent).typ).toBeUndefined();
    const c = decodeJwt(agent);
    expect(c.exp! - c.iat!).toBe(600);
    expect(await call(agent, "GET", "/ops/jobs")).toBe(200);
    expect(await call(agent, "GET", "/ops/jobs")).toBe(200);
    expect(await call(agent, "POST", "/ops/jobs")).toBe(403);
    expect(await call(agent, "GET", "/deploy/status")).toBe(403);
    expect(await call(agent, "GET", "/metrics/x")).toBe(403);
    expect(await call(await kubeToken("dev", "agent"), "GET", "/ops/jobs")).toBe(403);
    expect(await call(await kubeToken("ops", "default"), "GET", "/ops/jobs")).toBe(403);
    const all = await auditRecordsWhen(gw.auditPath, (rs) => rs.some((x) => x.identity?.name === "k8s:ops/agent" && x.decision?.rule === "ops-agent"), "the ops agent's allowed request");
    const rec = all.find((x) => x.identity?.name === "k8s:ops/agent" && x.decision?.rule === "ops-agent")!;
    expect(rec.identity?.claims).toEqual({ "kubernetes.io.namespace": "ops", "kubernetes.io.serviceaccount.name": "agent", "kubernetes.io.pod.name": "agent-7d9f8c-x2x4q" });
  });

  test("a token for the API server's audience (not the gateway's) is refused", async () => {
    expect(await call(await kubeToken("ops", "agent", ["https://kubernetes.default.svc.cluster.local"]), "GET", "/ops/jobs")).toBe(401);
  });
});

describe("SPIFFE JWT-SVIDs", () => {
  test("an ES256 SVID whose SPIFFE ID is within the glob reads metrics; one outside it, or of another trust domain, is refused", async () => {
    const inside = await svid("spiffe://acme.test/ns/ops/sa/agent");
    expect(decodeProtectedHeader(inside).alg).toBe("ES256");
    expect(await call(inside, "GET", "/metrics/queue")).toBe(200);
    expect(await call(await svid("spiffe://acme.test/ns/dev/sa/agent"), "GET", "/metrics/queue")).toBe(403);
    expect(await call(await svid("spiffe://evil.test/ns/ops/sa/agent"), "GET", "/metrics/queue")).toBe(403);
    expect(await call(await svid("spiffe://acme.test/ns/opsx/sa/agent"), "GET", "/metrics/queue")).toBe(403);
  });

  test("an SVID for another audience is refused", async () => {
    expect(await call(await svid("spiffe://acme.test/ns/ops/sa/agent", ["spiffe://acme.test/other"]), "GET", "/metrics/queue")).toBe(401);
  });
});

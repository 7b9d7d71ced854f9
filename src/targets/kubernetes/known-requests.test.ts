// The Kubernetes fast path must never change what the gateway does: the same long sequence of
// requests goes to two Kubernetes targets with their own gate and audit log in front of one
// stand-in API server, one with known requests (the fast path) and one without (every request
// classified and decided by gate.check), and each request's answer, what the API server
// received, and the records in each log must be equal. The requests vary everything a decision
// reads in small steps (caller: subject, issuer, groups and their order; method; the
// request-target, its query (watch, dryRun, field selectors) and encodings; Impersonate-* and
// Content-Type lines), so that a key missing any of them would hand one request the allow of its
// neighbour; the policy is swapped midway, which must end every known request.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { createMetrics } from "../../admin/metrics.ts";
import { Approvals } from "../../approvals/approvals.ts";
import { openAuditLog, type AuditLog } from "../../audit/log.ts";
import { readRecords } from "../../audit/reader.ts";
import { loadConfigFromSources } from "../../config/load.ts";
import type { Config, KubernetesTarget } from "../../config/schema.ts";
import { GatewayError } from "../../core/errors.ts";
import { silentLogger } from "../../core/logger.ts";
import type { Identity, Masks } from "../../core/types.ts";
import { Gate } from "../../gate/gate.ts";
import { Http1Pool } from "../../gate/http1-client.ts";
import { createMayUseTarget } from "../../gate/target-access.ts";
import type { RunningTarget } from "../../gate/target.ts";
import { compileJsonMasker } from "../../masking/json-masker.ts";
import { compilePolicy, type Policy } from "../../policy/compile.ts";
import { startKubeApiServer, type KubeApiServer } from "../../../test/helpers/kube-apiserver/index.ts";
import { startKubernetesTarget } from "./kubernetes-target.ts";

const POLICY_A = `rules:
  - { name: no-prod-secrets, kubernetes: { resources: [secrets], namespaces: [production] }, effect: deny }
  - { name: dev-read-staging, groups: [developers], kubernetes: { verbs: [get, list], namespaces: [staging] }, effect: allow }
  - { name: ops-read, groups: [ops], kubernetes: { verbs: [get, list] }, effect: allow, mask: { detectors: [email] } }
  - { name: alice-prod-pods, identities: [alice], kubernetes: { verbs: [get], resources: [pods], namespaces: [production] }, effect: allow }
  - { name: leads-impersonate-bob, groups: [leads], kubernetes: { verbs: [impersonate], resources: [users], names: [bob] }, effect: allow }
  - { name: leads-read, groups: [leads], kubernetes: { verbs: [get, list], resources: [pods, configmaps, namespaces] }, effect: allow }
`;
// The same requests decided otherwise: an allow kept across the swap would show.
const POLICY_B = `rules:
  - { name: dev-read-production, groups: [developers], kubernetes: { verbs: [get, list], namespaces: [production] }, effect: allow }
  - { name: ops-read-plain, groups: [ops], kubernetes: { verbs: [get], resources: [pods] }, effect: allow }
  - { name: no-staging-pods, kubernetes: { resources: [pods], namespaces: [staging] }, effect: deny, message: staging pods are closed today }
`;

const IDENTITIES: Record<string, Identity> = {
  dev: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: ["developers"] },
  devOtherIssuer: { method: "oidc", subject: "dev", issuer: "https://other.example", groups: ["developers"] },
  devNoGroups: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: [] },
  devOps: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: ["developers", "ops"] },
  opsDev: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: ["ops", "developers"] },
  alice: { method: "oidc", subject: "alice", issuer: "https://idp.example", groups: [] },
  aliceKey: { method: "machine-key", subject: "alice", issuer: "https://idp.example", groups: [] },
  lead: { method: "oidc", subject: "lee", issuer: "https://idp.example", groups: ["leads"] },
};

const S = "/api/v1/namespaces/staging";
const P = "/api/v1/namespaces/production";
// GET most often: the fast path is for GETs, and the policy allows reads.
const METHODS = ["GET", "GET", "GET", "GET", "GET", "GET", "HEAD", "POST", "DELETE"];
const TARGETS = [
  // Allowed to some: more often, so that the fast path is taken and its neighbours tried.
  ...[`${S}/pods`, `${S}/pods/web`, `${S}/configmaps`, `${P}/pods/web`, "/api", "/api/v1/namespaces"].flatMap((t) => [t, t]),
  // Their neighbours by the query alone.
  ...[`${S}/pods?watch=1&timeoutSeconds=1`, `${S}/pods/web?dryRun=All`, `${S}/pods?fieldSelector=metadata.name%3Dweb`, `${S}/configmaps?watch=true&timeoutSeconds=1`].flatMap((t) => [t, t]),
  `${S}/pods`,
  `${S}/pods/web`,
  `${S}/pods/web?`,
  `${S}/pods?limit=1`,
  `${S}/pods?watch=1`,
  `${S}/pods?watch=true&limit=1`,
  `${S}/pods?fieldSelector=metadata.name%3Dweb`,
  `${S}/pods?fieldSelector=metadata.name%3Dother`,
  `${S}/pods/web?dryRun=All`,
  `${S}/Pods/web`,
  `${S}/pods/web/log`,
  `${S}/pods/../pods`,
  `${S}/pods/%77eb`,
  `${S}/secrets/db`,
  `${S}/secrets`,
  `${S}/configmaps`,
  `${P}/pods`,
  `${P}/pods/web`,
  `${P}/secrets/db`,
  `${P}/configmaps`,
  "/api/v1/namespaces",
  "/api/v1/namespaces/staging",
  "/api",
  "/apis",
  "/version",
  "/metrics",
  "/apis/apps/v1/namespaces/staging/deployments",
];
// Lines that change a decision or what is forwarded, and some that do not.
const EXTRA_HEADERS: Record<string, Record<string, string>> = {
  none: {},
  table: { accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json" },
  impersonateBob: { "impersonate-user": "bob" },
  impersonateAdmin: { "impersonate-user": "admin" },
  contentType: { "content-type": "application/json" },
  // Two Content-Type lines (sent by hand: fetch would join them): the classifier refuses that.
  twoContentTypes: {},
  xRemote: { "x-remote-user": "admin" },
};

interface Side {
  readonly name: string;
  readonly gate: Gate;
  readonly log: AuditLog;
  readonly target: RunningTarget;
  checks: number;
  forwarded: number;
  /** Forwarded by the listener's fast lane (its header fields a plain object, not a Headers). */
  laned: number;
  /** Requests that reached the API server before their allow was in the log (must stay 0). */
  unrecordedForwards: number;
}

let dir: string;
let api: KubeApiServer;
let policy: Policy;
let config: Config;
let fast: Side;
let full: Side;
const realFetchOf = globalThis.fetch;
const realPoolRequest = Http1Pool.prototype.request;

async function compile(yaml: string): Promise<void> {
  config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  policy = compilePolicy(config);
}

async function side(name: string, knownRequests: boolean): Promise<Side> {
  const log = await openAuditLog({ path: join(dir, name, "audit.log") });
  const clock = { now: () => Date.now() };
  const approvals = new Approvals({ clock, onExpire: () => {} });
  const metrics = createMetrics();
  const gate = new Gate({ policy: () => policy, audit: log, approvals, clock, metrics, log: silentLogger });
  const s: Side = { name, gate, log, target: null as unknown as RunningTarget, checks: 0, forwarded: 0, laned: 0, unrecordedForwards: 0 };
  const check = gate.check.bind(gate);
  gate.check = (...args) => (s.checks++, check(...args));
  const token = (t: string) => IDENTITIES[t.replace(/^tok-/, "")];
  const cfg = { name: "k8s", kind: "kubernetes", listen: "127.0.0.1:0", upstream: { url: api.url, ca: api.caPem, token: api.token } } as KubernetesTarget;
  const mayUseTarget = createMayUseTarget(
    () => config.rules,
    (rule, target) => policy.rules.find((r) => r.name === rule)?.matchesTarget(target) ?? false,
  );
  (s as { target: RunningTarget }).target = await startKubernetesTarget(cfg, {
    gate,
    authenticate: async (t) => token(t) ?? Promise.reject(new GatewayError("E_AUTH_MALFORMED", "unknown token")),
    authenticated: token,
    authFailureReason: () => "invalid",
    stateDir: join(dir, name),
    masker: (m: Masks) => compileJsonMasker(m),
    mayUseTarget,
    decide: (action) => policy.decide(action),
    clock,
    metrics,
    log: silentLogger,
    knownRequests,
  });
  return s;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-known-requests-"));
  await compile(POLICY_A);
  api = await startKubeApiServer({ namespaces: ["staging", "production"] });
  for (const ns of ["staging", "production"]) {
    api.addPod(ns, "web", { containers: ["app"], labels: { owner: "ops@example.com" } });
    api.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "db", namespace: ns }, data: { password: btoa("hunter2") } });
    api.put({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: ns }, data: { contact: "someone@example.com" } });
  }
  // Each request's allow is in its side's log (in the kernel) at the moment the target calls
  // fetch (or, on the fast lane, its Http1Pool) to forward it: every request forwarded so far has
  // its own allow record written.
  const forwarding = (s: Side, laned: boolean) => {
    s.forwarded++;
    if (laned) s.laned++;
    const allows = readFileSync(s.log.path, "utf8").split("\n").filter((l) => l.includes('"type":"decision"') && l.includes('"effect":"allow"') && !l.includes('"impersonation":true')).length;
    if (allows < s.forwarded) s.unrecordedForwards++;
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = Object.assign((input: string | URL | Request, init?: RequestInit) => {
    if (String(input).startsWith(api.url)) forwarding(new Headers(init?.headers).get("user-agent") === "side-fast" ? fast : full, !(init?.headers instanceof Headers));
    return realFetch(input, init);
  }, realFetch);
  Http1Pool.prototype.request = function (this: Http1Pool, method, target, fields, opts) {
    forwarding(/^user-agent: side-fast\r$/m.test(fields) ? fast : full, true);
    return realPoolRequest.call(this, method, target, fields, opts);
  };
  fast = await side("fast", true);
  full = await side("full", false);
}, 60_000);

afterAll(async () => {
  globalThis.fetch = realFetchOf;
  Http1Pool.prototype.request = realPoolRequest;
  await fast?.target.stop();
  await full?.target.stop();
  await fast?.log.close();
  await full?.log.close();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The records of a log without what differs between two runs (seq, time, chain, request ids, durations). */
async function recordsOf(log: AuditLog): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const { record } of readRecords(log.path)) {
    const { seq: _s, time: _t, prev: _p, hash: _h, session: _id, ...rest } = record as Record<string, unknown>;
    const details = rest["details"] as Record<string, unknown> | undefined;
    if (details !== undefined) delete details["duration_ms"];
    out.push(rest);
  }
  return out;
}

/** A request written by hand over TLS (what fetch cannot send: a header line twice); the answer as send() gives it. */
async function sendRaw(s: Side, who: string, method: string, target: string, lines: readonly string[]): Promise<string> {
  const socket = connect({ host: "127.0.0.1", port: s.target.port, rejectUnauthorized: false });
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  const closed = new Promise<void>((resolve, reject) => socket.on("close", () => resolve()).on("error", reject));
  socket.write([`${method} ${target} HTTP/1.1`, "Host: gateway", `Authorization: Bearer tok-${who}`, `User-Agent: side-${s.name}`, ...lines, "Connection: close", "", ""].join("\r\n"));
  await closed;
  const text = Buffer.concat(chunks).toString("utf8");
  const [head, ...rest] = text.split("\r\n\r\n");
  const header = (name: string) => new RegExp(`^${name}: (.*)$`, "mi").exec(head!)?.[1] ?? null;
  return `${/^HTTP\/1\.1 (\d+)/.exec(head!)?.[1]} ${header("content-type")} ${header("content-length")} ${method === "HEAD" ? "" : rest.join("\r\n\r\n")}`;
}

async function send(s: Side, who: string, method: string, target: string, extra: string): Promise<string> {
  if (extra === "twoContentTypes") return sendRaw(s, who, method, target, ["Content-Type: application/json", "Content-Type: application/yaml"]);
  const res = await fetch(`https://127.0.0.1:${s.target.port}${target}`, {
    method,
    headers: { authorization: `Bearer tok-${who}`, "user-agent": `side-${s.name}`, ...EXTRA_HEADERS[extra] },
    tls: { rejectUnauthorized: false },
  } as RequestInit);
  const body = await res.text();
  return `${res.status} ${res.headers.get("content-type")} ${res.headers.get("content-length")} ${body}`;
}

describe("known requests (the Kubernetes fast path)", () => {
  test("answer, upstream requests and records equal to the full path's, over a long sequence of neighbouring requests and a policy swap", async () => {
    let seed = 11;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return (seed >>> 16) % n;
    };
    const who = [...Object.keys(IDENTITIES), "dev", "dev", "dev", "devOps", "opsDev", "lead", "lead"];
    const extras = [...Object.keys(EXTRA_HEADERS), "none", "none", "none", "none"];
    let current = { who: "dev", method: "GET", target: `${S}/pods`, extra: "none" };
    const answers: { fast: string; full: string; request: string }[] = [];
    const before = api.requests.length;
    const sent: string[] = [];
    const keep = setInterval(() => sent.push(...api.requests.splice(before).map((r) => JSON.stringify(r))), 5);
    for (let i = 0; i < 900; i++) {
      // One input changed at a time (or the same request again), so neighbours share a key's other parts.
      const step = rand(10);
      if (step === 0) current = { ...current, who: who[rand(who.length)]! };
      else if (step === 1) current = { ...current, method: METHODS[rand(METHODS.length)]! };
      else if (step === 2 || step === 3) current = { ...current, target: TARGETS[rand(TARGETS.length)]! };
      else if (step === 4) current = { ...current, extra: extras[rand(extras.length)]! };
      if (i === 450) await compile(POLICY_B);
      const request = `${current.who} ${current.method} ${current.target} ${current.extra}`;
      const f = await send(fast, current.who, current.method, current.target, current.extra);
      const r = await send(full, current.who, current.method, current.target, current.extra);
      answers.push({ request, fast: f, full: r });
    }
    clearInterval(keep);
    sent.push(...api.requests.splice(before).map((r) => JSON.stringify(r)));
    for (const a of answers) if (a.fast !== a.full) expect(a).toEqual({ ...a, fast: a.full });
    const upstreamOf = (name: string) => sent.filter((r) => r.includes(`"userAgent":"side-${name}"`)).map((r) => r.replace(`side-${name}`, "side"));
    expect(upstreamOf("fast")).toEqual(upstreamOf("full"));
    expect(upstreamOf("fast").length).toBeGreaterThan(100);
    expect({ fast: fast.unrecordedForwards, full: full.unrecordedForwards }).toEqual({ fast: 0, full: 0 });
    await fast.log.flushSoon();
    await full.log.flushSoon();
    const [fastRecords, fullRecords] = [await recordsOf(fast.log), await recordsOf(full.log)];
    expect(fastRecords.length).toBeGreaterThan(900);
    expect(fastRecords).toEqual(fullRecords);
    // The fast path answered a good share of what the full path decided.
    console.log(`forwarded ${upstreamOf("fast").length} of 900; decided ${full.checks}, of which ${full.checks - fast.checks} by the fast path, ${fast.laned} of them by its lane`);
    expect(full.checks - fast.checks).toBeGreaterThan(50);
    // Most of those by the listener's fast lane (the others are masked answers).
    expect({ full: full.laned, fastLane: fast.laned > 30 }).toEqual({ full: 0, fastLane: true });
  }, 180_000);

  test("under a policy with a time window, every request is decided (the time is a decision's input the key does not hold)", async () => {
    await compile(`${POLICY_A}
  - { name: office-hours, groups: [contractors], kubernetes: { verbs: [get] }, effect: allow, when: { timezone: UTC, days: [mon-fri], hours: "09:00-17:00" } }
`);
    const [fastBefore, fullBefore] = [fast.checks, full.checks];
    for (let i = 0; i < 10; i++) {
      expect(await send(fast, "dev", "GET", `${S}/pods/web`, "none")).toBe(await send(full, "dev", "GET", `${S}/pods/web`, "none"));
    }
    expect(full.checks - fullBefore).toBe(10);
    expect(fast.checks - fastBefore).toBe(10);
  });

  test("while an approval is remembered for a retry (answer mode), a known request takes the full path, which uses the approval up", async () => {
    const WEB = `${S}/pods/web?approved`;
    const REVIEW = `rules:
  - { name: review-web, groups: [developers], kubernetes: { verbs: [get], resources: [pods], names: [web] }, effect: review, approvers: [sre] }
`;
    const sre: Identity = { method: "oidc", subject: "sam", issuer: "https://idp.example", groups: ["sre"] };
    const approvalOf = (answer: string) => /approval (apr_[0-9a-z]+)/.exec(answer)?.[1];
    // Known under POLICY_A on the fast side.
    await compile(POLICY_A);
    for (let i = 0; i < 2; i++) expect(await send(fast, "dev", "GET", WEB, "none")).toBe(await send(full, "dev", "GET", WEB, "none"));
    // Under review: asked, and approved, on each side.
    await compile(REVIEW);
    for (const s of [fast, full]) {
      const answer = await send(s, "dev", "GET", WEB, "none");
      expect(answer).toStartWith("403 ");
      await s.gate.decideApproval(approvalOf(answer)!, sre, { approve: true });
    }
    // POLICY_A again (the same hash): the full path takes the approval (used once) and allows.
    await compile(POLICY_A);
    expect(await send(fast, "dev", "GET", WEB, "none")).toBe(await send(full, "dev", "GET", WEB, "none"));
    // Under review again, the approval is gone on both sides: asked anew.
    await compile(REVIEW);
    const [f, r] = [await send(fast, "dev", "GET", WEB, "none"), await send(full, "dev", "GET", WEB, "none")];
    expect(r).toStartWith("403 ");
    expect(f.replace(/apr_[0-9a-z]+/g, "apr_")).toBe(r.replace(/apr_[0-9a-z]+/g, "apr_"));
    // Denied, and the denial told once: nothing remembered any more, the fast path is back.
    await s2(fast, f);
    await s2(full, r);
    async function s2(s: Side, pending: string) {
      await s.gate.decideApproval(approvalOf(pending)!, sre, { approve: false, reason: "not now" });
      expect(await send(s, "dev", "GET", WEB, "none")).toContain("was denied by sam: not now");
    }
  });

  test("a known request whose record the log cannot take is refused with a 503 Status, as on the full path, and nothing is forwarded", async () => {
    await compile(POLICY_A);
    expect(await send(fast, "dev", "GET", `${S}/pods/web?known`, "none")).toStartWith("200 ");
    const checks = fast.checks;
    expect(await send(fast, "dev", "GET", `${S}/pods/web?known`, "none")).toStartWith("200 ");
    expect(fast.checks).toBe(checks); // the second took the fast path
    await fast.log.close(); // from now on the log takes no record
    const forwarded = fast.forwarded;
    const answer = await send(fast, "dev", "GET", `${S}/pods/web?known`, "none");
    expect(answer).toStartWith("503 ");
    expect(answer).toContain("audit log unavailable");
    expect(fast.checks).toBe(checks); // refused on the fast path itself
    expect(fast.forwarded).toBe(forwarded);
  });
});

// The fast path must never change what the gateway does: the same long sequence of requests goes
// to three HTTP targets with their own gate and audit log, one with known routes and the
// listener's fast lane (a known GET or HEAD answered before any Request is made), one with known
// routes but no lane (the fast path in handle()), and one with neither (every request decided by
// gate.check), and each request's answer (status, fields, body), what the upstream received
// (method, target, header fields), and the records in each log must be equal. The requests vary everything a
// decision reads (caller: subject, issuer, groups and their order; method and its case; path,
// its encoding and query) in small steps, so that a key missing any of them would hand one
// request the route of its neighbour; the policy is swapped midway, which must end every route.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMetrics } from "../../admin/metrics.ts";
import { Approvals } from "../../approvals/approvals.ts";
import { openAuditLog, type AuditLog } from "../../audit/log.ts";
import { readRecords } from "../../audit/reader.ts";
import type { AuditRecord } from "../../audit/record.ts";
import type { ReadableRecord } from "../../audit/completions.ts";
import { requestsOf, type CompletionRecord } from "../../../test/helpers/audit-completions.ts";
import { loadConfigFromSources } from "../../config/load.ts";
import type { HttpTarget } from "../../config/schema.ts";
import { GatewayError } from "../../core/errors.ts";
import { silentLogger } from "../../core/logger.ts";
import type { Identity, Masks } from "../../core/types.ts";
import { Gate } from "../../gate/gate.ts";
import type { RunningTarget } from "../../gate/target.ts";
import { collectBody, compileJsonMasker } from "../../masking/json-masker.ts";
import { compilePolicy, type Policy } from "../../policy/compile.ts";
import { canonicalHttpPath } from "../../policy/http-path.ts";
import { HTTP_BYPASS_RULES } from "../../../test/bypass/policy.ts";
import { signal, waitFor } from "../../../test/helpers/wait.ts";
import { startHttpTarget } from "./http-target.ts";

const POLICY_A = `rules:\n${HTTP_BYPASS_RULES}
  - { name: ops-all, groups: [ops], effect: allow }
  - { name: alice-private, identities: [alice], http: { paths: ["/private/**"] }, effect: allow }
  - { name: colon-group, groups: ["a:b"], http: { paths: ["/colon/**"] }, effect: allow, mask: { detectors: [email] } }
`;
// The same routes decided otherwise: a route kept across the swap would show.
const POLICY_B = `rules:
  - { name: developers-write, groups: [developers], http: { methods: [GET, POST], paths: ["/api/orders/**", "/api/customers"] }, effect: allow }
  - { name: ops-read, groups: [ops], http: { methods: [GET] }, effect: allow, mask: { detectors: [email] } }
`;

const IDENTITIES: Record<string, Identity> = {
  dev: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: ["developers"] },
  devOtherIssuer: { method: "oidc", subject: "dev", issuer: "https://other.example", groups: ["developers"] },
  devNoGroups: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: [] },
  devOps: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: ["developers", "ops"] },
  opsDev: { method: "oidc", subject: "dev", issuer: "https://idp.example", groups: ["ops", "developers"] },
  alice: { method: "oidc", subject: "alice", issuer: "https://idp.example", groups: [] },
  aliceKey: { method: "machine-key", subject: "alice", issuer: "https://idp.example", groups: [] },
  colon: { method: "oidc", subject: "a", issuer: "https://idp.example", groups: ["a:b"] },
  colon2: { method: "oidc", subject: "a", issuer: "https://idp.example", groups: ["a", "b"] },
};

// GET most often: the fast path is for allows, and the policy allows mostly reads.
const METHODS = ["GET", "GET", "GET", "get", "POST", "DELETE", "HEAD", "PUT"];
const PATHS = [
  "/api/items",
  "/api/items/",
  "/api/Items",
  "/api/%69tems",
  "/api/items?x=1",
  "/api/items?x=2",
  "/api/items?token=secret",
  "/api/admin",
  "/api/admin/",
  "/api/%61dmin",
  "/api/admin?x=1",
  "/api//admin",
  "/api/customers",
  "/api/customers?page=2",
  "/api/orders/1",
  "/private/a",
  "/private/a?b",
  "/colon/x",
  "/other",
  "/api/items;x=1",
  "/api/it%2Fems",
];

interface Side {
  readonly name: string;
  readonly log: AuditLog;
  readonly target: RunningTarget;
  readonly received: string[];
  checks: number;
  forwarded: number;
  /** Requests the listener made a Request of (the lane takes its requests before one is made). */
  requests: number;
  /** Requests that reached the upstream before their allow was in the log (must stay 0). */
  unrecordedForwards: number;
}

let dir: string;
let upstream: ReturnType<typeof Bun.serve>;
let policy: Policy;
let fast: Side;
let full: Side;
let laned: Side;
const sides = (): Side[] => [laned, fast, full];
const received: string[] = [];
const realFetchOf = globalThis.fetch;
const RealRequest = globalThis.Request;
/** Requests the upstream holds (those with an x-hold field) until the test lets them go. */
let holding = signal<void>();
let released = signal<void>();

async function compile(yaml: string): Promise<Policy> {
  return compilePolicy(await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} }));
}

async function side(name: string, knownRoutes: boolean, lane: boolean): Promise<Side> {
  const log = await openAuditLog({ path: join(dir, name, "audit.log") });
  const clock = { now: () => Date.now() };
  const approvals = new Approvals({ clock, onExpire: () => {} });
  const metrics = createMetrics();
  const gate = new Gate({ policy: () => policy, audit: log, approvals, clock, metrics, log: silentLogger });
  const s: Side = { name, log, target: null as unknown as RunningTarget, received: [], checks: 0, forwarded: 0, requests: 0, unrecordedForwards: 0 };
  const check = gate.check.bind(gate);
  gate.check = (...args) => (s.checks++, check(...args));
  const masker = (m: Masks) => compileJsonMasker(m);
  const token = (t: string) => IDENTITIES[t.replace(/^tok-/, "")];
  const cfg = { name: "api", kind: "http", listen: "127.0.0.1:0", upstream: `http://127.0.0.1:${upstream.port}` } as HttpTarget;
  (s as { target: RunningTarget }).target = startHttpTarget(cfg, {
    gate,
    authenticate: async (t) => token(t) ?? Promise.reject(new GatewayError("E_AUTH_MALFORMED", "unknown token")),
    authenticated: token,
    authFailureReason: () => "invalid",
    normalizePath: canonicalHttpPath,
    masker,
    collectBody,
    clock,
    metrics,
    log: silentLogger,
    knownRoutes,
    lane,
  });
  return s;
}

/**
 * The upstream's answer, of a kind chosen by the path and query, so that the lane meets each
 * kind of answer it writes or leaves to a Response: JSON of a stated length (with a hop-by-hop
 * field and repeated fields), a chunked stream, a gzip-coded body (masked after decoding on a
 * masked route), 204, 304, 404 and 500.
 */
function answerFor(url: URL): Response {
  const json = JSON.stringify({ users: [{ email: "someone@example.com", name: "x" }], path: url.pathname });
  const fields = (more: Record<string, string> = {}) => {
    const h = new Headers({ "content-type": "application/json", "x-upstream": "a", "keep-alive": "timeout=5", ...more });
    h.append("set-cookie", "a=1");
    h.append("set-cookie", "b=2");
    h.append("x-list", "one");
    h.append("x-list", "two");
    return h;
  };
  if (url.pathname.includes("customers")) {
    const bytes = new TextEncoder().encode(json);
    return new Response(new ReadableStream({ pull(c) { c.enqueue(bytes.subarray(0, 10)); c.enqueue(bytes.subarray(10)); c.close(); } }), { headers: fields() });
  }
  if (url.search === "?b") return new Response(json, { status: 500, headers: fields() });
  if (url.pathname.startsWith("/colon") || url.pathname.startsWith("/private")) return new Response(Bun.gzipSync(new TextEncoder().encode(json)), { headers: fields({ "content-encoding": "gzip" }) });
  if (url.search === "?x=1") return new Response(null, { status: 204, headers: fields() });
  if (url.search === "?x=2") return new Response(null, { status: 304, headers: fields({ etag: '"v1"' }) });
  if (url.pathname.startsWith("/api/orders")) return new Response(json, { status: 404, statusText: "Nothing Here", headers: fields() });
  return new Response(json, { headers: fields() });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-known-routes-"));
  policy = await compile(POLICY_A);
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (req.headers.has("x-hold")) {
        holding.resolve();
        await released.promise;
        return new Response("late");
      }
      // Which side sent it travels in a header, so each side's view of the upstream is its own:
      // the method, the target and every header field (the gateway's own port left out).
      const s = sides().find((x) => x.name === req.headers.get("x-side"))!;
      const fields = [...req.headers].filter(([n]) => n !== "x-side").map(([n, v]) => `${n}: ${n === "x-forwarded-host" ? v.replace(/:\d+$/, ":port") : v}`);
      received.push(`${s.name} ${req.method} ${new URL(req.url).pathname}${new URL(req.url).search} ${fields.sort().join(" | ")}`);
      // Each request's allow is in its side's log (in the kernel) by the time the upstream has
      // it: every request forwarded so far has its own allow record written.
      s.forwarded++;
      const allows = readFileSync(s.log.path, "utf8").split("\n").filter((l) => l.includes('"type":"decision"') && l.includes('"effect":"allow"')).length;
      if (allows < s.forwarded) s.unrecordedForwards++;
      return answerFor(new URL(req.url));
    },
  });
  // Which requests the listeners made a Request of, per side.
  globalThis.Request = class extends RealRequest {
    constructor(input: string | URL | Request, init?: RequestInit) {
      super(input as string, init);
      const s = sides().find((x) => x?.name === this.headers.get("x-side"));
      if (s !== undefined) s.requests++;
    }
  } as typeof Request;
  laned = await side("lane", true, true);
  fast = await side("fast", true, false);
  full = await side("full", false, false);
});

afterAll(async () => {
  globalThis.fetch = realFetchOf;
  globalThis.Request = RealRequest;
  for (const s of sides()) {
    await s.target.stop();
    await s.log.close();
  }
  upstream.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

/** Without what differs between two runs: approval ids, their expiry times, the caller's port. */
const scrub = (text: string) =>
  text
    .replace(/apr_[0-9a-z]+/g, "apr_")
    .replace(/"expires_at":"[^"]*"/g, "\"expires_at\":\"\"")
    .replace(/"remote":"127\.0\.0\.1:\d+"/g, "\"remote\":\"127.0.0.1\"");

/**
 * The records of a log without what differs between two runs (seq, time, chain, request ids,
 * durations, approval ids), and without the form each request's completion took (a request
 * record, or an entry of the connection's next decision record: timing picks it): each decision
 * record is followed by its request's completion (found by its session), whatever its form.
 */
async function recordsOf(log: AuditLog): Promise<unknown[]> {
  const records: AuditRecord[] = [];
  for await (const { record } of readRecords(log.path)) records.push(record);
  const completions = new Map<string, CompletionRecord>();
  for (const c of requestsOf(records)) {
    // One completion per request, in one form.
    expect(completions.has(c.session!)).toBe(false);
    completions.set(c.session!, c);
  }
  const plain = (r: ReadableRecord) => {
    const { seq: _s, time: _t, prev: _p, hash: _h, session: _id, foldedIn: _f, ...rest } = r as Record<string, unknown>;
    const { duration_ms: _d, completed: _c, decision: _n, session: _i, ...details } = (rest["details"] ?? {}) as Record<string, unknown>;
    return JSON.parse(scrub(JSON.stringify({ ...rest, details: Object.keys(details).length > 0 ? details : undefined })));
  };
  const out: unknown[] = [];
  for (const r of records) {
    if (r.type === "request") continue;
    out.push(plain(r));
    const c = r.type === "decision" ? completions.get(r.session!) : undefined;
    if (c === undefined) continue;
    completions.delete(r.session!);
    // A folded one reads as its standalone record would: the same type, caller, target and action.
    out.push(plain({ type: c.type, seq: 0, time: "", ...(c.identity ? { identity: c.identity } : {}), ...(c.target ? { target: c.target } : {}), ...(c.action ? { action: c.action } : {}), details: c.details }));
  }
  expect([...completions.keys()]).toEqual([]); // every completion's request was decided in this log
  return out;
}

/** Header fields a caller may add, each changing what is forwarded (or nothing). */
const EXTRA_FIELDS: Record<string, string>[] = [{}, {}, { "x-forwarded-for": "10.0.0.9" }, { connection: "keep-alive, x-hop", "x-hop": "1" }, { "x-http-method-override": "DELETE" }, { accept: "application/json", "user-agent": "curl/8" }, { upgrade: "websocket" }];

async function send(s: Side, sideName: string, who: string, method: string, path: string, extra: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${s.target.port}${path}`, { method, headers: { ...extra, authorization: `Bearer tok-${who}`, "x-side": sideName } });
  const body = await res.text();
  const fields = [...res.headers].filter(([n]) => n !== "date").map(([n, v]) => `${n}: ${v}`);
  return `${res.status} ${fields.join(" | ")} ${scrub(body)}`;
}

describe("known routes (the HTTP fast path)", () => {
  test("answer, upstream and records equal to the full path's, over a long sequence of neighbouring requests and a policy swap", async () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return (seed >>> 16) % n;
    };
    const who = [...Object.keys(IDENTITIES), "dev", "dev", "devOps", "opsDev"];
    let current = { who: "dev", method: "GET", path: "/api/items", extra: 0 };
    const answers: { lane: string; fast: string; full: string; request: string }[] = [];
    for (let i = 0; i < 600; i++) {
      // One input changed at a time (or the same request again), so neighbours share a key's other parts.
      const step = rand(7);
      if (step === 0) current = { ...current, who: who[rand(who.length)]! };
      else if (step === 1) current = { ...current, method: METHODS[rand(METHODS.length)]! };
      else if (step === 2 || step === 3) current = { ...current, path: PATHS[rand(PATHS.length)]! };
      else if (step === 4) current = { ...current, extra: rand(EXTRA_FIELDS.length) };
      if (i === 300) policy = await compile(POLICY_B);
      const { who: w, method: m, path: p } = current;
      const extra = EXTRA_FIELDS[current.extra]!;
      const request = `${w} ${m} ${p} ${JSON.stringify(extra)}`;
      answers.push({ request, lane: await send(laned, "lane", w, m, p, extra), fast: await send(fast, "fast", w, m, p, extra), full: await send(full, "full", w, m, p, extra) });
    }
    for (const a of answers) if (a.fast !== a.full || a.lane !== a.full) expect(a).toEqual({ ...a, fast: a.full, lane: a.full });
    const upstreamOf = (name: string) => received.filter((r) => r.startsWith(`${name} `)).map((r) => r.slice(name.length + 1));
    expect(upstreamOf("fast")).toEqual(upstreamOf("full"));
    expect(upstreamOf("lane")).toEqual(upstreamOf("full"));
    expect(upstreamOf("fast").length).toBeGreaterThan(100);
    expect({ lane: laned.unrecordedForwards, fast: fast.unrecordedForwards, full: full.unrecordedForwards }).toEqual({ lane: 0, fast: 0, full: 0 });
    for (const s of sides()) await s.log.flushSoon();
    const [laneRecords, fastRecords, fullRecords] = [await recordsOf(laned.log), await recordsOf(fast.log), await recordsOf(full.log)];
    expect(fastRecords.length).toBeGreaterThan(600);
    expect(fastRecords).toEqual(fullRecords);
    expect(laneRecords).toEqual(fullRecords);
    // The fast path answered a good share of what the full path decided (refused paths are never
    // decided), and the lane most of those (not a lower-case get, a body, a repeated field).
    const lanes = 600 - laned.requests;
    console.log(`forwarded ${upstreamOf("fast").length} of 600; decided ${full.checks}, of which ${full.checks - fast.checks} by the fast path, ${lanes} by the lane`);
    expect(full.checks - fast.checks).toBeGreaterThan(50);
    // Every kind of answer came back (masked ones too: the e-mail address replaced).
    const kinds = new Set(answers.map((a) => a.lane.slice(0, 3)));
    const masked = answers.filter((a) => a.lane.startsWith("200 ") && a.lane.includes('"users"') && !a.lane.includes("someone@example.com")).length;
    console.log(`answers by status: ${[...kinds].sort().join(", ")}; masked: ${masked}`);
    expect(["200", "204", "304", "404", "500"].every((k) => kinds.has(k))).toBe(true);
    expect(masked).toBeGreaterThan(0);
    expect({ lane: laned.checks, full: full.requests, fast: fast.requests, laned: lanes > 30 }).toEqual({ lane: fast.checks, full: 600, fast: 600, laned: true });
  }, 120_000);

  test("a masked route whose upstream answers gzip-coded JSON: decoded, masked and written by the lane as the full path answers it", async () => {
    policy = await compile(POLICY_A);
    for (const path of ["/colon/x?gz", "/api/customers?chunked"]) {
      const who = path.startsWith("/colon") ? "colon" : "dev";
      const expected = await send(full, "full", who, "GET", path);
      expect(await send(laned, "lane", who, "GET", path)).toBe(expected);
      const requests = laned.requests;
      expect(await send(laned, "lane", who, "GET", path)).toBe(expected);
      expect(await send(full, "full", who, "GET", path)).toBe(expected);
      if (path.startsWith("/colon")) {
        expect(laned.requests).toBe(requests); // the lane took the second
        expect(expected).toStartWith("200 ");
        expect(expected).not.toContain("someone@example.com");
        expect(expected).not.toContain("content-encoding");
      }
    }
  });

  for (const name of ["fast", "lane"]) {
    test(`a client that leaves while a known route is forwarded: the upstream request is aborted and recorded 499 client_closed (${name === "lane" ? "the lane" : "the fast path"})`, async () => {
      const s = name === "lane" ? laned : fast;
      policy = await compile(POLICY_A);
      const path = `/api/items?leave-${name}`;
      expect(await send(s, name, "dev", "GET", path)).toStartWith("200 ");
      const [checks, requests] = [s.checks, s.requests];
      holding = signal<void>();
      released = signal<void>();
      const client = new AbortController();
      const answer = fetch(`http://127.0.0.1:${s.target.port}${path}`, { headers: { authorization: "Bearer tok-dev", "x-side": name, "x-hold": "1" }, signal: client.signal }).catch((e: unknown) => e);
      await holding.promise;
      client.abort();
      expect(await answer).toBeInstanceOf(Error);
      // In either form: the client's connection ended, so it is a request record of its own now, but a reader need not know that.
      const record = await waitFor(`the completion of ${path} on the ${name} side`, async () => {
        await s.log.flushSoon();
        const records: AuditRecord[] = [];
        for await (const { record } of readRecords(s.log.path)) records.push(record);
        return requestsOf(records).find((c) => (c.action as { query?: string } | undefined)?.query === `leave-${name}` && c.details["status"] !== 200)?.details;
      });
      expect(record).toMatchObject({ status: 499, outcome: "client_closed", bytes_out: 0 });
      expect(s.checks).toBe(checks); // the fast path took it
      expect(s.requests - requests).toBe(name === "lane" ? 0 : 1); // and on its side the lane
      released.resolve();
    });
  }

  test("under a policy with a time window, every request is decided (the time is a decision's input the key does not hold)", async () => {
    policy = await compile(`${POLICY_A}
  - { name: office-hours, groups: [contractors], http: { paths: ["/api/**"] }, effect: allow, when: { timezone: UTC, days: [mon-fri], hours: "09:00-17:00" } }
`);
    const [laneBefore, fastBefore, fullBefore] = [laned.checks, fast.checks, full.checks];
    for (let i = 0; i < 20; i++) {
      const expected = await send(full, "full", "dev", "GET", "/api/items");
      expect(await send(fast, "fast", "dev", "GET", "/api/items")).toBe(expected);
      expect(await send(laned, "lane", "dev", "GET", "/api/items")).toBe(expected);
    }
    expect(full.checks - fullBefore).toBe(20);
    expect(fast.checks - fastBefore).toBe(20);
    expect(laned.checks - laneBefore).toBe(20);
  });

  for (const name of ["fast", "lane"]) {
    test(`a known route whose record the log cannot take is refused with 503, as on the full path, and nothing is forwarded (${name === "lane" ? "the lane" : "the fast path"})`, async () => {
      const s = name === "lane" ? laned : fast;
      policy = await compile(POLICY_A);
      expect(await send(s, name, "dev", "GET", "/api/items?known")).toStartWith("200 ");
      const [checks, requests] = [s.checks, s.requests];
      expect(await send(s, name, "dev", "GET", "/api/items?known")).toStartWith("200 ");
      expect(s.checks).toBe(checks); // the second took the fast path
      expect(s.requests - requests).toBe(name === "lane" ? 0 : 1); // and the lane, on its side
      await s.log.close(); // from now on the log takes no record
      const forwarded = s.forwarded;
      const res = await fetch(`http://127.0.0.1:${s.target.port}/api/items?known`, { headers: { authorization: "Bearer tok-dev", "x-side": name } });
      expect(res.status).toBe(503);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe("audit_unavailable");
      expect(body.message).toContain("audit log unavailable, request denied");
      expect(s.checks).toBe(checks); // refused on the fast path itself
      expect(s.forwarded).toBe(forwarded);
    });
  }
});

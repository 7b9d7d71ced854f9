// One record per request, as the HTTP target writes it into a real audit log: an allowed
// request's completion rides on the next decision record made on its client connection
// (`details.completed`, naming its decision record's seq and its session), whichever path made
// that record (the listener's fast lane, the fast path in handle(), gate.check); a completion
// with no decision record after it on its connection (the connection ended, stayed quiet past
// the wait, the target stopped) is a `request` record of its own. Each completion is in the log
// once, in one of the two forms, and `gatehouse verify` accepts the log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMetrics, type Metrics } from "../../admin/metrics.ts";
import { Approvals } from "../../approvals/approvals.ts";
import { openAuditLog, type AuditLog } from "../../audit/log.ts";
import { readRecords } from "../../audit/reader.ts";
import type { AuditRecord } from "../../audit/record.ts";
import { verifyLog } from "../../audit/verify.ts";
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
import { requestsOf } from "../../../test/helpers/audit-completions.ts";
import { waitFor } from "../../../test/helpers/wait.ts";
import { startHttpTarget } from "./http-target.ts";

const POLICY = `rules:
  - { name: read-api, groups: [developers], http: { methods: [GET], paths: ["/api/**"] }, effect: allow }
`;
const IDENTITIES: Record<string, Identity> = {
  ann: { method: "oidc", subject: "ann", issuer: "https://idp.example", groups: ["developers"] },
  bob: { method: "oidc", subject: "bob", issuer: "https://idp.example", groups: ["developers"] },
};

let dir: string;
let upstream: ReturnType<typeof Bun.serve>;
let policy: Policy;
let n = 0;

interface Harness {
  readonly log: AuditLog;
  readonly target: RunningTarget;
  readonly metrics: Metrics;
  /** Requests gate.check decided (the others took a known route). */
  checks: number;
  records(): Promise<AuditRecord[]>;
  stop(): Promise<void>;
}

/** A target with its own gate and audit log; `lane`/`knownRoutes` pick the path a repeated request takes. */
async function harness(opts: { completionWaitMs: number; lane?: boolean; knownRoutes?: boolean }): Promise<Harness> {
  const log = await openAuditLog({ path: join(dir, `t${++n}`, "audit.log") });
  const clock = { now: () => Date.now() };
  const metrics = createMetrics();
  const gate = new Gate({ policy: () => policy, audit: log, approvals: new Approvals({ clock, onExpire: () => {} }), clock, metrics, log: silentLogger });
  const check = gate.check.bind(gate);
  gate.check = (...args) => (self.checks++, check(...args));
  const token = (t: string) => IDENTITIES[t.replace(/^tok-/, "")];
  const cfg = { name: "api", kind: "http", listen: "127.0.0.1:0", upstream: `http://127.0.0.1:${upstream.port}` } as HttpTarget;
  const target = startHttpTarget(cfg, {
    gate,
    authenticate: async (t) => token(t) ?? Promise.reject(new GatewayError("E_AUTH_MALFORMED", "unknown token")),
    authenticated: token,
    authFailureReason: () => "invalid",
    normalizePath: canonicalHttpPath,
    masker: (m: Masks) => compileJsonMasker(m),
    collectBody,
    clock,
    metrics,
    log: silentLogger,
    completionWaitMs: opts.completionWaitMs,
    ...(opts.lane !== undefined ? { lane: opts.lane } : {}),
    ...(opts.knownRoutes !== undefined ? { knownRoutes: opts.knownRoutes } : {}),
  });
  let stopped = false;
  const self: Harness = {
    log,
    target,
    metrics,
    checks: 0,
    async records() {
      if (!stopped) await log.flushSoon();
      const out: AuditRecord[] = [];
      for await (const { record } of readRecords(log.path)) out.push(record);
      return out;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await target.stop();
      await log.close();
    },
  };
  return self;
}

/** One keep-alive client connection, one request at a time, answers read by their Content-Length. */
class Client {
  #buf = Buffer.alloc(0);
  #waiting: (() => void) | null = null;
  #closed = false;
  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#waiting?.();
    });
    socket.on("close", () => {
      this.#closed = true;
      this.#waiting?.();
    });
  }

  static open(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }

  async get(path: string, who = "ann"): Promise<{ status: number; body: string }> {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer tok-${who}\r\n\r\n`);
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.#buf.subarray(0, end).toString("latin1");
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? "0");
        if (this.#buf.length >= end + 4 + length) {
          const body = this.#buf.subarray(end + 4, end + 4 + length).toString();
          this.#buf = this.#buf.subarray(end + 4 + length);
          return { status: Number(head.split(" ")[1]), body };
        }
      }
      if (this.#closed) throw new Error(`the connection closed before the answer to ${path}`);
      await new Promise<void>((resolve) => (this.#waiting = resolve));
      this.#waiting = null;
    }
  }

  /** Closes the connection and waits until it is closed on this side. */
  async close(): Promise<void> {
    if (this.#closed) return;
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.end();
    await closed;
  }
}

type Entry = { decision: number; session: string; status: number; bytes_out: number; outcome: string; duration_ms: number };
const completedOf = (r: AuditRecord): Entry[] | undefined => (r.details as { completed?: Entry[] } | undefined)?.completed;
const pathOf = (r: { action?: unknown }) => (r.action as { path?: string } | undefined)?.path;
/** The decision and request records of requests whose path contains `marker`, in log order. */
function ofMarker(all: AuditRecord[], marker: string): { decisions: AuditRecord[]; requests: AuditRecord[] } {
  const mine = all.filter((r) => pathOf(r)?.includes(marker) === true);
  return { decisions: mine.filter((r) => r.type === "decision"), requests: mine.filter((r) => r.type === "request") };
}
const BODY = JSON.stringify({ ok: true });
/** An entry naming `d` as the decision of an ordinary answer. */
const entryFor = (d: AuditRecord) => ({ decision: d.seq, session: d.session!, status: 200, bytes_out: BODY.length, outcome: "ok", duration_ms: expect.any(Number) });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-http-fold-"));
  policy = compilePolicy(await loadConfigFromSources([{ file: "p.yaml", text: POLICY }], { baseDir: "/tmp", env: {} }));
  upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response(BODY, { headers: { "content-type": "application/json" } }) });
});

afterAll(() => {
  upstream.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

describe("with a long wait, which form each completion takes is fixed", () => {
  // The listener's fast lane, the fast path in handle(), and gate.check for every request.
  for (const [name, opts, checks] of [
    ["the fast lane", {}, 1],
    ["the fast path in handle()", { lane: false }, 1],
    ["gate.check (no known routes)", { knownRoutes: false }, 3],
  ] as const) {
    test(`${name}: each request's completion rides on the next decision record on its connection; the last is a request record once the connection ends`, async () => {
      const h = await harness({ completionWaitMs: 60_000, ...opts });
      try {
        const c = await Client.open(h.target.port);
        for (let i = 0; i < 3; i++) expect(await c.get(`/api/items-${n}`)).toEqual({ status: 200, body: BODY });
        expect(h.checks).toBe(checks); // the path the test means
        // Nothing written on its own yet: the last completion waits for a decision on the connection.
        expect(ofMarker(await h.records(), `/api/items-${n}`).requests).toEqual([]);
        await c.close();
        const { decisions, requests } = await waitFor("the last request's record after its connection ended", async () => {
          const got = ofMarker(await h.records(), `/api/items-${n}`);
          return got.requests.length === 1 ? got : undefined;
        });
        expect(decisions).toHaveLength(3);
        // Three requests, three sessions; the second's decision record carries the first's completion, the third's the second's.
        expect(new Set(decisions.map((d) => d.session)).size).toBe(3);
        expect(decisions.map(completedOf)).toEqual([undefined, [entryFor(decisions[0]!)], [entryFor(decisions[1]!)]]);
        // The third's: a request record of its own, as before (no decision, no session member in its details).
        expect(requests[0]!.session).toBe(decisions[2]!.session!);
        expect(requests[0]!.action).toEqual(decisions[2]!.action);
        expect(requests[0]!.details).toEqual({ status: 200, bytes_out: BODY.length, outcome: "ok", duration_ms: expect.any(Number) });
        // Readers see three completions, each of its own request's session and caller.
        const read = requestsOf(await h.records()).filter((r) => pathOf(r)?.includes(`/api/items-${n}`) === true);
        expect(read.map((r) => [r.session, r.identity?.subject, pathOf(r), r.details["status"]])).toEqual(decisions.map((d) => [d.session, "ann", pathOf(d), 200]));
      } finally {
        await h.stop();
      }
      expect(await verifyLog(h.log.path)).toMatchObject({ ok: true });
    });
  }

  test("a denied request's decision record carries the completion too (another caller's on the same connection as well); completions never cross connections", async () => {
    const h = await harness({ completionWaitMs: 60_000 });
    try {
      const one = await Client.open(h.target.port);
      const two = await Client.open(h.target.port);
      expect((await one.get("/api/x-1")).status).toBe(200);
      // Another connection's decision does not carry it.
      expect((await two.get("/api/x-2")).status).toBe(200);
      // A denial on the first connection, by another caller: its decision record carries it.
      expect((await one.get("/private/x-3", "bob")).status).toBe(403);
      const { decisions } = ofMarker(await h.records(), "/x-");
      expect(decisions.map((d) => [pathOf(d), d.decision?.effect])).toEqual([
        ["/api/x-1", "allow"],
        ["/api/x-2", "allow"],
        ["/private/x-3", "deny"],
      ]);
      expect(decisions.map(completedOf)).toEqual([undefined, undefined, [entryFor(decisions[0]!)]]);
      const read = requestsOf(await h.records()).filter((r) => pathOf(r)?.startsWith("/api/x-1") === true);
      expect(read.map((r) => [r.session, r.identity?.subject])).toEqual([[decisions[0]!.session, "ann"]]);
      // The second connection's completion is still held: stop() writes it on its own before the log closes.
      await one.close();
      await h.stop();
      const after = ofMarker(await h.records(), "/x-");
      expect(after.requests.map((r) => r.session)).toEqual([decisions[1]!.session]);
      await two.close();
    } finally {
      await h.stop();
    }
    expect(await verifyLog(h.log.path)).toMatchObject({ ok: true });
  });
});

test("a completion no decision record follows soon is written on its own, once", async () => {
  const h = await harness({ completionWaitMs: 1 });
  try {
    const c = await Client.open(h.target.port);
    expect((await c.get("/api/quiet")).status).toBe(200); // gate.check: held, then written on its own
    await waitFor("the first completion's own record", async () => (ofMarker(await h.records(), "/api/quiet").requests.length === 1 ? true : undefined));
    expect((await c.get("/api/quiet")).status).toBe(200); // the fast lane
    await waitFor("the second completion's own record", async () => (ofMarker(await h.records(), "/api/quiet").requests.length === 2 ? true : undefined));
    expect((await c.get("/api/quiet")).status).toBe(200);
    expect(h.checks).toBe(1);
    await c.close();
    const { decisions, requests } = await waitFor("the third completion's own record", async () => {
      const got = ofMarker(await h.records(), "/api/quiet");
      return got.requests.length === 3 ? got : undefined;
    });
    // Each completion once: none of them also rides on a decision record.
    expect(decisions.map(completedOf)).toEqual([undefined, undefined, undefined]);
    expect(requests.map((r) => r.session)).toEqual(decisions.map((d) => d.session));
    expect(requestsOf(await h.records()).filter((r) => pathOf(r) === "/api/quiet")).toHaveLength(3);
  } finally {
    await h.stop();
  }
  expect(await verifyLog(h.log.path)).toMatchObject({ ok: true });
});

for (const [name, queries] of [
  ["gate.check", ["?1", "?2", "?3"]],
  ["the fast lane", ["", "", ""]],
] as const)
  test(`a decision record the log cannot take (${name}): the completions it was to carry are written on their own, or counted lost`, async () => {
    const h = await harness({ completionWaitMs: 60_000 });
    try {
      const c = await Client.open(h.target.port);
      expect((await c.get(`/api/lost${queries[0]}`)).status).toBe(200);
      expect((await c.get(`/api/lost${queries[1]}`)).status).toBe(200);
      expect(h.checks).toBe(name === "gate.check" ? 2 : 1);
      await h.log.close(); // from now on the log takes no record
      expect((await c.get(`/api/lost${queries[2]}`)).status).toBe(503);
      // The second's completion was to ride on the third's decision record: it is counted lost, as a request record that cannot be written is.
      expect(h.metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="request"} 1');
      await c.close();
    } finally {
      await h.target.stop();
    }
  });

// The HTTP target: a reverse proxy in front of one internal API. Each request is
// authenticated, turned into an Action, decided and audited by the gate, then forwarded with
// the upstream credential, streamed back (masked when the policy says so), and audited again
// with its status, bytes and duration. A known route (known-routes.ts) skips the decision; a
// known GET or HEAD without a body is taken by the listener before any Request is made and its
// whole answer written without a Response (lane()). A request whose decision record's seq is
// known has no request record of its own unless it must: the next decision record on its client
// connection carries its completion (connection-completions.ts).
import type { ServerWebSocket } from "bun";
import type { HttpTarget } from "../../config/schema.ts";
import { parseDuration, parseSize } from "../../core/duration.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import type { HttpRequestFacts, Identity, Masks } from "../../core/types.ts";
import type { PathRefusal } from "../../policy/http-path.ts";
import { hasMasks } from "../../core/types.ts";
import { type AuthRejection, recordAuthRejected } from "../../gate/auth-rejection.ts";
import { type AuditEvent, type Verdict, RECORD_QUEUED, auditIdentity, describeApproval } from "../../gate/gate.ts";
import { splitListen } from "../../gate/listen.ts";
import { type ClientConnection, type Http1Refusal, type Http1Server, type LaneContext, type RequestHead, type WholeAnswer, serveHttp1 } from "../../gate/http1-server.ts";
import { SessionRevocations } from "../../gate/revocation.ts";
import { RecordsByIdentity, type SessionRecords } from "../../gate/session-records.ts";
import { ObjectTemplate, type CanonicalValue, type RecordTemplate } from "../../audit/record-template.ts";
import type { RunningTarget, TargetDeps } from "../../gate/target.ts";
import { tokenExpiredAtOpen } from "../../gate/session-expiry.ts";
import type { Http1Answer } from "../../gate/http1-client.ts";
import { bearerOf, bearerToken, downstreamResponseFields, downstreamResponseHeaders, upstreamRequestFields, upstreamRequestFieldsOfLines } from "./headers.ts";
import { decodeContentCoding } from "./content-coding.ts";
import { upstreamFieldBlock } from "../../gate/http1-client.ts";
import { bodiless, upstreamClient } from "./upstream-client.ts";
import { fieldOf, wholeAnswer } from "./whole-answer.ts";
import { relayWebSocket, type WsData } from "./websocket.ts";
import { compileQueryRedactor } from "./redact-query.ts";
import { MAX_HEAD_BYTES, headTooLarge } from "./request-head.ts";
import { KnownRoutes, type KnownRoute } from "./known-routes.ts";
import { type Carried, type RequestCompletion, ConnectionCompletions, carrierDetails, withCompleted } from "./connection-completions.ts";

/** Upstream bodies up to this size, with a content-length, are read whole instead of streamed. */
const SMALL_BODY = 64 * 1024;
/** How long stop() waits for forwarded requests to finish before closing their connections. */
const STOP_GRACE_MS = 10_000;

export interface BodyMasker {
  maskBody(body: Uint8Array, contentType: string | null): { body: Uint8Array; masked: number };
}

export interface HttpTargetDeps extends TargetDeps {
  /** A credential verified a moment ago, without an await (CachedAuthenticate.peek); undefined: authenticate. */
  readonly authenticated?: (credential: string) => Identity | undefined;
  /** The canonical path, or why it is refused (see canonicalHttpPath). */
  readonly normalizePath: (path: string) => string | PathRefusal;
  readonly masker: (masks: Masks) => BodyMasker | null;
  readonly collectBody: (stream: ReadableStream<Uint8Array>, maxBytes: number) => Promise<Uint8Array>;
  /** False: every request takes the full path (the differential test's reference). Default true. */
  readonly knownRoutes?: boolean;
  /** False: no request takes the listener's fast lane (lane()), known ones take the fast path in handle(). Default true. */
  readonly lane?: boolean;
  /** False: every request goes by fetch, not the gateway's own HTTP/1.1 client (upstream-client.ts). Default true. */
  readonly ownClient?: boolean;
  /** The target's settings with secret references at their current values (gate/secret-store.ts), asked per request. */
  readonly current?: () => HttpTarget;
  /** How long a completion waits for the next decision record on its connection (gate/held-completions.ts; default 5 ms). */
  readonly completionWaitMs?: number;
}

const DEFAULT_MASK_MAX = 10 * 1024 * 1024;

function jsonError(status: number, error: string, message: string, extra: Record<string, unknown> = {}): Response {
  return Response.json({ error, message, ...extra }, { status, headers: { "cache-control": "no-store" } });
}

/** The answer to a request whose record the audit log could not take (the gate has logged and counted it). */
function auditUnavailable(message: string): Response {
  return jsonError(503, "audit_unavailable", message.startsWith("audit log unavailable") ? message : `audit log unavailable, request refused: ${message}`);
}

/** The request record's details, in canonical order, without a sorted copy per request. */
const REQUEST_DETAILS = new ObjectTemplate({}, ["status", "bytes_out", "duration_ms", "outcome", "error", "masked"]);

let counter = 0;
function requestId(): string {
  counter = (counter + 1) % 0x100000000;
  return `req_${Date.now().toString(36)}${counter.toString(36).padStart(4, "0")}`;
}

/** The caller's side of a request: the abort of what is forwarded, and what to record if the client leaves. */
interface Client {
  readonly abort: AbortController;
  onGone: (() => void) | null;
}

/** An allowed request on its way upstream (from the fast path or the full one). */
interface Forwarding {
  readonly id: string;
  readonly started: number;
  readonly client: Client;
  /** The facts for the request record: the same, or their canonical JSON made once (a known route). */
  readonly action: HttpRequestFacts | CanonicalValue;
  readonly records: SessionRecords;
  readonly verdict: Verdict;
  /** The upstream URL. */
  readonly target: string;
  readonly method: string;
  /** The upstream request's header fields (upstreamRequestFields). */
  readonly headers: Record<string, string>;
  /** upstreamFieldBlock(headers), made already (the fast lane's). */
  readonly block?: string;
  /** The seq of its decision record, when its completion may ride on a later one (-1: a request record of its own). */
  readonly decision: number;
  /** The client connection it came on (null: unknown). */
  readonly connection: ClientConnection | null;
}

export function startHttpTarget(cfg: HttpTarget, deps: HttpTargetDeps): RunningTarget {
  const [host, port] = splitListen(cfg.listen);
  const upstream = new URL(cfg.upstream);
  const upstreamBase = upstream.href.replace(/\/$/, "");
  // Asked for per request (a map lookup): a rotated bearer header goes out with the next request.
  const extraHeaders = deps.current === undefined ? () => cfg.headers ?? {} : () => deps.current!().headers ?? {};
  const maskMax = cfg.mask_max_size ? parseSize(cfg.mask_max_size) : DEFAULT_MASK_MAX;
  const timeoutMs = cfg.timeout ? parseDuration(cfg.timeout) : 300_000;
  const recordedQuery = compileQueryRedactor(cfg.redact_query);
  // Keep-alive connections of the gateway's own for bodiless requests (null: an https upstream, all by fetch).
  const own = deps.ownClient === false ? null : upstreamClient(upstream, { maxWhole: SMALL_BODY });
  const { gate, metrics, log } = deps;
  // The series this target counts on every request, resolved once.
  const outcomes = ["denied", "bad_request", "upstream_error", "masked", "mask_refused", "forwarded"] as const;
  const outcomeCount = Object.fromEntries(outcomes.map((outcome) => [outcome, metrics.requests.bind({ target: cfg.name, outcome })])) as Record<(typeof outcomes)[number], { inc(): void }>;
  const latency = metrics.latency.bind({ target: cfg.name });
  const revocations = new SessionRevocations(deps.liveSessions);
  // Each request is its own session: its records come from its identity's templates, built
  // once per identity (bounded), with the request id filled in per record.
  const recordsByIdentity = new RecordsByIdentity(cfg.name);
  // Routes allowed a moment ago, per identity: allowed again without an await (known-routes.ts).
  const knownRoutes = new KnownRoutes();
  // Each identity's request-record template, found without building the templates' key.
  const requestTemplates = new WeakMap<SessionRecords, RecordTemplate>();
  const requestTemplate = (records: SessionRecords): RecordTemplate => {
    let t = requestTemplates.get(records);
    if (t === undefined) requestTemplates.set(records, (t = records.template("request")));
    return t;
  };
  const endAtExpiry = deps.endAtExpiry ?? (() => true);
  // Forwarded requests whose request record is not written yet, and those records being
  // written: stop() lets both finish before the audit log closes.
  let forwarding = 0;
  const writing = new Set<Promise<void>>();
  /** A completion as a request record of its own. Nothing waits for it: a failed write is logged, counted and shown by /healthz (recordLaterFrom never rejects). */
  const writeRequest = (c: RequestCompletion): void => {
    const written = gate.recordLaterFrom(requestTemplate(c.records), { session: c.id, action: c.action, details: REQUEST_DETAILS.fill(c.outcome) }, "request");
    // Queued in the log already (it drains on close): nothing more for stop() to wait for.
    if (written === RECORD_QUEUED) return;
    writing.add(written);
    void written.then(() => writing.delete(written));
  };
  // Completions held on their client connections for the next decision record made there.
  const completions = new ConnectionCompletions(writeRequest, deps.completionWaitMs);
  // Upstream deadlines: one sweep a second rather than a timer and a combined signal per
  // request (AbortSignal.any + AbortSignal.timeout cost ~20 µs of CPU per request).
  const deadlines = new Map<AbortController, number>();
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const [controller, deadline] of deadlines) {
      if (deadline > now) continue;
      deadlines.delete(controller);
      controller.abort(new GatewayError("E_UPSTREAM", `no answer within ${cfg.timeout ?? "300s"} (the target's timeout)`));
    }
  }, 1000);
  sweeper.unref();

  /**
   * Answers a refusal once its record is written. The caller waits on that record, so if the
   * log cannot take it the answer is a 503 that says so instead.
   */
  async function refuse(event: AuditEvent, answer: Response): Promise<Response> {
    try {
      await gate.record(event);
    } catch (e) {
      return auditUnavailable(errorMessage(e));
    }
    return answer;
  }

  /** The same for a refused credential: its auth.rejected record (and count), then the answer. */
  async function rejectCredential(rejection: AuthRejection, answer: Response, count = true): Promise<Response> {
    try {
      await recordAuthRejected(deps, rejection, { count });
    } catch (e) {
      return auditUnavailable(errorMessage(e));
    }
    return answer;
  }

  /**
   * The fast path: a request of a known route (known-routes.ts) from a caller whose credential
   * was verified a moment ago. Its decision record is queued at once and written with the other
   * records of this event-loop turn (one write(2)), and the request is forwarded once it is
   * written. Undefined: take the full path.
   */
  function knownRoute(req: Request): { known: KnownRoute; identity: Identity; records: SessionRecords } | undefined {
    if (deps.authenticated === undefined || deps.knownRoutes === false) return undefined;
    const token = bearerToken(req.headers);
    if (token === null) return undefined;
    const identity = deps.authenticated(token);
    if (identity === undefined) return undefined;
    const records = recordsByIdentity.for(identity);
    const known = knownRoutes.get(records, req.method, req.url, gate.policyNow().hash);
    // A head over the limit or an upgrade: the full path answers them.
    if (known === undefined || req.headers.has("upgrade") || headTooLarge(req.method, req.url, req.headers) !== null) return undefined;
    return { known, identity, records };
  }

  /**
   * A known route's decision record, queued as gate.check would record and count it (the same
   * record, byte for byte), written with the turn's others; resolves with knownRefusal's answer.
   */
  async function recordKnown(fast: { known: KnownRoute; identity: Identity }, id: string, revocationsSince: number, connection: ClientConnection | null): Promise<{ refused: Response | null; seq: number }> {
    const { known } = fast;
    const carried = completions.take(connection);
    const recorded = gate.recordKnownSoon(cfg.name, known.verdict, known.decision, knownValues(known, id, carried));
    const seq = gate.lastSeq;
    return { refused: await knownRefusal(await recorded, fast, id, revocationsSince, carried), seq };
  }

  /** A known route's decision record's values: the action made once, the request's id, and the completions it carries. */
  function knownValues(known: KnownRoute, id: string, carried: Carried | undefined): { action: CanonicalValue; session: string; details?: CanonicalValue } {
    const details = carrierDetails(carried);
    return details === undefined ? { action: known.action, session: id } : { action: known.action, session: id, details };
  }

  /**
   * Once a known route's record is written: null, forward it; else the answer that refuses it
   * (the log failed, or a reload revoked the caller meanwhile). `carried`: the completions that
   * record carries, written on their own when it was not written.
   */
  function knownRefusal(verdict: Verdict, fast: { known: KnownRoute; identity: Identity }, id: string, revocationsSince: number, carried: Carried | undefined): Response | Promise<Response> | null {
    const { known } = fast;
    if (verdict.auditFailed) {
      completions.giveBack(carried);
      outcomeCount.denied.inc();
      return auditUnavailable(verdict.message);
    }
    // A reload during that wait that revoked this caller: as on the full path.
    if (revocations.revokedSince(revocationsSince, fast.identity)) {
      const message = "credential revoked by a configuration reload while the request waited; authenticate again";
      outcomeCount.denied.inc();
      return rejectCredential(
        { session: id, identity: fast.identity, target: cfg.name, action: { ...known.facts }, reason: "revoked", message },
        jsonError(401, "unauthenticated", message, { reason: "revoked" }),
        false,
      );
    }
    return null;
  }

  /** The client's side of a request: aborts what is forwarded when the client leaves, and then records it (onGone). */
  function clientOf(signal: AbortSignal): Client {
    const abort = new AbortController();
    const client: Client = { abort, onGone: null };
    if (signal.aborted) abort.abort();
    else
      signal.addEventListener(
        "abort",
        () => {
          abort.abort();
          client.onGone?.();
        },
        { once: true },
      );
    return client;
  }

  /**
   * The listener's fast lane (gate/http1-server.ts): a known route (as knownRoute finds it, here
   * from the parsed head's fields: the same credential, method as sent and URL the listener would
   * build) that is a GET or HEAD without a body, to the plain-http upstream, taken before any
   * Request is made and answered from the own client's answer without a Headers or Response when
   * the answer is whole. The same records, upstream request and answer as the fast path in
   * handle(). Undefined: handle() takes it.
   */
  function lane(head: RequestHead, ctx: LaneContext): Promise<WholeAnswer | Response> | undefined {
    if (own === null || deps.authenticated === undefined || deps.knownRoutes === false || deps.lane === false) return undefined;
    const method = head.method;
    if (method !== "GET" && method !== "HEAD") return undefined;
    const revocationsSince = revocations.generation;
    const lines = head.headers;
    let authorization: string | undefined;
    // headTooLarge's count of the head, as the full path makes it.
    let bytes = method.length + 1 + head.target.length + 11;
    for (let i = 0; i < lines.length; i++) {
      const [name, value] = lines[i]!;
      bytes += name.length + value.length + 4;
      // Not a known route's request, or one the full path reads otherwise.
      if (name === "upgrade" || name === "content-length" || name === "transfer-encoding") return undefined;
      if (name === "authorization") authorization = value;
      // A repeated name is one field joined with ", " for the full path (a Headers): left to it.
      for (let j = 0; j < i; j++) if (lines[j]![0] === name) return undefined;
    }
    if (authorization === undefined || bytes > MAX_HEAD_BYTES) return undefined;
    const token = bearerOf(authorization);
    if (token === null) return undefined;
    const identity = deps.authenticated(token);
    if (identity === undefined) return undefined;
    const records = recordsByIdentity.for(identity);
    // The URL the listener makes for a Request of this head (http1-server.ts), which the full
    // path remembered the route under (after the URL parser's normalisation: a target it would
    // write otherwise is simply not found here).
    const known = knownRoutes.get(records, method, "http://" + head.host + head.target, gate.policyNow().hash);
    if (known === undefined || own.requestTarget(known.upstreamUrl) === null) return undefined;
    const headers = upstreamRequestFieldsOfLines(lines, extraHeaders(), { ip: ctx.remoteAddress(), host: head.host, proto: known.proto });
    if (hasMasks(known.verdict.masks)) headers["accept-encoding"] = "identity";
    const block = upstreamFieldBlock(headers);
    if (block === null) return undefined;
    const started = performance.now();
    const id = requestId();
    // The listener's own controller, aborted when the client leaves, which then calls onGone:
    // what clientOf makes for a Request, without a second controller and an event listener.
    const client: Client = { abort: ctx.abort, onGone: null };
    ctx.onGone = () => client.onGone?.();
    const connection = ctx.connection;
    const carried = completions.take(connection);
    const recorded = gate.recordKnownSoon(cfg.name, known.verdict, known.decision, knownValues(known, id, carried));
    const decision = gate.lastSeq;
    return recorded
      .then(
        (verdict) =>
          knownRefusal(verdict, { known, identity }, id, revocationsSince, carried) ??
          forward(null, { id, started, client, action: known.action, records, verdict: known.verdict, target: known.upstreamUrl, method, headers, block, decision, connection }, true),
      )
      .catch((e: unknown) => {
        log.error("http target failed", { target: cfg.name, error: errorMessage(e) });
        return jsonError(500, "internal", "the gateway failed to handle this request");
      });
  }

  async function handle(req: Request, server: Http1Server<WsData>): Promise<Response | undefined> {
    const started = performance.now();
    // Reloads from here on apply to this request too, even while it is held for approval.
    const revocationsSince = revocations.generation;
    const id = requestId();
    // Listened for from the start: the client can be gone before the token is verified, and an
    // abort event missed then would never come again.
    // One listener for both: the abort of what is forwarded, and (once forwarding began) the
    // request record of a client that left.
    const client = clientOf(req.signal);
    const abort = client.abort;

    const connection = server.connectionOf(req);
    const fast = knownRoute(req);
    if (fast !== undefined) {
      const { known, records } = fast;
      const { refused, seq } = await recordKnown(fast, id, revocationsSince, connection);
      if (refused !== null) return refused;
      const headers = upstreamRequestFields(req.headers, extraHeaders(), { ip: server.requestIP(req)?.address ?? "", host: req.headers.get("host"), proto: known.proto });
      return forward(req, { id, started, client, action: known.action, records, verdict: known.verdict, target: known.upstreamUrl, method: known.facts.method, headers, decision: seq, connection });
    }

    let url: URL;
    try {
      url = new URL(req.url);
    } catch (e) {
      // CONNECT, or a Host header that does not make a URL: nothing to decide on.
      return refuse(
        { type: "request.refused", session: id, target: cfg.name, details: { reason: "bad_target", method: req.method, message: errorMessage(e) } },
        jsonError(400, "bad_request", "the request target cannot be read as a URL: refused"),
      );
    }
    // What every record of this request says of its query string (secrets redacted).
    const query = recordedQuery(url.search);
    const seen = { kind: "http" as const, method: req.method, path: url.pathname, ...(query !== undefined ? { query } : {}) };
    // Over the gateway's limit but under the runtime's higher one (see request-head.ts).
    const tooLarge = headTooLarge(req.method, req.url, req.headers);
    if (tooLarge !== null) {
      outcomeCount.bad_request.inc();
      const message = `request header fields too large: ${tooLarge}`;
      // Path and (redacted) query cut short: the record is not the place for 60 KB of them.
      const action = { ...seen, path: seen.path.slice(0, 1024), ...(query !== undefined ? { query: query.slice(0, 1024) } : {}) };
      return refuse(
        { type: "request.refused", session: id, target: cfg.name, action, details: { reason: "head_too_large", message } },
        jsonError(431, "header_fields_too_large", message, { reason: "head_too_large" }),
      );
    }
    const token = bearerToken(req.headers);
    if (!token) {
      return rejectCredential(
        { session: id, target: cfg.name, action: seen, reason: "missing", message: "no bearer token" },
        jsonError(401, "unauthenticated", "this gateway needs an Authorization: Bearer <token> header", {}),
      );
    }
    let identity: Identity;
    try {
      identity = deps.authenticated?.(token) ?? (await deps.authenticate(token));
    } catch (e) {
      const reason = deps.authFailureReason(e);
      return rejectCredential(
        { session: id, target: cfg.name, action: seen, reason, message: errorMessage(e) },
        jsonError(401, "unauthenticated", errorMessage(e), { reason }),
      );
    }
    const method = req.method.toUpperCase();
    const path = deps.normalizePath(url.pathname);
    // A path some upstream could read differently from us is refused before any decision.
    if (typeof path !== "string") {
      outcomeCount.bad_request.inc();
      const message = `request path refused: ${path.reason}`;
      return refuse(
        { type: "request.refused", session: id, identity: auditIdentity(identity), target: cfg.name, action: { ...seen, method }, details: { reason: "bad_path", message } },
        jsonError(400, "bad_request", message, { reason: "bad_path" }),
      );
    }
    const isUpgrade = (req.headers.get("upgrade") ?? "").toLowerCase() === "websocket";
    // A WebSocket whose token already expired is refused (see tokenExpiredAtOpen).
    if (isUpgrade && tokenExpiredAtOpen(identity, deps.clock, endAtExpiry)) {
      const message = "token expired: a WebSocket ends when its token expires (identity.end_sessions_at_expiry)";
      return rejectCredential(
        { session: id, identity, target: cfg.name, action: { ...seen, method: "GET" }, reason: "expired", message, details: { websocket: true } },
        jsonError(401, "unauthenticated", message, { reason: "expired" }),
      );
    }
    const facts = { kind: "http" as const, method: isUpgrade ? "GET" : method, path, ...(query !== undefined ? { query } : {}) };
    const records = recordsByIdentity.for(identity);
    // Read before the decision: a reload while it is made must not let its allow be kept.
    const policyBefore = gate.policyNow();
    // With `records` the decision record is written (strict: fsync'd) before check() returns,
    // so nothing below forwards a request whose decision is not in the log. It carries the
    // completions held on this connection.
    const carried = completions.take(connection);
    const details = withCompleted(isUpgrade ? { websocket: true } : undefined, carried);
    const checking = gate.check(
      { identity, target: cfg.name, request: facts, time: deps.clock.now() },
      { session: id, records, signal: abort.signal, remote: remoteOf(server.requestIP(req)), ...(details !== undefined ? { details } : {}), onHold: (p) => log.info(describeApproval(p), { target: cfg.name }) },
    );
    const verdict = await checking;
    // The seq of its decision record (-1: it went another way: a sink without appendSync, a denial, a failure).
    const seq = verdict.recordSeq ?? -1;
    // Not written: what it was to carry goes out on its own. (A review whose decision record was
    // written but whose approval.requested record failed also lands here: such a completion is
    // then in the log twice, rather than not at all.)
    if (verdict.auditFailed) completions.giveBack(carried);
    // The credential was revoked by a reload while this request was decided or held: the
    // approval was for a caller the gateway no longer trusts.
    if (verdict.allowed && revocations.revokedSince(revocationsSince, identity)) {
      const message = "credential revoked by a configuration reload while the request waited; authenticate again";
      outcomeCount.denied.inc();
      return rejectCredential(
        { session: id, identity, target: cfg.name, action: facts, reason: "revoked", message },
        jsonError(401, "unauthenticated", message, { reason: "revoked" }),
        false,
      );
    }
    if (verdict.auditFailed) {
      outcomeCount.denied.inc();
      return auditUnavailable(verdict.message);
    }
    if (!verdict.allowed) {
      outcomeCount.denied.inc();
      return jsonError(403, "forbidden", verdict.message, {
        rule: verdict.decision.rule,
        // A default deny says what the gateway saw (method, canonical path) and why nothing allowed it.
        ...(path !== null && verdict.decision.detail ? { detail: verdict.decision.detail } : {}),
        ...(verdict.approvalId ? { approval: verdict.approvalId } : {}),
      });
    }
    const target = `${upstreamBase}${path}${url.search}`;
    const proto = url.protocol.replace(":", "");
    const headers = upstreamRequestFields(req.headers, extraHeaders(), { ip: server.requestIP(req)?.address ?? "", host: req.headers.get("host"), proto });

    if (isUpgrade) {
      if (hasMasks(verdict.masks)) return jsonError(403, "forbidden", "masking cannot be applied to a WebSocket: refused");
      const wsUrl = target.replace(/^http/, "ws");
      const data: WsData = {
        upstreamUrl: wsUrl,
        headers: { ...headers },
        session: id,
        identity: auditIdentity(identity),
        target: cfg.name,
        path: url.pathname,
        started,
        revocationsSince,
        ...(identity.expiresAt !== undefined ? { expiresAt: identity.expiresAt } : {}),
      };
      return server.upgrade(req, { data }) ? undefined : jsonError(400, "bad_request", "WebSocket upgrade failed");
    }
    // Allowed as it would be again: the next such request takes the fast path. Only when the
    // policy in force now is the one read before the decision (and the one that made it).
    if (policyBefore.hash === verdict.policyHash) knownRoutes.remember(records, req.method, req.url, verdict, gate.policyNow(), facts, target, proto);
    // Its completion may ride on a later decision record only when it was an ordinary allow (no
    // approval or grant) whose record's seq is known.
    return forward(req, { id, started, client, action: facts, records, verdict, target, method, headers, decision: verdict.approvalId === undefined ? seq : -1, connection });
  }

  /**
   * Forwards an allowed request, answers with the upstream's response (masked as the verdict
   * says), and records the outcome. From the fast lane (req null, lane true), an answer the own
   * client read whole comes back as a WholeAnswer, written without a Response.
   */
  function forward(req: Request, r: Forwarding): Promise<Response>;
  function forward(req: null, r: Forwarding, lane: true): Promise<Response | WholeAnswer>;
  async function forward(req: Request | null, r: Forwarding, lane = false): Promise<Response | WholeAnswer> {
    const { id, started, client, action, records, verdict, target, method, headers, decision, connection } = r;
    const abort = client.abort;
    const masking = hasMasks(verdict.masks);
    if (masking) headers["accept-encoding"] = "identity";
    // From here on every path ends in complete(): the request's completion with status and bytes.
    let completed = false;
    forwarding++;
    let bytes = 0;
    client.onGone = () => complete(499, bytes, "client_closed");
    if (abort.signal.aborted) {
      // Gone before anything was forwarded (while the token was verified or the gate decided):
      // forward nothing, and record that nothing was delivered.
      complete(499, 0, "client_closed");
      return new Response(null, { status: 499 });
    }
    deadlines.set(abort, Date.now() + timeoutMs);

    // Bodiless requests go on the gateway's own keep-alive connections (upstream-client.ts);
    // the rest, and anything that client cannot carry exactly, by fetch.
    const ownTarget = own !== null && (req === null || bodiless(req, method)) ? own.requestTarget(target) : null;
    const fields = ownTarget !== null ? (r.block ?? upstreamFieldBlock(headers)) : null;
    let res: Response;
    try {
      if (fields !== null) return answerFromOwnClient(await own!.pool.request(method, ownTarget!, fields, { signal: abort.signal, hostHeader: own!.hostHeader }));
      res = await fetch(target, {
        method,
        headers,
        body: req?.body ?? null,
        redirect: "manual",
        signal: abort.signal,
        // Pass bytes through as the upstream sent them unless we must read them to mask.
        decompress: masking,
      } as RequestInit);
    } catch (e) {
      // A deadline says so (fetch rejects with the abort's reason; the own client wraps it).
      const why = abort.signal.aborted && abort.signal.reason instanceof GatewayError ? abort.signal.reason : e;
      outcomeCount.upstream_error.inc();
      complete(502, 0, "upstream_error", errorMessage(why));
      return jsonError(502, "bad_gateway", `upstream ${upstream.host} failed: ${errorMessage(why)}`);
    }
    const outHeaders = downstreamResponseHeaders(res.headers);
    if (masking && res.body) {
      try {
        // Column masks (table.column) have nothing to act on in an HTTP body: refuse rather
        // than send what the rule meant to hide.
        if (verdict.masks.columns.length > 0) {
          throw new GatewayError("E_MASK", `the deciding rules mask table columns (${verdict.masks.columns.join(", ")}), which an HTTP response does not have; scope those rules to database targets`);
        }
        const masker = deps.masker(verdict.masks);
        if (masker === null) throw new GatewayError("E_MASK", "masks apply but none can be applied to this response");
        // Of a known length within the limit, and not compressed (a compressed length says
        // nothing of what it inflates to): read whole, without a stream reader per request.
        const length = res.headers.has("content-encoding") ? Number.NaN : Number(res.headers.get("content-length") ?? "NaN");
        const raw = length >= 0 && length <= maskMax ? await res.bytes() : await deps.collectBody(res.body, maskMax);
        const { body, masked } = masker.maskBody(raw, res.headers.get("content-type"));
        outHeaders.delete("content-encoding");
        outHeaders.set("content-length", String(body.byteLength));
        complete(res.status, body.byteLength, "ok", undefined, masked);
        outcomeCount.masked.inc();
        return new Response(body, { status: res.status, statusText: res.statusText, headers: outHeaders });
      } catch (e) {
        outcomeCount.mask_refused.inc();
        complete(502, 0, "mask_refused", errorMessage(e));
        return jsonError(502, "mask_refused", errorMessage(e));
      }
    }
    outcomeCount.forwarded.inc();
    if (!res.body) {
      complete(res.status, 0, "ok");
      return new Response(null, { status: res.status, statusText: res.statusText, headers: outHeaders });
    }
    // Small bodies of known length are read whole: no stream machinery per request, and the
    // request record can say the body was delivered in full. Larger ones stream, counted.
    const length = Number(res.headers.get("content-length") ?? "NaN");
    if (length >= 0 && length <= SMALL_BODY) {
      let body: ArrayBuffer;
      try {
        body = await res.arrayBuffer();
      } catch (e) {
        complete(502, 0, "upstream_error", errorMessage(e));
        return jsonError(502, "bad_gateway", `upstream ${upstream.host} failed: ${errorMessage(e)}`);
      }
      complete(res.status, body.byteLength, "ok");
      return new Response(body, { status: res.status, statusText: res.statusText, headers: outHeaders });
    }
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          bytes += chunk.byteLength;
          ctl.enqueue(chunk);
        },
        flush() {
          complete(res.status, bytes, "ok");
        },
      }),
    );
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: outHeaders });

    /** The same for an answer read by the own client: whole (small) or a stream, never decompressed for us. */
    function answerFromOwnClient(a: Http1Answer): Response | WholeAnswer | Promise<Response | WholeAnswer> {
      if (a.status > 599) {
        a.stream?.cancel().catch(() => undefined);
        const message = `upstream ${upstream.host} failed: status ${a.status} is not an HTTP status`;
        outcomeCount.upstream_error.inc();
        complete(502, 0, "upstream_error", message);
        return jsonError(502, "bad_gateway", message);
      }
      if (lane && a.stream === null) {
        if (masking && a.body !== null) return maskWhole(a, a.body);
        const whole = wholeAnswer(a, a.body, false, method);
        if (whole !== null) {
          outcomeCount.forwarded.inc();
          complete(a.status, a.body?.byteLength ?? 0, "ok");
          return whole;
        }
      }
      const outHeaders = downstreamResponseFields(a.headers);
      const init = { status: a.status, statusText: a.statusText, headers: outHeaders };
      if (masking && (a.body !== null || a.stream !== null)) return maskOwnAnswer(a, outHeaders);
      outcomeCount.forwarded.inc();
      if (a.stream === null) {
        complete(a.status, a.body?.byteLength ?? 0, "ok");
        return new Response(a.body, init);
      }
      const counted = a.stream.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, ctl) {
            bytes += chunk.byteLength;
            ctl.enqueue(chunk);
          },
          flush() {
            complete(a.status, bytes, "ok");
          },
        }),
      );
      return new Response(counted, init);
    }

    /** As the fetch path masks, with the content codings undone here (fetch's decompress did it there). */
    async function maskOwnAnswer(a: Http1Answer, outHeaders: Headers): Promise<Response> {
      try {
        if (verdict.masks.columns.length > 0) {
          throw new GatewayError("E_MASK", `the deciding rules mask table columns (${verdict.masks.columns.join(", ")}), which an HTTP response does not have; scope those rules to database targets`);
        }
        if (deps.masker(verdict.masks) === null) throw new GatewayError("E_MASK", "masks apply but none can be applied to this response");
        const raw = a.body ?? (await deps.collectBody(a.stream!, maskMax));
        const { body, masked } = maskedBody(raw, outHeaders.get("content-encoding"), outHeaders.get("content-type"));
        outHeaders.delete("content-encoding");
        outHeaders.set("content-length", String(body.byteLength));
        complete(a.status, body.byteLength, "ok", undefined, masked);
        outcomeCount.masked.inc();
        return new Response(body, { status: a.status, statusText: a.statusText, headers: outHeaders });
      } catch (e) {
        a.stream?.cancel().catch(() => undefined);
        outcomeCount.mask_refused.inc();
        complete(502, 0, "mask_refused", errorMessage(e));
        return jsonError(502, "mask_refused", errorMessage(e));
      }
    }

    /** maskOwnAnswer's work on a body read whole, for the fast lane: the masked answer as a WholeAnswer, or the refusal. */
    function maskWhole(a: Http1Answer, raw: Uint8Array): WholeAnswer | Response {
      try {
        const { body, masked } = maskedBody(raw, fieldOf(a.headers, "content-encoding"), fieldOf(a.headers, "content-type"));
        complete(a.status, body.byteLength, "ok", undefined, masked);
        outcomeCount.masked.inc();
        return wholeAnswer(a, body, true, method)!;
      } catch (e) {
        outcomeCount.mask_refused.inc();
        complete(502, 0, "mask_refused", errorMessage(e));
        return jsonError(502, "mask_refused", errorMessage(e));
      }
    }

    /** A whole body masked as the verdict says, its content coding undone first; throws E_MASK when it cannot be. */
    function maskedBody(whole: Uint8Array, coding: string | null, contentType: string | null): { body: Uint8Array; masked: number } {
      if (verdict.masks.columns.length > 0) {
        throw new GatewayError("E_MASK", `the deciding rules mask table columns (${verdict.masks.columns.join(", ")}), which an HTTP response does not have; scope those rules to database targets`);
      }
      const masker = deps.masker(verdict.masks);
      if (masker === null) throw new GatewayError("E_MASK", "masks apply but none can be applied to this response");
      let raw = whole;
      if (raw.byteLength > maskMax) throw new GatewayError("E_MASK", `response of more than ${maskMax} bytes cannot be masked: refused`, { details: { maxBytes: maskMax } });
      if (coding !== null) raw = decodeContentCoding(raw, coding, maskMax);
      return masker.maskBody(raw, contentType);
    }

    /**
     * The request's completion: held for the next decision record on its connection when its own
     * decision record's seq is known, else (and when the connection has ended) a request record
     * written with the next write (writeRequest). Nothing waits for either.
     */
    function complete(status: number, bytesOut: number, outcome: string, error?: string, masked?: number): void {
      if (completed) return;
      completed = true;
      forwarding--;
      deadlines.delete(abort);
      const durationMs = performance.now() - started;
      latency.observe(durationMs / 1000);
      const c: RequestCompletion = { id, action, records, decision, outcome: { status, bytes_out: bytesOut, duration_ms: Math.round(durationMs * 1000) / 1000, outcome, error: error || undefined, masked } };
      if (decision < 0 || !completions.hold(connection, c)) writeRequest(c);
    }
  }

  /**
   * A request whose head the listener's parser refused (http1-request-parser.ts: a target
   * without a leading "/", a backslash, a malformed field, conflicting framing, a version
   * other than 1.0/1.1, a head over the limits): its record, then the answer that says why.
   */
  function refusedHead(r: Http1Refusal): Promise<Response> {
    outcomeCount.bad_request.inc();
    const target = r.target ?? "";
    const q = target.indexOf("?");
    const query = q < 0 ? undefined : recordedQuery(target.slice(q));
    const action =
      r.method === undefined
        ? undefined
        : { kind: "http" as const, method: r.method, path: (q < 0 ? target : target.slice(0, q)).slice(0, 1024), ...(query !== undefined ? { query: query.slice(0, 1024) } : {}) };
    return refuse(
      { type: "request.refused", session: requestId(), target: cfg.name, ...(action !== undefined ? { action } : {}), details: { reason: r.reason, message: r.message } },
      jsonError(r.status, r.error, r.message, { reason: r.reason }),
    );
  }

  const sockets = relayWebSocket({ gate, log, metrics, clock: deps.clock, endAtExpiry, revocations });
  // The gateway's own HTTP/1.1 listener, not Bun.serve: Bun's parser answers malformed heads
  // with a bare status before the gateway sees them (no reason, no record); this one hands
  // every refusal to refusedHead. Request bodies stream to the upstream, which sets its own limit.
  const server = serveHttp1<WsData>({
    hostname: host,
    port,
    idleTimeout: 255,
    lane,
    fetch: (req, srv) =>
      handle(req, srv).catch((e) => {
        log.error("http target failed", { target: cfg.name, error: errorMessage(e) });
        return jsonError(500, "internal", "the gateway failed to handle this request");
      }),
    refused: refusedHead,
    websocket: sockets.handler,
  });
  return {
    name: cfg.name,
    listen: cfg.listen,
    port: server.port,
    revokeSessions: (revoked) => revocations.revoke(revoked),
    async stop() {
      // Stop accepting, let forwarded requests finish (for a while), then close what is left.
      void server.stop(false);
      const deadline = Date.now() + STOP_GRACE_MS;
      while (forwarding > 0 && Date.now() < deadline) await Bun.sleep(20);
      await server.stop(true);
      own?.close();
      clearInterval(sweeper);
      // What connections still hold goes out now, before the audit log closes.
      completions.flushAll();
      await Promise.all(writing);
    },
  };
}

export type { ServerWebSocket };

/** The caller's address as a held request's card shows it ("" when the runtime does not know it). */
function remoteOf(ip: { address: string; port: number } | null): string {
  if (ip === null) return "";
  return ip.address.includes(":") ? `[${ip.address}]:${ip.port}` : `${ip.address}:${ip.port}`;
}

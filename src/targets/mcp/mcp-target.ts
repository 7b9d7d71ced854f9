// The MCP target: one HTTP listener offering each configured server to agents at its own
// endpoint, over Streamable HTTP (POST/GET/DELETE /mcp/<server>) and the legacy HTTP+SSE
// transport (GET /sse/<server>, POST /messages/<server>), whatever the upstream speaks (stdio,
// Streamable HTTP, legacy SSE). Callers authenticate with a bearer token on every request, as an
// OAuth 2.1 resource server (RFC 9728 metadata); each session belongs to the caller who opened it.
import { randomBytes } from "node:crypto";
import type { Server } from "bun";
import type { McpServerConfig, McpTarget } from "../../config/schema.ts";
import { parseDuration, parseSize } from "../../core/duration.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import type { Action, Decision, Identity, Masks } from "../../core/types.ts";
import { type AuthRejection, recordAuthRejected } from "../../gate/auth-rejection.ts";
import { auditIdentity } from "../../gate/gate.ts";
import { isLoopbackHost, splitListen } from "../../gate/listen.ts";
import { type RevocableSession, SessionRevocations } from "../../gate/revocation.ts";
import { SessionExpiry, tokenExpiredAtOpen } from "../../gate/session-expiry.ts";
import type { RunningTarget, TargetDeps } from "../../gate/target.ts";
import { Budgets } from "./budgets.ts";
import { EventStream } from "./event-stream.ts";
import { type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse, RPC_ERROR, errorResponse, readMessage, salvageId, writeMessage } from "./json-rpc.ts";
import { CLIENT_REQUESTS, META_PROTOCOL_VERSION, PROTOCOL_VERSIONS, STATELESS_VERSION, declaredVersion } from "./methods.ts";
import { protectedResourceMetadata, wwwAuthenticate } from "./oauth-metadata.ts";
import type { ValueMasker } from "./result-masker.ts";
import { routingHeaderMismatch } from "./routing-headers.ts";
import { McpSession, type Reply, type SqlClassifier, type ToolPins } from "./session.ts";
import { sseUpstream } from "./upstream/legacy-sse.ts";
import { stdioUpstream } from "./upstream/stdio.ts";
import { httpUpstream } from "./upstream/streamable-http.ts";
import type { Upstream, UpstreamEvents } from "./upstream/upstream.ts";

export interface McpTargetDeps extends TargetDeps {
  readonly decide: (action: Action) => Decision;
  readonly mayUseTarget: (identity: Identity, target: string) => boolean;
  readonly masker: (masks: Masks) => ValueMasker | null;
  /** The target's pins (pins.ts), or null when it has no `pins:`. */
  readonly pins: ToolPins | null;
  /** Applied to the policy's decision of a SQL tool call (sql-argument.ts mcpSqlBuiltins). */
  readonly sqlBuiltins?: (decision: Decision, action: Action) => Decision;
  /** The PostgreSQL classifier for servers[].sql (sql-argument.ts). */
  readonly classifySql?: SqlClassifier;
  /** The target's settings with secret references at their current values, asked at each connect. */
  readonly current?: () => McpTarget;
  /** How old tool definitions may be at a call before the session lists them again (default a minute; tests set 0). */
  readonly toolsFreshMs?: number;
  /** The issuers' URLs, for the protected-resource metadata. */
  readonly authorizationServers?: () => readonly string[];
  /** Counted refusals by budget (calls, tool_calls, result_bytes, call_timeout). */
  readonly onBudgetRefused?: (target: string, budget: string) => void;
}

const DEFAULTS = { body: 1024 * 1024, result: 4 * 1024 * 1024, timeout: 60_000, idle: 30 * 60_000, sessionsPerCaller: 16 };
/** Answer streams a session keeps for Last-Event-ID resumption. */
const MAX_KEPT_STREAMS = 16;

interface LiveSession {
  readonly id: string;
  readonly server: McpServerConfig;
  readonly core: McpSession;
  readonly transport: "streamable-http" | "sse";
  identity: Identity;
  lastUsed: number;
  /** The GET stream (Streamable HTTP) or the one stream (legacy). */
  serverStream: EventStream | null;
  /** Answer streams of POSTs, by stream id, for Last-Event-ID resumption (the newest kept). */
  readonly streams: Map<string, EventStream>;
  readonly started: number;
  ended: boolean;
  /** Ends the session when its caller's newest token expires (identity.end_sessions_at_expiry) or a reload revokes it. */
  expiry: SessionExpiry;
  readonly revocable: RevocableSession;
}

const noClassifier: SqlClassifier = () => {
  throw new GatewayError("E_INTERNAL", "this gateway has no SQL classifier for MCP arguments");
};

function sessionId(): string {
  return `mcp_${randomBytes(12).toString("hex")}`;
}

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

function rpcHttp(status: number, m: JsonRpcResponse, headers: Record<string, string> = {}): Response {
  return new Response(writeMessage(m), { status, headers: { ...JSON_HEADERS, ...headers } });
}

function sameCaller(a: Identity, b: Identity): boolean {
  return a.method === b.method && a.issuer === b.issuer && a.subject === b.subject;
}

export function startMcpTarget(cfg: McpTarget, deps: McpTargetDeps): RunningTarget {
  const [host, port] = splitListen(cfg.listen);
  const { gate, log, metrics } = deps;
  const limits = cfg.limits ?? {};
  const size = (v: string | number | undefined, d: number) => (v === undefined ? d : typeof v === "number" ? v : parseSize(v));
  const bodyMax = size(limits.body_bytes, DEFAULTS.body);
  const resultMax = size(limits.result_bytes, DEFAULTS.result);
  const callTimeoutMs = limits.call_timeout ? parseDuration(limits.call_timeout) : DEFAULTS.timeout;
  const idleMs = limits.session_idle ? parseDuration(limits.session_idle) : DEFAULTS.idle;
  const sessionsPerCaller = limits.sessions_per_caller ?? DEFAULTS.sessionsPerCaller;
  const budgets = new Budgets(
    limits.calls ? { max: limits.calls.max, windowMs: parseDuration(limits.calls.window) } : undefined,
    limits.tool_calls ? { max: limits.tool_calls.max, windowMs: parseDuration(limits.tool_calls.window) } : undefined,
  );
  const servers = new Map(cfg.servers.map((s) => [s.name, s]));
  const sessions = new Map<string, LiveSession>();
  const revocations = new SessionRevocations();
  const endAtExpiry = deps.endAtExpiry ?? (() => true);
  const current = () => deps.current?.() ?? cfg;
  const serverNow = (name: string) => current().servers.find((s) => s.name === name) ?? servers.get(name)!;
  // Set from the listen address once the port is known (never from a request's Host header).
  let baseUrl = cfg.resource_url?.replace(/\/$/, "") ?? "";
  const resourceOf = (server: string) => `${baseUrl}/mcp/${server}`;
  const metadataUrl = (server: string) => `${baseUrl}/.well-known/oauth-protected-resource/mcp/${server}`;
  const requests = (outcome: string) => metrics.requests.inc({ target: cfg.name, outcome });

  // ------------------------------------------------------------------ authentication

  type Authed = { identity: Identity } | { response: Response };

  async function reject(r: AuthRejection, server: string, error: "invalid_token" | null): Promise<Response> {
    try {
      await recordAuthRejected(deps, r);
    } catch (e) {
      return rpcHttp(503, errorResponse(null, RPC_ERROR.AUDIT_UNAVAILABLE, `audit log unavailable, request refused: ${errorMessage(e)}`));
    }
    return rpcHttp(401, errorResponse(null, RPC_ERROR.INVALID_REQUEST, r.message), { "www-authenticate": wwwAuthenticate(metadataUrl(server), error, r.message) });
  }

  async function authenticate(req: Request, server: string): Promise<Authed> {
    const h = req.headers.get("authorization") ?? "";
    const m = /^Bearer +([^\s]+) *$/i.exec(h);
    if (m === null) return { response: await reject({ target: cfg.name, reason: "missing", message: "this MCP server needs an Authorization: Bearer <token> header" }, server, null) };
    let identity: Identity;
    try {
      identity = await deps.authenticate(m[1]!);
    } catch (e) {
      const reason = deps.authFailureReason(e);
      return { response: await reject({ target: cfg.name, reason, message: errorMessage(e) }, server, "invalid_token") };
    }
    // RFC 8707 / the MCP authorization spec: an OIDC token must be meant for this resource.
    if (identity.method === "oidc") {
      const aud = identity.claims?.["aud"];
      const auds = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === "string") : [];
      const accepted = cfg.audience ?? [resourceOf(server), baseUrl];
      if (!auds.some((a) => accepted.includes(a))) {
        const message = `the token's audience (${auds.join(", ") || "none"}) is not this MCP server (${accepted.join(", ")}): ask for a token for ${resourceOf(server)}`;
        return { response: await reject({ target: cfg.name, identity, reason: "audience", message }, server, "invalid_token") };
      }
    }
    return { identity };
  }

  // ------------------------------------------------------------------ sessions

  function upstreamFor(s: McpServerConfig, events: UpstreamEvents): Upstream {
    const maxMessageBytes = Math.max(resultMax * 2, bodyMax);
    if (s.command !== undefined) {
      return stdioUpstream({
        command: s.command,
        env: s.env ?? {},
        ...(s.cwd !== undefined ? { cwd: s.cwd } : {}),
        maxMessageBytes,
        events,
        onStderr: (line) => log.debug("mcp stdio server stderr", { target: cfg.name, server: s.name, line }),
      });
    }
    const headers = () => serverNow(s.name).headers ?? {};
    if (s.transport === "sse") return sseUpstream({ url: s.url!, headers, maxMessageBytes, events });
    return httpUpstream({ url: s.url!, headers, maxMessageBytes, events });
  }

  function newSession(server: McpServerConfig, identity: Identity, transport: LiveSession["transport"]): LiveSession {
    const id = sessionId();
    const live: LiveSession = {
      id,
      server,
      transport,
      identity,
      lastUsed: Date.now(),
      serverStream: null,
      streams: new Map(),
      started: Date.now(),
      ended: false,
      core: undefined as unknown as McpSession,
      expiry: expiryFor(identity, () => live),
      revocable: { revokeIf: (revoked) => (revoked(live.identity) ? live.expiry.end("credential_revoked") : undefined) },
    };
    const core = new McpSession({
      id,
      target: cfg.name,
      server: server.name,
      identity: () => live.identity,
      gate,
      decide: deps.decide,
      mayUseTarget: deps.mayUseTarget,
      pins: deps.pins,
      // Without a classifier a SQL tool's calls cannot be decided: each is refused (fail closed).
      ...(server.sql !== undefined ? { sql: { tool: server.sql.tool, argument: server.sql.argument, classify: deps.classifySql ?? noClassifier, ...(deps.sqlBuiltins !== undefined ? { builtins: deps.sqlBuiltins } : {}) } } : {}),
      masker: deps.masker,
      budgets,
      onBudgetRefused: (budget) => deps.onBudgetRefused?.(cfg.name, budget),
      resultBytes: resultMax,
      ...(deps.toolsFreshMs !== undefined ? { toolsFreshMs: deps.toolsFreshMs } : {}),
      callTimeoutMs,
      now: () => deps.clock.now(),
      log,
      serverStream: () => live.serverStream,
      upstream: (events) => upstreamFor(serverNow(server.name), events),
      onUpstreamClosed: (reason) => void endSession(live, `upstream: ${reason}`),
      // An initialize that was denied or failed leaves no session behind.
      onInitializeFailed: () => void endSession(live, "initialize failed"),
      onUpstreamStarted: () => upstreamStarted(live),
    });
    (live as { core: McpSession }).core = core;
    return live;
  }

  function expiryFor(identity: Identity, live: () => LiveSession): SessionExpiry {
    const e = new SessionExpiry(identity.expiresAt, deps.clock, (reason) => void endSession(live(), reason));
    if (endAtExpiry()) e.start();
    return e;
  }

  /** A request of the session's caller with a token of theirs, maybe a newer one: its expiry counts from now on. */
  function touch(live: LiveSession, identity: Identity): void {
    live.lastUsed = Date.now();
    const before = live.identity.expiresAt;
    live.identity = identity;
    if (identity.expiresAt !== before && live.expiry.reason === null) {
      live.expiry.cancel();
      live.expiry = expiryFor(identity, () => live);
    }
  }

  async function openSession(live: LiveSession, remote: string): Promise<void> {
    sessions.set(live.id, live);
    revocations.add(live.revocable);
    metrics.openSessions.inc({ target: cfg.name });
    await gate.record({
      type: "session.start",
      session: live.id,
      identity: auditIdentity(live.identity),
      target: cfg.name,
      policy: gate.policyNow().hash,
      details: { kind: "mcp", server: live.server.name, transport: live.transport, upstream: live.server.command !== undefined ? "stdio" : (live.server.transport ?? "streamable-http"), remote },
    });
  }

  /** The upstream is started (a stdio server spawned) once initialize is allowed: every spawn is in the log. */
  async function upstreamStarted(live: LiveSession): Promise<void> {
    if (live.server.command === undefined) return;
    // What ran, where, with which variables (names, never values). Refused if it cannot be recorded.
    await gate.record({ type: "mcp.spawn", session: live.id, identity: auditIdentity(live.identity), target: cfg.name, policy: gate.policyNow().hash, details: { server: live.server.name, ...live.core.upstream.facts() } });
  }

  async function endSession(live: LiveSession, why: string): Promise<void> {
    if (live.ended) return;
    live.ended = true;
    sessions.delete(live.id);
    revocations.delete(live.revocable);
    live.expiry.cancel();
    metrics.openSessions.inc({ target: cfg.name }, -1);
    live.serverStream?.end();
    for (const s of live.streams.values()) s.end();
    await live.core.close().catch(() => {});
    void gate.recordLater({
      type: "session.end",
      session: live.id,
      identity: auditIdentity(live.identity),
      target: cfg.name,
      details: { server: live.server.name, ended: why, calls: live.core.calls, duration_ms: Date.now() - live.started },
    });
  }

  /**
   * Makes room for another session of this caller and server (each may run a process): at the
   * limit, the caller's least recently used session with no request in flight ends, as many
   * clients never DELETE theirs; if every one is busy, why not.
   */
  function tooManySessions(identity: Identity, server: string): string | null {
    const mine = [...sessions.values()].filter((s) => s.server.name === server && sameCaller(s.identity, identity));
    if (mine.length < sessionsPerCaller) return null;
    // An open GET stream does not make a session busy: a client that went away is not always seen to.
    const idle = mine.filter((s) => !s.core.busy).sort((a, b) => a.lastUsed - b.lastUsed);
    const evict = idle.slice(0, mine.length - sessionsPerCaller + 1);
    if (evict.length < mine.length - sessionsPerCaller + 1) return `you have ${mine.length} open sessions of ${server}, all busy, the most this target allows a caller (limits.sessions_per_caller): end one (DELETE) first`;
    for (const s of evict) void endSession(s, `evicted: the caller opened more than ${sessionsPerCaller} sessions (limits.sessions_per_caller)`);
    return null;
  }

  /** The session a request names, if it is the caller's. */
  function sessionOf(id: string | null, identity: Identity, server: string): LiveSession | null {
    if (id === null) return null;
    const s = sessions.get(id);
    // Another caller's session id is no session to this one (and it learns nothing from the answer).
    if (s === undefined || s.server.name !== server || !sameCaller(s.identity, identity)) return null;
    return s;
  }

  // ------------------------------------------------------------------ messages

  async function readBody(req: Request): Promise<Uint8Array | Response> {
    const length = Number(req.headers.get("content-length") ?? "NaN");
    if (length > bodyMax) {
      requests("bad_request");
      return rpcHttp(413, errorResponse(null, RPC_ERROR.INVALID_REQUEST, `the message is larger than this target's limit of ${bodyMax} bytes (limits.body_bytes): refused`));
    }
    // A body of a stated length within the limit is read whole.
    if (length >= 0) return req.bytes();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (req.body !== null) {
      for await (const chunk of req.body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > bodyMax) {
          requests("bad_request");
          return rpcHttp(413, errorResponse(null, RPC_ERROR.INVALID_REQUEST, `the message is larger than this target's limit of ${bodyMax} bytes (limits.body_bytes): refused`));
        }
        chunks.push(chunk);
      }
    }
    return Buffer.concat(chunks);
  }

  /** A message refused before any decision: recorded, answered with a JSON-RPC error in a 400. */
  function refuse(identity: Identity | null, session: string | undefined, server: string, reason: string, message: string, id: JsonRpcId | null, status = 400, code?: number, data?: Record<string, unknown>): Response {
    requests("bad_request");
    void gate.recordLater({
      type: "request.refused",
      ...(session !== undefined ? { session } : {}),
      ...(identity !== null ? { identity: auditIdentity(identity) } : {}),
      target: cfg.name,
      action: { kind: "mcp", server },
      details: { reason, message },
    });
    return rpcHttp(status, errorResponse(id, code ?? RPC_ERROR.INVALID_REQUEST, message, data));
  }

  /** Reads and checks one message of a POST; a Response when it is refused. */
  async function message(req: Request, identity: Identity, server: string, session: string | undefined): Promise<JsonRpcMessage | Response> {
    const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") return refuse(identity, session, server, "content_type", `a message must be sent as application/json, not "${type}"`, null, 415);
    const body = await readBody(req);
    if (body instanceof Response) return body;
    let m: JsonRpcMessage;
    try {
      m = readMessage(body);
    } catch (e) {
      return refuse(identity, session, server, "unreadable", `the message was refused: ${errorMessage(e)}`, salvageId(new TextDecoder().decode(body)));
    }
    const mismatch = routingHeaderMismatch(req.headers, m);
    if (mismatch !== null) return refuse(identity, session, server, "header_mismatch", `the routing headers disagree with the body: ${mismatch}; refused`, m.kind === "request" ? m.id : null, 400, RPC_ERROR.HEADER_MISMATCH);
    if (m.kind === "notification" && CLIENT_REQUESTS.has(m.method)) {
      return refuse(identity, session, server, "request_as_notification", `${m.method} was sent as a notification (no id): it must be a request; refused`, null);
    }
    // The stateless revision (2026-07-28) is recognised, by its header or its _meta version, and
    // answered as its spec answers a version a server does not serve: 400, -32022, the supported
    // versions (a dual-era client then falls back to initialize). The gateway does not relay it.
    const id = m.kind === "request" ? m.id : null;
    const declared = m.kind === "response" ? null : declaredVersion(m.params);
    const version = req.headers.get("mcp-protocol-version");
    for (const [v, where] of [[version, "MCP-Protocol-Version"], [declared, `_meta "${META_PROTOCOL_VERSION}"`]] as const) {
      if (v === null || (PROTOCOL_VERSIONS as readonly string[]).includes(v)) continue;
      const stateless = v >= STATELESS_VERSION;
      const message = stateless
        ? `${where} ${v} is the stateless revision, which this gateway recognises but does not serve: use ${PROTOCOL_VERSIONS.join(", ")} with initialize`
        : `unsupported ${where} "${v}" (supported: ${PROTOCOL_VERSIONS.join(", ")})`;
      return refuse(identity, session, server, stateless ? "stateless" : "protocol_version", message, id, 400, RPC_ERROR.UNSUPPORTED_VERSION, { supported: [...PROTOCOL_VERSIONS], requested: v });
    }
    return m;
  }

  /**
   * A Reply for a POSTed request: an event stream when the agent accepts one (as the SDK's
   * servers answer), else JSON. The answer's head waits for the first message: a response alone
   * goes out as one whole event; progress, a server request or a hold's notices start a live
   * stream. Resolves with the Response.
   */
  function postReply(live: LiveSession, acceptsSse: boolean): { reply: Reply; response: Promise<Response> } {
    let resolve!: (r: Response) => void;
    const response = new Promise<Response>((r) => (resolve = r));
    let stream: EventStream | null = null;
    let done = false;
    const headers = { "mcp-session-id": live.id, "cache-control": "no-store" };
    const startStream = (): EventStream => {
      if (stream !== null) return stream;
      const s = new EventStream(`${live.id}.p${live.streams.size + 1}.${randomBytes(3).toString("hex")}`);
      stream = s;
      live.streams.set(s.id, s);
      // Keep the newest answer streams only (memory stays bounded per session).
      if (live.streams.size > MAX_KEPT_STREAMS) live.streams.delete(live.streams.keys().next().value!);
      resolve(new Response(s.body(), { status: 200, headers: { ...headers, "content-type": "text/event-stream", connection: "keep-alive" } }));
      return s;
    };
    return {
      response,
      reply: {
        intermediate(m) {
          if (done || !acceptsSse) return false;
          startStream().send(m);
          return true;
        },
        final(m, text) {
          if (done) return;
          done = true;
          if (stream !== null) {
            stream.send(m, text);
            stream.end();
          } else if (acceptsSse) {
            // Only the response: one event, sent whole (no stream machinery). Not kept: an agent
            // that has its id has the response too.
            const s = new EventStream(`${live.id}.p${randomBytes(4).toString("hex")}`);
            resolve(new Response(s.sendWhole(m, text), { status: 200, headers: { ...headers, "content-type": "text/event-stream" } }));
          } else resolve(new Response(text ?? writeMessage(m), { status: 200, headers: { ...headers, ...JSON_HEADERS } }));
        },
        keepalive(text) {
          if (done || !acceptsSse) return;
          startStream().comment(text);
        },
      },
    };
  }

  function accepts(req: Request): { json: boolean; sse: boolean } {
    const a = (req.headers.get("accept") ?? "*/*").toLowerCase();
    const any = a.includes("*/*");
    return { json: any || a.includes("application/json"), sse: a.includes("text/event-stream") };
  }

  // ------------------------------------------------------------------ Streamable HTTP

  async function streamablePost(req: Request, server: McpServerConfig, identity: Identity, remote: () => string): Promise<Response> {
    const sid = req.headers.get("mcp-session-id");
    let live = sessionOf(sid, identity, server.name);
    if (sid !== null && live === null) return rpcHttp(404, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "no such session (it ended, or it is not yours): initialize a new one"));
    const m = await message(req, identity, server.name, live?.id);
    if (m instanceof Response) return m;
    const acc = accepts(req);
    if (!acc.json && !acc.sse) return rpcHttp(406, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "Accept must include application/json or text/event-stream"));
    if (live === null) {
      if (m.kind !== "request" || m.method !== "initialize") return refuse(identity, undefined, server.name, "no_session", "no Mcp-Session-Id: the first request of a session must be initialize", m.kind === "request" ? m.id : null);
      const busy = tooManySessions(identity, server.name);
      if (busy !== null) return refuse(identity, undefined, server.name, "too_many_sessions", busy, m.id, 429);
      live = newSession(server, identity, "streamable-http");
      try {
        await openSession(live, remote());
      } catch (e) {
        await endSession(live, `failed to start: ${errorMessage(e)}`);
        requests("upstream_error");
        const audit = e instanceof GatewayError && e.code === "E_AUDIT_WRITE";
        return rpcHttp(audit ? 503 : 502, errorResponse(m.id, audit ? RPC_ERROR.AUDIT_UNAVAILABLE : RPC_ERROR.UPSTREAM_CLOSED, `${audit ? "audit log unavailable" : "the upstream server could not be started"}: ${errorMessage(e)}`));
      }
    }
    touch(live, identity);
    const session = live;
    if (m.kind === "request") {
      const { reply, response } = postReply(session, acc.sse);
      void session.core.request(m, reply);
      requests("forwarded");
      return response;
    }
    try {
      if (m.kind === "notification") await session.core.notification(m);
      else await session.core.response(m);
    } catch (e) {
      return refuse(identity, session.id, server.name, "refused", errorMessage(e), null);
    }
    return new Response(null, { status: 202, headers: { "mcp-session-id": session.id } });
  }

  function streamableGet(req: Request, server: McpServerConfig, identity: Identity): Response {
    if (!accepts(req).sse) return rpcHttp(406, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "the GET stream needs Accept: text/event-stream"));
    const live = sessionOf(req.headers.get("mcp-session-id"), identity, server.name);
    if (live === null) return rpcHttp(req.headers.has("mcp-session-id") ? 404 : 400, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "the GET stream needs the Mcp-Session-Id of one of your sessions"));
    touch(live, identity);
    const headers = { "content-type": "text/event-stream", "cache-control": "no-store", "mcp-session-id": live.id };
    const last = req.headers.get("last-event-id");
    if (last !== null) {
      const at = EventStream.parseEventId(last);
      const s = at === null ? undefined : at.stream === live.serverStream?.id ? live.serverStream : live.streams.get(at.stream);
      if (at === null || s === undefined) return rpcHttp(404, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "Last-Event-ID names no stream of this session"));
      return new Response(s.body(at.seq), { status: 200, headers });
    }
    if (live.serverStream === null) live.serverStream = new EventStream(`${live.id}.g`);
    return new Response(live.serverStream.body(), { status: 200, headers });
  }

  // ------------------------------------------------------------------ legacy HTTP+SSE

  async function legacyOpen(server: McpServerConfig, identity: Identity, remote: string): Promise<Response> {
    const busy = tooManySessions(identity, server.name);
    if (busy !== null) return refuse(identity, undefined, server.name, "too_many_sessions", busy, null, 429);
    const live = newSession(server, identity, "sse");
    const stream = new EventStream(`${live.id}.l`, true);
    live.serverStream = stream;
    try {
      await openSession(live, remote);
    } catch (e) {
      await endSession(live, `failed to start: ${errorMessage(e)}`);
      return rpcHttp(502, errorResponse(null, RPC_ERROR.UPSTREAM_CLOSED, `the upstream server could not be started: ${errorMessage(e)}`));
    }
    // The legacy transport's session lives as long as its stream.
    stream.onDetach = () => void endSession(live, "the agent closed the event stream");
    stream.endpoint(`/messages/${server.name}?session_id=${live.id}`);
    return new Response(stream.body(), { status: 200, headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
  }

  async function legacyPost(req: Request, url: URL, server: McpServerConfig, identity: Identity): Promise<Response> {
    const live = sessionOf(url.searchParams.get("session_id"), identity, server.name);
    if (live === null || live.transport !== "sse") return rpcHttp(404, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "no such session (it ended, or it is not yours)"));
    touch(live, identity);
    const m = await message(req, identity, server.name, live.id);
    if (m instanceof Response) return m;
    const stream = live.serverStream!;
    if (m.kind === "request") {
      const reply: Reply = {
        intermediate: (x) => {
          stream.send(x);
          return true;
        },
        final: (x, text) => stream.send(x, text),
        keepalive: (t) => stream.comment(t),
      };
      void live.core.request(m, reply);
    } else {
      try {
        if (m.kind === "notification") await live.core.notification(m);
        else await live.core.response(m);
      } catch (e) {
        return refuse(identity, live.id, server.name, "refused", errorMessage(e), null);
      }
    }
    return new Response("Accepted", { status: 202 });
  }

  // ------------------------------------------------------------------ DNS rebinding

  const loopbackListen = isLoopbackHost(host);
  const publicOrigin = cfg.resource_url !== undefined ? new URL(cfg.resource_url).origin : null;
  const loopbackName = (h: string) => h === "localhost" || h === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(h);

  /**
   * The MCP transport spec's DNS-rebinding rule: a browser page of another origin must not reach
   * the server. An Origin, when sent, must be the public URL's or (on a loopback listener) a
   * loopback one; on a loopback listener without a public URL the Host must be loopback too.
   * Null when the request may go on, else why not.
   */
  function foreignOrigin(req: Request): string | null {
    const origin = req.headers.get("origin");
    if (origin !== null) {
      let o: URL | null = null;
      try {
        o = new URL(origin);
      } catch {
        o = null;
      }
      const ok = o !== null && (o.origin === publicOrigin || (loopbackListen && loopbackName(o.hostname)));
      if (!ok) return `Origin "${origin.slice(0, 100)}" is not this server's: refused (DNS rebinding protection)`;
    }
    if (loopbackListen && publicOrigin === null) {
      const h = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
      if (!loopbackName(h)) return `Host "${h.slice(0, 100)}" is not a loopback name on a loopback listener: refused (DNS rebinding protection)`;
    }
    return null;
  }

  // ------------------------------------------------------------------ routing

  async function handle(req: Request, srv: Server<undefined>): Promise<Response> {
    const url = new URL(req.url);
    const parts = url.pathname.split("/");
    // /.well-known/oauth-protected-resource/mcp/<server> (RFC 9728: the resource path appended).
    if (url.pathname.startsWith("/.well-known/oauth-protected-resource")) {
      const rest = url.pathname.slice("/.well-known/oauth-protected-resource".length);
      const m = /^\/(mcp|sse)\/([^/]+)$/.exec(rest);
      const s = m === null ? undefined : servers.get(m[2]!);
      if (req.method !== "GET" || s === undefined) return new Response("not found", { status: 404 });
      return Response.json(protectedResourceMetadata(resourceOf(s.name), deps.authorizationServers?.() ?? [], `${cfg.name}/${s.name}`), { headers: { "cache-control": "max-age=300", "access-control-allow-origin": "*" } });
    }
    if (parts.length !== 3 || parts[0] !== "") return new Response("not found", { status: 404 });
    const route = parts[1]!;
    const server = servers.get(decodeURIComponent(parts[2]!));
    if ((route !== "mcp" && route !== "sse" && route !== "messages") || server === undefined) return new Response("not found", { status: 404 });
    const auth = await authenticate(req, server.name);
    if ("response" in auth) return auth.response;
    const identity = auth.identity;
    const foreign = foreignOrigin(req);
    if (foreign !== null) return refuse(identity, undefined, server.name, "origin", foreign, null, 403);
    // A token the verifier's clock skew let through but already past its expiry opens nothing.
    if (tokenExpiredAtOpen(identity, deps.clock, endAtExpiry)) {
      return reject({ target: cfg.name, identity, reason: "expired", message: "token expired: an MCP session ends when its token expires (identity.end_sessions_at_expiry); get a new token" }, server.name, "invalid_token");
    }
    // Asked only when a session opens (its start record says where from).
    const remote = () => srv.requestIP(req)?.address ?? "";
    if (route === "mcp") {
      if (req.method === "POST") return streamablePost(req, server, identity, remote);
      if (req.method === "GET") return streamableGet(req, server, identity);
      if (req.method === "DELETE") {
        const live = sessionOf(req.headers.get("mcp-session-id"), identity, server.name);
        if (live === null) return rpcHttp(404, errorResponse(null, RPC_ERROR.INVALID_REQUEST, "no such session"));
        await endSession(live, "the agent ended it (DELETE)");
        return new Response(null, { status: 200 });
      }
      return new Response(null, { status: 405, headers: { allow: "GET, POST, DELETE" } });
    }
    if (route === "sse" && req.method === "GET") return legacyOpen(server, identity, remote());
    if (route === "messages" && req.method === "POST") return legacyPost(req, url, server, identity);
    return new Response(null, { status: 405 });
  }

  const server = Bun.serve({
    hostname: host,
    port,
    idleTimeout: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    fetch: (req, srv) =>
      handle(req, srv).catch((e: unknown) => {
        log.error("mcp target failed", { target: cfg.name, error: errorMessage(e) });
        return rpcHttp(500, errorResponse(null, RPC_ERROR.INTERNAL_ERROR, "the gateway failed to handle this request"));
      }),
    error: (e) => rpcHttp(400, errorResponse(null, RPC_ERROR.INVALID_REQUEST, errorMessage(e))),
  });
  if (baseUrl === "" && cfg.resource_url === undefined) baseUrl = `http://${host.includes(":") ? `[${host}]` : host}:${server.port}`;

  // Idle sessions end (expired and revoked ones end at once, by their SessionExpiry).
  let sweeps = 0;
  const sweeper = setInterval(() => {
    const now = Date.now();
    // Every 20 s a comment on each open stream: proxies keep it, and a client that went away is seen to.
    const keepalive = ++sweeps % 4 === 0;
    for (const live of [...sessions.values()]) {
      if (keepalive) {
        if (live.serverStream?.attached === true) live.serverStream.comment("keepalive");
        for (const s of live.streams.values()) if (s.attached) s.comment("keepalive");
      }
      const streaming = live.serverStream?.attached === true || [...live.streams.values()].some((s) => s.attached);
      if (!streaming && now - live.lastUsed > idleMs) void endSession(live, "idle");
    }
  }, 5_000);
  sweeper.unref();

  return {
    name: cfg.name,
    listen: cfg.listen,
    port: server.port ?? 0,
    revokeSessions: (revoked) => revocations.revoke(revoked),
    async stop() {
      clearInterval(sweeper);
      await Promise.all([...sessions.values()].map((s) => endSession(s, "gateway stopping")));
      await server.stop(true);
    },
  };
}

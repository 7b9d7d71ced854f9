// One agent's MCP session with one upstream server: every message in both directions goes
// through here. Requests are decided (agent → server, and server → agent: sampling, elicitation,
// roots), audited, then forwarded with an id of the gateway's (so the two sides' ids never mix);
// answers come back masked, lists filtered to what the caller may use, tool definitions checked
// against their pins, budgets and time limits kept. Transport-free: the HTTP layer hands in
// messages and a Reply per request.
import { sqlArgumentOf } from "./sql-argument.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import type { Action, Decision, Identity, Masks, McpRequestFacts, McpSqlFacts } from "../../core/types.ts";
import { NO_MASKS, hasMasks } from "../../core/types.ts";
import type { PendingRequest } from "../../approvals/approvals.ts";
import { type Gate, type Verdict, auditAction, auditIdentity } from "../../gate/gate.ts";
import { argumentsSha256 } from "../../gate/mcp-audit-action.ts";
import { SessionRecords } from "../../gate/session-records.ts";
import type { RecordTemplate } from "../../audit/record-template.ts";
import { requestFacts } from "./facts.ts";
import { type JsonRpcId, type JsonRpcMessage, type JsonRpcNotification, type JsonRpcRequest, type JsonRpcResponse, RPC_ERROR, errorResponse, writeMessage } from "./json-rpc.ts";
import { CLIENT_NOTIFICATIONS, CLIENT_REQUESTS, LISTS, PLUMBING, PROTOCOL_VERSIONS, SERVER_NOTIFICATIONS, SERVER_REQUESTS, STATELESS_VERSION, isListMethod } from "./methods.ts";
import { maskResult, type ValueMasker } from "./result-masker.ts";
import type { Budgets } from "./budgets.ts";
import { toolDigest } from "./pins.ts";
import type { Upstream, UpstreamEvents } from "./upstream/upstream.ts";

type Obj = Record<string, unknown>;

/** Where the answer to one agent request goes, and what the agent is told meanwhile. */
export interface Reply {
  /** A message that belongs with this request (progress, a server request made for it). False: this reply cannot carry it. */
  intermediate(m: JsonRpcMessage): boolean;
  /** The response (and its JSON-RPC text when already made); the reply ends. */
  final(m: JsonRpcResponse, text?: string): void;
  /** Kept open while the request waits (a held review): a comment on an event stream. */
  keepalive(text: string): void;
}

/** What a tool's definition is to the pin file. */
export interface PinCheck {
  readonly status: "pinned" | "new" | "changed" | "unpinned";
  readonly sha256: string;
}

/** The pins of a target (pins.ts behind it); null in the deps: pinning off. */
export interface ToolPins {
  check(server: string, tool: unknown): PinCheck;
}

/** The SQL facts of an argument; throws a GatewayError when it cannot be classified (refused). */
export type SqlClassifier = (text: string, server: string) => McpSqlFacts | Promise<McpSqlFacts>;

export interface McpSessionDeps {
  readonly id: string;
  readonly target: string;
  readonly server: string;
  readonly identity: () => Identity;
  readonly gate: Gate;
  /** The policy's decide(), for filtering lists without auditing each item. */
  readonly decide: (action: Action) => Decision;
  readonly mayUseTarget: (identity: Identity, target: string) => boolean;
  readonly pins: ToolPins | null;
  /** servers[].sql: which tool's which argument is SQL, and the classifier (sql-argument.ts). */
  readonly sql?: { readonly tool: string; readonly argument: string; readonly classify: SqlClassifier; readonly builtins?: (decision: Decision, action: Action) => Decision };
  readonly masker: (masks: Masks) => ValueMasker | null;
  readonly budgets: Budgets;
  readonly onBudgetRefused: (budget: string) => void;
  readonly resultBytes: number;
  /** How old tool definitions may be at a call before they are listed again (default a minute). */
  readonly toolsFreshMs?: number;
  readonly callTimeoutMs: number;
  readonly now: () => number;
  readonly log: { info(m: string, f?: Obj): void; warn(m: string, f?: Obj): void; error(m: string, f?: Obj): void };
  /** The stream for what the server sends on its own (the GET stream, the legacy stream); null: none open. */
  readonly serverStream: () => { send(m: JsonRpcMessage): void } | null;
  /** Builds the upstream with these events (called once). */
  readonly upstream: (events: UpstreamEvents) => Upstream;
  /** initialize was denied or failed: the session it would have opened ends. */
  readonly onInitializeFailed?: () => void;
  /** The upstream was started: recorded (a spawn) before anything is sent to it; a rejection stops it. */
  readonly onUpstreamStarted?: () => Promise<void>;
  /** The upstream ended (its process exited, its session expired): the session ends. */
  readonly onUpstreamClosed: (reason: string) => void;
}

/** An agent request forwarded upstream, waiting for its answer. */
interface Forwarded {
  readonly clientId: JsonRpcId;
  readonly method: string;
  readonly facts: McpRequestFacts;
  readonly reply: Reply;
  readonly masks: Masks;
  readonly started: number;
  readonly verdict: Verdict;
  readonly progressToken: string | number | undefined;
  readonly argsSha256: string | undefined;
  readonly pin: PinCheck | undefined;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** A server-initiated request relayed to the agent, waiting for its answer. */
interface ServerRequest {
  readonly serverId: JsonRpcId;
  readonly facts: McpRequestFacts;
  readonly verdict: Verdict;
  readonly started: number;
}

/** A request the gateway itself sent (a re-list after list_changed). */
interface Internal {
  resolve(m: JsonRpcResponse): void;
}

interface ToolDef {
  /** The definition as the upstream listed it (its pin is checked again at each call). */
  readonly tool: Obj;
  readonly pin: PinCheck;
  readonly inputSchema: Obj | undefined;
}

/** How long a held request waits between progress notifications. */
const HOLD_PROGRESS_MS = 10_000;
/** How old the tool definitions a call is checked against may be before the gateway lists them again. */
const TOOLS_FRESH_MS = 60_000;
/** The time budget of requests other than tools/call (at least). */
const OTHER_REQUEST_MS = 60_000;
/** Pages of a list the gateway reads itself before it gives up (a server that pages forever). */
const MAX_PAGES = 50;

export const argumentsDigest = argumentsSha256;

export class McpSession {
  readonly #d: McpSessionDeps;
  readonly #upstream: Upstream;
  #nextUp = 0;
  #nextServer = 0;
  /** Agent requests by the gateway's upstream id. */
  readonly #forwarded = new Map<JsonRpcId, Forwarded>();
  /** Agent request ids in flight (decided, held or forwarded): a second request with one is refused. */
  readonly #clientIds = new Map<string, { abort: AbortController; upId: JsonRpcId | null }>();
  readonly #internal = new Map<JsonRpcId, Internal>();
  /** Progress tokens of requests in flight → their upstream id. */
  readonly #progress = new Map<string, JsonRpcId>();
  /** Server requests relayed to the agent: the id the agent sees → the server's id. */
  readonly #serverRequests = new Map<string, ServerRequest>();
  #tools = new Map<string, ToolDef>();
  #toolsKnown = false;
  #toolsListedAt = 0;
  #relisting: Promise<void> | null = null;
  #initialize: Obj | null = null;
  #version: string | null = null;
  #closed = false;
  #starting: Promise<void> | null = null;
  #records: SessionRecords | null = null;
  calls = 0;

  constructor(deps: McpSessionDeps) {
    this.#d = deps;
    this.#upstream = deps.upstream({
      message: (m, relatedTo) => this.#fromServer(m, relatedTo),
      unreadable: (reason, id) => this.#unreadable(reason, id),
      closed: (reason) => {
        this.#failAll(reason);
        deps.onUpstreamClosed(reason);
      },
    });
  }

  get upstream(): Upstream {
    return this.#upstream;
  }

  /**
   * The session's record templates (gate/session-records.ts): what is fixed for the session is
   * serialised once, so each decision and exchange record only encodes its action and details.
   * Built again when the caller comes with a token that reads differently (new groups, claims).
   */
  #sessionRecords(identity: Identity): SessionRecords {
    const r = this.#records;
    if (r !== null && r.matches(this.#d.id, identity, this.#d.target)) return r;
    // As auditIdentity() puts the caller in a record: display name and record_claims, never the token's claims.
    const fields = {
      method: identity.method,
      subject: identity.subject,
      issuer: identity.issuer,
      groups: identity.groups,
      ...(identity.name !== undefined ? { name: identity.name } : {}),
      ...(identity.recordClaims !== undefined ? { claims: identity.recordClaims } : {}),
    };
    this.#records = new SessionRecords({ session: this.#d.id, identity: fields, target: this.#d.target });
    return this.#records;
  }

  /** The exchange's record, written with the next write (nothing waits for it). */
  #recordExchange(action: Obj, decision: { effect: "allow" | "deny" | "review"; rule: string | null }, policy: string, details: Obj): void {
    const records = this.#sessionRecords(this.#d.identity());
    let template: RecordTemplate;
    try {
      template = records.template("mcp.call", decision, policy);
    } catch {
      void this.#d.gate.recordLater({ type: "mcp.call", session: this.#d.id, identity: auditIdentity(this.#d.identity()), target: this.#d.target, action, decision, policy, details });
      return;
    }
    void this.#d.gate.recordLaterFrom(template, { action, details }, "mcp.call");
  }

  /** Requests of the agent's in flight (decided, held or forwarded). */
  get busy(): boolean {
    return this.#clientIds.size > 0;
  }

  get protocolVersion(): string | null {
    return this.#version;
  }

  /**
   * Starts the upstream (spawns a stdio server, opens a legacy stream) once: when the first
   * request is allowed, so a caller no rule lets in never makes the gateway start anything.
   */
  #startUpstream(): Promise<void> {
    this.#starting ??= (async () => {
      await this.#upstream.start();
      await this.#d.onUpstreamStarted?.();
    })();
    return this.#starting;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#clientIds.values()) c.abort.abort();
    this.#failAll("the session ended");
    await this.#upstream.close();
  }

  // ---------------------------------------------------------------- agent → server

  /** An agent's request: decided, audited, forwarded; the answer goes to `reply`. Never throws. */
  async request(m: JsonRpcRequest, reply: Reply): Promise<void> {
    const key = idKey(m.id);
    if (this.#clientIds.has(key)) {
      reply.final(errorResponse(m.id, RPC_ERROR.INVALID_REQUEST, `request id ${JSON.stringify(m.id)} is already in use by a request in flight in this session: refused`));
      return;
    }
    const abort = new AbortController();
    const entry = { abort, upId: null as JsonRpcId | null };
    this.#clientIds.set(key, entry);
    try {
      await this.#request(m, reply, entry);
    } catch (e) {
      this.#d.log.error("mcp request failed", { session: this.#d.id, method: m.method, error: errorMessage(e) });
      reply.final(errorResponse(m.id, RPC_ERROR.INTERNAL_ERROR, `the gateway failed to handle this request: ${errorMessage(e)}`));
    } finally {
      if (entry.upId === null) this.#clientIds.delete(key);
    }
  }

  async #request(m: JsonRpcRequest, reply: Reply, entry: { abort: AbortController; upId: JsonRpcId | null }): Promise<void> {
    const d = this.#d;
    if (this.#closed) {
      reply.final(errorResponse(m.id, RPC_ERROR.UPSTREAM_CLOSED, "the session has ended"));
      return;
    }
    const stateless = statelessVersion(m.params);
    if (stateless !== null) {
      reply.final(
        errorResponse(m.id, RPC_ERROR.INVALID_REQUEST, `this request is in the stateless ${stateless} shape (_meta protocol version), which the gateway recognises but does not relay: this session speaks ${this.#version ?? "no version yet"}; initialize a session and send requests without that _meta version`),
      );
      return;
    }
    if (m.method === "initialize" && this.#initialize !== null) {
      reply.final(errorResponse(m.id, RPC_ERROR.INVALID_REQUEST, "this session is initialized already"));
      return;
    }
    if (m.method === "server/discover") {
      // 2026-07-28 discovery, answered from what the upstream said at initialize.
      if (this.#initialize === null) reply.final(errorResponse(m.id, RPC_ERROR.INVALID_REQUEST, "server/discover: initialize the session first"));
      else {
        const info = this.#initialize["serverInfo"] ?? {};
        reply.final({ kind: "response", id: m.id, result: { resultType: "complete", supportedVersions: [...PROTOCOL_VERSIONS], capabilities: this.#initialize["capabilities"] ?? {}, serverInfo: info, _meta: { "io.modelcontextprotocol/serverInfo": info } } });
      }
      return;
    }
    if (m.method !== "initialize" && m.method !== "ping" && this.#initialize === null) {
      reply.final(errorResponse(m.id, RPC_ERROR.INVALID_REQUEST, `${m.method} before initialize: send initialize first`));
      return;
    }

    let facts: McpRequestFacts;
    try {
      facts = requestFacts(m, d.server, "client");
    } catch (e) {
      reply.final(errorResponse(m.id, RPC_ERROR.INVALID_PARAMS, errorMessage(e)));
      return;
    }
    const known = CLIENT_REQUESTS.has(m.method);
    // What the policy cannot see but the gateway must: is the tool offered, and as pinned?
    let pin: PinCheck | undefined;
    let toolMissing = false;
    let sqlRefusal: string | null = null;
    if (m.method === "tools/call" && facts.tool !== undefined) {
      // A server may change a tool without saying so (no list_changed): the definitions a call
      // is checked against are never older than a minute.
      if (this.#toolsKnown && performance.now() - this.#toolsListedAt > (d.toolsFreshMs ?? TOOLS_FRESH_MS)) this.#toolsKnown = false;
      await this.#knowTools();
      const def = this.#tools.get(facts.tool);
      if (def === undefined) toolMissing = true;
      else {
        // Checked now, not when listed: a pin file updated since applies to this call.
        pin = d.pins === null ? def.pin : d.pins.check(d.server, def.tool);
        if (def.inputSchema !== undefined) facts = { ...facts, inputSchema: def.inputSchema };
      }
      if (d.sql !== undefined && facts.tool === d.sql.tool) {
        // Missing, not text, or beside another spelling of its name (sql and SQL): refused.
        const arg = sqlArgumentOf(facts.arguments, d.sql.argument);
        if (!arg.ok) sqlRefusal = `${arg.reason} (${facts.tool})`;
        else {
          const text = arg.text;
          try {
            const sql = await d.sql.classify(text, d.server);
            facts = { ...facts, sql };
          } catch (e) {
            sqlRefusal = `the SQL argument of ${facts.tool} cannot be classified: ${errorMessage(e)}`;
          }
        }
      }
    }
    // Two argument names one server could read as the other (sql and SQL, a fullwidth twin): the
    // gateway would decide on one and the server might act on the other.
    const twins = facts.arguments !== undefined ? foldedTwins(Object.keys(facts.arguments)) : null;
    const argsSha256 = facts.arguments !== undefined ? argumentsDigest(facts.arguments) : undefined;
    const identity = d.identity();
    const action: Action = { identity, target: d.target, request: facts, time: d.now() };
    let budgetHit: string | null = null;
    const adjust = (decision: Decision, a: Action): Decision => {
      const deny = (rule: string, message: string): Decision => ({ effect: "deny", rule, message, masks: NO_MASKS });
      if (!known) return deny("builtin:mcp-unknown-method", `the MCP method "${m.method}" is not one the gateway knows: denied`);
      if (toolMissing) return deny("builtin:mcp-unknown-tool", `the server "${d.server}" offers no tool "${facts.tool}": denied`);
      if (pin !== undefined && pin.status !== "pinned" && pin.status !== "unpinned") {
        return deny("builtin:mcp-unpinned", `the tool "${facts.tool}" is ${pin.status === "new" ? "new" : "changed"} on "${d.server}" since its definition was pinned: hidden and denied until the pin file is updated (gatehouse mcp pin ${d.target})`);
      }
      if (twins !== null) return deny("builtin:mcp-ambiguous-arguments", `the arguments "${twins[0]}" and "${twins[1]}" differ only in case or Unicode form, and a server may read either: denied`);
      if (sqlRefusal !== null) return deny("builtin:mcp-sql-unreadable", `${sqlRefusal}: denied`);
      if (facts.sql !== undefined && d.sql?.builtins !== undefined) decision = d.sql.builtins(decision, a);
      if (decision.effect === "deny" && decision.rule === null && PLUMBING.has(m.method) && d.mayUseTarget(a.identity, a.target)) {
        // The lifecycle and the (filtered) lists: for anyone some rule lets use the target.
        return { effect: "allow", rule: "builtin:mcp-plumbing", message: `${m.method} is allowed to callers who may use the target`, masks: NO_MASKS };
      }
      if (decision.effect !== "deny" && m.method === "tools/call") {
        const over = d.budgets.over(identityKeyOf(a.identity), facts.tool ?? "", a.time);
        if (over !== null) {
          budgetHit = over.budget;
          return deny(`builtin:mcp-budget`, `budget spent: at most ${over.max} ${over.budget === "calls" ? "tool calls" : `calls of ${facts.tool}`} per ${Math.round(over.windowMs / 1000)} s for you on this target; try again later`);
        }
      }
      return decision;
    };
    const progressToken = progressTokenOf(m.params);
    if (progressToken !== undefined && this.#progress.has(idKey(progressToken))) {
      reply.final(errorResponse(m.id, RPC_ERROR.INVALID_REQUEST, "this progress token is already in use by a request in flight: refused"));
      return;
    }
    let holdTimer: ReturnType<typeof setInterval> | null = null;
    const onHold = (p: PendingRequest) => {
      const say = () => {
        const text = `held for approval ${p.id}: an approver (${p.approvers.join(", ")}) runs "gatehouse approve ${p.id}"`;
        if (progressToken !== undefined) reply.intermediate({ kind: "notification", method: "notifications/progress", params: { progressToken, progress: 0, message: text } });
        else reply.keepalive(text);
      };
      say();
      holdTimer = setInterval(say, HOLD_PROGRESS_MS);
    };
    let verdict: Verdict;
    try {
      verdict = await d.gate.check(action, {
        session: d.id,
        records: this.#sessionRecords(identity),
        adjust,
        signal: entry.abort.signal,
        onHold,
        details: { jsonrpc_id: m.id, ...(argsSha256 !== undefined ? { arguments_sha256: argsSha256 } : {}), ...(pin !== undefined ? { pin: pin.sha256, pin_status: pin.status } : {}) },
      });
    } finally {
      if (holdTimer !== null) clearInterval(holdTimer);
    }
    if (!verdict.allowed) {
      if (budgetHit !== null) d.onBudgetRefused(budgetHit);
      const code = verdict.auditFailed ? RPC_ERROR.AUDIT_UNAVAILABLE : budgetHit !== null ? RPC_ERROR.BUDGET : RPC_ERROR.DENIED;
      const detail = verdict.decision.detail;
      if (m.method === "initialize") queueMicrotask(() => d.onInitializeFailed?.());
      reply.final(
        errorResponse(m.id, code, verdict.auditFailed ? verdict.message : `denied by the gateway: ${verdict.message}`, {
          rule: verdict.decision.rule,
          ...(detail ? { detail } : {}),
          ...(verdict.approvalId ? { approval: verdict.approvalId } : {}),
        }),
      );
      return;
    }
    if (entry.abort.signal.aborted || this.#closed) {
      reply.final(errorResponse(m.id, RPC_ERROR.UPSTREAM_CLOSED, "cancelled before it was forwarded"));
      return;
    }
    if (this.#starting === null || m.method === "initialize") {
      try {
        await this.#startUpstream();
      } catch (e) {
        if (m.method === "initialize") queueMicrotask(() => d.onInitializeFailed?.());
        const audit = e instanceof GatewayError && e.code === "E_AUDIT_WRITE";
        reply.final(errorResponse(m.id, audit ? RPC_ERROR.AUDIT_UNAVAILABLE : RPC_ERROR.UPSTREAM_CLOSED, `${audit ? "audit log unavailable, the server was not started" : "the upstream server could not be started"}: ${errorMessage(e)}`));
        return;
      }
    }
    if (m.method === "tools/call") d.budgets.count(identityKeyOf(identity), facts.tool ?? "", d.now());
    this.calls++;
    const upId = this.#upId();
    entry.upId = upId;
    const timer = setTimeout(() => this.#timeout(upId), this.#timeoutOf(m.method));
    const fwd: Forwarded = { clientId: m.id, method: m.method, facts, reply, masks: verdict.masks, started: performance.now(), verdict, progressToken, argsSha256, pin, timer };
    this.#forwarded.set(upId, fwd);
    if (progressToken !== undefined) this.#progress.set(idKey(progressToken), upId);
    try {
      await this.#upstream.send({ kind: "request", id: upId, method: m.method, ...(m.params !== undefined ? { params: m.params } : {}) });
    } catch (e) {
      this.#finish(upId, errorResponse(m.id, RPC_ERROR.UPSTREAM_CLOSED, `the upstream server could not be reached: ${errorMessage(e)}`), "upstream_error", errorMessage(e));
    }
  }

  /** An agent's notification: known ones are forwarded (cancellation mapped to the upstream id). */
  async notification(m: JsonRpcNotification): Promise<void> {
    if (!CLIENT_NOTIFICATIONS.has(m.method)) throw new GatewayError("E_PROTOCOL", `the notification "${m.method}" is not one the gateway knows: refused`);
    if (m.method === "notifications/cancelled") {
      const rid = m.params?.["requestId"];
      const entry = typeof rid === "string" || typeof rid === "number" ? this.#clientIds.get(idKey(rid)) : undefined;
      if (entry === undefined) return;
      entry.abort.abort();
      if (entry.upId === null) return;
      const upId = entry.upId;
      const fwd = this.#forwarded.get(upId);
      if (fwd !== undefined) this.#finish(upId, null, "cancelled", typeof m.params?.["reason"] === "string" ? m.params["reason"] : undefined);
      await this.#upstream.send({ kind: "notification", method: m.method, params: { ...m.params, requestId: upId } }).catch(() => {});
      return;
    }
    if (m.method === "notifications/progress") {
      // Progress of a server request the agent is answering: its token is the server's own.
      await this.#upstream.send(m).catch(() => {});
      return;
    }
    await this.#upstream.send(m);
  }

  /** An agent's answer to a server request relayed to it. */
  async response(m: JsonRpcResponse): Promise<void> {
    const key = m.id === null ? null : idKey(m.id);
    const sr = key === null ? undefined : this.#serverRequests.get(key);
    if (sr === undefined) throw new GatewayError("E_PROTOCOL", `a response to ${JSON.stringify(m.id)}, which is no request the gateway sent this agent: refused`);
    this.#serverRequests.delete(key!);
    await this.#upstream.send({ ...m, id: sr.serverId });
    // The exchange's record, as for the agent's own requests (what the agent answered is not kept: its size is).
    this.#recordExchange(auditAction(sr.facts), { effect: "allow", rule: sr.verdict.decision.rule }, sr.verdict.policyHash, {
      jsonrpc_id: sr.serverId,
      outcome: m.error !== undefined ? "error" : "ok",
      duration_ms: Math.round((performance.now() - sr.started) * 1000) / 1000,
      result_bytes: Buffer.byteLength(JSON.stringify(m.result ?? m.error ?? {})),
      ...(m.error !== undefined ? { error: m.error.message.slice(0, 500) } : {}),
    });
  }

  // ---------------------------------------------------------------- server → agent

  #fromServer(m: JsonRpcMessage, relatedTo?: JsonRpcId): void {
    if (m.kind === "response") {
      if (m.id === null) {
        this.#d.log.warn("mcp upstream sent a response without an id; dropped", { session: this.#d.id });
        return;
      }
      const internal = this.#internal.get(m.id);
      if (internal !== undefined) {
        this.#internal.delete(m.id);
        internal.resolve(m);
        return;
      }
      const fwd = this.#forwarded.get(m.id);
      if (fwd === undefined) return; // answered already (timed out, cancelled): dropped
      void this.#answer(m.id, fwd, m);
      return;
    }
    if (m.kind === "notification") {
      this.#serverNotification(m, relatedTo);
      return;
    }
    void this.#serverRequest(m, relatedTo);
  }

  #serverNotification(m: JsonRpcNotification, relatedTo?: JsonRpcId): void {
    if (!SERVER_NOTIFICATIONS.has(m.method)) {
      this.#d.log.warn("mcp upstream sent an unknown notification; dropped", { session: this.#d.id, method: m.method });
      return;
    }
    if (m.method === "notifications/progress") {
      const token = m.params?.["progressToken"];
      const upId = typeof token === "string" || typeof token === "number" ? this.#progress.get(idKey(token)) : undefined;
      const fwd = upId === undefined ? undefined : this.#forwarded.get(upId);
      if (fwd !== undefined) fwd.reply.intermediate(m);
      return;
    }
    if (m.method === "notifications/cancelled") {
      // The server gave up a request it sent the agent: tell the agent under the id it saw.
      const rid = m.params?.["requestId"];
      for (const [agentId, sr] of this.#serverRequests) {
        if (sr.serverId === rid) {
          this.#serverRequests.delete(agentId);
          this.#toAgent({ ...m, params: { ...m.params, requestId: parseIdKey(agentId) } }, undefined);
        }
      }
      return;
    }
    if (m.method === "notifications/tools/list_changed") {
      // Re-list (and re-check pins) before the agent hears of it: its next tools/list is filtered
      // by the new definitions, and a call of a changed tool is denied meanwhile.
      this.#toolsKnown = false;
      void this.#knowTools().finally(() => this.#toAgent(m, relatedTo));
      return;
    }
    this.#toAgent(m, relatedTo);
  }

  async #serverRequest(m: JsonRpcRequest, relatedTo?: JsonRpcId): Promise<void> {
    const d = this.#d;
    const answer = (r: JsonRpcResponse) => void this.#upstream.send(r).catch(() => {});
    if (m.method === "ping") {
      answer({ kind: "response", id: m.id, result: {} });
      return;
    }
    let facts: McpRequestFacts;
    try {
      facts = requestFacts(m, d.server, "server");
    } catch (e) {
      answer(errorResponse(m.id, RPC_ERROR.INVALID_PARAMS, errorMessage(e)));
      return;
    }
    const known = SERVER_REQUESTS.has(m.method);
    const verdict = await d.gate.check(
      { identity: d.identity(), target: d.target, request: facts, time: d.now() },
      {
        session: d.id,
        details: { jsonrpc_id: m.id },
        adjust: (decision) => (known ? decision : { effect: "deny", rule: "builtin:mcp-unknown-method", message: `the server request "${m.method}" is not one the gateway knows: denied`, masks: NO_MASKS }),
      },
    );
    if (!verdict.allowed) {
      answer(errorResponse(m.id, verdict.auditFailed ? RPC_ERROR.AUDIT_UNAVAILABLE : RPC_ERROR.DENIED, `denied by the gateway: ${verdict.message}`, { rule: verdict.decision.rule }));
      return;
    }
    const agentId = `gh-${++this.#nextServer}`;
    this.#serverRequests.set(idKey(agentId), { serverId: m.id, facts, verdict, started: performance.now() });
    if (!this.#toAgent({ kind: "request", id: agentId, method: m.method, ...(m.params !== undefined ? { params: m.params } : {}) }, relatedTo)) {
      this.#serverRequests.delete(idKey(agentId));
      answer(errorResponse(m.id, RPC_ERROR.INTERNAL_ERROR, "the agent has no open stream to receive this request"));
    }
  }

  /** To the agent: with the request it belongs to when that reply can carry it, else on the server stream. */
  #toAgent(m: JsonRpcMessage, relatedTo: JsonRpcId | undefined): boolean {
    if (relatedTo !== undefined) {
      const fwd = this.#forwarded.get(relatedTo);
      if (fwd !== undefined && fwd.reply.intermediate(m)) return true;
    }
    const s = this.#d.serverStream();
    if (s !== null) {
      s.send(m);
      return true;
    }
    // stdio servers do not say which request a server request belongs to: the newest in flight.
    if (m.kind === "request") {
      const newest = [...this.#forwarded.values()].at(-1);
      if (newest !== undefined && newest.reply.intermediate(m)) return true;
    }
    return false;
  }

  // ---------------------------------------------------------------- answers

  async #answer(upId: JsonRpcId, fwd: Forwarded, m: JsonRpcResponse): Promise<void> {
    if (m.error !== undefined || m.result === undefined) {
      this.#finish(upId, { ...m, id: fwd.clientId }, "error", m.error?.message);
      return;
    }
    let result: Obj = m.result;
    let masked = 0;
    try {
      if (fwd.method === "initialize") result = this.#initialized(result);
      else if (isListMethod(fwd.method)) result = this.#filterList(fwd.method, result);
      if (hasMasks(fwd.masks)) {
        const r = maskResult(fwd.method, result, fwd.masks, this.#d.masker(fwd.masks));
        result = r.result;
        masked = r.masked;
      }
    } catch (e) {
      const mask = e instanceof GatewayError && e.code === "E_MASK";
      this.#finish(upId, errorResponse(fwd.clientId, mask ? RPC_ERROR.DENIED : RPC_ERROR.INTERNAL_ERROR, `${mask ? "result withheld: it cannot be masked as the policy asks" : "the upstream's answer was refused"}: ${errorMessage(e)}`), mask ? "mask_refused" : "refused", errorMessage(e));
      return;
    }
    // 2026-07-28 multi round-trip: a result that asks the agent for input carries server-initiated
    // requests (elicitation, sampling) inside it; each is decided as one, or the result is withheld.
    if (result["resultType"] === "input_required") {
      const refused = await this.#inputRequests(result["inputRequests"]);
      if (refused !== null) {
        this.#finish(upId, errorResponse(fwd.clientId, RPC_ERROR.DENIED, `denied by the gateway: the result asks the agent for input the policy does not allow: ${refused}`), "input_refused", refused);
        return;
      }
    }
    const out: JsonRpcResponse = { kind: "response", id: fwd.clientId, result };
    // Made once: measured here, sent as it is.
    const text = writeMessage(out);
    const size = Buffer.byteLength(text);
    if (size > this.#d.resultBytes) {
      this.#d.onBudgetRefused("result_bytes");
      this.#finish(upId, errorResponse(fwd.clientId, RPC_ERROR.BUDGET, `result withheld: ${size} bytes is over this target's limit of ${this.#d.resultBytes} (limits.result_bytes)`), "too_large", undefined, { result_bytes: size });
      return;
    }
    this.#finish(upId, out, "ok", undefined, { text, result_bytes: size, ...(masked > 0 ? { masked } : {}), ...(result["isError"] === true ? { tool_error: true } : {}) });
  }

  /** Decides the requests of an input_required result as server-initiated ones; null when all are allowed, else why not. */
  async #inputRequests(requests: unknown): Promise<string | null> {
    const list = Array.isArray(requests) ? requests : typeof requests === "object" && requests !== null ? Object.values(requests) : null;
    if (list === null || list.length === 0) return "its inputRequests cannot be read";
    for (const r of list) {
      if (typeof r !== "object" || r === null || typeof (r as Obj)["method"] !== "string") return "an input request without a method";
      const params = (r as Obj)["params"];
      const m: JsonRpcNotification = { kind: "notification", method: (r as Obj)["method"] as string, ...(typeof params === "object" && params !== null && !Array.isArray(params) ? { params: params as Obj } : {}) };
      const known = SERVER_REQUESTS.has(m.method);
      const v = await this.#d.gate.check(
        { identity: this.#d.identity(), target: this.#d.target, request: requestFacts(m, this.#d.server, "server"), time: this.#d.now() },
        { session: this.#d.id, details: { input_required: true }, adjust: (decision) => (known ? decision : { effect: "deny", rule: "builtin:mcp-unknown-method", message: `the input request "${m.method}" is not one the gateway knows: denied`, masks: NO_MASKS }) },
      );
      if (!v.allowed) return `${m.method}: ${v.message}`;
    }
    return null;
  }

  /** The answer goes out (or not: a cancelled request's), and the exchange's record is written. */
  #finish(upId: JsonRpcId, out: JsonRpcResponse | null, outcome: string, error?: string, extra: Obj = {}): void {
    const fwd = this.#forwarded.get(upId);
    if (fwd === undefined) return;
    this.#forwarded.delete(upId);
    clearTimeout(fwd.timer);
    this.#clientIds.delete(idKey(fwd.clientId));
    if (fwd.progressToken !== undefined) this.#progress.delete(idKey(fwd.progressToken));
    const { text, ...recorded } = extra;
    if (out !== null) fwd.reply.final(out, typeof text === "string" ? text : undefined);
    const d = this.#d;
    if (fwd.method === "initialize" && outcome !== "ok") queueMicrotask(() => d.onInitializeFailed?.());
    const durationMs = Math.round((performance.now() - fwd.started) * 1000) / 1000;
    // An approved review ran as an allow: the record says allow, and names the approval.
    this.#recordExchange(auditAction(fwd.facts), { effect: fwd.verdict.decision.effect === "review" ? "allow" : fwd.verdict.decision.effect, rule: fwd.verdict.decision.rule }, fwd.verdict.policyHash, {
      jsonrpc_id: fwd.clientId,
      outcome,
      duration_ms: durationMs,
      ...(fwd.argsSha256 !== undefined ? { arguments_sha256: fwd.argsSha256 } : {}),
      ...(fwd.pin !== undefined ? { pin: fwd.pin.sha256 } : {}),
      ...(fwd.verdict.approvalId !== undefined ? { approval: fwd.verdict.approvalId } : {}),
      ...(error !== undefined ? { error: error.slice(0, 500) } : {}),
      ...recorded,
    });
  }

  /** A tool call has the target's call_timeout; the rest (initialize with a server's start, lists) at least a minute. */
  #timeoutOf(method: string): number {
    return method === "tools/call" ? this.#d.callTimeoutMs : Math.max(this.#d.callTimeoutMs, OTHER_REQUEST_MS);
  }

  #timeout(upId: JsonRpcId): void {
    const fwd = this.#forwarded.get(upId);
    if (fwd === undefined) return;
    const ms = this.#timeoutOf(fwd.method);
    if (fwd.method === "tools/call") this.#d.onBudgetRefused("call_timeout");
    this.#finish(upId, errorResponse(fwd.clientId, RPC_ERROR.TIMEOUT, `no answer within ${Math.round(ms / 1000)} s${fwd.method === "tools/call" ? " (limits.call_timeout)" : ""}: the request was cancelled upstream`), "timeout");
    void this.#upstream.send({ kind: "notification", method: "notifications/cancelled", params: { requestId: upId, reason: "timed out at the gateway" } }).catch(() => {});
  }

  #unreadable(reason: string, id: JsonRpcId | null): void {
    this.#d.log.warn("mcp upstream sent a message the gateway cannot read; refused", { session: this.#d.id, reason });
    if (id === null) return;
    const fwd = this.#forwarded.get(id);
    if (fwd !== undefined) this.#finish(id, errorResponse(fwd.clientId, RPC_ERROR.INTERNAL_ERROR, `the upstream's answer was refused: ${reason}`), "refused", reason);
  }

  #failAll(reason: string): void {
    for (const [upId, fwd] of [...this.#forwarded]) this.#finish(upId, errorResponse(fwd.clientId, RPC_ERROR.UPSTREAM_CLOSED, `the upstream server went away: ${reason}`), "upstream_closed", reason);
    for (const i of this.#internal.values()) i.resolve(errorResponse(null, RPC_ERROR.UPSTREAM_CLOSED, reason));
    this.#internal.clear();
  }

  // ---------------------------------------------------------------- initialize, lists, pins

  #initialized(result: Obj): Obj {
    const v = result["protocolVersion"];
    if (typeof v !== "string" || !(PROTOCOL_VERSIONS as readonly string[]).includes(v)) {
      throw new GatewayError("E_PROTOCOL", `the upstream speaks MCP ${JSON.stringify(v)}, which the gateway does not (it speaks ${PROTOCOL_VERSIONS.join(", ")})`);
    }
    this.#version = v;
    this.#initialize = result;
    this.#upstream.setProtocolVersion(v);
    return result;
  }

  /** Items the caller may use (what decide() would allow or send to review) and, for tools, as pinned. */
  #filterList(method: keyof typeof LISTS, result: Obj): Obj {
    const { key, as } = LISTS[method];
    const items = result[key];
    if (!Array.isArray(items)) throw new GatewayError("E_PROTOCOL", `the upstream's ${method} answer has no ${key} list`);
    const identity = this.#d.identity();
    const kept = items.filter((item: unknown) => {
      if (typeof item !== "object" || item === null) return false;
      const it = item as Obj;
      let facts: Obj = { kind: "mcp", direction: "client", method: as, server: this.#d.server, listing: true };
      if (method === "tools/list") {
        if (typeof it["name"] !== "string") return false;
        const pin = this.#rememberTool(it);
        if (pin.status === "new" || pin.status === "changed") return false;
        facts = { ...facts, tool: it["name"] };
      } else if (method === "prompts/list") {
        if (typeof it["name"] !== "string") return false;
        facts = { ...facts, prompt: it["name"] };
      } else {
        const uri = method === "resources/list" ? it["uri"] : it["uriTemplate"];
        if (typeof uri !== "string") return false;
        facts = { ...facts, resource: uri };
      }
      try {
        const decision = this.#d.decide({ identity, target: this.#d.target, request: facts as unknown as McpRequestFacts, time: this.#d.now() });
        return decision.effect !== "deny";
      } catch {
        return false;
      }
    });
    return kept.length === items.length ? result : { ...result, [key]: kept };
  }

  #rememberTool(tool: Obj): PinCheck {
    const pin = this.#d.pins === null ? { status: "unpinned" as const, sha256: toolDigest(tool) } : this.#d.pins.check(this.#d.server, tool);
    const schema = tool["inputSchema"];
    this.#tools.set(tool["name"] as string, { tool, pin, inputSchema: typeof schema === "object" && schema !== null && !Array.isArray(schema) ? (schema as Obj) : undefined });
    return pin;
  }

  /** The upstream's tools and their pins, read by the gateway itself when it has none (or they changed). */
  #knowTools(): Promise<void> {
    if (this.#toolsKnown) return Promise.resolve();
    if (this.#relisting !== null) return this.#relisting;
    const p = (async () => {
      const fresh = new Map<string, ToolDef>();
      const before = this.#tools;
      this.#tools = fresh;
      let cursor: unknown;
      let complete = false;
      for (let page = 0; page < MAX_PAGES; page++) {
        const r = await this.#internalRequest("tools/list", cursor === undefined ? undefined : { cursor });
        if (r.error !== undefined || r.result === undefined || !Array.isArray(r.result["tools"])) break;
        for (const t of r.result["tools"] as unknown[]) if (typeof t === "object" && t !== null && typeof (t as Obj)["name"] === "string") this.#rememberTool(t as Obj);
        cursor = r.result["nextCursor"];
        if (typeof cursor !== "string") {
          complete = true;
          break;
        }
      }
      // A list that could not be read leaves no tool known (their calls are denied), not the old ones.
      this.#toolsKnown = complete;
      this.#toolsListedAt = performance.now();
      if (!complete) this.#d.log.warn("mcp: the upstream's tools could not be listed; tool calls are denied until they can", { session: this.#d.id, server: this.#d.server, known_before: before.size });
    })().finally(() => {
      this.#relisting = null;
    });
    this.#relisting = p;
    return p;
  }

  #internalRequest(method: string, params: Obj | undefined): Promise<JsonRpcResponse> {
    const id = this.#upId();
    return new Promise<JsonRpcResponse>((resolve) => {
      const timer = setTimeout(() => {
        this.#internal.delete(id);
        resolve(errorResponse(id, RPC_ERROR.TIMEOUT, "timed out"));
      }, this.#timeoutOf(method));
      this.#internal.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      this.#upstream.send({ kind: "request", id, method, ...(params !== undefined ? { params } : {}) }).catch((e: unknown) => {
        this.#internal.delete(id);
        clearTimeout(timer);
        resolve(errorResponse(id, RPC_ERROR.UPSTREAM_CLOSED, errorMessage(e)));
      });
    });
  }

  #upId(): JsonRpcId {
    return `g${++this.#nextUp}`;
  }
}

/** The first two names that are the same after case folding and NFKC, or null. */
function foldedTwins(names: readonly string[]): [string, string] | null {
  if (names.length < 2) return null;
  const seen = new Map<string, string>();
  for (const n of names) {
    const f = n.normalize("NFKC").toLowerCase();
    const other = seen.get(f);
    if (other !== undefined) return [other, n];
    seen.set(f, n);
  }
  return null;
}

function idKey(id: JsonRpcId): string {
  return typeof id === "number" ? `n${id}` : `s${id}`;
}

function parseIdKey(key: string): JsonRpcId {
  return key.startsWith("n") ? Number(key.slice(1)) : key.slice(1);
}

function identityKeyOf(i: Identity): string {
  return `${i.issuer}\0${i.subject}`;
}

function progressTokenOf(params: Obj | undefined): string | number | undefined {
  const meta = params?.["_meta"];
  if (typeof meta !== "object" || meta === null) return undefined;
  const t = (meta as Obj)["progressToken"];
  return typeof t === "string" || typeof t === "number" ? t : undefined;
}

/** The stateless revision's version in a request's _meta (any key naming a protocol version), or null. */
function statelessVersion(params: Obj | undefined): string | null {
  const meta = params?.["_meta"];
  if (typeof meta !== "object" || meta === null) return null;
  for (const [k, v] of Object.entries(meta as Obj)) if (/protocolversion$/i.test(k) && typeof v === "string" && v >= STATELESS_VERSION) return v;
  return null;
}


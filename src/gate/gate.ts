// The one pipeline every protocol goes through: decide → audit → (allow | deny | hold).
// Targets turn their traffic into an Action, call `check`, and apply the verdict in their own
// protocol. Nothing is forwarded unless its decision is in the audit log first.
import { agreedGrantMs, approvalsMissing, type ApprovalGiven, type Approvals, type PendingRequest, type Resolution } from "../approvals/approvals.ts";
import type { ApprovalNotice } from "../approvals/webhooks.ts";
import { bindingCovers, bindingOf, bindingRecord, type GrantBinding } from "../approvals/binding.ts";
import { identityKey } from "../policy/identity-key.ts";
import type { Health } from "../admin/health.ts";
import type { Metrics } from "../admin/metrics.ts";
import { GatewayError, errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Action, Clock, Decision, Effect, Identity, Masks, RequestFacts } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import type { AppendOptions } from "../audit/log.ts";
import { snakeCaseFacts } from "../audit/action-keys.ts";
import { canonicalValue, CanonicalValue, ObjectTemplate, type RecordTemplate, type RecordValues } from "../audit/record-template.ts";
import type { SessionRecords } from "./session-records.ts";
import { mcpAuditAction } from "./mcp-audit-action.ts";

/** The narrow view of the audit log the gate needs (src/audit/ implements it). */
export interface AuditSink {
  /** `lazy`: nothing waits for the record before acting, so it may share a later write. */
  append(event: AuditEvent, opts?: { readonly lazy?: boolean }): Promise<{ seq: number }>;
  /** The hot path (AuditLog.appendSync): a record from fragments, queued at once; throws E_AUDIT_WRITE. */
  appendSync?(template: RecordTemplate, values: RecordValues, opts?: AppendOptions): number;
  /** Writes what is queued now (AuditLog.flush); throws E_AUDIT_WRITE; a promise only during a rotation. */
  flush?(): void | Promise<void>;
  /** Writes what is queued by the end of this event-loop turn, one write(2) for the turn's callers (AuditLog.flushSoon). */
  flushSoon?(): Promise<void>;
  /** Resolves once everything appended is fsync'd (strict mode's wait on the hot path). */
  sync?(): Promise<void>;
  readonly durability?: "batch" | "strict";
}

export interface AuditEvent {
  type: string;
  session?: string;
  identity?: { method: string; subject: string; issuer: string; groups: readonly string[] };
  target?: string;
  action?: Record<string, unknown>;
  decision?: { effect: Effect; rule: string | null; message?: string };
  policy?: string;
  details?: Record<string, unknown>;
}

/** The narrow view of a compiled policy the gate needs (src/policy/ implements it). */
export interface DecidingPolicy {
  readonly hash: string;
  decide(action: Action): Decision;
  /** A default deny with a detail for the caller (what was seen, a rule outside its hours); see Policy. */
  describeDenial?(action: Action, decision: Decision): Decision;
  /** Some rule depends on the time (see Policy); absent counts as yes. */
  readonly timeDependent?: boolean;
  /** The claim paths the rules name (see Policy): approvals bind to their values; absent counts as none. */
  readonly claimPaths?: readonly string[];
}

export interface GateDeps {
  readonly policy: () => DecidingPolicy;
  readonly audit: AuditSink;
  readonly approvals: Approvals;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Told of every failed audit write, which makes /healthz report unhealthy. */
  readonly health?: Health;
  /** Told once an approval is requested, decided, expired or cancelled and recorded (the webhooks); must not block. */
  readonly onApproval?: (n: ApprovalNotice) => void;
}

export interface Verdict {
  readonly allowed: boolean;
  /** What the policy said (effect may be "review" for an approved request). */
  readonly decision: Decision;
  /** For people: why it was denied, or how it was allowed. */
  readonly message: string;
  readonly masks: Masks;
  readonly approvalId?: string;
  readonly policyHash: string;
  /** Denied because the decision could not be audited, not by the policy: targets say so (HTTP 503). */
  readonly auditFailed?: true;
  /** Review answered at once (CheckContext.answerNow): the approval `approvalId` is pending. */
  readonly pending?: true;
  /**
   * check() of an allow: the seq of the decision record it wrote from the session's templates
   * (absent when it went another way), which a later record carrying this request's completion names.
   */
  readonly recordSeq?: number;
}

/** What recordKnown and queueKnown take: CheckContext's members for a record from templates, and completions to carry. */
export interface KnownContext extends Pick<CheckContext, "session" | "details" | "records" | "action"> {
  /**
   * The completions of the session's earlier statements that this decision record carries in
   * `details.completed` (one record per statement: a completion rides on the session's next
   * decision record instead of a record of its own; see gate/held-completions.ts).
   */
  readonly completed?: CanonicalValue;
}

export interface CheckContext {
  readonly session?: string;
  /** The caller's address (host:port), for a held request's card, when the target has no session.start record giving it. */
  readonly remote?: string;
  /** Extra facts for the decision record (never secrets). */
  readonly details?: Record<string, unknown>;
  /** Called once a request is held, so the target can tell the caller what it waits for. */
  readonly onHold?: (p: PendingRequest) => void;
  /** Aborts a held request (the client went away). */
  readonly signal?: AbortSignal;
  /**
   * Protocol-specific built-ins applied to the policy's decision before it is audited, e.g.
   * Postgres: deny dangerous functions unless a rule names them; allow catalog reads for
   * identities that may use the target. The result is what gets audited and applied.
   */
  readonly adjust?: (decision: Decision, action: Action) => Decision;
  /**
   * The session's record templates: the decision record is then built from fragments and
   * written at once (appendSync + flush), not encoded whole. Same bytes either way.
   */
  readonly records?: SessionRecords;
  /**
   * Review without holding (the Kubernetes target's `answer` mode, for clients that show
   * nothing while a request waits): the approval is requested and audited, and check() returns
   * at once, not allowed, with `pending` and the approval id, for the rules for which this
   * returns a callback (the others hold); `settled` tells the target how the
   * approval ended, so that a retry of the same request can use it (`approved`).
   */
  readonly answerNow?: (rule: string) => ((p: PendingRequest, settled: Promise<Resolution>) => void) | undefined;
  /**
   * An approval an approver granted for this very request, which the caller now retries: a
   * review decision of the same rule is allowed under it (audited with details.approval); any
   * other decision (a deny after a reload, another rule's review) stands. The target checks it
   * belongs to this request; the gate, that it covers this caller (its binding, as a grant's).
   */
  readonly approved?: { readonly id: string; readonly rule: string; readonly binding: GrantBinding | undefined };
  /**
   * The canonical JSON of auditAction(action.request), made by the caller once per request shape
   * (recordKnown's hot path): saves re-encoding the same facts per record. It must be made from
   * that very request.
   */
  readonly action?: CanonicalValue;
}

/**
 * What recordLaterFrom returns for a record queued in the log at once (the log writes it, or
 * drains it when it closes): a caller need not keep it to wait for.
 */
export const RECORD_QUEUED: Promise<void> = Promise.resolve();

/**
 * queueKnown shares the turn's write only while statements of more than one session came within
 * this many ms of each other; a session alone on the gateway writes its records at once.
 */
const SHARED_TURN_MS = 2;

export function auditIdentity(i: Identity): NonNullable<AuditEvent["identity"]> {
  return {
    method: i.method,
    subject: i.subject,
    issuer: i.issuer,
    groups: i.groups,
    // The issuer's display_name and record_claims; never the whole token's claims.
    ...(i.name !== undefined ? { name: i.name } : {}),
    ...(i.recordClaims !== undefined ? { claims: i.recordClaims } : {}),
  };
}

/**
 * Request facts as an audit record's `action`. Audit keys are snake_case, like the config and
 * the admin API; the facts in memory are TypeScript (camelCase), and only a few keys differ
 * (audit/action-keys.ts).
 */
export function auditAction(request: RequestFacts): Record<string, unknown> {
  const r = request as unknown as Record<string, unknown>;
  if (r["kind"] === "mcp") return mcpAuditAction(r);
  return snakeCaseFacts(r);
}

/**
 * An event whose action a target passed as its facts (a request's completion record, an SFTP
 * operation's end) with the action's keys as records spell them; every record goes through
 * here, so no target can write a camelCase key. Canonical JSON (made from auditAction) is as it is.
 */
function inRecordKeys<E extends { readonly action?: unknown }>(event: E): E {
  const a = event.action;
  if (a === undefined || a === null || typeof a !== "object" || a instanceof CanonicalValue) return event;
  const renamed = snakeCaseFacts(a);
  return renamed === a ? event : { ...event, action: renamed };
}

export function describeApproval(p: PendingRequest): string {
  return `request held for approval: id ${p.id}; an approver (${p.approvers.join(", ")}) runs "gatehouse approve ${p.id}"`;
}

export class Gate {
  constructor(private readonly deps: GateDeps) {}

  /** gatehouse_decisions_total{effect="allow"} per target, resolved once (the hot path counts it per statement). */
  readonly #allowCounters = new Map<string, { inc(by?: number): void }>();
  /** recordLaterFrom's options per record type: one onLost handler each, not a closure per record. */
  readonly #lazyOptions = new Map<string, AppendOptions & { readonly onLost: (e: unknown) => void }>();

  /** Canonical JSON of frozen details objects a target passes again and again (a session's Bind details). */
  readonly #detailsJson = new WeakMap<object, CanonicalValue>();

  /** Details as given, or their canonical JSON made once when the object is frozen (it cannot change). */
  #frozenDetails(details: Record<string, unknown> | undefined, completed?: CanonicalValue): unknown {
    if (completed !== undefined) return this.#detailsCompleted(details, completed);
    if (details === undefined || !Object.isFrozen(details)) return details;
    let json = this.#detailsJson.get(details);
    if (json === undefined) {
      json = canonicalValue(details);
      this.#detailsJson.set(details, json);
    }
    return json;
  }

  /** A known decision's record failed: refused (auditFailed), and the completions it carried are lost. */
  #carrierFailed(ctx: KnownContext, decision: Decision, policyHash: string, e: unknown): Verdict {
    if (ctx.completed !== undefined) this.auditWriteFailed("completion", "lost", e);
    return this.auditFailed("decision", decision, policyHash, e);
  }

  /** Per frozen details object: its members serialised once, `completed` filled per record. */
  readonly #detailsTemplates = new WeakMap<object, ObjectTemplate<"completed">>();

  /**
   * The details of a decision record that carries the completions of the session's earlier
   * statements (`completed`, see KnownContext): from a template per frozen details object, so
   * only the completions are serialised per record.
   */
  #detailsCompleted(details: Record<string, unknown> | undefined, completed: CanonicalValue): unknown {
    if (details === undefined || !Object.isFrozen(details)) return { ...details, completed: JSON.parse(completed.json) as unknown };
    let t = this.#detailsTemplates.get(details);
    if (t === undefined) {
      if ("completed" in details) throw new GatewayError("E_INTERNAL", "decision details name `completed` themselves");
      t = new ObjectTemplate(details, ["completed"]);
      this.#detailsTemplates.set(details, t);
    }
    return t.fill({ completed });
  }

  /**
   * The seq of the last record appended through appendRecord, queueKnown or recordKnown (-1 when
   * the sink gives none): read right after the call, it names the decision record of a statement
   * whose completion a later record carries.
   */
  lastSeq = -1;

  #countAllow(target: string): void {
    let c = this.#allowCounters.get(target);
    if (c === undefined) {
      c = this.deps.metrics.decisions.bind({ target, effect: "allow" });
      this.#allowCounters.set(target, c);
    }
    c.inc();
  }

  /**
   * Appends a record that an action waits for; rejects with E_AUDIT_WRITE when the log cannot
   * take it, and the caller must then refuse the action (the failure is already logged and counted).
   */
  async record(given: AuditEvent): Promise<void> {
    const event = inRecordKeys(given);
    if (event.type === "session.start" && event.session !== undefined && typeof event.details?.remote === "string") this.#noteRemote(event.session, event.details.remote);
    try {
      await this.deps.audit.append(event);
    } catch (e) {
      this.auditWriteFailed(event.type, "refused", e, event);
      throw e;
    }
  }

  /**
   * Appends a record that nothing waits for before acting (a completion, a session's end): it
   * rides on the next write (the next action's record) instead of one of its own. Never
   * rejects: what it records has happened already, so a failure is logged at error level,
   * counted (gatehouse_audit_write_failures_total) and makes /healthz report unhealthy.
   */
  recordLater(given: AuditEvent): Promise<void> {
    const event = inRecordKeys(given);
    return this.deps.audit.append(event, { lazy: true }).then(
      () => undefined,
      (e: unknown) => this.auditWriteFailed(event.type, "lost", e, event),
    );
  }

  /**
   * Appends a record of something that has happened already but belongs before what follows
   * it (a reload, the gateway's stop), so it is written at the end of this tick, not later.
   * Never rejects; a failure is reported as recordLater's is.
   */
  recordHappened(given: AuditEvent): Promise<void> {
    const event = inRecordKeys(given);
    return this.deps.audit.append(event).then(
      () => undefined,
      (e: unknown) => this.auditWriteFailed(event.type, "lost", e, event),
    );
  }

  /**
   * Callers' addresses by session (from session.start records), so that a held request can say
   * where it comes from. Bounded: the oldest go first; a session that old has no request waiting.
   */
  readonly #remotes = new Map<string, string>();

  #noteRemote(session: string, remote: string): void {
    if (this.#remotes.size >= 10_000) this.#remotes.delete(this.#remotes.keys().next().value!);
    this.#remotes.set(session, remote);
  }

  /** Records of a sink without appendSync (test fakes), still being appended. */
  private unflushed: Promise<unknown>[] = [];

  /**
   * The hot path: queues a record from a template (SessionRecords) at once, in call order, and
   * returns its seq (-1 from a sink without appendSync). Throws E_AUDIT_WRITE: the caller must
   * deny. A record an action waits for must be flushed (flushRecords) before the action is
   * forwarded; a lazy one (a completion) rides on the next write.
   */
  appendRecord(template: RecordTemplate, given: RecordValues, opts?: AppendOptions): number {
    const values = inRecordKeys(given);
    const audit = this.deps.audit;
    if (audit.appendSync !== undefined) return (this.lastSeq = audit.appendSync(template, values, opts));
    this.lastSeq = -1;
    const appended = audit.append(template.event(values) as AuditEvent, opts);
    this.unflushed.push(appended);
    appended.catch(() => {}); // reported by flushRecords
    return -1;
  }

  /**
   * Writes every queued record now, with one write(2): call it just before forwarding what
   * they record. Throws E_AUDIT_WRITE (deny). Returns a promise, to await before forwarding,
   * only when the records cannot be there at once: during a rotation, in strict mode (their
   * fsync), or for a sink without appendSync.
   */
  flushRecords(): void | Promise<void> {
    const audit = this.deps.audit;
    const waits: Promise<unknown>[] = this.unflushed;
    if (waits.length > 0) this.unflushed = [];
    const flushed = audit.flush?.();
    if (audit.durability === "strict" && audit.sync !== undefined) waits.push(flushed === undefined ? audit.sync() : flushed.then(() => audit.sync!()));
    else if (flushed !== undefined) waits.push(flushed);
    if (waits.length === 0) return;
    return Promise.all(waits).then(() => {});
  }

  /**
   * flushRecords for a server whose handlers of one event-loop turn each wait for their own
   * record (HTTP requests arriving together): the records of the whole turn go out with one
   * write(2) after the turn's handlers have run, and this resolves once they are written
   * (strict: fsync'd). Rejects with E_AUDIT_WRITE (deny). Forward only after it resolves.
   */
  flushRecordsSoon(): Promise<void> {
    const audit = this.deps.audit;
    if (audit.flushSoon === undefined || this.unflushed.length > 0) {
      try {
        return Promise.resolve(this.flushRecords());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return audit.flushSoon();
  }

  /**
   * The hot path's record that nothing waits for (a completion): from a SessionRecords template,
   * queued now, written with the next write. Never rejects, like recordLater: a failure is
   * logged, counted as lost (`type` names the record) and makes /healthz report unhealthy.
   */
  recordLaterFrom(template: RecordTemplate, values: RecordValues, type = "record"): Promise<void> {
    let opts = this.#lazyOptions.get(type);
    if (opts === undefined) {
      opts = { lazy: true, onLost: (e: unknown) => this.auditWriteFailed(type, "lost", e) };
      this.#lazyOptions.set(type, opts);
    }
    const lost = opts.onLost;
    try {
      // A line queued now and dropped later, when the log fails before it goes out, is lost too.
      this.appendRecord(template, values, opts);
    } catch (e) {
      lost(e);
      return Promise.resolve();
    }
    if (this.unflushed.length === 0) return RECORD_QUEUED;
    const last = this.unflushed[this.unflushed.length - 1]!;
    return last.then(() => undefined, lost);
  }

  /**
   * The policy in force: its hash, and whether a decision made under it may be reused for the
   * same request later (no rule depends on the time). A target that caches decisions keys them
   * by the hash, so a reload is a miss.
   */
  policyNow(): { readonly hash: string; readonly reusable: boolean } {
    const policy = this.deps.policy();
    return { hash: policy.hash, reusable: policy.timeDependent === false };
  }

  /**
   * Audits, as check() would, a decision that check() made earlier for the same request
   * (a target's cache of known statement shapes): an allow without a grant, under the policy
   * still in force (the caller looks it up with policyNow() in the same turn). With the
   * session's record templates the record is appended and written (one write(2)) before this
   * returns, and the verdict comes back at once: the caller forwards in the same callback. A
   * Promise only when the write must be waited for (strict mode's fsync, a rotation, a sink
   * without appendSync). An audit write that fails is a deny (auditFailed), so the caller
   * applies the returned verdict as check()'s.
   */
  recordKnown(action: Action, known: Verdict, ctx: KnownContext = {}): Verdict | Promise<Verdict> {
    const policy = this.deps.policy();
    const decision = known.decision;
    if (policy.hash !== known.policyHash || !known.allowed || decision.effect !== "allow" || known.approvalId !== undefined) {
      throw new GatewayError("E_INTERNAL", "a cached decision was reused under another policy or for a request that was not simply allowed");
    }
    this.#countAllow(action.target);
    // The caller's details as they are unless a denial detail joins them (no copy per statement).
    const details = decision.detail ? { ...ctx.details, denial: decision.detail } : ctx.details;
    const audit = this.deps.audit;
    if (ctx.records !== undefined && audit.appendSync !== undefined && ctx.records.matches(ctx.session, action.identity, action.target)) {
      try {
        const template = ctx.records.template("decision", decision, policy.hash);
        this.appendRecord(template, { action: ctx.action ?? auditAction(action.request), details: this.#frozenDetails(details, ctx.completed) });
        const flushed = this.flushRecords();
        if (flushed === undefined) return known;
        return flushed.then(
          () => known,
          (e: unknown) => this.#carrierFailed(ctx, decision, policy.hash, e),
        );
      } catch (e) {
        return this.#carrierFailed(ctx, decision, policy.hash, e);
      }
    }
    const failed = (e: unknown) => this.#carrierFailed(ctx, decision, policy.hash, e);
    this.lastSeq = -1;
    const allDetails = ctx.completed !== undefined ? { ...details, completed: JSON.parse(ctx.completed.json) as unknown } : details;
    return audit
      .append({
        session: ctx.session,
        identity: auditIdentity(action.identity),
        target: action.target,
        action: auditAction(action.request),
        policy: policy.hash,
        type: "decision",
        decision: { effect: "allow", rule: decision.rule, message: decision.message },
        ...(allDetails ? { details: allDetails } : {}),
      })
      .then(() => known, failed);
  }

  /**
   * recordKnown without the write: the decision record of an allow that check() gave earlier for
   * the same request (`known`, under the policy still in force), queued from the session's
   * templates for the write at the end of this event-loop turn, which carries the records of
   * every session's statements of the turn (one write(2) for all of them, not one each).
   * Only while statements of other sessions come too (within SHARED_TURN_MS); a lone session's
   * statement gets null, and recordKnown writes its record at once, without a turn's delay.
   * Returns the verdict and `written`, which resolves once that write is done: the caller
   * forwards what the record covers only then, and never if it rejects (E_AUDIT_WRITE, already
   * reported here). A deny (auditFailed) when the record cannot even be queued. Null when this
   * log cannot do it (strict mode waits for its fsync, a sink without appendSync or flushSoon,
   * templates of another session): use recordKnown.
   */
  queueKnown(action: Action, known: Verdict, ctx: KnownContext): { readonly verdict: Verdict; readonly written: Promise<void> | null } | null {
    const audit = this.deps.audit;
    if (audit.appendSync === undefined || audit.flushSoon === undefined || audit.durability === "strict" || ctx.records === undefined || this.unflushed.length > 0) return null;
    if (!ctx.records.matches(ctx.session, action.identity, action.target)) return null;
    // A lone session gains nothing from waiting for the end of the turn (it would only add a
    // turn of the event loop per statement): its records are written at once, as recordKnown does.
    const now = this.deps.clock.now();
    if (ctx.session !== this.#lastQueuedSession) {
      this.#lastQueuedSession = ctx.session;
      this.#othersAt = now;
    } else if (now - this.#othersAt > SHARED_TURN_MS) return null;
    const policy = this.deps.policy();
    const decision = known.decision;
    if (policy.hash !== known.policyHash || !known.allowed || decision.effect !== "allow" || known.approvalId !== undefined) {
      throw new GatewayError("E_INTERNAL", "a cached decision was reused under another policy or for a request that was not simply allowed");
    }
    this.#countAllow(action.target);
    const details = decision.detail ? { ...ctx.details, denial: decision.detail } : ctx.details;
    let written: Promise<void> | undefined;
    try {
      // The turn's write is asked for first, so the append does not schedule a write of its own.
      written = audit.flushSoon();
      const template = ctx.records.template("decision", decision, policy.hash);
      this.lastSeq = audit.appendSync(template, { action: ctx.action ?? auditAction(action.request), details: this.#frozenDetails(details, ctx.completed) });
      // The turn's write now covers this record (its seq); the same promise, unless the log failed in between.
      const again = audit.flushSoon();
      if (again !== written) again.catch(() => {});
      // One reporting promise per turn, shared by the turn's statements.
      if (written !== this.#turn) {
        const turn = { carries: false };
        this.#turn = written;
        this.#turnState = turn;
        this.#turnReported = written.then(undefined, (e: unknown) => this.#turnWriteFailed(e, turn));
      }
      if (ctx.completed !== undefined) this.#turnState.carries = true;
      return { verdict: known, written: this.#turnReported };
    } catch (e) {
      written?.catch(() => {}); // a failed log refuses the turn's write too: this deny reports it
      if (ctx.completed !== undefined) this.auditWriteFailed("completion", "lost", e);
      return { verdict: this.auditFailed("decision", decision, policy.hash, e), written: null };
    }
  }

  /** The session of the last queueKnown, and when a call came from another session than the one before. */
  #lastQueuedSession: string | undefined = undefined;
  #othersAt = Number.NEGATIVE_INFINITY;
  #turn: Promise<void> | null = null;
  #turnReported: Promise<void> = Promise.resolve();
  /** Whether a record of the current turn carries completions (lost with it if the write fails). */
  #turnState = { carries: false };

  /** The turn's write failed: reported once, then passed on to every waiter (each refuses what it held). */
  readonly #turnWriteFailed = (e: unknown, turn: { readonly carries: boolean }): never => {
    this.auditWriteFailed("decision", "refused", e);
    if (turn.carries) this.auditWriteFailed("completion", "lost", e);
    this.deps.metrics.decisions.inc({ target: "-", effect: "audit_failure" });
    throw e;
  };

  /**
   * recordKnown for a target whose handlers of one event-loop turn each wait for their own
   * record (HTTP requests that arrived together): the decision record of an allow that check()
   * gave earlier for the same request (`known`, under the policy still in force: the caller
   * compares the hash in the same turn), from the caller's template, written with the turn's
   * other records (flushRecordsSoon). Resolves to `known` once it is written, or to a deny
   * (auditFailed) when it cannot be; never rejects. lastSeq, read right after the call, is the
   * record's seq (-1: none, or the sink gave none).
   */
  recordKnownSoon(target: string, known: Verdict, template: RecordTemplate, values: RecordValues): Promise<Verdict> {
    const failed = (e: unknown) => this.auditFailed("decision", known.decision, known.policyHash, e);
    try {
      this.appendRecord(template, values);
    } catch (e) {
      // No record, so no seq: a caller reading lastSeq must not take an earlier record's.
      this.lastSeq = -1;
      return Promise.resolve(failed(e));
    }
    this.deps.metrics.decisions.inc({ target, effect: "allow" });
    return this.flushRecordsSoon().then(() => known, failed);
  }

  /** Decides, audits, and (for review) holds until an approver decides. Never throws. */
  async check(action: Action, ctx: CheckContext = {}): Promise<Verdict> {
    const policy = this.deps.policy();
    const { metrics } = this.deps;
    let decision: Decision;
    try {
      decision = policy.decide(action);
      if (ctx.adjust) decision = ctx.adjust(decision, action);
      // Only now, on the deny path: the caller is told why (a built-in may have allowed it).
      if (decision.effect === "deny" && policy.describeDenial) decision = policy.describeDenial(action, decision);
    } catch (e) {
      // A policy that throws is a bug; fail closed and say so.
      decision = { effect: "deny", rule: null, message: `policy evaluation failed: ${errorMessage(e)}`, masks: NO_MASKS };
    }
    let grantId: string | undefined;
    const claimPaths = policy.claimPaths ?? [];
    if (decision.effect === "review" && decision.rule) {
      // An approval or grant covers only callers this policy cannot tell from its requester (binding.ts).
      const approved = ctx.approved !== undefined && ctx.approved.rule === decision.rule && bindingCovers(ctx.approved.binding, action.identity, claimPaths) ? ctx.approved.id : undefined;
      grantId = approved ?? this.deps.approvals.grantFor(action.identity, decision.rule, action.target, action.time, claimPaths)?.approvalId;
    }
    const effective = grantId ? "allow" : decision.effect;
    metrics.decisions.inc({ target: action.target, effect: effective });

    const base = {
      session: ctx.session,
      identity: auditIdentity(action.identity),
      target: action.target,
      action: auditAction(action.request),
      policy: policy.hash,
    };
    const details = grantId || ctx.details || decision.detail ? { ...ctx.details, ...(grantId ? (ctx.approved?.id === grantId ? { approval: grantId } : { grant: grantId }) : {}), ...(decision.detail ? { denial: decision.detail } : {}) } : undefined;
    const audit = this.deps.audit;
    let recordSeq = -1;
    try {
      if (ctx.records !== undefined && audit.appendSync !== undefined && ctx.records.matches(ctx.session, action.identity, action.target)) {
        // Written (strict: fsync'd) before this returns, so the caller forwards only what is in the log.
        const template = ctx.records.template("decision", { effect: effective, rule: decision.rule, message: decision.message }, policy.hash);
        // The session id is used only by templates that vary it (matches() held for the fixed ones).
        recordSeq = this.appendRecord(template, { action: base.action, details, session: ctx.session });
        const flushed = this.flushRecords();
        if (flushed !== undefined) await flushed;
      } else {
        await audit.append({ ...base, type: "decision", decision: { effect: effective, rule: decision.rule, message: decision.message }, ...(details ? { details } : {}) });
      }
    } catch (e) {
      return this.auditFailed("decision", decision, policy.hash, e);
    }
    if (effective === "allow") {
      // Under a grant, decision is the review decision: its masks are those of the allow rules
      // that match the request (decide() adds them), so a grant never lifts a mask.
      return {
        allowed: true,
        decision,
        message: grantId ? (ctx.approved?.id === grantId ? `allowed by approval ${grantId}` : `allowed by grant ${grantId}`) : decision.message,
        masks: decision.masks,
        policyHash: policy.hash,
        ...(grantId ? { approvalId: grantId } : {}),
        ...(recordSeq >= 0 ? { recordSeq } : {}),
      };
    }
    if (effective === "deny" || !decision.review || !decision.rule) {
      return { allowed: false, decision, message: decision.message, masks: NO_MASKS, policyHash: policy.hash };
    }
    return this.hold(action, decision, policy.hash, ctx, base, bindingOf(action.identity, claimPaths));
  }

  /**
   * The caller as the policy in force sees it (identity-key.ts): what a target that remembers
   * approvals for a retry (the Kubernetes `answer` mode) keys them by, so that another token
   * with the same subject and other claims finds none.
   */
  approvalKey(identity: Identity): string {
    return identityKey(identity, this.deps.policy().claimPaths ?? []);
  }

  private async hold(action: Action, decision: Decision, policyHash: string, ctx: CheckContext, base: Omit<AuditEvent, "type">, binding: GrantBinding): Promise<Verdict> {
    const review = decision.review!;
    const { pending, wait } = this.deps.approvals.request({
      binding,
      expiresAt: action.time + review.timeoutMs,
      identity: base.identity!,
      target: action.target,
      // An MCP call's approver sees its arguments masked, as the log keeps them (never raw secrets).
      request: action.request.kind === "mcp" ? (base.action as Record<string, unknown>) : action.request,
      rule: decision.rule!,
      message: decision.message,
      approvers: review.approvers,
      ...(ctx.remote ? { remote: ctx.remote } : ctx.session !== undefined && this.#remotes.has(ctx.session) ? { remote: this.#remotes.get(ctx.session)! } : {}),
      maxGrantMs: review.maxGrantMs,
      ...(review.approvalsRequired !== undefined && review.approvalsRequired > 1 ? { approvalsRequired: review.approvalsRequired } : {}),
      ...(ctx.session ? { session: ctx.session } : {}),
    });
    try {
      await this.deps.audit.append({
        ...base,
        type: "approval.requested",
        decision: { effect: "review", rule: decision.rule, message: decision.message },
        details: { approval: pending.id, approvers: review.approvers, expires_at: new Date(pending.expiresAt).toISOString(), max_grant_ms: review.maxGrantMs, binding: bindingRecord(binding), ...(pending.remote !== undefined ? { remote: pending.remote } : {}), ...(pending.approvalsRequired !== undefined ? { approvals_required: pending.approvalsRequired } : {}) },
      });
    } catch (e) {
      this.deps.approvals.resolve(pending.id, { outcome: "cancelled", reason: "audit write failed" });
      return this.auditFailed("approval.requested", decision, policyHash, e);
    }
    this.notify({ type: "approval.requested", pending, time: this.deps.clock.now() });
    ctx.onHold?.(pending);
    const answered = ctx.answerNow?.(decision.rule!);
    if (answered !== undefined) {
      answered(pending, wait);
      return { decision, approvalId: pending.id, policyHash, allowed: false, pending: true, message: `approval ${pending.id} requested: an approver (${review.approvers.join(", ")}) runs "gatehouse approve ${pending.id}"; retry once it is approved`, masks: NO_MASKS };
    }
    const onAbort = () => this.cancel(pending.id, "client went away");
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    if (ctx.signal?.aborted) onAbort();
    const r: Resolution = await wait;
    ctx.signal?.removeEventListener("abort", onAbort);
    const verdictBase = { decision, approvalId: pending.id, policyHash };
    switch (r.outcome) {
      case "approved":
        // The masks of the allow rules that match the request, as decide() put them on the review decision.
        return { ...verdictBase, allowed: true, message: `approved by ${r.approver}`, masks: decision.masks };
      case "denied":
        return { ...verdictBase, allowed: false, message: `approval ${pending.id} denied by ${r.approver}: ${r.reason}`, masks: NO_MASKS };
      case "expired":
        return { ...verdictBase, allowed: false, message: `approval ${pending.id} timed out: nobody approved it in time`, masks: NO_MASKS };
      case "cancelled":
        return { ...verdictBase, allowed: false, message: `approval ${pending.id} cancelled: ${r.reason}`, masks: NO_MASKS };
    }
  }

  /**
   * Approves or denies a held request on an approver's behalf: authorise, audit, then release.
   * A request whose rule has approvals_required: N goes on only at the N-th approval by a
   * different approver; the ones before are audited (approval.reviewed) and kept on the request.
   * Returns the request with this approval in `approvals` (approvalsMissing() > 0: still held).
   * Throws E_APPROVAL (not allowed) or E_AUDIT_WRITE (nothing changed).
   */
  /** Decisions on one request in progress, each the tail of that request's queue. */
  readonly #deciding = new Map<string, Promise<unknown>>();

  /**
   * Decisions on one request are taken one at a time: each is authorized against the approvals
   * the ones before it recorded, so two at once (a double submit, the console and the CLI) cannot
   * both count the same approver, nor both see themselves short of approvals_required.
   */
  decideApproval(id: string, approver: Identity, verdict: { approve: true; forMs?: number } | { approve: false; reason: string }, via?: "console" | "api"): Promise<PendingRequest> {
    const before = this.#deciding.get(id) ?? Promise.resolve();
    const mine = before.then(
      () => this.#decideApprovalNow(id, approver, verdict, via),
      () => this.#decideApprovalNow(id, approver, verdict, via),
    );
    const tail = mine.catch(() => {});
    this.#deciding.set(id, tail);
    void tail.then(() => {
      if (this.#deciding.get(id) === tail) this.#deciding.delete(id);
    });
    return mine;
  }

  async #decideApprovalNow(id: string, approver: Identity, verdict: { approve: true; forMs?: number } | { approve: false; reason: string }, via?: "console" | "api"): Promise<PendingRequest> {
    const p = this.deps.approvals.authorize(id, approver, verdict.approve ? verdict.forMs : undefined, verdict.approve);
    const now = this.deps.clock.now();
    const base = {
      ...(p.session ? { session: p.session } : {}),
      identity: auditIdentity(approver),
      target: p.target,
      policy: this.deps.policy().hash,
    };
    if (!verdict.approve) {
      await this.record({ ...base, type: "approval.denied", decision: { effect: "deny", rule: p.rule }, details: { approval: id, approver: approver.subject, requester: p.identity.subject, reason: verdict.reason, ...(via ? { via } : {}) } });
      const resolution: Resolution = { outcome: "denied", approver: approver.subject, reason: verdict.reason };
      this.deps.approvals.resolve(id, resolution);
      this.notify({ type: "approval.decided", pending: p, resolution, time: now });
      return p;
    }
    const given: ApprovalGiven = { approver: approver.subject, issuer: approver.issuer, at: now, ...(verdict.forMs ? { forMs: verdict.forMs } : {}) };
    const all = [...(p.approvals ?? []), given];
    const required = p.approvalsRequired ?? 1;
    if (all.length < required) {
      await this.record({
        ...base,
        type: "approval.reviewed",
        decision: { effect: "review", rule: p.rule },
        details: { approval: id, approver: approver.subject, requester: p.identity.subject, approvals: all.length, approvals_required: required, ...(given.forMs ? { for_ms: given.forMs } : {}), ...(via ? { via } : {}) },
      });
      return this.deps.approvals.addApproval(id, given) ?? p;
    }
    // With several approvers, the grant is what every one of them agreed to (agreedGrantMs).
    const forMs = required > 1 ? agreedGrantMs(all) : verdict.forMs;
    const grantUntil = forMs ? now + forMs : undefined;
    await this.record({
      ...base,
      type: "approval.granted",
      decision: { effect: "allow", rule: p.rule },
      details: {
        approval: id,
        approver: approver.subject,
        requester: p.identity.subject,
        ...(required > 1 ? { approved_by: all.map((a) => a.approver) } : {}),
        ...(grantUntil ? { grant_until: new Date(grantUntil).toISOString() } : {}),
        ...(via ? { via } : {}),
      },
    });
    const decided: PendingRequest = Object.freeze({ ...p, approvals: Object.freeze(all) });
    const resolution: Resolution = { outcome: "approved", approver: approver.subject, ...(grantUntil ? { grantUntil } : {}) };
    this.deps.approvals.resolve(id, resolution);
    this.notify({ type: "approval.decided", pending: decided, resolution, time: now });
    return decided;
  }

  /** Whether a request returned by decideApproval still waits for more approvals. */
  static stillHeld(p: PendingRequest): boolean {
    return approvalsMissing(p) > 0;
  }

  /** Audits an expiry or cancellation, then releases the waiter. */
  expire(p: PendingRequest, type: "approval.expired" | "approval.cancelled" = "approval.expired", reason?: string): void {
    const event: AuditEvent = {
      type,
      ...(p.session ? { session: p.session } : {}),
      identity: p.identity as AuditEvent["identity"],
      target: p.target,
      decision: { effect: "deny", rule: p.rule },
      details: { approval: p.id, ...(reason ? { reason } : {}) },
    };
    // The waiter is released (denied) either way; only the record can be lost.
    void this.recordHappened(event);
    this.notify({ type, pending: p, resolution: type === "approval.expired" ? { outcome: "expired" } : { outcome: "cancelled", reason: reason ?? "cancelled" }, time: this.deps.clock.now() });
  }

  /** The webhooks' hook: a throw there must not change what the gate does. */
  private notify(n: ApprovalNotice): void {
    try {
      this.deps.onApproval?.(n);
    } catch (e) {
      this.deps.log.error("approval notice failed", { approval: n.pending.id, error: errorMessage(e) });
    }
  }

  private cancel(id: string, reason: string): void {
    const p = this.deps.approvals.get(id);
    if (!p) return;
    this.expire(p, "approval.cancelled", reason);
    this.deps.approvals.resolve(id, { outcome: "cancelled", reason });
  }

  private auditFailed(type: string, decision: Decision, policyHash: string, e: unknown): Verdict {
    this.auditWriteFailed(type, "refused", e);
    this.deps.metrics.decisions.inc({ target: "-", effect: "audit_failure" });
    const err = e instanceof GatewayError ? e.message : errorMessage(e);
    return { allowed: false, decision, message: `audit log unavailable, request denied: ${err}`, masks: NO_MASKS, policyHash, auditFailed: true };
  }

  /** Every failed audit write comes here: logged at error level, counted, and /healthz turns unhealthy. */
  private auditWriteFailed(type: string, outcome: "refused" | "lost", e: unknown, event?: AuditEvent): void {
    const error = errorMessage(e);
    this.deps.metrics.auditWriteFailures.inc({ record: type, outcome });
    this.deps.health?.fail("audit", `audit log write failed: ${error}`);
    const where = { ...(event?.session ? { session: event.session } : {}), ...(event?.target ? { target: event.target } : {}) };
    if (outcome === "lost") this.deps.log.error(`audit record lost: the ${type} record could not be written`, { ...where, error });
    else this.deps.log.error(`audit write failed; the action is refused (${type} record)`, { ...where, error });
  }
}

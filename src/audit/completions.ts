// A statement's (or request's) completion is in the log in one of two forms: a standalone
// `statement` / `request` record, or an entry of a later decision record's `details.completed`
// (the hot path folds it into the session's next decision). Readers turn the folded form into
// a record shaped like the standalone one, so that what they show does not depend on which
// form the writer's timing picked.
//
// The shape of a folded completion as a record (CompletionRecord with `foldedIn`):
//   type      "statement" when the decision's action.kind is postgres, "request" otherwise
//             (http, and any later target that folds its request records);
//   session   the entry's `session` when it has one (HTTP: a request is a session of its own,
//             and its completion rides on the decision record of the connection's next request,
//             another session), else that of the decision record that carried it (PostgreSQL:
//             the same session);
//   identity, target   of the decision record that allowed it when that record was seen, else
//             of the carrier when the carrier is of the completion's session (else left out);
//   time, seq of the decision record that carried it;
//   action    of the decision record that allowed it (details.completed[i].decision), and
//   decision  its { effect, rule }, both only when that record was seen (a bounded memory of
//             recent decisions per session; a reader that starts mid-log may not have it);
//   details   the entry as written: the standalone record's details members plus `decision`
//             (and `session` for HTTP);
//   foldedIn  the carrying record's seq (never set on a record as stored).
// A reader shows a record's folded completions just BEFORE the record itself: they completed
// before it was written, which is where a standalone record would have been.
import type { AuditRecord } from "./record.ts";

/** A record as readers show it: the stored members, without the chain's `prev` and `hash`. */
export type ReadableRecord = Omit<AuditRecord, "prev" | "hash">;

export interface CompletionRecord extends ReadableRecord {
  readonly details: Record<string, unknown>;
  /** Set only on a completion read from a decision record's details.completed: that record's seq. */
  readonly foldedIn?: number;
}

/** One entry of details.completed: the completion's details plus the seq of its decision. */
export type FoldedEntry = Readonly<Record<string, unknown>> & { readonly decision: number };

/** The entries of `record.details.completed` that are well formed (objects whose `decision` is a whole number, a seq), else none. */
export function foldedCompletions(record: ReadableRecord): FoldedEntry[] {
  const completed = (record.details as Record<string, unknown> | undefined)?.["completed"];
  if (!Array.isArray(completed)) return [];
  return completed.filter(
    (e): e is FoldedEntry => typeof e === "object" && e !== null && !Array.isArray(e) && Number.isInteger((e as Record<string, unknown>)["decision"]),
  );
}

/** The session of a folded entry: its own `session` member when it has one, else the carrier's (the decision it names is of that session). */
export function entrySession(carrier: ReadableRecord, entry: FoldedEntry): string | undefined {
  const own = entry["session"];
  return typeof own === "string" ? own : carrier.session;
}

/**
 * Whether `record` is a decision record of another session that carries a completion of
 * `session` (HTTP: the decision record of the connection's next request): a reader that
 * gathers one session's records reads it too, for that completion.
 */
export function carriesCompletionOf(record: ReadableRecord, session: string): boolean {
  return record.type === "decision" && record.session !== session && foldedCompletions(record).some((e) => e["session"] === session);
}

/** The type of the standalone completion record a target of this action kind writes. */
export function completionType(kind: unknown): "statement" | "request" {
  return kind === "postgres" ? "statement" : "request";
}

/** Whether a record is a completion in its standalone form (a `statement` or `request` record). */
export function isStandaloneCompletion(record: ReadableRecord): boolean {
  return record.type === "statement" || record.type === "request";
}

interface Remembered {
  readonly identity: ReadableRecord["identity"];
  readonly target: string | undefined;
  readonly action: object | undefined;
  readonly decision: { readonly effect: "allow" | "deny" | "review"; readonly rule: string | null } | undefined;
}

export interface ExpanderLimits {
  /** Decision records remembered per session (the newest). */
  readonly perSession: number;
  /** Decision records remembered over all sessions; past it, the least recently active session forgets its oldest. */
  readonly overall: number;
}

const DEFAULT_LIMITS: ExpanderLimits = { perSession: 1024, overall: 64 * 1024 };
/** For a reader that holds all the records it expands anyway (a session's transcript or page, a test). */
export const UNBOUNDED: ExpanderLimits = { perSession: Infinity, overall: Infinity };

/**
 * Reads records in log order and gives, for each, the folded completions it carries as
 * records (to show before it). It remembers the action and rule of recent decision records,
 * bounded, so that it can follow a live log for ever.
 */
export class CompletionExpander {
  // Sessions in order of their last decision (a Map keeps insertion order; re-inserting moves one to the end).
  readonly #sessions = new Map<string, Map<number, Remembered>>();
  #count = 0;

  constructor(private readonly limits: ExpanderLimits = DEFAULT_LIMITS) {}

  /** The folded completions `record` carries, shaped like standalone records; then `record` is remembered if it is a decision. */
  take(record: ReadableRecord): CompletionRecord[] {
    const entries = foldedCompletions(record);
    const out: CompletionRecord[] = [];
    for (const entry of entries) {
      // The decision it names is of the entry's session (another request's, for HTTP).
      const session = entrySession(record, entry);
      const decided = session !== undefined ? this.#sessions.get(session)?.get(entry.decision) : undefined;
      out.push(this.#completion(record, entry, session, decided));
    }
    if (record.session !== undefined) {
      if (record.type === "decision") this.#remember(record.session, record);
      // Nothing of an ended session is folded later (its last completions are standalone records).
      else if (record.type === "session.end") this.#forget(record.session);
    }
    return out;
  }

  #completion(carrier: ReadableRecord, entry: FoldedEntry, session: string | undefined, decided: Remembered | undefined): CompletionRecord {
    const kind = ((decided?.action ?? carrier.action) as Record<string, unknown> | undefined)?.["kind"];
    // Who and where: the decision's; without it, the carrier's only when it is of the same
    // session (an HTTP connection's next request may be another caller's).
    const same = session === carrier.session;
    const identity = decided !== undefined ? decided.identity : same ? carrier.identity : undefined;
    const target = decided?.target ?? carrier.target;
    return {
      type: completionType(kind),
      seq: carrier.seq,
      time: carrier.time,
      ...(session !== undefined ? { session } : {}),
      ...(identity !== undefined ? { identity } : {}),
      ...(target !== undefined ? { target } : {}),
      ...(decided?.action !== undefined ? { action: decided.action } : {}),
      ...(decided?.decision !== undefined ? { decision: decided.decision } : {}),
      details: { ...entry },
      foldedIn: carrier.seq,
    };
  }

  #remember(session: string, record: ReadableRecord): void {
    let mine = this.#sessions.get(session);
    if (mine === undefined) mine = new Map();
    else this.#sessions.delete(session);
    this.#sessions.set(session, mine);
    const d = record.decision;
    mine.set(record.seq, { identity: record.identity, target: record.target, action: record.action, decision: d === undefined ? undefined : { effect: d.effect, rule: d.rule } });
    this.#count++;
    if (mine.size > this.limits.perSession) this.#dropOldest(session, mine);
    while (this.#count > this.limits.overall) {
      const [idle, theirs] = this.#sessions.entries().next().value as [string, Map<number, Remembered>];
      this.#dropOldest(idle, theirs);
    }
  }

  #dropOldest(session: string, mine: Map<number, Remembered>): void {
    const oldest = mine.keys().next();
    if (oldest.done !== true) {
      mine.delete(oldest.value);
      this.#count--;
    }
    if (mine.size === 0) this.#sessions.delete(session);
  }

  #forget(session: string): void {
    const mine = this.#sessions.get(session);
    if (mine === undefined) return;
    this.#count -= mine.size;
    this.#sessions.delete(session);
  }

  /** How many decision records are remembered now (for tests of the bound). */
  get remembered(): number {
    return this.#count;
  }
}

/** The records in log order with each record's folded completions (as records) just before it. */
export function* withFoldedCompletions<R extends ReadableRecord>(records: Iterable<R>, expander = new CompletionExpander()): Generator<R | CompletionRecord> {
  for (const r of records) {
    yield* expander.take(r);
    yield r;
  }
}

/**
 * Every completion among `records` (all of a log or of a session, in log order) in one form:
 * standalone `statement` / `request` records as they are, folded ones as records shaped like
 * them (see the file header), in the order a standalone record would have had. A record's
 * `details.decision`, when there, is the seq of the decision that allowed it.
 */
export function completionsOf(records: Iterable<ReadableRecord>): CompletionRecord[] {
  const out: CompletionRecord[] = [];
  for (const r of withFoldedCompletions(records, new CompletionExpander(UNBOUNDED))) {
    if ("foldedIn" in r || isStandaloneCompletion(r)) out.push({ ...r, details: (r.details ?? {}) as Record<string, unknown> });
  }
  return out;
}

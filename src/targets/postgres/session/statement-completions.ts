// What a session does when a statement is over (answered, failed, never run): the target's
// request metrics, and the completion's audit facts (rows, tag, duration, error, masked cells).
// One record per statement: a statement decided on the fast path (its decision record's seq is
// known) has its completion held for the session's next decision record, which carries it in
// `details.completed` (gate/held-completions.ts); any other, and whatever is held when the
// session ends, is a `statement` record of its own.
import type { Metrics } from "../../../admin/metrics.ts";
import { ObjectTemplate, type CanonicalValue } from "../../../audit/record-template.ts";
import type { PostgresRequestFacts } from "../../../core/types.ts";
import { auditAction, type Gate } from "../../../gate/gate.ts";
import { HeldCompletions } from "../../../gate/held-completions.ts";
import type { SessionRecords } from "../../../gate/session-records.ts";
import type { StatementOutcome } from "../relay/relay-core.ts";
import type { StatementRun } from "../relay/session-state.ts";

/** The members a statement record's details may have, in canonical order when filled. */
const STATEMENT_DETAILS = new ObjectTemplate({}, ["duration_ms", "error", "masked_cells", "outcome", "parameters", "reason", "rows", "tag"]);
/** The same plus `decision` (the seq of the statement's decision record): an entry of a later decision record's `details.completed`. */
const COMPLETED_ENTRY = new ObjectTemplate({}, ["decision", "duration_ms", "error", "masked_cells", "outcome", "parameters", "reason", "rows", "tag"]);

/** A statement's completion as its record's details hold it. */
interface CompletionFields {
  readonly outcome: string;
  readonly rows: number;
  readonly duration_ms: number;
  readonly tag: string | undefined;
  readonly error: { readonly code: string; readonly message: string } | undefined;
  readonly reason: string | undefined;
  readonly masked_cells: number | undefined;
  readonly parameters: readonly (string | null)[] | undefined;
}

interface Completion {
  readonly run: StatementRun;
  readonly fields: CompletionFields;
}

export interface StatementCompletionsDeps {
  readonly gate: Gate;
  /** The session's record templates. */
  readonly records: SessionRecords;
  readonly metrics: Metrics;
  readonly target: string;
  /** How long a completion waits for the next decision record (default COMPLETION_WAIT_MS). */
  readonly waitMs?: number | undefined;
}

export class StatementCompletions {
  readonly #held: HeldCompletions<Completion>;
  /** gatehouse_requests_total of this target per outcome, resolved once per session. */
  readonly #requestCounters = new Map<string, { inc(by?: number): void }>();
  #latencyHandle: { observe(value: number): void } | null = null;

  constructor(private readonly deps: StatementCompletionsDeps) {
    this.#held = new HeldCompletions<Completion>(
      (c) => COMPLETED_ENTRY.fill({ ...c.fields, decision: c.run.decisionSeq }),
      (items) => {
        for (const c of items) this.#writeStatement(c.run, c.fields);
      },
      deps.waitMs,
    );
  }

  /** A statement is over; `ended`: the session is closing (nothing is held then). */
  finish(run: StatementRun, outcome: StatementOutcome, ended: boolean): void {
    const durationMs = performance.now() - run.started;
    let rows = run.rows;
    if (outcome.kind === "complete") {
      const n = trailingNumber(outcome.tag);
      if (n >= 0) rows = n;
    }
    this.#countRequest(outcome.kind === "complete" ? (run.spec !== null ? "masked" : "forwarded") : outcome.kind);
    this.#latency.observe(durationMs / 1000);
    const fields: CompletionFields = {
      outcome: outcome.kind,
      rows,
      duration_ms: Math.round(durationMs * 1000) / 1000,
      tag: outcome.kind === "complete" ? outcome.tag : undefined,
      error: outcome.kind === "error" ? { code: outcome.code, message: outcome.message } : undefined,
      reason: outcome.kind === "not_run" ? outcome.reason : undefined,
      masked_cells: run.plan !== null && run.plan.masked > 0 ? run.plan.masked : undefined,
      parameters: run.parameters,
    };
    // Decided on the fast path, so its decision record's seq is known: the session's next
    // decision record carries it. Otherwise (and when the session ends first) a record of its own.
    if (run.decisionSeq !== undefined && !ended) this.#held.hold({ run, fields });
    else this.#writeStatement(run, fields);
  }

  /** The held completions, for the decision record being made now (RelayCore.takeCompleted). */
  take(): CanonicalValue | undefined {
    return this.#held.take();
  }

  /** The session ends: what is held goes out as records of their own, now. */
  flush(): void {
    this.#held.flush();
  }

  /** A `statement` record of its own for a completion. */
  #writeStatement(run: StatementRun, fields: CompletionFields): void {
    // Serialised as canonicalJson would serialise the object of these members, without the copy.
    const details = STATEMENT_DETAILS.fill(fields);
    // A failed write is logged, counted and reported by /healthz (recordLaterFrom never rejects).
    void this.deps.gate.recordLaterFrom(this.deps.records.template("statement", { effect: "allow", rule: run.rule }), { action: this.#statementAction(run.facts), details }, "statement");
  }

  #countRequest(outcome: string): void {
    let c = this.#requestCounters.get(outcome);
    if (c === undefined) {
      c = this.deps.metrics.requests.bind({ target: this.deps.target, outcome });
      this.#requestCounters.set(outcome, c);
    }
    c.inc();
  }

  get #latency(): { observe(value: number): void } {
    return (this.#latencyHandle ??= this.deps.metrics.latency.bind({ target: this.deps.target }));
  }

  /**
   * A statement record's action: factsOf(info) is a function of the analysis's classes and
   * relations arrays (frozen, shared by every statement of a shape), its functions and the text,
   * so the rest is serialised once per shape and only the text per statement.
   */
  readonly #statementActions = new WeakMap<object, { classes: readonly string[]; functions: readonly string[]; template: ObjectTemplate<"sql"> }>();

  #statementAction(facts: PostgresRequestFacts): unknown {
    const { relations, classes, functions } = facts;
    if (facts.userFunctions !== undefined || !Object.isFrozen(relations) || !Object.isFrozen(classes)) return auditAction(facts);
    let hit = this.#statementActions.get(relations);
    // The functions without markers are a new array per statement (splitMarkers): compared by value, against a copy.
    if (hit === undefined || hit.classes !== classes || !sameStrings(hit.functions, functions)) {
      const { sql: _sql, ...fixed } = auditAction(facts) as Record<string, unknown>;
      hit = { classes, functions: Object.isFrozen(functions) ? functions : [...functions], template: new ObjectTemplate(fixed, ["sql"]) };
      this.#statementActions.set(relations, hit);
    }
    return hit.template.fill({ sql: facts.sql });
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The number a command tag ends with ("SELECT 1" → 1), or -1 when it ends with no digit. */
function trailingNumber(tag: string): number {
  let i = tag.length;
  while (i > 0) {
    const c = tag.charCodeAt(i - 1);
    if (c < 0x30 || c > 0x39) break;
    i--;
  }
  return i === tag.length ? -1 : Number(tag.slice(i));
}

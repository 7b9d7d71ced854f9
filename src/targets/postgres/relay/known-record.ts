// How the fast path records a decision that StatementChecker.known() gave (a Query, Parse or
// Bind whose shape was allowed a moment ago): in batch mode queued for the event-loop turn's one
// audit write, and what is forwarded waits for it (RelayCore.awaitRecords); otherwise written at
// once. The record carries the completions of the session's earlier statements
// (details.completed, gate/held-completions.ts), and its seq is handed on, so that this
// statement's own completion can name it later.
import type { Verdict } from "../../../gate/gate.ts";
import type { CheckedStatement } from "../decide/statement-gate.ts";
import type { RelayCore } from "./relay-core.ts";

/** Statement names whose Parse details are kept frozen; past this the map starts again. */
const MAX_PARSE_DETAILS = 1024;

export class KnownRecorder {
  private readonly parseDetailsByName = new Map<string, Readonly<Record<string, unknown>>>();

  constructor(private readonly s: RelayCore) {}

  /**
   * Records the decision and applies it; a Promise only when the write must be waited for
   * (strict mode, a rotation). `apply` gets the verdict (a deny when the record could not be
   * written) and the record's seq (-1: none known).
   */
  record(known: CheckedStatement, details: Readonly<Record<string, unknown>>, apply: (verdict: Verdict, seq: number) => void): void | Promise<void> {
    const s = this.s;
    const completed = s.takeCompleted();
    const queued = s.statementGate.queueKnown(known, details, completed);
    if (queued !== null) {
      if (queued.written !== null) s.awaitRecords(queued.written);
      return apply(queued.verdict, s.statementGate.lastSeq);
    }
    const verdict = s.statementGate.recordKnown(known, details, completed);
    const seq = s.statementGate.lastSeq;
    if (verdict instanceof Promise) return verdict.then((v) => apply(v, seq));
    return apply(verdict, seq);
  }

  /** A Parse's decision details, frozen once per statement name (the gate serialises a frozen object once). */
  parseDetails(name: string): Readonly<Record<string, unknown>> {
    let d = this.parseDetailsByName.get(name);
    if (d === undefined) {
      d = Object.freeze({ protocol: "extended", statement_name: name });
      if (this.parseDetailsByName.size >= MAX_PARSE_DETAILS) this.parseDetailsByName.clear();
      this.parseDetailsByName.set(name, d);
    }
    return d;
  }
}

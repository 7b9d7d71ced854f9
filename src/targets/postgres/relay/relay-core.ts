// The session as the client → upstream and upstream → client relays share it
// (frontend-relay.ts, backend-relay.ts): the maps of named statements and portals, the
// outboxes, the gate and analyser, the transaction and batch state, and how a statement's
// audit record is finished.
import type { Catalog } from "../catalog/catalog.ts";
import type { Cursors } from "../decide/cursors.ts";
import type { DenyMessages } from "./deny.ts";
import type { ResponseTracker } from "./response-tracker.ts";
import type { SearchPathTracker } from "../decide/search-path.ts";
import type { Outbox, Portal, PreparedStatement, StatementRun } from "./session-state.ts";
import type { Analysis, AnalysisContext, StatementInfo } from "../sql/analysis.ts";
import type { StatementGate } from "../decide/statement-gate.ts";
import type { CanonicalValue } from "../../../audit/record-template.ts";

export interface Analyzer {
  analyze(sql: string, ctx: AnalysisContext): Analysis;
  /**
   * One object for every statement analysis that analyze() made from one cached analysis (texts
   * that differ only in literal values, whitespace or comments): equal fields apart from the text.
   */
  shapeOf?(info: StatementInfo): object;
}

/** The session as the two relays see it. */
export interface RelayCore {
  readonly tracker: ResponseTracker;
  readonly prepared: Map<string, PreparedStatement>;
  readonly portals: Map<string, Portal>;
  /** SQL cursors by name, for FETCH and MOVE. */
  readonly cursors: Cursors;
  readonly searchPath: SearchPathTracker;
  readonly toUpstream: Outbox;
  readonly toClient: Outbox;
  readonly statementGate: StatementGate;
  readonly analyzer: Analyzer;
  readonly catalog: Catalog;
  readonly deny: DenyMessages;
  readonly recordParameters: boolean;
  /** Transaction status of the last ReadyForQuery from the upstream. */
  txStatus: "I" | "T" | "E";
  /** Counts Syncs: a verdict is reused only within the batch it was made in. */
  batch: number;
  /** The server is in COPY FROM STDIN and the client has not ended it: the server ignores Sync now. */
  copyIn: boolean;
  /**
   * What is pushed to toUpstream from now on waits for `written` (the turn's audit write of its
   * records, Gate.queueKnown) and is never sent if it rejects.
   */
  awaitRecords(written: Promise<void>): void;
  /** The client sent Terminate. */
  terminate(): void;
  /** Writes the audit record of a finished (or never run) statement, or holds it for the next decision record. */
  finish(run: StatementRun, outcome: StatementOutcome): void;
  /**
   * The completions held for the next decision record (gate/held-completions.ts), taken: the
   * caller puts them in the decision record it makes now. undefined: none held.
   */
  takeCompleted(): CanonicalValue | undefined;
}

export type StatementOutcome =
  | { readonly kind: "complete"; readonly tag: string }
  | { readonly kind: "empty" }
  | { readonly kind: "suspended" }
  | { readonly kind: "error"; readonly code: string; readonly message: string }
  | { readonly kind: "not_run"; readonly reason: string };

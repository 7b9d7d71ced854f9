// The state one client session shares between its two directions: prepared statements and
// portals as the client created them, the statements in flight, and the buffered output of
// each side (written once per chunk of messages, with backpressure).
import type { PostgresRequestFacts } from "../../../core/types.ts";
import type { Verdict } from "../../../gate/gate.ts";
import type { MaskPlan, MaskSpec } from "../masking/mask-plan.ts";
import type { FieldDescription } from "../protocol/backend-message.ts";
import type { AnalysisContext, StatementInfo } from "../sql/analysis.ts";

/** A statement the client prepared (protocol Parse, or SQL PREPARE): one namespace upstream, so one here. */
export interface PreparedStatement {
  readonly name: string;
  /** null for an empty query: nothing to decide, nothing runs. EXECUTE is already replaced by what was prepared. */
  info: StatementInfo | null;
  /** The latest verdict, and the Sync-delimited batch it was made in (reused within that batch only). */
  verdict: Verdict | null;
  spec: MaskSpec | null;
  batch: number;
  /** Result columns from a Describe of the statement (formats not yet chosen). */
  fields: readonly FieldDescription[] | null;
  /** The client asked to Describe it, so its fields will be known before any Execute's rows. */
  described: boolean;
  /**
   * What to analyse again when the search_path changed since `info` was made (PostgreSQL
   * re-parses a prepared statement then): the Parse's query, or the whole PREPARE statement,
   * and the analysis context `info` was made with. null: nothing to analyse (empty query).
   */
  source: PreparedSource | null;
  /** The parameter types its protocol Parse declared (0: unspecified); Bind converts values to them. Empty for SQL PREPARE. */
  readonly parameterTypes: readonly number[];
  /** The details of its decision records at a Bind on the fast path, made once. */
  bindDetails?: Readonly<Record<string, unknown>>;
  /** The catalog epoch (CatalogFence) its verdict was made in: reused only within it. */
  epoch: number;
  /** Its statement may change the catalog (see FrontendRelay): what runs after it waits for its answer. */
  changesCatalog: boolean;
  /**
   * The seq of the decision record of `verdict` when the fast path made it (its runs'
   * completions may then ride on a later decision record, gate/held-completions.ts); undefined
   * when another path made it (each completion is then a record of its own).
   */
  decisionSeq?: number | undefined;
}

export interface PreparedSource {
  readonly text: string;
  /** SQL PREPARE: the statement is the `prepares.inner` of the analysis of `text`. */
  readonly prepare: boolean;
  context: AnalysisContext;
}

export interface Portal {
  readonly name: string;
  readonly statement: PreparedStatement;
  /** The statement as it was decided at this Bind, or again at an Execute (the statement may be decided again later). */
  info: StatementInfo | null;
  /** Decided again at Execute when the catalog changed since (epoch). */
  verdict: Verdict | null;
  /** The analysis context `info` was made with. */
  readonly context: AnalysisContext;
  readonly resultFormats: readonly (0 | 1)[];
  readonly spec: MaskSpec | null;
  /** The catalog epoch its verdict was made in. */
  epoch: number;
  changesCatalog: boolean;
  /** The Sync-delimited batch of its Bind: an Execute in a later batch runs even if the Bind failed. */
  readonly batch: number;
  /** pending until the upstream answers its Bind; failed: the name is not this portal upstream. */
  state: "pending" | "bound" | "failed";
  /** Called once the Bind is answered (or skipped). */
  waiters: (() => void)[];
  /** Result columns with their formats, from a Describe of the portal. */
  fields: readonly FieldDescription[] | null;
  described: boolean;
  plan: MaskPlan | null;
  /** Bind parameters for the audit, when the target records them. */
  readonly parameters?: readonly (string | null)[];
  /** The seq of the decision record of `verdict` when the fast path made it (PreparedStatement.decisionSeq). */
  decisionSeq?: number | undefined;
}

/** The upstream answered (or skipped) the portal's Bind. */
export function settlePortal(p: Portal, ok: boolean): void {
  if (p.state !== "pending") return;
  p.state = ok ? "bound" : "failed";
  const waiters = p.waiters;
  p.waiters = [];
  for (const w of waiters) w();
}

/** Resolves once the portal's Bind is answered. */
export function portalSettled(p: Portal): Promise<void> {
  if (p.state !== "pending") return Promise.resolve();
  return new Promise((resolve) => p.waiters.push(resolve));
}

/** Whether two analysis contexts resolve names alike. */
export function sameContext(a: AnalysisContext, b: AnalysisContext): boolean {
  if (a === b) return true;
  if (a.user !== b.user || a.searchPath.length !== b.searchPath.length) return false;
  return a.searchPath.every((s, i) => s === b.searchPath[i]);
}

/** One statement as it runs, for its audit record and masking. */
export interface StatementRun {
  readonly facts: PostgresRequestFacts;
  readonly rule: string | null;
  readonly spec: MaskSpec | null;
  readonly started: number;
  plan: MaskPlan | null;
  rows: number;
  done: boolean;
  readonly parameters?: readonly (string | null)[];
  /** The seq of the decision record that allowed it, when the fast path made that record (its completion may then ride on a later one). */
  decisionSeq?: number;
  /** Side effects once it succeeded (a PREPARE is remembered, a search_path change tracked, DDL drops the catalog cache). */
  readonly onSuccess?: (tag: string) => void;
  /** Undoes what was assumed when it was forwarded, once it failed or never ran (a DECLARE's cursor). */
  readonly onFailure?: () => void;
  /**
   * Called once when the server is done with it (any outcome), or (`copy`) it started a COPY
   * FROM STDIN and now waits for the client's data; see CatalogFence.
   */
  onSettled?: (copy: boolean) => void;
}

/** The server is done with the run (answered, failed, skipped), or (`copy`) waits for COPY data. */
export function settleRun(run: StatementRun, copy = false): void {
  const f = run.onSettled;
  if (f === undefined) return;
  run.onSettled = undefined;
  f(copy);
}

/**
 * Statements are checked against the catalog as another connection sees it, when they arrive.
 * A statement that may change the catalog is watched from when it is forwarded until the server
 * is done with it and the next ReadyForQuery says its implicit transaction ended (so the change
 * is committed, or gone); the checking of later statements waits for that (wait()). Then the
 * catalog cache is dropped (onChange) and a new epoch starts: verdicts from an earlier epoch are
 * made again.
 */
export class CatalogFence {
  private pending = 0;
  /** A watched run settled and no ReadyForQuery came since. */
  private unready = false;
  /** A watched run settled inside a transaction block: its change shows to others at COMMIT. */
  private inBlock = false;
  private waiters: (() => void)[] = [];
  /** Counts catalog changes: a verdict from an earlier epoch is not reused. */
  epoch = 0;

  constructor(private readonly onChange: () => void) {}

  get open(): boolean {
    return this.pending === 0 && !this.unready;
  }

  /** The run was forwarded and may change the catalog. */
  watch(run: StatementRun): void {
    if (run.done || run.onSettled !== undefined) return;
    this.pending++;
    run.onSettled = (copy) => {
      this.pending--;
      this.unready = true;
      // In COPY FROM STDIN the server waits for data that may be queued behind a held message;
      // anything else the client sends ends the copy in error, so nothing waits for it.
      if (copy) this.ready("T");
    };
  }

  /**
   * A ReadyForQuery with the transaction status it reports. Outside a transaction block ("I"),
   * what settled before it is committed or rolled back; inside one, the catalog (read on another
   * connection) shows the change only after COMMIT, so the cache is dropped again then.
   */
  ready(status: "I" | "T" | "E"): void {
    if (!this.unready) {
      if (status === "I" && this.inBlock) {
        this.inBlock = false;
        this.epoch++;
        this.onChange();
      }
      return;
    }
    this.unready = false;
    this.inBlock = status !== "I";
    this.epoch++;
    this.onChange();
    if (this.pending > 0) return;
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  /** Resolves once the fence is open. */
  wait(): Promise<void> {
    if (this.open) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** Where an Outbox writes: a Connection. */
export interface ByteSink {
  /** true: the bytes are written and may be reused; false: the sink keeps them (unchanged, please) until its drain. */
  write(bytes: Uint8Array): boolean;
}

/** Joined writes up to this size reuse the outbox's own buffer; larger ones get a buffer of their own. */
const SCRATCH_MAX = 256 * 1024;

/**
 * Output of one direction, gathered per chunk and written in one call. Views that continue one
 * another in the same buffer (the frames of one incoming chunk) are one run and go out as one
 * view of that chunk, with no copy; several runs are joined in a buffer this outbox reuses
 * while the sink takes everything at once (a sink that keeps part of it keeps that buffer).
 */
export class Outbox {
  private runs: (ArrayBufferLike | number)[] = [];
  private runBuf: ArrayBufferLike | null = null;
  private runStart = 0;
  private runEnd = 0;
  private scratch: Uint8Array = new Uint8Array(0);
  bytes = 0;

  /** Adds a message; views that continue the previous one in the same buffer are merged. */
  push(b: Uint8Array): void {
    this.add(b.buffer, b.byteOffset, b.byteOffset + b.byteLength);
  }

  /** Adds bytes start..end of `b` without making a view of them first. */
  pushRange(b: Uint8Array, start: number, end: number): void {
    this.add(b.buffer, b.byteOffset + start, b.byteOffset + end);
  }

  private add(buffer: ArrayBufferLike, start: number, end: number): void {
    this.bytes += end - start;
    if (this.runBuf === buffer && this.runEnd === start) {
      this.runEnd = end;
      return;
    }
    this.closeRun();
    this.runBuf = buffer;
    this.runStart = start;
    this.runEnd = end;
  }

  private closeRun(): void {
    if (this.runBuf !== null && this.runEnd > this.runStart) this.runs.push(this.runBuf, this.runStart, this.runEnd);
    this.runBuf = null;
  }

  get empty(): boolean {
    return this.runBuf === null && this.runs.length === 0;
  }

  /** Drops everything gathered (never to be sent). */
  clear(): void {
    this.runs.length = 0;
    this.runBuf = null;
    this.bytes = 0;
  }

  /** Writes everything gathered; returns write()'s answer (false: wait for drain). */
  flush(sink: ByteSink): boolean {
    const runs = this.runs;
    const bytes = this.bytes;
    this.bytes = 0;
    if (runs.length === 0) {
      // The common case: one run, written as a view of the buffer it is in.
      const buf = this.runBuf;
      if (buf === null || this.runEnd === this.runStart) {
        this.runBuf = null;
        return true;
      }
      this.runBuf = null;
      return sink.write(new Uint8Array(buf, this.runStart, this.runEnd - this.runStart));
    }
    this.closeRun();
    let out = this.scratch;
    if (out.length < bytes) {
      out = new Uint8Array(bytes);
      if (bytes <= SCRATCH_MAX) this.scratch = out;
    }
    let at = 0;
    for (let i = 0; i < runs.length; i += 3) {
      const start = runs[i + 1] as number;
      const end = runs[i + 2] as number;
      out.set(new Uint8Array(runs[i] as ArrayBuffer, start, end - start), at);
      at += end - start;
    }
    runs.length = 0;
    const all = sink.write(out.subarray(0, at));
    if (!all && out === this.scratch) this.scratch = new Uint8Array(0);
    return all;
  }
}

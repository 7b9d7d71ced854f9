// The state one client session shares between its two directions: prepared statements and
// portals as the client created them, the statements in flight, and the buffered output of
// each side (written once per chunk of messages, with backpressure).
import type { Duplex } from "node:stream";
import type { PostgresRequestFacts } from "../../core/types.ts";
import type { Verdict } from "../../gate/gate.ts";
import type { MaskPlan, MaskSpec } from "./masking.ts";
import type { FieldDescription } from "./protocol/backend-message.ts";
import type { AnalysisContext, StatementInfo } from "./sql/analysis.ts";

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
  /** The statement as it was decided at this Bind (the statement may be decided again later). */
  readonly info: StatementInfo | null;
  readonly verdict: Verdict | null;
  /** The analysis context `info` was made with. */
  readonly context: AnalysisContext;
  readonly resultFormats: readonly (0 | 1)[];
  readonly spec: MaskSpec | null;
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
  /** Side effects once it succeeded (a PREPARE is remembered, a search_path change tracked, DDL drops the catalog cache). */
  readonly onSuccess?: (tag: string) => void;
}

/** Output of one direction, gathered per chunk and written in one call. */
export class Outbox {
  private parts: Uint8Array[] = [];
  private runBuf: ArrayBufferLike | null = null;
  private runStart = 0;
  private runEnd = 0;
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
    if (this.runBuf !== null && this.runEnd > this.runStart) {
      // A Buffer view (no copy): node:net writes Buffers on its fast path.
      this.parts.push(Buffer.from(this.runBuf as ArrayBuffer, this.runStart, this.runEnd - this.runStart));
    }
    this.runBuf = null;
  }

  get empty(): boolean {
    return this.runBuf === null && this.parts.length === 0;
  }

  /** Writes everything gathered; returns write()'s answer (false: wait for 'drain'). */
  flush(socket: Duplex): boolean {
    this.closeRun();
    const parts = this.parts;
    if (parts.length === 0) return true;
    this.parts = [];
    this.bytes = 0;
    return socket.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  }
}

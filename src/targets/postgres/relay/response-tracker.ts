// What the upstream owes us, in order: one entry per forwarded message that has an answer.
// Each entry says whose message it was (the client's answers pass, the gateway's injected ones
// are swallowed or replaced) and which statement it belongs to (for masking and the audit).
// After an ErrorResponse in the extended protocol the server skips to the next Sync, and so
// does skipToSync() here; when no Sync was forwarded yet, the server also skips what the
// gateway forwards later (a statement still being decided), so those entries are dropped as
// they come, through onSkipped, until the next Sync.
import type { FieldDescription } from "../protocol/backend-message.ts";
import type { PreparedStatement, Portal, StatementRun } from "./session-state.ts";

export type Expectation =
  /** A client's simple Query: everything until ReadyForQuery; runs[i] is the i-th statement. */
  | { kind: "query"; readonly runs: StatementRun[]; index: number }
  /** An injected Query (a denial, as the DO block), or a denied FunctionCall: replace its error. */
  | { kind: "deny-query"; readonly error: Uint8Array; sent: boolean }
  /** A client's FunctionCall that was allowed. */
  | { kind: "function-call"; readonly run: StatementRun }
  | { kind: "parse"; readonly injected: boolean; readonly statement: PreparedStatement | null; readonly previous: PreparedStatement | undefined }
  /** portal: the client's portal (null when injected); previous: what the name meant before, restored if the Bind fails. */
  | { kind: "bind"; readonly injected: boolean; readonly portal: Portal | null; readonly previous: Portal | undefined }
  | { kind: "describe-statement"; readonly statement: PreparedStatement | null; readonly injected: boolean; gotParameters: boolean }
  | { kind: "describe-portal"; readonly portal: Portal | null; readonly injected: boolean }
  /** A client's Execute; run is what the audit's statement record is about. */
  | { kind: "execute"; readonly portal: Portal; readonly run: StatementRun }
  /** The injected Execute of a denial's DO block: its error becomes ours. */
  | { kind: "deny-execute"; readonly error: Uint8Array; sent: boolean }
  | { kind: "close" }
  | { kind: "sync" }
  /** The client ended a COPY FROM STDIN (CopyDone or CopyFail): no answer of its own, a position mark. */
  | { kind: "copy-end" };

/** A FIFO without shift(): a head index over an array that is compacted now and then. */
export class ResponseTracker {
  private items: Expectation[] = [];
  private head = 0;
  /** The server is skipping to a Sync that has not been forwarded yet. */
  private skipping = false;
  /** Receives the entries dropped because the server skips their messages. */
  onSkipped: ((e: Expectation) => void) | null = null;
  /** Told of every ReadyForQuery from the server (the catalog fence waits for one). */
  onReady: (() => void) | null = null;

  push(e: Expectation): void {
    if (this.skipping) {
      if (e.kind !== "sync") {
        this.onSkipped?.(e);
        return;
      }
      this.skipping = false;
    }
    this.items.push(e);
  }

  /** Whether messages forwarded now are skipped by the server (it waits for a Sync). */
  get skippingToSync(): boolean {
    return this.skipping;
  }

  peek(): Expectation | undefined {
    return this.items[this.head];
  }

  pop(): Expectation | undefined {
    const e = this.items[this.head];
    if (e === undefined) return undefined;
    this.items[this.head] = undefined as unknown as Expectation;
    this.head++;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /**
   * After an ErrorResponse in the extended protocol: drops every entry before the next Sync
   * (the server skips those messages) and returns them, so their statements can be closed out.
   * With no Sync queued, entries pushed later are dropped too, up to the next Sync.
   */
  skipToSync(): Expectation[] {
    const dropped: Expectation[] = [];
    for (;;) {
      const e = this.peek();
      if (e === undefined) {
        this.skipping = true;
        return dropped;
      }
      if (e.kind === "sync") return dropped;
      dropped.push(this.pop()!);
    }
  }

  /**
   * The server entered COPY FROM STDIN for the entry at the head, and ignores every Sync until
   * the copy ends: drops the Syncs queued behind the head up to the client's copy-end mark.
   * Returns true when that mark was found (the client already ended the copy).
   */
  dropSyncsDuringCopy(): boolean {
    let i = this.head + 1;
    while (i < this.items.length) {
      const e = this.items[i]!;
      if (e.kind === "sync") {
        this.items.splice(i, 1);
        continue;
      }
      if (e.kind === "copy-end") {
        this.items.splice(i, 1);
        return true;
      }
      break;
    }
    return false;
  }

  /** Every entry still owed (when the session ends). */
  drain(): Expectation[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.skipping = false;
    return rest;
  }
}

export type { FieldDescription };

// The audit log: what callers see (AuditLog, its options) and opening a log file, which finds
// where the chain ends across rotated files and repairs a torn tail. The writer itself, with its
// group commit and rotation, is FileAuditLog (file-audit-log.ts).
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { errorMessage, GatewayError } from "../core/errors.ts";
import { systemClock, type Clock } from "../core/types.ts";
import { closeFd, fstatSize, openFd, syncDir } from "./fd.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { CheckpointedAuditLog, type CheckpointOptions } from "./checkpointed-log.ts";
import { FileAuditLog } from "./file-audit-log.ts";
import { listLogFileEntries } from "./log-files.ts";
import type { AuditEventInput, AuditRecord } from "./record.ts";
import type { RecordTemplate, RecordValues } from "./record-template.ts";
import { inspectTail, type Repair } from "./repair.ts";

export type Durability = "batch" | "strict";

export interface AuditLogOptions {
  readonly path: string;
  /** batch (default): an append resolves once its bytes are written (in the kernel); fsync follows by group commit.
   *  strict: an append resolves only after the fsync that covers it. */
  readonly durability?: Durability;
  /** Rotate the live file once it reaches this many bytes. Default: never rotate. */
  readonly rotateSize?: number;
  /**
   * batch: start an fsync at most this often (ms), so that a busy log fsyncs about 100 times a
   * second, not after nearly every write. sync() callers and strict appends never wait for it.
   * Default 10; 0: as soon as the event loop has a turn to spare.
   */
  readonly fsyncIntervalMs?: number;
  /** The longest a lazy record waits for a write to ride on (ms). Default 1. */
  readonly lazyWriteMs?: number;
  readonly clock?: Clock;
  /** Sign the chain's head every so often (checkpointed-log.ts). Default: no checkpoints. */
  readonly checkpoints?: CheckpointOptions;
  /** Called once when the log fails (write, fsync or rotation error), also for errors no append is waiting on. */
  readonly onError?: (error: GatewayError) => void;
}

export interface AppendOptions {
  /**
   * Nothing waits for this record before acting (a request's or statement's completion, a
   * session's end): it rides on the next write (the next action's record), or is written about
   * a millisecond later when none comes. Default false: written at the end of the current tick.
   */
  readonly lazy?: boolean;
  /**
   * appendSync only: called once if this line is never written, because the log failed before
   * it went out (a lazy completion has no promise to reject; its caller counts it as lost).
   */
  readonly onLost?: (error: GatewayError) => void;
}

export const DEFAULT_FSYNC_INTERVAL_MS = 10;

/** What the writer has done since it was opened: write(2) calls and fsyncs started. */
export interface AuditLogStats {
  readonly writes: number;
  readonly fsyncs: number;
}

export interface AuditLog {
  /** Assigns seq, time, prev and hash at once (so records keep the order of calls) and resolves per `durability`.
   *  Rejects with E_AUDIT_WRITE when the record cannot be written; the caller must then deny. */
  append(event: AuditEventInput, opts?: AppendOptions): Promise<AuditRecord>;
  /**
   * The hot path (record-template.ts): assigns seq, time, prev and hash now and queues the line;
   * returns the seq. Throws E_AUDIT_WRITE when the log has failed or is closed, or a varying
   * member is not an object; the caller must then deny. The line is written by flush(), or at
   * the end of the tick (lazy: with the next write, at the latest at the end of the turn), as
   * for append(). Before forwarding an action that waits for the record, call flush(); in
   * strict mode, await sync().
   */
  appendSync(template: RecordTemplate, values: RecordValues, opts?: AppendOptions): number;
  /**
   * Writes everything queued now, with one write(2), so that an action can be forwarded right
   * after it returns. Throws E_AUDIT_WRITE when the write fails (the log has failed: deny).
   * Returns a promise only while a rotation holds the writer; it resolves once the lines are written.
   */
  flush(): void | Promise<void>;
  /**
   * Writes everything queued by the end of this event-loop turn with one write(2), shared by
   * every caller of the turn (a server's handlers of one poll: each request's decision record
   * then costs a share of one write, not a write of its own). Resolves once the lines queued
   * before the call are written (strict: fsync'd); rejects with E_AUDIT_WRITE when they cannot
   * be. The caller forwards only after it resolves.
   */
  flushSoon(): Promise<void>;
  /** Resolves when everything appended so far is fsync'd. */
  sync(): Promise<void>;
  /** Writes and fsyncs what is queued, then closes the file. Later appends reject. */
  close(): Promise<void>;
  readonly durability: Durability;
  readonly stats: AuditLogStats;
  /** Records appended but not yet covered by an fsync. */
  readonly queueDepth: number;
  readonly lastSeq: number;
  readonly lastHash: string;
  /** Highest seq covered by a completed fsync. */
  readonly durableSeq: number;
  /** The live file (absolute). */
  readonly path: string;
  /** What the repair at open cut, if anything (a `log.repaired` record says the same in the log). */
  readonly repaired: Repair | null;
  /** The newest signed checkpoint known to be fsync'd; null without checkpoints or before the first. */
  readonly latestCheckpoint: Checkpoint | null;
  /** Writes a checkpoint now if records follow the last one; resolves with latestCheckpoint. Without checkpoints: null. */
  checkpoint(): Promise<Checkpoint | null>;
}

/**
 * Opens (or creates) the log at `path`: continues seq and chain from the last record of the
 * newest file, after cutting a torn last line, which it records as a `log.repaired` event.
 */
export async function openAuditLog(opts: AuditLogOptions): Promise<AuditLog> {
  try {
    return await open(opts);
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError("E_AUDIT_WRITE", `cannot open audit log: ${opts.path}: ${errorMessage(e)}`, { cause: e });
  }
}

async function open(opts: AuditLogOptions): Promise<AuditLog> {
  const path = resolve(opts.path);
  if (opts.rotateSize !== undefined && !(opts.rotateSize > 0)) {
    throw new GatewayError("E_USAGE", `invalid audit rotate size: ${opts.rotateSize} (expected a positive number of bytes)`);
  }
  await mkdir(dirname(path), { recursive: true });
  const files = await listLogFileEntries(path);
  let last: AuditRecord | null = null;
  let repaired: Repair | null = null;
  // The newest file may end in a torn line; an older one was fsync'd before it was rotated,
  // so the repair is allowed only in the file that holds the end of the chain.
  for (let i = files.length - 1; i >= 0; i--) {
    const state = await inspectTail(files[i]!.path, repaired === null);
    if (state.repair !== null) repaired = state.repair;
    if (state.last !== null) {
      last = state.last;
      break;
    }
  }
  const highest = files.reduce((n, f) => Math.max(n, f.rotation ?? 0), 0);
  const fd = await openFd(path, "a", 0o600);
  let size: number;
  try {
    size = await fstatSize(fd);
    await syncDir(dirname(path));
  } catch (e) {
    await closeFd(fd).catch(() => {});
    throw e;
  }
  const log = new FileAuditLog({ path, fd, size, nextRotation: highest + 1, last, repaired, opts });
  if (repaired !== null) {
    await log.append({ type: "log.repaired", details: { ...repaired } });
    await log.sync();
  }
  if (opts.checkpoints === undefined) return log;
  try {
    return new CheckpointedAuditLog(log, opts.checkpoints, opts.clock ?? systemClock, opts.onError);
  } catch (e) {
    await log.close();
    throw e;
  }
}

// The audit log writer: appends hash-chained records with group commit (one write syscall per
// batch, one fsync per batch of batches) and rotates by size. Any write or fsync error fails the
// log for good: a chain with a hole must not go on. Opened by openAuditLog (log.ts).
// The group commit's fsyncs run on a thread of their own (fsync-thread.ts); what they made
// durable is read from shared memory whenever the writer looks (durability.ts), so in batch
// mode an fsync's completion never wakes the event loop. Batch mode starts an fsync at most
// every fsyncIntervalMs (audit.fsync_interval); every record is written (in the kernel) before
// the action it records is forwarded, so a kill -9 loses nothing; a power cut may lose up to
// that interval of acknowledged records.
import { rename, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { errorMessage, GatewayError } from "../core/errors.ts";
import { systemClock, type Clock } from "../core/types.ts";
import { closeFd, fdatasync, openFd, syncDir, writeAll } from "./fd.ts";
import { Durability, type Waiter } from "./durability.ts";
import { DEFAULT_FSYNC_INTERVAL_MS, type AppendOptions, type AuditLog, type AuditLogOptions, type AuditLogStats, type Durability as DurabilityMode } from "./log.ts";
import { rotatedPath } from "./log-files.ts";
import { encodeRecord, prepareRecord, ZERO_HASH, type AuditEventInput, type AuditRecord } from "./record.ts";
import type { RecordTemplate, RecordValues } from "./record-template.ts";
import type { Repair } from "./repair.ts";


/**
 * A lazy record (a completion, which nothing waits for) rides on the next write, or is written
 * after this long at the latest. At one PostgreSQL client the next statement's decision comes
 * within a fraction of this, so a statement costs one write(2), not two. A kill -9 may lose
 * lazy records of this last moment; never a record an action waited for.
 */
const DEFAULT_LAZY_WRITE_MS = 1;

// The ISO time a record carries; toISOString gives other forms (+275760-…) that verify rejects.
const ISO_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;

export class FileAuditLog implements AuditLog {
  readonly path: string;
  readonly repaired: Repair | null;
  readonly #strict: boolean;
  readonly #fsyncIntervalMs: number;
  readonly #lazyWriteMs: number;
  readonly #rotateSize: number;
  readonly #clock: Clock;
  readonly #onError: ((error: GatewayError) => void) | undefined;
  // One hasher per log, reused: digest() resets it, and reuse is measurably faster than a new one per record.
  readonly #hasher = new Bun.CryptoHasher("sha256");
  #fd: number;
  #size: number;
  #nextRotation: number;
  #seq: number;
  #hash: string;
  /** Encoded lines appended but not yet handed to write(), and their callers. */
  #lines: string[] = [];
  #pending: Waiter[] = [];
  /** Lines of appendSync callers that want to know if they are never written (AppendOptions.onLost). */
  #lostWatch: { readonly seq: number; readonly onLost: (error: GatewayError) => void }[] = [];
  /** Seq of the last line in #lines. */
  #queuedSeq: number;
  #writtenSeq: number;
  #writes = 0;
  #fsyncs = 0;
  /** The fsyncs: requested, done, and who waits for them (strict appends, sync()). */
  readonly #durability: Durability;
  /** A write at the end of this event-loop turn (flushSoon), and the seq its callers wait for. */
  #turnFlush: { readonly promise: Promise<void>; readonly resolve: () => void; readonly reject: (e: unknown) => void; seq: number } | null = null;
  /** A pump is queued for the end of the current tick (a microtask). */
  #tickPumpQueued = false;
  /** Lazy lines wait for the next write, or for this timer (lazyWriteMs). */
  #lazyTimer: ReturnType<typeof setTimeout> | null = null;
  /** True from the start of a pump until its last synchronous step; a promise's settling would come a microtask too late. */
  #pumping = false;
  #pump: Promise<void> = Promise.resolve();
  /** An fsync is due: at the next turn (an immediate) or when the interval is over (a timer). */
  #syncImmediate = false;
  #syncTimer: ReturnType<typeof setTimeout> | null = null;
  /** Clock time at which the last fsync was asked for. */
  #lastSyncAt = Number.NEGATIVE_INFINITY;
  /** The last write took the file to rotateSize: the pump rotates before it writes again. */
  #rotateDue = false;
  #rotating = false;
  #failure: GatewayError | null = null;
  // Many records share a millisecond; formatting the time once per ms is a measurable saving.
  #lastNow = Number.NaN;
  #lastIso = "";
  #closing: Promise<void> | null = null;

  constructor(init: {
    path: string;
    fd: number;
    size: number;
    nextRotation: number;
    last: AuditRecord | null;
    repaired: Repair | null;
    opts: AuditLogOptions;
  }) {
    this.path = init.path;
    this.repaired = init.repaired;
    this.#fd = init.fd;
    this.#size = init.size;
    this.#nextRotation = init.nextRotation;
    this.#seq = init.last?.seq ?? 0;
    this.#hash = init.last?.hash ?? ZERO_HASH;
    this.#writtenSeq = this.#seq;
    this.#queuedSeq = this.#seq;
    this.#durability = new Durability(this.#seq, (e) => this.#fail(e, "fsync"));
    this.#strict = init.opts.durability === "strict";
    this.#fsyncIntervalMs = init.opts.fsyncIntervalMs ?? DEFAULT_FSYNC_INTERVAL_MS;
    if (!(this.#fsyncIntervalMs >= 0)) throw new GatewayError("E_USAGE", `invalid audit fsync interval: ${this.#fsyncIntervalMs} ms (expected 0 or more)`);
    this.#lazyWriteMs = init.opts.lazyWriteMs ?? DEFAULT_LAZY_WRITE_MS;
    this.#rotateSize = init.opts.rotateSize ?? Number.POSITIVE_INFINITY;
    this.#clock = init.opts.clock ?? systemClock;
    this.#onError = init.opts.onError;
  }

  get durability(): DurabilityMode {
    return this.#strict ? "strict" : "batch";
  }
  get stats(): AuditLogStats {
    return { writes: this.#writes, fsyncs: this.#fsyncs };
  }
  get queueDepth(): number {
    return this.#seq - this.#durability.durableSeq;
  }
  get lastSeq(): number {
    return this.#seq;
  }
  get lastHash(): string {
    return this.#hash;
  }
  get durableSeq(): number {
    return this.#durability.durableSeq;
  }
  /** Checkpoints are CheckpointedAuditLog's, which wraps this log when they are configured. */
  get latestCheckpoint(): null {
    return null;
  }
  checkpoint(): Promise<null> {
    return Promise.resolve(null);
  }

  append(event: AuditEventInput, opts?: AppendOptions): Promise<AuditRecord> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    let line: string;
    let record: AuditRecord;
    const seq = this.#seq + 1;
    try {
      const prepared = prepareRecord(event, seq, this.#isoTime(), this.#hash);
      const hash = this.#hasher.update(prepared.canonical).digest("hex");
      line = encodeRecord(prepared.canonical, hash);
      record = prepared.record as AuditRecord;
      record.hash = hash;
    } catch (e) {
      return Promise.reject(auditWriteError(e));
    }
    return new Promise<AuditRecord>((resolve, reject) => {
      this.#enqueue(line, seq, record.hash, opts?.lazy === true);
      this.#pending.push({ seq, record, resolve, reject });
    });
  }

  appendSync(template: RecordTemplate, values: RecordValues, opts?: AppendOptions): number {
    const refused = this.#refusal();
    if (refused !== null) throw refused;
    const seq = this.#seq + 1;
    let line: string;
    let hash: string;
    try {
      const canonical = template.canonical(seq, this.#isoTime(), this.#hash, values);
      hash = this.#hasher.update(canonical).digest("hex");
      line = encodeRecord(canonical, hash);
    } catch (e) {
      throw auditWriteError(e);
    }
    this.#enqueue(line, seq, hash, opts?.lazy === true);
    if (opts?.onLost !== undefined) this.#lostWatch.push({ seq, onLost: opts.onLost });
    return seq;
  }

  flush(): void | Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) throw refused;
    if (this.#pumping) {
      // A rotation holds the writer: the lines go out when it is done.
      const target = this.#queuedSeq;
      return this.#drained().then(() => {
        if (this.#writtenSeq < target) throw this.#failure !== null ? this.#failedError() : new GatewayError("E_AUDIT_WRITE", `audit log is closed: ${this.path}`);
      });
    }
    if (this.#lines.length === 0) return;
    this.#pumping = true;
    try {
      this.#writeBatch();
    } finally {
      this.#pumping = false;
    }
    if (this.#failure !== null) throw this.#failedError();
    if (this.#rotateDue) this.#startPump();
  }

  flushSoon(): Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    let turn = this.#turnFlush;
    if (turn === null) {
      let resolve!: () => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      turn = this.#turnFlush = { promise, resolve, reject, seq: 0 };
      // After the poll's I/O callbacks: every handler of this turn has queued its record by then.
      setImmediate(this.#flushTurn);
    }
    turn.seq = this.#queuedSeq;
    return turn.promise;
  }

  readonly #flushTurn = (): void => {
    const turn = this.#turnFlush!;
    this.#turnFlush = null;
    const written = (): void => {
      if (this.#strict) this.sync().then(turn.resolve, turn.reject);
      else turn.resolve();
    };
    const failed = (e: unknown): void => {
      // Written already (by close(), or a pump that ran first): the caller's lines are out.
      if (this.#writtenSeq >= turn.seq && this.#failure === null) written();
      else turn.reject(e instanceof GatewayError ? e : auditWriteError(e));
    };
    // Always through flush(): lines queued after the callers' (lazy ones) were left to this write.
    try {
      const flushed = this.flush();
      if (flushed === undefined) written();
      else flushed.then(written, failed);
    } catch (e) {
      failed(e);
    }
  };

  /** Why an append is refused now (a failed fsync fails this append, not only later ones), or null. */
  #refusal(): GatewayError | null {
    this.#durability.poll();
    if (this.#failure !== null) return this.#failedError();
    if (this.#closing !== null) return new GatewayError("E_AUDIT_WRITE", `audit log is closed: ${this.path}`);
    return null;
  }

  #enqueue(line: string, seq: number, hash: string, lazy: boolean): void {
    this.#seq = seq;
    this.#hash = hash;
    this.#lines.push(line);
    this.#queuedSeq = seq;
    // A pump that is running (it awaits only a rotation) writes this line when it goes on.
    if (!this.#pumping) this.#schedulePump(lazy);
  }

  /**
   * When queued lines are written. A record that an action waits for goes out at the end of the
   * current tick (or earlier, by flush()): the action (a forwarded request or statement) then
   * waits one write(2), about a microsecond, not for the rest of the event-loop turn. A lazy
   * record (a completion, which nothing waits for) rides on the next write, at the latest after
   * lazyWriteMs (1 ms). Appends made in the same tick share one write either way.
   */
  #schedulePump(lazy: boolean): void {
    // That pump (or the turn's flush, which someone waits for) writes this line too.
    if (this.#tickPumpQueued || this.#turnFlush !== null) return;
    if (!lazy) {
      this.#tickPumpQueued = true;
      queueMicrotask(this.#pumpAtTickEnd);
    } else if (this.#lazyTimer === null) {
      this.#lazyTimer = setTimeout(this.#pumpLazy, this.#lazyWriteMs);
    }
  }

  readonly #pumpAtTickEnd = (): void => {
    this.#tickPumpQueued = false;
    // The turn's flush writes the lines of this tick with those of the turn's other handlers.
    if (this.#turnFlush !== null) return;
    this.#startPump();
  };
  readonly #pumpLazy = (): void => {
    this.#lazyTimer = null;
    this.#startPump();
  };

  #isoTime(): string {
    const now = this.#clock.now();
    if (now !== this.#lastNow) {
      const iso = new Date(now).toISOString();
      if (!ISO_TIME.test(iso)) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: /time: the clock gave ${iso}`);
      this.#lastIso = iso;
      this.#lastNow = now;
    }
    return this.#lastIso;
  }

  sync(): Promise<void> {
    const durable = this.#durability.durableSeq;
    if (this.#failure !== null) return Promise.reject(this.#failedError());
    const target = this.#seq;
    if (target <= durable) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#durability.wait({ seq: target, record: null, resolve: () => resolve(), reject });
      // Unless a request made already covers it, the fsync is still to ask for (or the write
      // still to come asks for it).
      if (this.#writtenSeq >= target) this.#scheduleSync();
      else if (!this.#pumping && this.#lines.length > 0) this.#startPump(); // lazy lines: write them now
    });
  }

  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#drained();
    if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
    this.#syncTimer = null;
    try {
      await this.#durability.settled().catch(() => {}); // a failure is in #failure now
      if (this.#failure === null && this.#durability.durableSeq < this.#writtenSeq) {
        try {
          await fdatasync(this.#fd);
        } catch (e) {
          this.#fail(e, "fsync");
          throw this.#failure;
        }
        this.#durability.synced(this.#writtenSeq);
      }
    } finally {
      // The thread may still be in an fdatasync of this descriptor (a failed log does not wait
      // for its fsyncs): closing the number under it could sync someone else's file.
      const exited = await this.#durability.stop();
      // -1 after a failed rotation: never close a number that may now be someone else's fd.
      if (this.#fd >= 0 && exited) await closeFd(this.#fd).catch(() => {});
      this.#fd = -1;
    }
  }

  async #drained(): Promise<void> {
    // A write queued for the end of the turn is started here: waiting for it with microtasks
    // would keep the loop from ever reaching the turn's end (close() used to spin forever).
    while (this.#pumping || this.#lines.length > 0 || (this.#rotateDue && this.#failure === null)) {
      if (!this.#pumping) this.#startPump();
      await this.#pump;
    }
  }

  #startPump(): void {
    // Already written by an earlier pump (one queued for the tick's end, or started by close()).
    if (this.#pumping || (this.#lines.length === 0 && !this.#rotateDue)) return;
    this.#pumping = true;
    // #runPump handles its own I/O errors; anything else must still fail the log, not escape unhandled.
    this.#pump = this.#runPump().catch((e: unknown) => this.#fail(e, "write"));
  }

  async #runPump(): Promise<void> {
    // One async function with its own finally: #pumping must drop in the same synchronous step in
    // which the loop sees an empty queue, or an append made in between would wait forever.
    try {
      while (this.#failure === null) {
        if (this.#rotateDue) {
          try {
            await this.#rotate();
          } catch (e) {
            this.#fail(e, "rotation");
            return;
          }
          continue;
        }
        if (this.#lines.length === 0) return;
        this.#writeBatch();
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Writes every queued line with one write(2); a failure fails the log. Called with #pumping set. */
  #writeBatch(): void {
    const lines = this.#lines;
    const waiters = this.#pending;
    const seq = this.#queuedSeq;
    this.#lines = [];
    this.#pending = [];
    const buf = Buffer.from(lines.length === 1 ? lines[0]! : lines.join(""), "utf8");
    try {
      writeAll(this.#fd, buf);
    } catch (e) {
      this.#fail(e, "write", waiters);
      return;
    }
    this.#writes++;
    this.#size += buf.length;
    this.#writtenSeq = seq;
    // Every queued line went out with this write.
    if (this.#lostWatch.length > 0) this.#lostWatch = [];
    if (this.#lazyTimer !== null) {
      // The lazy lines it waited for went out with this write.
      clearTimeout(this.#lazyTimer);
      this.#lazyTimer = null;
    }
    if (this.#strict) {
      for (const w of waiters) this.#durability.wait(w);
    } else {
      for (const w of waiters) w.resolve(w.record!);
    }
    // The rotation fsyncs what it closes; otherwise the group commit covers this write.
    if (this.#size >= this.#rotateSize) this.#rotateDue = true;
    else this.#scheduleSync();
  }

  /**
   * Asks for an fsync of what is written: at the next turn when someone waits for it (strict
   * appends, sync(), rotation, close) or in strict mode; otherwise once fsyncIntervalMs has
   * passed since the last one was asked for. Whatever is written by then shares it.
   */
  #scheduleSync(): void {
    if (this.#syncImmediate || this.#rotating || this.#failure !== null || this.#writtenSeq <= this.#durability.requestedSeq) return;
    const urgent = this.#strict || this.#durability.waiting;
    const wait = urgent ? 0 : this.#lastSyncAt + this.#fsyncIntervalMs - this.#clock.now();
    if (wait <= 0) {
      if (this.#syncTimer !== null) clearTimeout(this.#syncTimer);
      this.#syncTimer = null;
      this.#syncImmediate = true;
      setImmediate(this.#runSync);
    } else if (this.#syncTimer === null) {
      // Never longer than the interval: a clock that jumped back must not hold the fsync off.
      this.#syncTimer = setTimeout(this.#runSync, Math.min(wait, this.#fsyncIntervalMs));
      this.#syncTimer.unref?.();
    }
  }

  readonly #runSync = (): void => {
    this.#syncImmediate = false;
    this.#syncTimer = null;
    // While closing, close() does the last fsync itself, and the descriptor is about to go.
    if (this.#rotating || this.#failure !== null || this.#closing !== null) return;
    const durability = this.#durability;
    durability.poll();
    const target = this.#writtenSeq;
    if (target <= durability.requestedSeq || this.#failure !== null) return;
    const now = this.#clock.now();
    if (!this.#strict && !durability.waiting && now < this.#lastSyncAt + this.#fsyncIntervalMs) {
      this.#scheduleSync(); // a timer that fired early by the log's clock
      return;
    }
    this.#lastSyncAt = now;
    this.#fsyncs++;
    try {
      durability.request(this.#fd, target);
    } catch (e) {
      this.#fail(e, "fsync");
    }
  };

  /** Called from the pump only, so no write is in flight; the pending fsync is awaited first. */
  async #rotate(): Promise<void> {
    this.#rotating = true;
    try {
      await this.#durability.settled();
      await fdatasync(this.#fd);
      this.#durability.synced(this.#writtenSeq);
      const old = this.#fd;
      this.#fd = -1;
      await closeFd(old);
      let target = rotatedPath(this.path, this.#nextRotation);
      // rename() would silently replace a file that appeared under that name; never overwrite audit data.
      while (await stat(target).then(() => true, () => false)) target = rotatedPath(this.path, ++this.#nextRotation);
      this.#nextRotation++;
      await rename(this.path, target);
      this.#fd = await openFd(this.path, "a", 0o600);
      this.#size = 0;
      this.#rotateDue = false;
      await syncDir(dirname(this.path));
    } finally {
      this.#rotating = false;
    }
  }

  #fail(cause: unknown, what: string, inFlight: Waiter[] = []): void {
    const first = this.#failure === null;
    const error =
      this.#failure ??
      new GatewayError("E_AUDIT_WRITE", `audit log ${what} failed: ${this.path}: ${errorMessage(cause)}`, {
        cause,
        details: { path: this.path },
      });
    this.#failure = error;
    const waiting = [...inFlight, ...this.#pending, ...this.#durability.fail()];
    this.#lines = [];
    this.#pending = [];
    for (const w of waiting) w.reject(error);
    if (first) this.#onError?.(error);
    const lost = this.#lostWatch;
    this.#lostWatch = [];
    for (const l of lost) {
      try {
        l.onLost(error);
      } catch {
        // a caller's report must not keep the others from theirs
      }
    }
  }

  #failedError(): GatewayError {
    const original = this.#failure!;
    return new GatewayError("E_AUDIT_WRITE", `audit log is failed and takes no more records: ${original.message}`, {
      cause: original,
      details: { path: this.path },
    });
  }
}

/** A record that cannot be encoded is the caller's E_AUDIT_WRITE (deny), not a failure of the log. */
function auditWriteError(e: unknown): GatewayError {
  if (e instanceof GatewayError && e.code === "E_AUDIT_WRITE") return e;
  return new GatewayError("E_AUDIT_WRITE", `audit record cannot be encoded: ${errorMessage(e)}`, { cause: e });
}

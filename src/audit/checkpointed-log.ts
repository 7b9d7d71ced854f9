// An audit log that writes a signed checkpoint (checkpoint.ts) of its head every N records or
// at most T after a record, whichever comes first, and at close. Signing stays off the append
// path: an append only compares two numbers and, once per checkpoint, arms a timer or queues an
// immediate; the signature (~15 µs) is made later, in a turn of its own.
import { errorMessage, GatewayError } from "../core/errors.ts";
import type { Clock } from "../core/types.ts";
import { CHECKPOINT_TYPE, signCheckpoint, type Checkpoint } from "./checkpoint.ts";
import type { AppendOptions, AuditLog, AuditLogStats, Durability } from "./log.ts";
import type { AuditEventInput, AuditRecord } from "./record.ts";
import type { RecordTemplate, RecordValues } from "./record-template.ts";
import type { Repair } from "./repair.ts";
import type { SigningKey } from "./signing-key.ts";

export const DEFAULT_CHECKPOINT_RECORDS = 1000;
export const DEFAULT_CHECKPOINT_INTERVAL_MS = 60_000;

export interface CheckpointOptions {
  readonly key: SigningKey;
  /** Write a checkpoint once this many records follow the last one. Default 1000. */
  readonly everyRecords?: number;
  /** ... or once this long has passed since the first record after it. Default 60 s. */
  readonly intervalMs?: number;
}

export class CheckpointedAuditLog implements AuditLog {
  readonly #inner: AuditLog;
  readonly #key: SigningKey;
  readonly #every: number;
  readonly #intervalMs: number;
  readonly #clock: Clock;
  readonly #onError: ((error: GatewayError) => void) | undefined;
  /**
   * Seq of the last checkpoint record written; records after it are not yet anchored. 0 at open:
   * the records found in the file count too, so a reopened log soon anchors what it holds.
   */
  #checkpointedSeq = 0;
  /** The newest checkpoint known to be fsync'd, so one copied off the host never names a record a power cut could take back. */
  #latest: Checkpoint | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #immediateQueued = false;
  #writing: Promise<void> | null = null;
  #closed = false;

  constructor(inner: AuditLog, opts: CheckpointOptions, clock: Clock, onError?: (error: GatewayError) => void) {
    this.#inner = inner;
    this.#key = opts.key;
    this.#every = opts.everyRecords ?? DEFAULT_CHECKPOINT_RECORDS;
    this.#intervalMs = opts.intervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (!(Number.isSafeInteger(this.#every) && this.#every > 0)) throw new GatewayError("E_USAGE", `invalid checkpoint record count: ${this.#every} (expected a positive integer)`);
    if (!(this.#intervalMs > 0)) throw new GatewayError("E_USAGE", `invalid checkpoint interval: ${this.#intervalMs} ms (expected more than 0)`);
    this.#clock = clock;
    this.#onError = onError;
  }

  get queueDepth(): number {
    return this.#inner.queueDepth;
  }
  get lastSeq(): number {
    return this.#inner.lastSeq;
  }
  get lastHash(): string {
    return this.#inner.lastHash;
  }
  get durableSeq(): number {
    return this.#inner.durableSeq;
  }
  get path(): string {
    return this.#inner.path;
  }
  get repaired(): Repair | null {
    return this.#inner.repaired;
  }
  get durability(): Durability {
    return this.#inner.durability;
  }
  get stats(): AuditLogStats {
    return this.#inner.stats;
  }
  get latestCheckpoint(): Checkpoint | null {
    return this.#latest;
  }

  append(event: AuditEventInput, opts?: AppendOptions): Promise<AuditRecord> {
    const appended = this.#inner.append(event, opts);
    this.#appended();
    return appended;
  }

  appendSync(template: RecordTemplate, values: RecordValues, opts?: AppendOptions): number {
    const seq = this.#inner.appendSync(template, values, opts);
    this.#appended();
    return seq;
  }

  flush(): void | Promise<void> {
    return this.#inner.flush();
  }

  flushSoon(): Promise<void> {
    return this.#inner.flushSoon();
  }

  /** After each record: a checkpoint is due now (every N), or within the interval. */
  #appended(): void {
    if (!this.#closed) {
      if (this.#inner.lastSeq - this.#checkpointedSeq >= this.#every) {
        if (!this.#immediateQueued) {
          this.#immediateQueued = true;
          setImmediate(this.#due);
        }
      } else if (this.#timer === null) {
        this.#timer = setTimeout(this.#due, this.#intervalMs);
        this.#timer.unref?.(); // a pending checkpoint must not keep a finished process alive
      }
    }
  }

  readonly #due = (): void => {
    this.#immediateQueued = false;
    if (this.#closed) return;
    // Errors are the log's (already reported through onError) or reported by #write.
    this.checkpoint().catch(() => {});
  };

  /**
   * Writes a checkpoint of the current head if any record follows the last one, and resolves
   * with the newest durable checkpoint (null when there has been none). Rejects when the log fails.
   */
  async checkpoint(): Promise<Checkpoint | null> {
    while (this.#writing !== null) await this.#writing.catch(() => {});
    if (this.#inner.lastSeq > this.#checkpointedSeq) {
      const writing = this.#write();
      this.#writing = writing.then(() => {});
      let written: { durable: Promise<void> };
      try {
        written = await writing;
      } finally {
        this.#writing = null;
      }
      await written.durable;
    }
    return this.#latest;
  }

  /**
   * Signs and appends; resolves once the record is written, so that the next checkpoint need not
   * wait for this one's fsync (under load that would stretch "every N records" to one per fsync).
   * `durable` resolves once it is fsync'd and published as latestCheckpoint.
   */
  async #write(): Promise<{ durable: Promise<void> }> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    // Read the head and append in one synchronous step: append assigns seq and prev at once, so
    // the checkpoint record comes right after the head it signs, and is written after it.
    const head = { seq: this.#inner.lastSeq, hash: this.#inner.lastHash };
    let cp: Checkpoint;
    try {
      cp = signCheckpoint(this.#key, head, new Date(this.#clock.now()).toISOString());
    } catch (e) {
      const error = new GatewayError("E_AUDIT_WRITE", `audit checkpoint cannot be signed with ${this.#key.path}: ${errorMessage(e)}`, { cause: e });
      this.#onError?.(error);
      throw error;
    }
    const appended = this.#inner.append({ type: CHECKPOINT_TYPE, details: cp }, { lazy: true });
    this.#checkpointedSeq = this.#inner.lastSeq;
    await appended;
    const durable = this.#inner.sync().then(() => {
      if (this.#latest === null || cp.seq > this.#latest.seq) this.#latest = cp;
    });
    durable.catch(() => {}); // the log reports its own failure; checkpoint() callers still see it
    return { durable };
  }

  sync(): Promise<void> {
    return this.#inner.sync();
  }

  /** Writes a last checkpoint (after, say, gateway.stop), then closes the log. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      if (this.#timer !== null) clearTimeout(this.#timer);
      this.#timer = null;
      await this.checkpoint().catch(() => {}); // a failed log says so at close as well
    }
    await this.#inner.close();
  }
}

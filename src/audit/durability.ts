// What the audit log's fsyncs have made durable: the requests to the fsync thread, their
// completion read from shared memory when the writer looks, and the callers waiting for
// durability (strict appends, sync(), rotation, close). The writer (file-audit-log.ts)
// decides when to ask for an fsync; this keeps the books.
import type { AuditRecord } from "./record.ts";
import { FsyncThread } from "./fsync-thread.ts";

export interface Waiter {
  readonly seq: number;
  readonly record: AuditRecord | null;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

/** Stops the fsync thread of a log that was dropped without close(). */
const abandoned = new FinalizationRegistry<FsyncThread>((thread) => void thread.stop());
/**
 * Logs whose callers wait for an fsync still running. The thread reaches a log only through a
 * WeakRef, and a caller awaiting sync() may hold nothing but that promise: without this the
 * log could be collected mid-fsync, and the wait would never end.
 */
const awaited = new Set<Durability>();

export class Durability {
  /** Started at the first request; stopped by stop(). */
  #thread: FsyncThread | null = null;
  /** Requests not yet seen done, oldest first: generation, and the seq written when it was made. */
  #inFlight: { gen: number; seq: number }[] = [];
  /** Highest seq that a request (done or not), or a direct fsync, covers. */
  #requestedSeq: number;
  #durableSeq: number;
  #waiters: Waiter[] = [];
  /** Whether the thread was asked to send a message after each fsync. */
  #wanting = false;
  #failed = false;
  /** A failed fsync or a dead thread: the writer fails the log, which calls fail() here. */
  readonly #onFailure: (error: Error) => void;

  constructor(seq: number, onFailure: (error: Error) => void) {
    this.#requestedSeq = seq;
    this.#durableSeq = seq;
    this.#onFailure = onFailure;
  }

  /** Highest seq covered by a completed fsync. */
  get durableSeq(): number {
    this.poll();
    return this.#durableSeq;
  }

  get requestedSeq(): number {
    return this.#requestedSeq;
  }

  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /**
   * Asks for an fsync of `fd` covering everything written so far (up to `seq`). A request made
   * while the thread is still in an earlier fsync gets one more fsync right after it, shared by
   * everything requested meanwhile. Throws if the thread cannot start.
   */
  request(fd: number, seq: number): void {
    if (this.#thread === null) {
      this.#thread = Durability.#startThread(new WeakRef<Durability>(this));
      abandoned.register(this, this.#thread, this);
    }
    this.#inFlight.push({ gen: this.#thread.request(fd), seq });
    this.#requestedSeq = seq;
    this.poll();
  }

  /**
   * The thread reaches this object only through a WeakRef (and this static scope holds no
   * `this`): a log dropped without close() can be collected, and `abandoned` stops its thread.
   */
  static #startThread(ref: WeakRef<Durability>): FsyncThread {
    return new FsyncThread(
      () => ref.deref()?.poll(),
      (e) => {
        const d = ref.deref();
        if (d !== undefined && !d.#failed) d.#onFailure(e);
      },
    );
  }

  /** Resolves `w` once an fsync covers `w.seq` (rejected if the log fails first, or has). */
  wait(w: Waiter): void {
    if (this.#failed) {
      w.reject(new Error("the audit log has failed"));
      return;
    }
    this.#waiters.push(w);
    this.poll();
  }

  /**
   * Reads what the thread has done: marks it durable (resolving waiters), reports a failed
   * fsync, and asks for a message while anyone waits on a request still running.
   */
  poll(): void {
    const thread = this.#thread;
    if (thread === null || this.#inFlight.length === 0 || this.#failed) return;
    for (;;) {
      const done = thread.done; // before the error: the thread stores an error before DONE
      const error = thread.error;
      if (error !== null) {
        this.#onFailure(new Error(error));
        return;
      }
      let covered = -1;
      while (this.#inFlight.length > 0 && this.#inFlight[0]!.gen <= done) covered = this.#inFlight.shift()!.seq;
      if (covered >= 0) this.#markDurable(covered);
      const want = this.#inFlight.length > 0 && this.#waiters.length > 0;
      if (want === this.#wanting) break;
      this.#wanting = want;
      if (want) awaited.add(this);
      else awaited.delete(this);
      thread.wake(want);
      // Asked for a message: read DONE once more, or an fsync that ended just before WANT was
      // set would send none.
      if (!want) break;
    }
  }

  /** Resolves once every fsync requested so far has ended (rejects if the log fails first). */
  settled(): Promise<void> {
    this.poll();
    // A failed log's requests are never seen done: waiting for them would never end.
    if (this.#failed) return Promise.reject(new Error("the audit log has failed"));
    if (this.#inFlight.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.wait({ seq: this.#requestedSeq, record: null, resolve: () => resolve(), reject }));
  }

  /** Everything up to `seq` was fsync'd directly (rotation, close), not by the thread. */
  synced(seq: number): void {
    if (seq > this.#requestedSeq) this.#requestedSeq = seq;
    this.#markDurable(seq);
  }

  #markDurable(seq: number): void {
    if (seq > this.#durableSeq) this.#durableSeq = seq;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.seq <= this.#durableSeq) w.resolve(w.record!);
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** The log failed: hands back the waiters to reject, and stops asking for messages (nobody waits now). */
  fail(): Waiter[] {
    this.#failed = true;
    if (this.#wanting) {
      this.#wanting = false;
      awaited.delete(this);
      this.#thread?.wake(false);
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    return waiters;
  }

  /** Stops the thread; false if it did not exit in time (then its descriptor must not be closed). */
  async stop(): Promise<boolean> {
    if (this.#thread === null) return true;
    abandoned.unregister(this);
    return this.#thread.stop();
  }
}

// fdatasync on a thread of its own, driven through shared memory. The audit writer asks for an
// fsync by bumping a counter (one atomic store and a futex wake) and reads what is done from
// shared memory when it next looks; the thread sends a message, waking the event loop, only
// when someone waits for durability (strict appends, sync(), rotation, close) or an fsync failed.
//
// Why: with the thread pool every fsync's completion wakes the event loop. At one PostgreSQL
// client that is a wake-up about every second statement; without them the main thread spends
// 66–82 instead of 96–115 µs per prepared statement (bench/README.md).
import { constants } from "node:os";

// Cells of the shared Int32Array.
const REQ = 0; // generation of the latest request (main thread writes)
const FD = 1; // descriptor of that request (main thread writes, before REQ)
const DONE = 2; // generation of the latest request whose fdatasync returned (thread writes)
const ERR = 3; // errno of a failed fdatasync, sticky (thread writes)
const WANT = 4; // 1: the thread sends a message after each fsync (main thread writes); it always sends one after a failure
const STOP = 5; // 1: the thread exits (main thread writes)
const CELLS = 6;

// The thread's code travels as text (a Blob URL), so the compiled binary needs no second
// entry point and never loads worker code from disk.
const SOURCE = `
import { fdatasyncSync } from "node:fs";
self.onmessage = (event) => {
  const a = new Int32Array(event.data);
  let seen = 0;
  for (;;) {
    Atomics.wait(a, ${REQ}, seen);
    if (Atomics.load(a, ${STOP}) === 1) break;
    // Everything written before this request was made is covered by the fsync that starts
    // after it was read; requests that arrive meanwhile get one more fsync after this one.
    const gen = Atomics.load(a, ${REQ});
    const fd = Atomics.load(a, ${FD});
    let failed = false;
    try {
      fdatasyncSync(fd);
    } catch (e) {
      failed = true;
      Atomics.store(a, ${ERR}, Math.abs(Number(e && e.errno)) || 1); // before DONE: see FsyncThread.error
    }
    Atomics.store(a, ${DONE}, gen);
    seen = gen;
    if (failed || Atomics.load(a, ${WANT}) === 1) postMessage(gen);
  }
  self.close();
};
`;

let sourceUrl: string | null = null;

export class FsyncThread {
  readonly #cells = new Int32Array(new SharedArrayBuffer(CELLS * 4));
  readonly #worker: Worker;
  #requested = 0;
  /** Set by stop(): the thread's exit from then on is asked for, not a failure. */
  #stopped: Promise<boolean> | null = null;

  /**
   * `onDone`: a message arrived (while wake(true), and after any failed fsync). `onDeath`: the
   * thread failed or exited unasked; nothing it was asked is known to be done.
   */
  constructor(onDone: () => void, onDeath: (error: Error) => void) {
    sourceUrl ??= URL.createObjectURL(new Blob([SOURCE], { type: "application/javascript" }));
    this.#worker = new Worker(sourceUrl);
    this.#worker.onmessage = () => onDone();
    this.#worker.onerror = (e) => {
      if (this.#stopped === null) onDeath(new Error(`fsync thread failed: ${e.message}`));
    };
    this.#worker.addEventListener("close", () => {
      if (this.#stopped === null) onDeath(new Error("fsync thread exited"));
    });
    this.#worker.postMessage(this.#cells.buffer);
    this.#worker.unref();
  }

  /** Asks for an fdatasync of `fd` covering everything written to it so far; returns its generation. */
  request(fd: number): number {
    const gen = ++this.#requested;
    Atomics.store(this.#cells, FD, fd);
    Atomics.store(this.#cells, REQ, gen);
    Atomics.notify(this.#cells, REQ);
    return gen;
  }

  /** Generation of the latest request whose fdatasync has returned. */
  get done(): number {
    return Atomics.load(this.#cells, DONE);
  }

  /**
   * Text of a failed fdatasync's error, or null. The thread stores the error before DONE, so
   * read `done` first: an error of any request that `done` covers is then visible here.
   */
  get error(): string | null {
    const errno = Atomics.load(this.#cells, ERR);
    if (errno === 0) return null;
    const name = Object.entries(constants.errno).find(([, n]) => n === errno)?.[0];
    return `fdatasync failed: ${name ?? `errno ${errno}`}`;
  }

  /**
   * wake(true): send a message after each fsync, and keep the process alive meanwhile. Set it
   * before reading `done` again: then either this thread sees the new DONE or the worker sees WANT.
   */
  wake(on: boolean): void {
    Atomics.store(this.#cells, WANT, on ? 1 : 0);
    if (on) this.#worker.ref();
    else this.#worker.unref();
  }

  /**
   * Stops the thread; resolves once it has exited, so no fdatasync of it is still running on a
   * descriptor the caller is about to close (false if it did not exit within `waitMs`).
   */
  stop(waitMs = 5000): Promise<boolean> {
    if (this.#stopped === null) {
      const exited = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          this.#worker.terminate();
          resolve(false);
        }, waitMs);
        this.#worker.addEventListener("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      this.#worker.ref();
      Atomics.store(this.#cells, STOP, 1);
      Atomics.store(this.#cells, REQ, this.#requested + 1);
      Atomics.notify(this.#cells, REQ);
      this.#stopped = exited;
    }
    return this.#stopped;
  }
}

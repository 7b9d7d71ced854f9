// One record per statement: a statement's completion (rows, tag, duration, error) is not a
// record of its own on the hot path. The session holds it, and its next decision record carries
// it in `details.completed`, one entry per completion naming the seq of the decision record
// that allowed that statement. Nothing waits for a completion, so holding it costs nobody time;
// what it saves is a record (template, SHA-256, line, bytes in the log) per statement.
// A completion the session has no decision record for soon (the client went quiet, the next
// statement took the slow path) is written as a record of its own after `waitMs`, and whatever
// is held when the session ends goes out the same way first: each completion is in the log
// once, in one of the two forms (src/audit/completions.ts reads both).
import { canonicalArray, type CanonicalValue } from "../audit/record-template.ts";

/** How long a completion waits for the session's next decision record before it is written on its own. */
export const COMPLETION_WAIT_MS = 5;

export class HeldCompletions<T> {
  #held: T[] = [];
  #timer: ReturnType<typeof setTimeout> | null = null;

  /**
   * `entryOf`: an item as an entry of `completed` (canonical JSON, with `decision`);
   * `writeAlone`: writes items as records of their own (never throws: a lost record is reported there).
   */
  constructor(
    private readonly entryOf: (item: T) => CanonicalValue,
    private readonly writeAlone: (items: readonly T[]) => void,
    private readonly waitMs = COMPLETION_WAIT_MS,
  ) {}

  get size(): number {
    return this.#held.length;
  }

  hold(item: T): void {
    this.#held.push(item);
    // One timer at a time, not one per completion: at most one expiry per waitMs per session.
    if (this.#timer === null) this.#timer = setTimeout(this.#expire, this.waitMs);
  }

  /**
   * Everything held, as the `completed` member of the decision record being made now (the
   * caller must put it in that record, or give the items back with writeAlone); undefined when
   * nothing is held. The timer stays: it finds nothing when it fires.
   */
  take(): CanonicalValue | undefined {
    if (this.#held.length === 0) return undefined;
    const items = this.#held;
    this.#held = [];
    const entries = new Array<CanonicalValue>(items.length);
    for (let i = 0; i < items.length; i++) entries[i] = this.entryOf(items[i]!);
    return canonicalArray(entries);
  }

  /** Writes what is held as records of their own now (the session ends) and stops the timer. */
  flush(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#writeHeld();
  }

  readonly #expire = (): void => {
    this.#timer = null;
    this.#writeHeld();
  };

  #writeHeld(): void {
    if (this.#held.length === 0) return;
    const items = this.#held;
    this.#held = [];
    this.writeAlone(items);
  }
}

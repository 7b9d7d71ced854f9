// The one way a test waits for something: poll a condition, or bound a promise, until it holds,
// and fail naming what was awaited. A test never sleeps in place of an event; on a loaded machine
// an event may take many times longer than usual, so the bounds are generous and only ever stop
// a test that would otherwise hang. Used by e2e tests in test/ and unit tests beside the code.

export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  readonly timeoutMs?: number;
  /** Time between two polls (default 20 ms). */
  readonly intervalMs?: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;

/**
 * Polls `cond` until it returns a truthy value, and returns that value. A `cond` that throws
 * counts as "not yet" (a server still starting refuses connections); its last error is part of
 * the message if the wait times out. Throws `timed out after N ms waiting for <what>`.
 */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = opts.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() >= deadline) {
      const why = lastError === undefined ? "" : `; last attempt failed: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await Bun.sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

/**
 * `promise`, or an error `timed out after N ms waiting for <what>` if it has not settled by then.
 * For events a test is told of (a callback, a close, a process exit) rather than polls.
 */
export async function within<T>(what: string, promise: Promise<T>, opts: Pick<WaitOptions, "timeoutMs"> = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise and the function that resolves it, for callbacks a test awaits with `within`. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

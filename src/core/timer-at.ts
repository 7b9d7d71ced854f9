// A timer for a moment on the injected clock (ms since epoch), e.g. a token's expiry. setTimeout
// holds a signed 32-bit delay and fires after 1 ms when given more, so a far moment is reached
// through a chain of timers, each re-reading the clock.

/** The longest delay setTimeout takes as given. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Calls `fire` once when `now()` reaches `at` (at once if it already has); cancel() stops it. */
export function timerAt(now: () => number, at: number, fire: () => void, timers: Timers = realTimers): { cancel(): void } {
  let handle: unknown;
  let done = false;
  const check = () => {
    if (done) return;
    const left = at - now();
    if (left > 0) {
      handle = timers.set(check, Math.min(left, MAX_TIMER_MS));
      return;
    }
    done = true;
    fire();
  };
  check();
  return {
    cancel() {
      done = true;
      if (handle !== undefined) timers.clear(handle);
    },
  };
}

import { expect, test } from "bun:test";
import { MAX_TIMER_MS, type Timers, timerAt } from "./timer-at.ts";

/** Timers that run only when the test says so, over a clock the test moves. */
function fakeTime(start: number) {
  let now = start;
  const pending = new Map<number, { fn: () => void; due: number; ms: number }>();
  let next = 1;
  const timers: Timers = {
    set(fn, ms) {
      pending.set(next, { fn, due: now + ms, ms });
      return next++;
    },
    clear(h) {
      pending.delete(h as number);
    },
  };
  return {
    timers,
    now: () => now,
    delays: () => [...pending.values()].map((p) => p.ms),
    /** Moves the clock to the earliest pending timer and runs it. */
    step() {
      const [id, p] = [...pending.entries()].sort((a, b) => a[1].due - b[1].due)[0]!;
      pending.delete(id);
      now = p.due;
      p.fn();
    },
  };
}

test("a moment further than setTimeout's 32-bit limit is reached by a chain of timers, each within the limit", () => {
  const t = fakeTime(1_000_000);
  const at = t.now() + 3 * MAX_TIMER_MS + 5;
  let fired = 0;
  timerAt(t.now, at, () => fired++, t.timers);
  expect(t.delays()).toEqual([MAX_TIMER_MS]);
  for (let i = 0; i < 3; i++) {
    t.step();
    expect(fired).toBe(0);
  }
  expect(t.delays()).toEqual([5]);
  t.step();
  expect(fired).toBe(1);
  expect(t.now()).toBe(at);
  expect(t.delays()).toEqual([]);
});

test("a moment already past fires at once; cancel() stops a pending one", () => {
  const t = fakeTime(50_000);
  let fired = 0;
  timerAt(t.now, 49_000, () => fired++, t.timers);
  expect(fired).toBe(1);
  expect(t.delays()).toEqual([]);
  const pending = timerAt(t.now, 60_000, () => fired++, t.timers);
  expect(t.delays()).toEqual([10_000]);
  pending.cancel();
  expect(t.delays()).toEqual([]);
  expect(fired).toBe(1);
});

test("with real timers, a far moment does not fire soon (no 1 ms overflow)", async () => {
  let fired = false;
  const timer = timerAt(Date.now, Date.now() + 30 * 24 * 3_600_000, () => (fired = true));
  await Bun.sleep(20); // a window for an overflowed 1 ms timer to fire; none must
  timer.cancel();
  expect(fired).toBe(false);
});

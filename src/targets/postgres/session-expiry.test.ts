import { expect, test } from "bun:test";
import { SessionExpiry } from "./session-expiry.ts";

const clock = (t: number) => ({ now: () => t });
// mayFinish reads only the message type.
const msg = (type: string) => ({ type, raw: new Uint8Array() }) as never;

test("after expiry only the rest of a batch under way goes through, up to its Sync", () => {
  const e = new SessionExpiry(1_000, clock(2_000), () => {});
  expect(e.mayFinish(msg("Bind"), 0)).toBe(false);
  expect(e.mayFinish(msg("Query"), 3)).toBe(false);
  expect(e.mayFinish(msg("FunctionCall"), 3)).toBe(false);
  expect(e.mayFinish(msg("Execute"), 3)).toBe(true);
  expect(e.mayFinish(msg("Sync"), 3)).toBe(true);
  // Anything after that Sync waits for the end, even with answers still owed.
  expect(e.mayFinish(msg("Parse"), 4)).toBe(false);
});

test("fires at once for a token already expired, never for one without expiry; the message names the time", async () => {
  let fired = 0;
  const past = new SessionExpiry(1_000, clock(2_000), () => fired++);
  past.start();
  expect(fired).toBe(1);
  expect(past.expired).toBe(true);
  expect(past.message()).toContain("1970-01-01T00:00:01.000Z");
  const none = new SessionExpiry(undefined, clock(2_000), () => fired++);
  none.start();
  expect(none.expired).toBe(false);
  const later = new SessionExpiry(Date.now() + 50, { now: () => Date.now() }, () => fired++);
  later.start();
  later.cancel();
  await Bun.sleep(120);
  expect(fired).toBe(1);
});

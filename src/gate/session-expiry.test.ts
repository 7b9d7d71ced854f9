// When a session's credential stops counting: the expiry timer, end() once with its reason, and
// the check that refuses to open a session with a token already expired.
import { expect, test } from "bun:test";
import { SessionExpiry, tokenExpiredAtOpen } from "./session-expiry.ts";

const clock = (t: number) => ({ now: () => t });

test("end() happens once, with its reason and message; the expiry timer no longer fires after it", async () => {
  let fired = 0;
  const e = new SessionExpiry(Date.now() + 60, { now: () => Date.now() }, () => fired++);
  e.start();
  e.end("credential_revoked");
  e.end("token_expired");
  expect(fired).toBe(1);
  expect(e.reason).toBe("credential_revoked");
  expect(e.message()).toContain("no longer trusts");
  // Past the timer's moment: timers fire in the order of their deadlines, so this sleep ends after it would have.
  await Bun.sleep(150);
  expect(fired).toBe(1);
});

test("fires at once for a token already expired, never for one without expiry; the message names the time", async () => {
  let fired = 0;
  const past = new SessionExpiry(1_000, clock(2_000), () => fired++);
  past.start();
  expect(fired).toBe(1);
  expect(past.reason).toBe("token_expired");
  expect(past.message()).toContain("1970-01-01T00:00:01.000Z");
  const none = new SessionExpiry(undefined, clock(2_000), () => fired++);
  none.start();
  expect(none.reason).toBeNull();
  const later = new SessionExpiry(Date.now() + 50, { now: () => Date.now() }, () => fired++);
  later.start();
  later.cancel();
  // As above: a timer with the later deadline ends after the cancelled one would have fired.
  await Bun.sleep(120);
  expect(fired).toBe(1);
});

test("a token at or past its expiry is refused at open only when sessions end at expiry; a machine key never", () => {
  const now = clock(2_000);
  expect(tokenExpiredAtOpen({ expiresAt: 2_000 }, now, () => true)).toBe(true);
  expect(tokenExpiredAtOpen({ expiresAt: 1_000 }, now, () => true)).toBe(true);
  expect(tokenExpiredAtOpen({ expiresAt: 1_000 }, now, () => false)).toBe(false);
  expect(tokenExpiredAtOpen({ expiresAt: 2_001 }, now, () => true)).toBe(false);
  expect(tokenExpiredAtOpen({}, now, () => true)).toBe(false);
});

test("onEnd is told why: the expiry timer, or the reason given to end()", () => {
  const reasons: string[] = [];
  new SessionExpiry(1_000, clock(2_000), (r) => reasons.push(r)).start();
  new SessionExpiry(undefined, clock(2_000), (r) => reasons.push(r)).end("credential_revoked");
  expect(reasons).toEqual(["token_expired", "credential_revoked"]);
});

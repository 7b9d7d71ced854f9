import { expect, test } from "bun:test";
import { compileDetectors } from "./detectors.ts";
import { createStreamMasker } from "./stream-masker.ts";
import { maskedOutput } from "./stream-masker-idle.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test("held-back bytes go out when the stream goes quiet; the rest at once; end flushes", () => {
  const sent: string[] = [];
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const out = maskedOutput(createStreamMasker(compileDetectors(["email"])), (b) => (sent.push(dec(b)), true), {
    idleMs: 15,
    setTimer: (fn, ms) => (timers.push({ fn, ms, cleared: false }), timers.length - 1),
    clearTimer: (h) => void (timers[h as number]!.cleared = true),
  });
  expect(out.write(enc("ls\r\n"))).toBe(true);
  expect(sent).toEqual(["ls\r\n"]);
  expect(timers.length).toBe(0); // nothing held: no timer
  out.write(enc("l"));
  out.write(enc("s"));
  expect(sent).toEqual(["ls\r\n"]);
  expect(timers.map((t) => t.cleared)).toEqual([true, false]); // each write restarts the wait
  timers[1]!.fn();
  expect(sent).toEqual(["ls\r\n", "ls"]);
  out.write(enc("mail bob@example.co"));
  out.end();
  expect(sent).toEqual(["ls\r\n", "ls", "mail ", "[masked:email]"]);
  expect(out.write(enc("late"))).toBe(true);
  expect(sent.length).toBe(4);
});

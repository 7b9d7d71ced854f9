// The queue of answers the upstream owes: order, skipping to Sync after an error, compaction.
import { expect, test } from "bun:test";
import { ResponseTracker } from "./response-tracker.ts";

test("entries come out in order; skipToSync drops everything before the next Sync", () => {
  const t = new ResponseTracker();
  t.push({ kind: "parse", injected: false, statement: null, previous: undefined });
  t.push({ kind: "bind", injected: false, portal: null, previous: undefined });
  t.push({ kind: "close" });
  t.push({ kind: "sync" });
  t.push({ kind: "close" });
  expect(t.pop()!.kind).toBe("parse");
  expect(t.skipToSync().map((e) => e.kind)).toEqual(["bind", "close"]);
  expect(t.peek()!.kind).toBe("sync");
  expect(t.size).toBe(2);
  expect(t.drain().map((e) => e.kind)).toEqual(["sync", "close"]);
  expect(t.pop()).toBeUndefined();
  expect(t.skipToSync()).toEqual([]);
});

test("a long-lived queue stays correct across compactions", () => {
  const t = new ResponseTracker();
  let pushed = 0;
  let popped = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100; i++) t.push({ kind: "deny-query", error: new Uint8Array([pushed++ & 0xff]), sent: false });
    for (let i = 0; i < 60; i++) {
      const e = t.pop()!;
      expect(e.kind === "deny-query" && e.error[0]).toBe(popped++ & 0xff);
    }
  }
  expect(t.size).toBe(pushed - popped);
});

test("after an error with no Sync queued, entries pushed later are skipped until the next Sync", () => {
  const t = new ResponseTracker();
  const skipped: string[] = [];
  t.onSkipped = (e) => skipped.push(e.kind);
  t.push({ kind: "parse", injected: false, statement: null, previous: undefined });
  t.pop();
  // The Parse failed before the gateway finished deciding the Bind behind it.
  expect(t.skipToSync()).toEqual([]);
  expect(t.skippingToSync).toBe(true);
  t.push({ kind: "bind", injected: false, portal: null, previous: undefined });
  t.push({ kind: "close" });
  expect(t.size).toBe(0);
  expect(skipped).toEqual(["bind", "close"]);
  t.push({ kind: "sync" });
  t.push({ kind: "close" });
  expect(t.skippingToSync).toBe(false);
  expect(t.drain().map((e) => e.kind)).toEqual(["sync", "close"]);
});

// State the two relays share: outbox writes joined per chunk, and the catalog fence's epochs.
import { expect, test } from "bun:test";
import { CatalogFence, Outbox, settleRun, type ByteSink, type StatementRun } from "./session-state.ts";

/** A sink that copies what it is given, as a Connection does with what it keeps. */
function collect(): { sink: ByteSink; writes: Uint8Array[] } {
  const writes: Uint8Array[] = [];
  return { sink: { write: (b) => (writes.push(b.slice()), true) }, writes };
}

test("adjacent views of one buffer become one write; others are joined in order", () => {
  const chunk = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  const o = new Outbox();
  expect(o.empty).toBe(true);
  o.push(chunk.subarray(0, 3));
  o.push(chunk.subarray(3, 5));
  const { sink, writes } = collect();
  o.flush(sink);
  expect(writes.length).toBe(1);
  expect([...writes[0]!]).toEqual([1, 2, 3, 4, 5]);
  expect(o.empty).toBe(true);
  o.push(chunk.subarray(5, 6));
  o.push(new Uint8Array([9]));
  o.pushRange(chunk, 6, 8);
  o.flush(sink);
  expect([...writes[1]!]).toEqual([6, 9, 7, 8]);
  expect(o.flush(sink)).toBe(true);
  expect(writes.length).toBe(2);
});

const run = (): StatementRun => ({ facts: { kind: "postgres", classes: [], relations: [], functions: [] }, rule: null, spec: null, started: 0, plan: null, rows: 0, done: false });

test("catalog fence: opens at the ReadyForQuery after every watched run settled, and starts a new epoch", async () => {
  let changes = 0;
  const f = new CatalogFence(() => changes++);
  expect(f.open).toBe(true);
  const a = run();
  const b = run();
  f.watch(a);
  f.watch(b);
  let opened = false;
  const waited = f.wait().then(() => (opened = true));
  settleRun(a);
  f.ready("I");
  settleRun(a); // once only
  expect(f.open).toBe(false);
  settleRun(b);
  expect(f.open).toBe(false); // not before its transaction ended
  await Promise.resolve();
  expect(opened).toBe(false);
  f.ready("I");
  await waited;
  expect(f.open).toBe(true);
  expect(changes).toBe(2);
  expect(f.epoch).toBe(2);
  f.ready("I"); // a ReadyForQuery with nothing settled changes nothing
  expect(f.epoch).toBe(2);
});

test("catalog fence: a run that starts COPY FROM STDIN opens it at once; a finished run is not watched", () => {
  const f = new CatalogFence(() => {});
  const c = run();
  f.watch(c);
  settleRun(c, true);
  expect(f.open).toBe(true);
  const d = run();
  d.done = true;
  f.watch(d);
  expect(f.open).toBe(true);
});

test("catalog fence: a change inside a transaction block drops the cache again when the block ends", () => {
  let changes = 0;
  const f = new CatalogFence(() => changes++);
  const a = run();
  f.watch(a);
  settleRun(a);
  f.ready("T");
  expect(f.open).toBe(true);
  expect(changes).toBe(1);
  f.ready("T");
  expect(changes).toBe(1);
  f.ready("I"); // COMMIT or ROLLBACK
  expect(changes).toBe(2);
  expect(f.epoch).toBe(2);
  f.ready("I");
  expect(changes).toBe(2);
});

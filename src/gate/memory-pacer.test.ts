import { expect, test } from "bun:test";
import { MemoryPacer } from "./memory-pacer.ts";

test("collects only when resident memory grew by the limit since the last collection", () => {
  let rss = 100;
  const pacer = new MemoryPacer({ rss: () => rss, collect: () => (rss = 105), checkEvery: 10, growth: 50, minRelayed: 10 });
  pacer.relayed(9);
  rss = 200;
  pacer.relayed(0);
  expect(pacer.collections).toBe(0); // not checked yet: fewer than 10 bytes since the last look
  pacer.relayed(1);
  expect(pacer.collections).toBe(1);
  rss = 150;
  pacer.relayed(10);
  expect(pacer.collections).toBe(1); // 45 above 105
  rss = 160;
  pacer.relayed(10);
  expect(pacer.collections).toBe(2);
});

test("with small reads, collects only when enough was relayed since the last collection to account for the growth", () => {
  // Resident memory that grows while little is relayed (the heap of many small statements) is
  // the engine's to collect: a full collection would free no read buffers.
  let rss = 100;
  const pacer = new MemoryPacer({ rss: () => rss, collect: () => (rss = 105), checkEvery: 10, growth: 50, bulkChunk: 20 });
  rss = 200;
  for (let i = 0; i < 4; i++) pacer.relayed(10);
  expect(pacer.collections).toBe(0); // 40 bytes relayed, fewer than the growth of 50
  pacer.relayed(10);
  expect(pacer.collections).toBe(1);
  rss = 200;
  pacer.relayed(10);
  expect(pacer.collections).toBe(1); // counted again from the last collection
  for (let i = 0; i < 4; i++) pacer.relayed(10);
  expect(pacer.collections).toBe(2);
});

test("a large read since the last look: collects on growth alone, however little was relayed since the last collection", () => {
  // Large reads come in buffers larger than the bytes they hold: resident memory outgrows the bytes relayed.
  let rss = 100;
  const pacer = new MemoryPacer({ rss: () => rss, collect: () => (rss = 105), checkEvery: 10, growth: 50, bulkChunk: 20 });
  rss = 200;
  pacer.relayed(10);
  expect(pacer.collections).toBe(0); // a small read, 10 bytes relayed
  pacer.relayed(20);
  expect(pacer.collections).toBe(1);
  rss = 200;
  pacer.relayed(10);
  expect(pacer.collections).toBe(1); // small again: wait for 50 bytes relayed
  pacer.relayed(25);
  expect(pacer.collections).toBe(2);
});

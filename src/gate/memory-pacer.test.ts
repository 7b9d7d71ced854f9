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

test("with small reads, a full collection waits until enough was relayed since the last one; growth before that asks for the engine's own", () => {
  // Resident memory that grows while little is relayed (the heap of many small statements) is
  // the engine's to collect: a full collection would free few read buffers.
  let rss = 100;
  const pacer = new MemoryPacer({ rss: () => rss, collect: () => (rss = 105), collectSoon: () => {}, checkEvery: 10, growth: 50, bulkChunk: 20 });
  rss = 200;
  for (let i = 0; i < 4; i++) pacer.relayed(10);
  expect(pacer.collections).toBe(0); // 40 bytes relayed, fewer than the growth of 50
  expect(pacer.lightCollections).toBe(1); // asked for once, at 200; growth counts from there
  rss = 260;
  pacer.relayed(10);
  expect(pacer.collections).toBe(1); // 50 bytes relayed, and 60 above 200
  rss = 200;
  pacer.relayed(10);
  expect(pacer.collections).toBe(1); // counted again from the last collection
  expect(pacer.lightCollections).toBe(2);
});

test("a large read since the last look: collects on growth alone, however little was relayed since the last collection", () => {
  // Large reads come in buffers larger than the bytes they hold: resident memory outgrows the bytes relayed.
  let rss = 100;
  const pacer = new MemoryPacer({ rss: () => rss, collect: () => (rss = 105), collectSoon: () => {}, checkEvery: 10, growth: 50, bulkChunk: 20 });
  rss = 200;
  pacer.relayed(20);
  expect(pacer.collections).toBe(1); // a large read: 20 bytes relayed, 100 above 100
  expect(pacer.lightCollections).toBe(0);
  rss = 200;
  pacer.relayed(10);
  expect(pacer.collections).toBe(1); // small again: not a full one
  rss = 300;
  pacer.relayed(25);
  expect(pacer.collections).toBe(2);
});

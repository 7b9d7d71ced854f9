import { expect, test } from "bun:test";
import { MemoryPacer } from "./memory-pacer.ts";

test("collects only when resident memory grew by the limit since the last collection", () => {
  let rss = 100;
  const pacer = new MemoryPacer({ rss: () => rss, collect: () => (rss = 105), checkEvery: 10, growth: 50 });
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

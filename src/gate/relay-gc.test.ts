import { expect, test } from "bun:test";
import { gcPacer } from "./relay-gc.ts";

test("a collection every 4 MiB relayed, and sooner when resident memory grew 32 MiB", () => {
  let gcs = 0;
  let rss = 100;
  const relayed = gcPacer({ gc: () => gcs++, rss: () => rss });
  for (let i = 0; i < 63; i++) relayed(64 * 1024);
  expect(gcs).toBe(0);
  relayed(64 * 1024);
  expect(gcs).toBe(1);
  rss += 33 * 1024 * 1024;
  relayed(64 * 1024);
  expect(gcs).toBe(2);
});

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBatchedFile } from "./batched-file.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-batched-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

test("what is written in one turn of the event loop goes out in one write(2)", async () => {
  const f = await openBatchedFile(join(dir, "batch.txt"));
  for (let i = 0; i < 1000; i++) f.write(`line ${i}\n`);
  expect(f.queued).toBeGreaterThan(0); // nothing was written synchronously
  await new Promise((r) => setImmediate(r));
  for (let i = 1000; i < 1010; i++) f.write(`line ${i}\n`);
  const s = await f.close();
  const bytes = readFileSync(join(dir, "batch.txt"));
  expect(bytes.toString().split("\n").length).toBe(1011);
  expect(s.writes).toBeLessThanOrEqual(2);
  expect(s).toMatchObject({ sha256: sha256(bytes), bytes: bytes.length, truncated: false });
  expect(f.write("late")).toBe(false);
});

test("a file that exists is not overwritten", async () => {
  const f = await openBatchedFile(join(dir, "once.txt"));
  await f.close();
  await expect(openBatchedFile(join(dir, "once.txt"))).rejects.toThrow(/EEXIST|exists/);
});

import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openExecCapture } from "./exec-capture.ts";
import { recordingLinks } from "./recording-ref.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-capture-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

test("output under the limit is kept whole; its file hash is the stream's", async () => {
  const cap = openExecCapture({ prefix: join(dir, "s1-1"), limit: 1024 });
  cap.stdout(enc("hello\n"));
  cap.stderr(enc("warning\n"));
  cap.stdout(enc("world\n"));
  const s = await cap.close();
  expect(s.stdout).toEqual({ sha256: sha256(enc("hello\nworld\n")), bytes: 12, captured_bytes: 12, truncated: false, file: join(dir, "s1-1.stdout"), file_sha256: sha256(enc("hello\nworld\n")) });
  expect(readFileSync(join(dir, "s1-1.stderr"), "utf8")).toBe("warning\n");
  expect(s.stderr.truncated).toBe(false);
  expect(recordingLinks({ output: s }).map((l) => l.field)).toEqual(["output.stdout", "output.stderr"]);
});

test("a large stream keeps `limit` bytes on disk and the hash of all of it", async () => {
  const limit = 1024 * 1024;
  const cap = openExecCapture({ prefix: join(dir, "big"), limit, sync: false });
  const chunk = new Uint8Array(64 * 1024);
  const whole = new Bun.CryptoHasher("sha256");
  let total = 0;
  // 64 MiB through in 64 KiB chunks (an SSH window's worth at a time), with the event loop
  // turning between them as it does between socket reads.
  for (let i = 0; i < 1024; i++) {
    chunk.fill(i % 251);
    cap.stdout(chunk);
    whole.update(chunk);
    total += chunk.length;
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  const s = await cap.close();
  expect(s.stdout.bytes).toBe(total);
  expect(s.stdout.sha256).toBe(whole.digest("hex"));
  expect(s.stdout.captured_bytes).toBe(limit);
  expect(s.stdout.truncated).toBe(true);
  expect(statSync(join(dir, "big.stdout")).size).toBe(limit);
  expect(s.stdout.file_sha256).toBe(sha256(readFileSync(join(dir, "big.stdout"))));
  expect(s.stderr).toEqual({ sha256: sha256(new Uint8Array()), bytes: 0, captured_bytes: 0, truncated: false });
  expect(existsSync(join(dir, "big.stderr"))).toBe(false);
});

test("stdout and stderr share the limit; limit 0 keeps only hashes; no output leaves no file", async () => {
  const cap = openExecCapture({ prefix: join(dir, "shared"), limit: 10 });
  cap.stdout(enc("123456"));
  cap.stderr(enc("abcdef"));
  const s = await cap.close();
  expect([s.stdout.captured_bytes, s.stdout.truncated, s.stderr.captured_bytes, s.stderr.truncated]).toEqual([6, false, 4, true]);
  expect(readFileSync(join(dir, "shared.stderr"), "utf8")).toBe("abcd");
  expect(s.stderr.sha256).toBe(sha256(enc("abcdef")));

  const none = openExecCapture({ prefix: join(dir, "hashes"), limit: 0 });
  none.stdout(enc("secret output"));
  const h = await none.close();
  expect(h.stdout).toEqual({ sha256: sha256(enc("secret output")), bytes: 13, captured_bytes: 0, truncated: true });
  expect(existsSync(join(dir, "hashes.stdout"))).toBe(false);

  const quiet = await openExecCapture({ prefix: join(dir, "quiet"), limit: 100 }).close();
  expect(quiet.stdout.bytes + quiet.stderr.bytes).toBe(0);
  expect(existsSync(join(dir, "quiet.stdout"))).toBe(false);
});

test("a capture file that cannot be created costs the capture, not the hash", async () => {
  const cap = openExecCapture({ prefix: join(dir, "twice"), limit: 100 });
  cap.stdout(enc("one"));
  await cap.close();
  const again = openExecCapture({ prefix: join(dir, "twice"), limit: 100 });
  again.stdout(enc("two"));
  const s = await again.close();
  expect(s.stdout.captured_bytes).toBe(0);
  expect(s.stdout.truncated).toBe(true);
  expect(s.stdout.sha256).toBe(sha256(enc("two")));
  expect(s.stdout.reason).toContain("cannot create");
  expect(readFileSync(join(dir, "twice.stdout"), "utf8")).toBe("one");
});

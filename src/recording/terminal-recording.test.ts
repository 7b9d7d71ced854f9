import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openTerminalRecording } from "./terminal-recording.ts";
import { recordingFile } from "./recording-ref.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-rec-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

// asciinema opens /dev/tty: script(1) gives it a terminal; -e passes its exit status on.
const inTerminal = (cmd: string) =>
  Bun.spawnSync(["script", "-q", "-e", "-c", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, LANG: "C.UTF-8" } });

function steppingClock(startMs: number) {
  let t = startMs;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

test("header, output, resize; input only when asked; sha-256 and size are the file's", async () => {
  const clock = steppingClock(Date.parse("2026-12-06T12:00:00.000Z"));
  const file = recordingFile(dir, "ssh_abc/../x", ".cast");
  expect(file).toBe(join(dir, "recordings", "ssh_abc_.._x.cast"));
  const rec = await openTerminalRecording({ file, width: 100, height: 30, term: "xterm-256color", shell: "/bin/bash", title: "alice@web1", clock });
  clock.advance(250);
  rec.output(enc("\x1b[1;31mHello\x1b[0m\r\n$ "));
  clock.advance(500);
  rec.input(enc("ls\r"));
  rec.resize(120, 40);
  clock.advance(1250);
  rec.output(enc("a.txt\r\n"));
  const s = await rec.close();
  const bytes = readFileSync(file);
  const lines = bytes.toString("utf8").split("\n");
  expect(JSON.parse(lines[0]!)).toEqual({ version: 2, width: 100, height: 30, timestamp: Date.parse("2026-12-06T12:00:00.000Z") / 1000, env: { TERM: "xterm-256color", SHELL: "/bin/bash" }, title: "alice@web1" });
  expect(lines.slice(1)).toEqual(['[0.250000, "o", "\\u001b[1;31mHello\\u001b[0m\\r\\n$ "]', '[0.750000, "r", "120x40"]', '[2.000000, "o", "a.txt\\r\\n"]', ""]);
  expect(s).toEqual({ file, sha256: sha256(bytes), bytes: bytes.length, events: 3, truncated: false });
});

test("recordInput adds the keystrokes as i events", async () => {
  const clock = steppingClock(0);
  const file = join(dir, "recordings", "input.cast");
  const rec = await openTerminalRecording({ file, width: 80, height: 24, clock, recordInput: true });
  rec.input(enc("id\r"));
  rec.output(enc("uid=0\r\n"));
  await rec.close();
  expect(readFileSync(file, "utf8").split("\n").slice(1, 3)).toEqual(['[0.000000, "i", "id\\r"]', '[0.000000, "o", "uid=0\\r\\n"]']);
});

test("a character split between chunks is written whole, at every split position", async () => {
  const text = "a€b😀c é\r\n";
  const all = enc(text);
  for (let cut = 0; cut <= all.length; cut++) {
    const file = join(dir, "recordings", `split-${cut}.cast`);
    const rec = await openTerminalRecording({ file, width: 80, height: 24, clock: { now: () => 0 } });
    rec.output(all.subarray(0, cut));
    rec.output(all.subarray(cut));
    await rec.close();
    const events = readFileSync(file, "utf8").trim().split("\n").slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.map((e) => e[2]).join("")).toBe(text);
    expect(events.every((e) => !e[2].includes("\uFFFD"))).toBe(true);
  }
  // A stream that ends inside a character shows U+FFFD for it, as a terminal would.
  const file = join(dir, "recordings", "torn.cast");
  const rec = await openTerminalRecording({ file, width: 80, height: 24 });
  rec.output(all.subarray(0, 2));
  await rec.close();
  expect(readFileSync(file, "utf8").trim().split("\n").slice(1).map((l) => JSON.parse(l)[2]).join("")).toBe("a\uFFFD");
});

test("when the disk falls behind, the queue stays bounded and the recording is marked truncated", async () => {
  const file = join(dir, "recordings", "slow.cast");
  const reasons: string[] = [];
  const rec = await openTerminalRecording({ file, width: 80, height: 24, maxQueuedBytes: 64 * 1024, onTruncated: (r) => reasons.push(r) });
  const chunk = enc("x".repeat(1000) + "\r\n");
  // All in one turn of the event loop: nothing can be written before it ends, as with a stalled disk.
  for (let i = 0; i < 1000; i++) rec.output(chunk);
  const s = await rec.close();
  const bytes = readFileSync(file);
  expect(s.truncated).toBe(true);
  expect(reasons.length).toBe(1);
  expect(reasons[0]).toContain("the disk fell behind");
  expect(bytes.length).toBeLessThan(70 * 1024);
  expect(s.sha256).toBe(sha256(bytes));
  expect(s.bytes).toBe(bytes.length);
  const lines = bytes.toString("utf8").trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]!) as [number, string, string];
  expect(last[1]).toBe("m");
  expect(last[2]).toContain("recording truncated");
  expect(s.events).toBe(lines.length - 1);
  // The marker does not stop asciinema from playing what was recorded.
  const cat = inTerminal(`asciinema cat '${file}'`);
  expect(cat.exitCode).toBe(0);
  expect(cat.stdout.toString()).toContain("x".repeat(1000));
});

test("asciinema plays a recording the writer made", async () => {
  const file = join(dir, "recordings", "play.cast");
  const rec = await openTerminalRecording({ file, width: 80, height: 24, term: "xterm", shell: "/bin/sh" });
  const first = enc("$ echo héllo\r\nhéllo from the gateway\r\n");
  rec.output(first.subarray(0, 9)); // ends inside the é
  rec.output(first.subarray(9));
  rec.resize(90, 30);
  rec.output(enc("\x1b[32mdone\x1b[0m\r\n"));
  const s = await rec.close();
  expect(s.sha256).toBe(sha256(readFileSync(file)));
  const cat = inTerminal(`asciinema cat '${file}'`);
  expect(cat.stderr.toString()).toBe("");
  expect(cat.exitCode).toBe(0);
  expect(cat.stdout.toString()).toContain("$ echo héllo");
  expect(cat.stdout.toString()).toContain("héllo from the gateway");
  expect(cat.stdout.toString()).toContain("\x1b[32mdone");
  const play = inTerminal(`asciinema play -s 100 '${file}'`);
  expect(play.exitCode).toBe(0);
  expect(play.stdout.toString()).toContain("héllo from the gateway");
});

test("a write that fails part-way (EFBIG under ulimit -f) leaves whole lines that match the hash, and says why", async () => {
  const file = join(dir, "recordings", "efbig.cast");
  const child = Bun.spawnSync(["bash", "-c", `trap '' XFSZ; ulimit -f 16; exec "$0" "$1" "$2"`, process.execPath, join(import.meta.dir, "write-failure-child.ts"), file], { stdout: "pipe", stderr: "pipe" });
  expect(child.stderr.toString()).toBe("");
  const { summary: s, reasons } = JSON.parse(child.stdout.toString()) as { summary: { sha256: string; bytes: number; events: number; truncated: boolean; reason: string }; reasons: string[] };
  const bytes = readFileSync(file);
  expect(s.truncated).toBe(true);
  expect(s.reason).toContain("EFBIG");
  expect(reasons).toEqual([s.reason]);
  expect(bytes.length).toBe(s.bytes);
  expect(bytes.length).toBeLessThanOrEqual(16 * 1024);
  expect(s.sha256).toBe(sha256(bytes));
  const lines = bytes.toString("utf8").split("\n");
  expect(lines.pop()).toBe(""); // ends with a whole line
  expect(lines.every((l) => JSON.parse(l) !== null)).toBe(true);
  expect(s.events).toBe(lines.length - 1);
  expect(s.events).toBeGreaterThan(0);
});

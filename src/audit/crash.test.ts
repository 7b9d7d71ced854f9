import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "./log.ts";
import { readRecords } from "./reader.ts";
import { loadOrCreateSigningKey } from "./signing-key.ts";
import { verifyLog, verifyLogReport } from "./verify.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the child until it acknowledged at least `acks` appends, then kill -9; returns what it acknowledged. */
async function runAndKill(path: string, acks: number, keyFile?: string, mode = "append"): Promise<Map<number, string>> {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "crash-child.ts"), path, "8", ...(keyFile ? [keyFile] : [])], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, CRASH_MODE: mode },
  });
  const acknowledged = new Map<number, string>();
  const decoder = new TextDecoder();
  let pending = "";
  const reader = child.stdout.getReader();
  let killed = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      const [seq, run, w, n] = line.split(" ");
      acknowledged.set(Number(seq), `${run}/${w}/${n}`);
    }
    if (!killed && acknowledged.size >= acks) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  await child.exited;
  if (!killed) throw new Error(`child exited by itself: ${await new Response(child.stderr).text()}`);
  expect(child.signalCode).toBe("SIGKILL");
  return acknowledged;
}

test.each(["append", "fragments"])("kill -9 mid-flight, repeatedly (%s): the reopened log verifies and holds every acknowledged record", async (mode) => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-crash-"));
  dirs.push(dir);
  const path = join(dir, "audit.log");
  const acknowledged = new Map<number, string>();
  const kills = 5;
  for (let i = 0; i < kills; i++) {
    const acks = await runAndKill(path, 500 + i * 700, undefined, mode);
    expect(acks.size).toBeGreaterThan(0);
    for (const [seq, key] of acks) acknowledged.set(seq, key);
  }
  const log = await openAuditLog({ path });
  await log.close();
  expect(await verifyLog(path)).toMatchObject({ ok: true });

  const onDisk = new Map<number, string>();
  for await (const { record } of readRecords(path)) {
    if (record.type !== "request") continue;
    const d = record.details as { run: number; w: number; n: number };
    onDisk.set(record.seq, `${d.run}/${d.w}/${d.n}`);
  }
  const missing = [...acknowledged].filter(([seq, key]) => onDisk.get(seq) !== key);
  expect(missing).toEqual([]);
  expect(acknowledged.size).toBeGreaterThan(kills * 500);
});

test("kill -9 between and during checkpoint writes: the reopened log verifies, every checkpoint signature holds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-crash-cp-"));
  dirs.push(dir);
  const path = join(dir, "audit.log");
  const keyFile = join(dir, "key", "ed25519.pem");
  for (let i = 0; i < 4; i++) await runAndKill(path, 300 + i * 450, keyFile);
  const key = await loadOrCreateSigningKey(keyFile);
  const log = await openAuditLog({ path, checkpoints: { key } });
  await log.close(); // the closing checkpoint anchors what the kills left
  const report = await verifyLogReport(path, { keys: [key.publicKey] });
  expect(report).toMatchObject({ ok: true, signatures: "verified", not_checkpointed: 0 });
  expect(report.ok && report.checkpoints).toBeGreaterThan(4 * 300 / 50 / 2);
});

import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempLogs } from "./audit-test-helpers.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { openAuditLog, type AuditLog } from "./log.ts";
import { listLogFiles, readRecords } from "./reader.ts";
import { loadOrCreateSigningKey, type SigningKey } from "./signing-key.ts";
import { verifyLogReport } from "./verify.ts";
import { waitFor } from "../../test/helpers/wait.ts";

const tempLog = tempLogs("gatehouse-checkpointed-");

async function keyBeside(path: string): Promise<SigningKey> {
  return loadOrCreateSigningKey(join(dirname(path), "key", "ed25519.pem"));
}

async function open(path: string, key: SigningKey, opts: { everyRecords?: number; intervalMs?: number; rotateSize?: number } = {}): Promise<AuditLog> {
  const { rotateSize, ...cp } = opts;
  return openAuditLog({ path, ...(rotateSize ? { rotateSize } : {}), checkpoints: { key, everyRecords: 1_000_000, intervalMs: 3_600_000, ...cp } });
}

const request = (i: number) => ({ type: "request", target: "api", details: { i } });

/** One event-loop turn: an immediate queued by an append before this has run when it resolves. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function recordsOf(path: string) {
  const out = [];
  for await (const r of readRecords(path)) out.push(r);
  return out;
}

describe("checkpointed audit log", () => {
  test("every N records a checkpoint signs the record before it; fewer than N write none", async () => {
    const path = tempLog();
    const key = await keyBeside(path);
    const log = await open(path, key, { everyRecords: 10 });
    for (let i = 1; i <= 10; i++) await log.append(request(i));
    const first = await waitFor("the checkpoint after 10 records", () => log.latestCheckpoint);
    const tenth = (await recordsOf(path))[9]!.record;
    expect(first).toMatchObject({ seq: 10, hash: tenth.hash, key_id: key.publicKey.id });
    expect(log.lastSeq).toBe(11);

    for (let i = 11; i <= 19; i++) await log.append(request(i));
    await nextTurn();
    expect(log.lastSeq).toBe(20); // nine records: no checkpoint queued
    await log.append(request(20));
    await nextTurn();
    expect(log.lastSeq).toBe(22); // the tenth queued one, written in the next turn
    const second = await waitFor("the checkpoint of seq 21", () => (log.latestCheckpoint!.seq === 21 ? log.latestCheckpoint : null));
    expect(second.seq).toBe(21);
    await log.close();

    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toMatchObject({ ok: true, records: 22, checkpoints: 2, signatures: "verified", not_checkpointed: 0 });
    const types = (await recordsOf(path)).map((r) => r.record.type);
    expect(types.filter((t) => t === "audit.checkpoint").length).toBe(2);
  });

  test("a record waits at most the interval for its checkpoint", async () => {
    const path = tempLog();
    const key = await keyBeside(path);
    const log = await open(path, key, { intervalMs: 20 });
    for (let i = 1; i <= 3; i++) await log.append(request(i));
    const cp = await waitFor("a checkpoint by the interval", () => log.latestCheckpoint);
    expect(cp.seq).toBe(3);
    await log.close();
    expect(await verifyLogReport(path, { keys: [key.publicKey] })).toMatchObject({ ok: true, checkpoints: 1, not_checkpointed: 0 });
  });

  test("close writes a last checkpoint, only when records follow the last one", async () => {
    const path = tempLog();
    const key = await keyBeside(path);
    let log = await open(path, key);
    for (let i = 1; i <= 3; i++) await log.append(request(i));
    await log.close();
    let recs = await recordsOf(path);
    expect(recs.map((r) => r.record.type)).toEqual(["request", "request", "request", "audit.checkpoint"]);
    expect(recs[3]!.record.details).toMatchObject({ seq: 3, hash: recs[2]!.record.hash });

    log = await open(path, key);
    await log.append(request(4));
    expect(await log.checkpoint()).toMatchObject({ seq: 5 });
    await log.close();
    recs = await recordsOf(path);
    expect(recs.map((r) => r.record.type).slice(4)).toEqual(["request", "audit.checkpoint"]); // no second one at close
    expect(await verifyLogReport(path, { keys: [key.publicKey] })).toMatchObject({ ok: true, records: 6, checkpoints: 2, not_checkpointed: 0 });
  });

  test("the checkpoint it serves is already fsync'd", async () => {
    const path = tempLog();
    const log = await open(path, await keyBeside(path));
    await log.append(request(1));
    const cp = (await log.checkpoint())!;
    expect(log.latestCheckpoint).toEqual(cp);
    expect(log.durableSeq).toBeGreaterThanOrEqual(cp.seq + 1);
    await log.close();
  });

  test("under many concurrent writers every checkpoint signs exactly the record before it", async () => {
    const path = tempLog();
    const key = await keyBeside(path);
    const log = await open(path, key, { everyRecords: 7 });
    await Promise.all(
      Array.from({ length: 50 }, async (_, w) => {
        for (let i = 0; i < 40; i++) {
          await log.append(request(w * 1000 + i));
          await nextTurn(); // many turns, so that many checkpoints interleave with the writers' records
        }
      }),
    );
    await log.close();
    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toMatchObject({ ok: true, signatures: "verified", not_checkpointed: 0 });
    expect(report.ok && report.checkpoints).toBeGreaterThan(10);
  });

  test("across rotation: a checkpoint may sign a record in the file before its own", async () => {
    const path = tempLog();
    const key = await keyBeside(path);
    // The third record fills the file: it is rotated away right after that record's own write,
    // and the checkpoint, appended a turn later, starts the next file.
    const probe = await openAuditLog({ path: `${path}.probe` });
    await probe.append(request(1));
    await probe.close();
    const lineBytes = statSync(probe.path).size;
    const log = await open(path, key, { everyRecords: 3, rotateSize: 3 * lineBytes - 1 });
    for (let i = 1; i <= 9; i++) {
      await log.append(request(i));
      await nextTurn();
    }
    await log.close();
    expect((await listLogFiles(path)).length).toBeGreaterThan(1);
    const recs = await recordsOf(path);
    const fourth = recs[3]!;
    expect(fourth.record).toMatchObject({ type: "audit.checkpoint", details: { seq: 3 } });
    expect(fourth.file).not.toBe(recs[2]!.file);
    expect(await verifyLogReport(path, { keys: [key.publicKey] })).toMatchObject({ ok: true, signatures: "verified", not_checkpointed: 0 });
  });

  test("a checkpoint torn by a crash is cut at reopen like any record; the repaired log checkpoints again", async () => {
    const path = tempLog();
    const key = await keyBeside(path);
    let log = await open(path, key);
    for (let i = 1; i <= 4; i++) await log.append(request(i));
    await log.checkpoint();
    await log.append(request(5));
    await log.close(); // 4 records, a checkpoint, a record, a checkpoint
    // kill -9 in the middle of writing the last checkpoint: half of its line is on disk.
    const lines = readFileSync(path, "utf8").split("\n").slice(0, -1);
    expect(JSON.parse(lines[6]!).type).toBe("audit.checkpoint");
    writeFileSync(path, lines.slice(0, 6).map((l) => l + "\n").join("") + lines[6]!.slice(0, 90));
    log = await open(path, key);
    expect(log.repaired).not.toBeNull();
    await log.append(request(6));
    await log.close();
    const recs = (await recordsOf(path)).map((r) => r.record);
    expect(recs.map((r) => r.type)).toEqual(["request", "request", "request", "request", "audit.checkpoint", "request", "log.repaired", "request", "audit.checkpoint"]);
    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toMatchObject({ ok: true, checkpoints: 2, not_checkpointed: 0 });
    expect(report.ok && (report.last_checkpoint as Checkpoint).seq).toBe(8);
  });
});

import { describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempLogs } from "./audit-test-helpers.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { openAuditLog } from "./log.ts";
import { listLogFiles } from "./reader.ts";
import { computeHash, ZERO_HASH, type AuditRecord } from "./record.ts";
import { loadOrCreateSigningKey } from "./signing-key.ts";
import { verifyLog, verifyLogReport } from "./verify.ts";

const tempLog = tempLogs("gatehouse-verify-");

async function writeRecords(path: string, n: number, rotateSize?: number) {
  const log = await openAuditLog({ path, ...(rotateSize ? { rotateSize } : {}) });
  for (let i = 0; i < n; i++) {
    await log.append({ type: "decision", target: "db", action: { kind: "postgres", sql: `select ${i}` }, decision: { effect: "allow", rule: "r" } });
  }
  await log.close();
}

const linesOf = (path: string) => readFileSync(path, "utf8").split("\n").slice(0, -1);
const writeLines = (path: string, lines: string[]) => writeFileSync(path, lines.map((l) => l + "\n").join(""));

describe("verifyLog", () => {
  test("an intact log is ok with its record count", async () => {
    const path = tempLog();
    await writeRecords(path, 20);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 20 });
  });

  test("one flipped byte in the middle is a hash mismatch on exactly that line", async () => {
    const path = tempLog();
    await writeRecords(path, 20);
    const bytes = readFileSync(path);
    const lines = linesOf(path);
    const start = lines.slice(0, 9).reduce((n, l) => n + l.length + 1, 0);
    const at = start + lines[9]!.indexOf("select 9") + 7;
    bytes[at] = "8".charCodeAt(0);
    writeFileSync(path, bytes);
    const result = await verifyLog(path);
    expect(result).toMatchObject({ ok: false, file: path, line: 10, seq: 10, records: 9 });
    expect(result.ok ? "" : result.problem).toMatch(/^hash mismatch: record says [0-9a-f]{64}, computed [0-9a-f]{64}$/);
  });

  test("a byte flipped into invalid JSON or invalid UTF-8 names the line", async () => {
    const path = tempLog();
    await writeRecords(path, 5);
    const bytes = readFileSync(path);
    const second = bytes.indexOf(0x0a) + 1;
    bytes[second] = 0xff;
    writeFileSync(path, bytes);
    expect(await verifyLog(path)).toMatchObject({ ok: false, line: 2, problem: "not valid UTF-8" });
    bytes[second] = "[".charCodeAt(0);
    writeFileSync(path, bytes);
    expect(await verifyLog(path)).toMatchObject({ ok: false, line: 2, problem: expect.stringMatching(/^not valid JSON/) });
  });

  test("a deleted record is a seq gap at the record after it", async () => {
    const path = tempLog();
    await writeRecords(path, 10);
    const lines = linesOf(path);
    lines.splice(4, 1);
    writeLines(path, lines);
    const result = await verifyLog(path);
    expect(result).toMatchObject({ ok: false, line: 5, seq: 6 });
    expect(result.ok ? "" : result.problem).toStartWith("seq gap: expected 5, found 6");
  });

  test("a deleted record hidden by renumbering and rehashing the later ones still breaks the prev link", async () => {
    const path = tempLog();
    await writeRecords(path, 6);
    const lines = linesOf(path);
    lines.splice(2, 1);
    for (let i = 2; i < lines.length; i++) {
      const rec = JSON.parse(lines[i]!) as AuditRecord;
      rec.seq = i + 1;
      rec.hash = computeHash(rec);
      lines[i] = JSON.stringify(rec);
    }
    writeLines(path, lines);
    const result = await verifyLog(path);
    expect(result).toMatchObject({ ok: false, line: 3, seq: 3 });
    expect(result.ok ? "" : result.problem).toMatch(/^broken link: record says prev [0-9a-f]{64}, previous record's hash is [0-9a-f]{64}$/);
  });

  test("two swapped records are out of order", async () => {
    const path = tempLog();
    await writeRecords(path, 10);
    const lines = linesOf(path);
    [lines[6], lines[7]] = [lines[7]!, lines[6]!];
    writeLines(path, lines);
    const result = await verifyLog(path);
    expect(result).toMatchObject({ ok: false, line: 7, seq: 8 });
    expect(result.ok ? "" : result.problem).toStartWith("seq gap: expected 7, found 8");
  });

  test("a torn last line is reported", async () => {
    const path = tempLog();
    await writeRecords(path, 3);
    appendFileSync(path, '{"seq":4,"ti');
    const result = await verifyLog(path);
    expect(result).toMatchObject({ ok: false, line: 4, records: 3 });
    expect(result.ok ? "" : result.problem).toStartWith("torn last line: no trailing newline");
  });

  test("damage in a rotated file names that file; a missing rotated file is a gap", async () => {
    const path = tempLog();
    await writeRecords(path, 30, 1500);
    const files = await listLogFiles(path);
    expect(files.length).toBeGreaterThan(3);
    const victim = files[1]!;
    const lines = linesOf(victim);
    lines[0] = lines[0]!.replace("select", "delete");
    writeLines(victim, lines);
    expect(await verifyLog(path)).toMatchObject({ ok: false, file: victim, line: 1 });

    rmSync(victim);
    const result = await verifyLog(path);
    expect(result).toMatchObject({ ok: false, file: files[2], line: 1 });
    expect(result.ok ? "" : result.problem).toStartWith("seq gap");
  });

  test("an empty line or a record with an extra field is reported", async () => {
    const path = tempLog();
    await writeRecords(path, 3);
    const lines = linesOf(path);
    writeLines(path, [lines[0]!, "", lines[1]!]);
    expect(await verifyLog(path)).toMatchObject({ ok: false, line: 2, problem: "empty line" });
    writeLines(path, [lines[0]!.replace('{"action"', '{"extra":1,"action"')]);
    expect(await verifyLog(path)).toMatchObject({ ok: false, line: 1, problem: expect.stringMatching(/^not an audit record/) });
  });

  test("no log files at all is not ok", async () => {
    expect(await verifyLog(tempLog())).toMatchObject({ ok: false, line: 0, problem: "no audit log files found" });
  });
});

describe("verifyLogReport: signed checkpoints and a saved head", () => {
  const keyPath = (path: string) => join(dirname(path), "key", "ed25519.pem");

  /** n records with a checkpoint after every `every`, and one at close. */
  async function checkpointedLog(path: string, n: number, every: number) {
    const key = await loadOrCreateSigningKey(keyPath(path));
    const log = await openAuditLog({ path, checkpoints: { key, everyRecords: 1_000_000 } });
    const cps: Checkpoint[] = [];
    for (let i = 1; i <= n; i++) {
      await log.append({ type: "request", details: { i } });
      if (i % every === 0) cps.push((await log.checkpoint())!);
    }
    await log.close();
    return { key, cps };
  }

  /**
   * Rewrites the log as an attacker with write access would: edit, then rehash every record, and
   * point each checkpoint at its new head (its signature they cannot make), unless `heads` is false.
   */
  function rewrite(path: string, edit: (records: AuditRecord[]) => AuditRecord[], heads = true) {
    const records = edit(linesOf(path).map((l) => JSON.parse(l) as AuditRecord));
    let prev = ZERO_HASH;
    records.forEach((r, i) => {
      r.seq = i + 1;
      r.prev = prev;
      if (heads && r.type === "audit.checkpoint") Object.assign(r.details!, { seq: r.seq - 1, hash: prev });
      r.hash = computeHash(r);
      prev = r.hash;
    });
    writeLines(path, records.map((r) => JSON.stringify(r)));
  }

  test("an intact log: every signature checked, the last checkpoint and what follows it reported", async () => {
    const path = tempLog();
    const { key, cps } = await checkpointedLog(path, 10, 4); // 4 cp 4 cp 2 cp(close)
    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toEqual({
      ok: true,
      records: 13,
      checkpoints: 3,
      signatures: "verified",
      last_checkpoint: expect.objectContaining({ seq: 12, record_seq: 13, key_id: key.publicKey.id }),
      not_checkpointed: 0,
    });
    expect(cps.map((c) => c.seq)).toEqual([4, 9]);
    // Records appended without checkpoints are not anchored yet.
    const log = await openAuditLog({ path });
    for (let i = 0; i < 3; i++) await log.append({ type: "request" });
    await log.close();
    expect(await verifyLogReport(path, { keys: [key.publicKey] })).toMatchObject({ ok: true, records: 16, not_checkpointed: 3 });
    expect(await verifyLogReport(path)).toMatchObject({ ok: true, checkpoints: 3, signatures: "not checked" });
  });

  test("a checkpoint whose signature was changed, with the chain rehashed to hide it, fails at that checkpoint", async () => {
    const path = tempLog();
    const { key } = await checkpointedLog(path, 10, 4);
    rewrite(path, (rs) => {
      const d = rs[4]!.details as { signature: string };
      d.signature = (d.signature[0] === "A" ? "B" : "A") + d.signature.slice(1);
      return rs;
    });
    expect(await verifyLog(path)).toMatchObject({ ok: true }); // the chain alone cannot tell
    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toMatchObject({ ok: false, line: 5, seq: 5, records: 4 });
    expect(report.ok ? "" : report.problem).toMatch(/^checkpoint bad signature by key [0-9a-f]{16}: the checkpoint or the head it signs was altered$/);
  });

  test("a record changed under a checkpoint, the chain and the checkpoint's head rehashed, fails the signature", async () => {
    const path = tempLog();
    const { key } = await checkpointedLog(path, 10, 4);
    const original = readFileSync(path);
    rewrite(path, (rs) => {
      rs[3]!.details = { i: 400 };
      return rs;
    });
    expect(await verifyLog(path)).toMatchObject({ ok: true });
    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toMatchObject({ ok: false, seq: 5 });
    expect(report.ok ? "" : report.problem).toStartWith("checkpoint bad signature");
    // Left unchanged, the checkpoint's head no longer matches the record before it.
    writeFileSync(path, original);
    rewrite(path, (rs) => {
      rs[3]!.details = { i: 401 };
      return rs;
    }, false);
    expect(await verifyLogReport(path)).toMatchObject({ ok: false, seq: 5, problem: expect.stringMatching(/^checkpoint signs seq 4 with hash [0-9a-f]{64}, but the record before it is seq 4 with hash/) });
  });

  test("checkpoints signed by another key fail: a forger who cut the log cannot sign it anew", async () => {
    const path = tempLog();
    const { key } = await checkpointedLog(path, 10, 4);
    const forger = await loadOrCreateSigningKey(join(dirname(path), "forger.pem"));
    writeLines(path, linesOf(path).slice(0, 6)); // cut after record 6
    const log = await openAuditLog({ path, checkpoints: { key: forger } });
    await log.close(); // the forger's closing checkpoint
    expect(await verifyLogReport(path)).toMatchObject({ ok: true, checkpoints: 2 });
    const report = await verifyLogReport(path, { keys: [key.publicKey] });
    expect(report).toMatchObject({ ok: false, line: 7, seq: 7 });
    expect(report.ok ? "" : report.problem).toBe(`checkpoint signed by key ${forger.publicKey.id}, not by the trusted key ${key.publicKey.id}`);
  });

  test("with a saved head, records cut off the end are found; the chain alone says intact", async () => {
    const path = tempLog();
    const { key, cps } = await checkpointedLog(path, 10, 4);
    const saved = cps[1]!; // seq 9
    expect(await verifyLogReport(path, { keys: [key.publicKey], head: saved })).toMatchObject({ ok: true, head: { seq: 9, hash: saved.hash } });
    writeLines(path, linesOf(path).slice(0, 8)); // the last five lines, with the checkpoints of 9 and of 12, are gone
    expect(await verifyLogReport(path, { keys: [key.publicKey] })).toMatchObject({ ok: true, records: 8 });
    const report = await verifyLogReport(path, { keys: [key.publicKey], head: saved });
    expect(report).toMatchObject({ ok: false, file: path, line: 0, records: 8 });
    expect(report.ok ? "" : report.problem).toBe("the log was cut or rewritten: it ends at seq 8, but the saved head is seq 9 (1 record(s) missing from the end)");
  });

  test("with a saved head, a log cut and written on past it is found rewritten", async () => {
    const path = tempLog();
    const { key, cps } = await checkpointedLog(path, 10, 4);
    writeLines(path, linesOf(path).slice(0, 7));
    const log = await openAuditLog({ path, checkpoints: { key } });
    for (let i = 0; i < 5; i++) await log.append({ type: "request", details: { other: i } });
    await log.close();
    expect(await verifyLogReport(path, { keys: [key.publicKey] })).toMatchObject({ ok: true }); // even signed by the same key
    const report = await verifyLogReport(path, { keys: [key.publicKey], head: cps[1]! });
    expect(report).toMatchObject({ ok: false, line: 9, seq: 9 });
    expect(report.ok ? "" : report.problem).toStartWith(`the log was rewritten: record seq 9 has hash `);
  });
});

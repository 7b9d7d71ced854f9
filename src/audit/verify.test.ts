import { describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tempLogs } from "./audit-test-helpers.ts";
import { openAuditLog } from "./log.ts";
import { listLogFiles } from "./reader.ts";
import { computeHash, type AuditRecord } from "./record.ts";
import { verifyLog } from "./verify.ts";

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

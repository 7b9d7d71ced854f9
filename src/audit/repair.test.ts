import { describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tempLogs } from "./audit-test-helpers.ts";
import { openAuditLog } from "./log.ts";
import { readRecords } from "./reader.ts";
import { verifyLog } from "./verify.ts";

const tempLog = tempLogs("gatehouse-repair-");

async function writeRecords(path: string, n: number, rotateSize?: number) {
  const log = await openAuditLog({ path, ...(rotateSize ? { rotateSize } : {}) });
  for (let i = 0; i < n; i++) await log.append({ type: "request", target: "db", details: { i } });
  await log.close();
}

async function records(path: string) {
  const out = [];
  for await (const r of readRecords(path)) out.push(r.record);
  return out;
}

describe("repair at open", () => {
  test("a half-written last line is cut, recorded as log.repaired, and the chain goes on intact", async () => {
    const path = tempLog();
    await writeRecords(path, 5);
    const intact = statSync(path).size;
    const lines = readFileSync(path, "utf8").split("\n");
    // Half of a sixth record, as a crash in the middle of a write leaves it.
    const torn = lines[4]!.slice(0, 60);
    appendFileSync(path, torn);
    expect((await verifyLog(path)).ok).toBe(false);

    const log = await openAuditLog({ path });
    expect(log.repaired).toMatchObject({ file: path, offset: intact, length: torn.length, reason: "torn last line: no trailing newline" });
    expect(log.repaired!.excerpt).toBe(torn.slice(0, 80));
    expect(log.lastSeq).toBe(6);
    await log.append({ type: "request", details: { after: true } });
    await log.close();

    const recs = await records(path);
    expect(recs.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(recs[5]!.type).toBe("log.repaired");
    expect(recs[5]!.details).toMatchObject({ offset: intact, length: torn.length });
    expect(await verifyLog(path)).toEqual({ ok: true, records: 7 });
  });

  test("a whole last line whose hash does not check is cut too", async () => {
    const path = tempLog();
    await writeRecords(path, 3);
    const text = readFileSync(path, "utf8");
    const forged = text.replace(/"i":2/, '"i":9');
    writeFileSync(path, forged);
    const log = await openAuditLog({ path });
    expect(log.repaired?.reason).toMatch(/^hash mismatch: record says [0-9a-f]{64}, computed [0-9a-f]{64}$/);
    await log.close();
    const recs = await records(path);
    expect(recs.map((r) => r.type)).toEqual(["request", "request", "log.repaired"]);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 3 });
  });

  test("garbage after a crash (NUL bytes of a lost block) is cut", async () => {
    const path = tempLog();
    await writeRecords(path, 2);
    appendFileSync(path, Buffer.alloc(4096));
    const log = await openAuditLog({ path });
    expect(log.repaired?.length).toBe(4096);
    expect(log.repaired?.excerpt.startsWith("\\x00\\x00")).toBe(true);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 3 });
  });

  test("damage before the last line is not a torn write: open refuses with E_AUDIT_CORRUPT and changes nothing", async () => {
    const path = tempLog();
    await writeRecords(path, 4);
    const text = readFileSync(path, "utf8");
    const lines = text.split("\n");
    // lines[3] is the last whole record, just before the torn line added below.
    lines[3] = lines[3]!.replace('"i":3', '"i":7');
    writeFileSync(path, lines.join("\n") + "garbage");
    const before = readFileSync(path);
    await expect(openAuditLog({ path })).rejects.toMatchObject({ code: "E_AUDIT_CORRUPT" });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  test("when the cut empties the live file, the chain continues from the newest rotated file", async () => {
    const path = tempLog();
    await writeRecords(path, 12, 1000);
    const rotated = [];
    for await (const r of readRecords(path)) if (r.file !== path) rotated.push(r.record);
    const chainEnd = rotated.at(-1)!;
    writeFileSync(path, '{"seq":');
    const log = await openAuditLog({ path });
    expect(log.repaired).toMatchObject({ file: path, offset: 0, length: 7 });
    const repairedRecord = (await records(path)).at(-1)!;
    expect(repairedRecord.type).toBe("log.repaired");
    expect(repairedRecord.seq).toBe(chainEnd.seq + 1);
    expect(repairedRecord.prev).toBe(chainEnd.hash);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: chainEnd.seq + 1 });
  });
});

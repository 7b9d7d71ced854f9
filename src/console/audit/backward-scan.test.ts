import { expect, test } from "bun:test";
import { appendFileSync } from "node:fs";
import { openAuditLog } from "../../audit/log.ts";
import { tempLogs } from "../../audit/audit-test-helpers.ts";
import { listLogFiles } from "../../audit/log-files.ts";
import { auditScan, parseAuditQuery } from "./audit-query.ts";
import { formatCursor, parseCursor, scanBackward } from "./backward-scan.ts";

const newLog = tempLogs("gatehouse-scan-");

/** A real log (rotated every 4 KiB) with 300 records a second apart, alternating identities and effects. */
async function writeLog(): Promise<string> {
  const path = newLog();
  let now = Date.parse("2026-12-07T00:00:00.000Z");
  const log = await openAuditLog({ path, rotateSize: 4096, clock: { now: () => now } });
  for (let i = 1; i <= 300; i++) {
    now += 1000;
    await log.append({
      type: i % 10 === 0 ? "session.end" : "decision",
      session: `s${Math.floor(i / 10)}`,
      identity: { method: "dev", subject: i % 2 ? "alice" : "bob", issuer: "dev", groups: [] },
      target: i % 3 ? "prod" : "staging",
      action: { kind: "postgres", sql: `select ${i} from "t" where x = '<script>'` },
      decision: { effect: i % 4 ? "allow" : "deny", rule: `r${i % 5}` },
    });
  }
  await log.close();
  return path;
}

const seqs = (r: { records: { record: { seq: number } }[] }) => r.records.map((x) => x.record.seq);

test("newest first across rotated files, paged by cursor until the start of the log", async () => {
  const path = await writeLog();
  expect((await listLogFiles(path)).length).toBeGreaterThan(3);
  const all: number[] = [];
  let next = null;
  for (let page = 0; page < 100; page++) {
    const r = await scanBackward(path, { limit: 7, before: next });
    all.push(...seqs(r));
    next = r.next === null ? null : parseCursor(formatCursor(r.next));
    if (next === null) break;
  }
  // Every record once, in descending seq order (the log's own records too: none skipped at file edges).
  expect(all.length).toBe(all[0]!);
  expect(all).toEqual([...all].sort((a, b) => b - a));
  expect(new Set(all).size).toBe(all.length);
});

test("filters: identity, target, effect, rule, text and time range give exactly the matching records", async () => {
  const path = await writeLog();
  const { query, problems } = parseAuditQuery({ identity: "bob", target: "prod", effect: "deny", since: "2026-12-07T00:01", until: "2026-12-07T00:04:00" });
  expect(problems).toEqual([]);
  const r = await scanBackward(path, { ...auditScan(query), limit: 1000 });
  const expected: number[] = [];
  for (let i = 300; i >= 1; i--) {
    const t = new Date(Date.parse("2026-12-07T00:00:00.000Z") + i * 1000).toISOString();
    if (i % 2 === 0 && i % 3 !== 0 && i % 4 === 0 && t >= "2026-12-07T00:01:00.000Z" && t <= "2026-12-07T00:04:00.999Z") expected.push(i);
  }
  expect(r.records.map((x) => Number((x.record.action as { sql: string }).sql.split(" ")[1]))).toEqual(expected);
  expect(r.records.every((x) => x.record.identity?.subject === "bob" && x.record.target === "prod" && x.record.decision?.effect === "deny")).toBe(true);

  // Free text as typed, found in its JSON-escaped form (the quotes around t).
  const text = await scanBackward(path, { ...auditScan(parseAuditQuery({ text: 'select 42 from "t"' }).query), limit: 10 });
  expect(text.records.length).toBe(1);
  const rule = await scanBackward(path, { ...auditScan(parseAuditQuery({ rule: "r3" }).query), limit: 1000 });
  expect(rule.records.length).toBe(60);
});

test("a torn last line is skipped, and a scan over budget stops with a cursor that goes on", async () => {
  const path = await writeLog();
  appendFileSync(path, '{"seq":99999,"time":"2026-12-07T');
  const first = await scanBackward(path, { limit: 1 });
  expect(first.records[0]!.record.seq).toBeLessThan(99999);
  const none = await scanBackward(path, { ...auditScan(parseAuditQuery({ text: "no such text" }).query), limit: 5, budgetBytes: 1 });
  expect(none.partial).toBe(true);
  expect(none.next).not.toBeNull();
  let next = none.next;
  let pages = 1;
  while (next !== null && pages < 1000) {
    const r = await scanBackward(path, { ...auditScan(parseAuditQuery({ text: "no such text" }).query), limit: 5, before: next, budgetBytes: 1 });
    expect(r.records).toEqual([]);
    next = r.next;
    pages++;
  }
  expect(next).toBeNull();
});

test("bad query values are reported, not guessed", () => {
  const { query, problems } = parseAuditQuery({ effect: "maybe", since: "yesterday", until: "2026-12-07" });
  expect(problems.length).toBe(2);
  expect(query).toEqual({ until: "2026-12-07T23:59:59.999Z" });
});

// The audit cursor returns each appended record once, leaves a line still being written for the
// next call, and refuses to skip over a rotation.
import { expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../../src/audit/log.ts";
import { auditCursor } from "./audit-cursor.ts";

test("returns only what was appended since the last call, and a torn last line only once it is whole", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-cursor-"));
  try {
    const path = join(dir, "audit.log");
    const log = await openAuditLog({ path });
    await log.append({ type: "request", details: { n: 1 } });
    await log.sync();
    const fromStart = auditCursor(path, { fromStart: true });
    const fromEnd = auditCursor(path);
    expect(fromStart.next().map((r) => r.seq)).toEqual([1]);
    expect(fromEnd.next()).toEqual([]);
    await log.append({ type: "request", details: { n: 2 } });
    await log.append({ type: "request", details: { n: 3 } });
    await log.sync();
    expect(fromStart.next().map((r) => r.seq)).toEqual([2, 3]);
    expect(fromEnd.next().map((r) => r.seq)).toEqual([2, 3]);
    expect(fromStart.next()).toEqual([]);
    await log.close();

    // A line without its newline yet is left for later.
    const whole = `${JSON.stringify({ note: "not a record" })}\n`;
    appendFileSync(path, whole.slice(0, 5));
    expect(fromStart.next()).toEqual([]);
    appendFileSync(path, whole.slice(5));
    expect(() => fromStart.next()).toThrow(/not an audit record/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a file that shrank under the cursor is an error, not a silent gap", () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-cursor-"));
  try {
    const path = join(dir, "audit.log");
    writeFileSync(path, "x".repeat(10));
    const c = auditCursor(path);
    writeFileSync(path, "");
    expect(() => c.next()).toThrow(/rotated or truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

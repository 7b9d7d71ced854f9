import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync } from "node:fs";
import { tempLogs } from "./audit-test-helpers.ts";
import { openAuditLog, type AuditLog } from "./log.ts";
import { followRecords, listLogFiles, readRecords, type FollowedRecord } from "./reader.ts";
import { waitFor, within } from "../../test/helpers/wait.ts";

const tempLog = tempLogs("gatehouse-reader-");

const ev = (n: number) => ({ type: "request", target: "api", details: { n } });

describe("readRecords", () => {
  test("streams every record of every file in chain order, with file and line", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path, rotateSize: 1000 });
    for (let i = 0; i < 25; i++) await log.append(ev(i));
    await log.close();
    const files = await listLogFiles(path);
    expect(files.at(-1)).toBe(path);
    const got = [];
    for await (const r of readRecords(path)) got.push(r);
    expect(got.map((r) => r.record.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(new Set(got.map((r) => r.file)).size).toBeGreaterThan(2);
    const firstOfSecondFile = got.find((r) => r.file === files[1])!;
    expect(firstOfSecondFile.line).toBe(1);
    expect(firstOfSecondFile.offset).toBe(0);
  });

  test("a last line without newline is an error, or a callback and a skip when asked", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    for (let i = 0; i < 3; i++) await log.append(ev(i));
    await log.close();
    appendFileSync(path, '{"seq":4');
    const read = async (opts = {}) => {
      const out = [];
      for await (const r of readRecords(path, opts)) out.push(r.record.seq);
      return out;
    };
    await expect(read()).rejects.toMatchObject({ code: "E_AUDIT_CORRUPT" });
    const torn: unknown[] = [];
    expect(await read({ onTornTail: (t: unknown) => torn.push(t) })).toEqual([1, 2, 3]);
    expect(torn).toEqual([{ file: path, line: 4, offset: expect.any(Number), length: 8 }]);
  });

  test("a line that is not a record stops the read with its file:line", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    await log.append(ev(1));
    await log.close();
    appendFileSync(path, "not json\n");
    const err = await (async () => {
      for await (const _ of readRecords(path)) void _;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_AUDIT_CORRUPT", message: expect.stringContaining(`${path}:2: not valid JSON`) });
  });

  describe("typePrefix (the approvals read at start)", () => {
    const readAll = async (path: string, opts = {}) => {
      const out = [];
      for await (const r of readRecords(path, opts)) out.push(r);
      return out;
    };

    test("yields exactly the records of that type, across rotated files, whatever other records hold", async () => {
      const path = tempLog();
      const log = await openAuditLog({ path, rotateSize: 2000 });
      for (let i = 0; i < 40; i++) {
        if (i % 7 === 0) await log.append({ type: "approval.requested", target: "api", details: { approval: `a${i}` } });
        else if (i % 7 === 1) await log.append({ type: "approval.granted", details: { approval: `a${i - 1}` } });
        // Look-alikes that are not approval records: a nested "type" key, and the text in a string.
        else if (i % 7 === 2) await log.append({ type: "request", details: { type: "approval.granted", approval: "x" } });
        else if (i % 7 === 3) await log.append({ type: "request", details: { note: '"type":"approval.granted"' } });
        else await log.append(ev(i));
      }
      await log.close();
      expect((await listLogFiles(path)).length).toBeGreaterThan(2);
      const all = await readAll(path);
      const approvals = await readAll(path, { typePrefix: "approval." });
      const want = all.filter((r) => r.record.type.startsWith("approval."));
      expect(want.length).toBe(12);
      expect(approvals).toEqual(want);
    });

    test("a skipped line that is not JSON still stops the read; an approval line is still checked against the schema", async () => {
      const path = tempLog();
      const log = await openAuditLog({ path });
      await log.append(ev(1));
      await log.close();
      appendFileSync(path, "not json\n");
      await expect(readAll(path, { typePrefix: "approval." })).rejects.toMatchObject({ code: "E_AUDIT_CORRUPT", message: expect.stringContaining(`${path}:2: not valid JSON`) });

      const path2 = tempLog();
      appendFileSync(path2, '{"seq":1,"type":"approval.granted"}\n');
      await expect(readAll(path2, { typePrefix: "approval." })).rejects.toMatchObject({ code: "E_AUDIT_CORRUPT", message: expect.stringContaining(`${path2}:1: not an audit record`) });
      // Other lines are read as JSON only: the cost of reading a long log for a few records.
      const path3 = tempLog();
      appendFileSync(path3, '{"seq":1,"type":"request"}\n');
      expect(await readAll(path3, { typePrefix: "approval." })).toEqual([]);
      await expect(readAll(path3)).rejects.toMatchObject({ code: "E_AUDIT_CORRUPT" });
    });
  });
});

/** Collects followed records in the background until `count` arrived. */
function collect(iterable: AsyncIterable<FollowedRecord>, count: number) {
  const got: FollowedRecord[] = [];
  let notify: () => void = () => {};
  const done = (async () => {
    for await (const r of iterable) {
      got.push(r);
      notify();
      if (got.length >= count) break;
    }
  })();
  const untilAtLeast = (n: number) =>
    within(
      `${n} followed records (got ${got.length} so far)`,
      new Promise<void>((res) => {
        const check = () => (got.length >= n ? res() : (notify = check));
        check();
      }),
    );
  return { got, done, untilAtLeast };
}

describe("followRecords", () => {
  let log: AuditLog | null = null;
  afterEach(async () => {
    await log?.close();
    log = null;
  });

  test("from the end: yields only records appended after it started, in order", async () => {
    const path = tempLog();
    log = await openAuditLog({ path });
    for (let i = 0; i < 5; i++) await log.append(ev(i));
    const ac = new AbortController();
    const c = collect(followRecords(path, { signal: ac.signal, pollMs: 20 }), 1_000_000);
    // Whether the follower has opened the file yet is not observable, so keep appending until it
    // reports something; whatever it reports must come after the records written before it started.
    let n = 5;
    const appender = log;
    await waitFor("the follower to report a record appended after it started", async () => {
      await appender.append(ev(n++));
      return c.got.length > 0;
    }, { intervalMs: 5 });
    const firstSeen = c.got[0]!.record.seq;
    expect(firstSeen).toBeGreaterThan(5);
    for (let i = 0; i < 20; i++) await log.append(ev(n++));
    await c.untilAtLeast(log.lastSeq - firstSeen + 1);
    ac.abort();
    await c.done;
    const seqs = c.got.map((r) => r.record.seq);
    expect(seqs).toEqual(Array.from({ length: log.lastSeq - firstSeen + 1 }, (_, i) => firstSeen + i));
  });

  test("follows the live file across rotations without losing or repeating a record", async () => {
    const path = tempLog();
    log = await openAuditLog({ path, rotateSize: 1200 });
    await log.append(ev(0));
    const ac = new AbortController();
    const c = collect(followRecords(path, { signal: ac.signal, fromEnd: false, pollMs: 20 }), 1_000_000);
    await c.untilAtLeast(1);
    for (let i = 1; i < 60; i++) {
      await log.append(ev(i));
      if (i % 7 === 0) await Bun.sleep(2); // let the follower read between appends now and then
    }
    await c.untilAtLeast(60);
    ac.abort();
    await c.done;
    expect((await listLogFiles(path)).length).toBeGreaterThan(5);
    expect(c.got.map((r) => r.record.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  test("catches up over several rotations that happened while it was not reading", async () => {
    const path = tempLog();
    log = await openAuditLog({ path, rotateSize: 1000 });
    await log.append(ev(0));
    const ac = new AbortController();
    const iterator = followRecords(path, { signal: ac.signal, fromEnd: false, pollMs: 20 })[Symbol.asyncIterator]();
    expect((await iterator.next()).value?.record.seq).toBe(1);
    // The follower is paused between next() calls; several rotations happen meanwhile.
    for (let i = 1; i < 40; i++) await log.append(ev(i));
    const seqs = [1];
    while (seqs.length < 40) seqs.push((await iterator.next()).value!.record.seq);
    ac.abort();
    expect((await iterator.next()).done).toBe(true);
    expect(seqs).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  test("waits for a log that does not exist yet, and stops on abort", async () => {
    const path = tempLog();
    const ac = new AbortController();
    const c = collect(followRecords(path, { signal: ac.signal, pollMs: 20 }), 3);
    await Bun.sleep(30); // a window for the follower to find no file first; not an event to wait for
    log = await openAuditLog({ path });
    for (let i = 0; i < 3; i++) await log.append(ev(i));
    await c.done;
    expect(c.got.map((r) => r.record.seq)).toEqual([1, 2, 3]);

    const idle = new AbortController();
    const none = collect(followRecords(path, { signal: idle.signal, pollMs: 20 }), 1);
    idle.abort();
    await none.done;
    expect(none.got).toEqual([]);
  });
});

import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { GatewayError, isGatewayError } from "../core/errors.ts";
import type { Clock } from "../core/types.ts";
import { tempLogs } from "./audit-test-helpers.ts";
import { openAuditLog, type AuditLog } from "./log.ts";
import { listLogFiles, readRecords } from "./reader.ts";
import { ZERO_HASH, type AuditEventInput } from "./record.ts";
import { verifyLog } from "./verify.ts";
import { waitFor, within } from "../../test/helpers/wait.ts";

const tempLog = tempLogs("gatehouse-audit-", "logs", "audit.log");

const fixedClock = (ms = Date.UTC(2026, 10, 28, 9, 0, 0)): Clock => ({ now: () => ms });

function event(i: number): AuditEventInput {
  return {
    type: "decision",
    session: `s-${i % 7}`,
    identity: { method: "oidc", subject: `user${i % 5}@example.com`, issuer: "https://idp.example.com", groups: ["eng"] },
    target: "api",
    action: { kind: "http", method: "GET", path: `/things/${i}` },
    decision: { effect: i % 3 === 0 ? "deny" : "allow", rule: i % 3 === 0 ? null : "read", message: "" },
  };
}

async function allRecords(path: string) {
  const out = [];
  for await (const r of readRecords(path)) out.push(r);
  return out;
}

describe("openAuditLog / append", () => {
  test("chains records: seq from 1, prev = previous hash, time from the clock; reopen continues the chain", async () => {
    const path = tempLog();
    let log = await openAuditLog({ path, clock: fixedClock() });
    expect(log.lastSeq).toBe(0);
    expect(log.lastHash).toBe(ZERO_HASH);
    const first = await log.append(event(1));
    const second = await log.append(event(2));
    expect(first.seq).toBe(1);
    expect(first.prev).toBe(ZERO_HASH);
    expect(first.time).toBe("2026-11-28T09:00:00.000Z");
    expect(second.prev).toBe(first.hash);
    await log.close();

    log = await openAuditLog({ path });
    expect(log.lastSeq).toBe(2);
    expect(log.lastHash).toBe(second.hash);
    expect(log.repaired).toBeNull();
    const third = await log.append(event(3));
    expect(third.seq).toBe(3);
    expect(third.prev).toBe(second.hash);
    await log.close();

    const records = (await allRecords(path)).map((r) => r.record);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(records[2]).toEqual(third);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 3 });
  });

  test("concurrent appends get seq in call order and are written in that order", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const writers = 50;
    const perWriter = 40;
    const calls: Promise<{ seq: number; details?: object }>[] = [];
    const order: string[] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          order.push(`${w}/${i}`);
          const p = log.append({ type: "request", details: { key: `${w}/${i}` } });
          calls.push(p);
          const rec = await p;
          expect(rec.seq).toBe(order.indexOf(`${w}/${i}`) + 1);
        }
      }),
    );
    await log.close();
    const keys = (await allRecords(path)).map((r) => (r.record.details as { key: string }).key);
    expect(keys).toEqual(order);
    expect(await verifyLog(path)).toEqual({ ok: true, records: writers * perWriter });
  });

  test("batch mode acknowledges after the write, before the fsync; sync() covers everything", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const rec = await log.append(event(1));
    // The fsync is started only once the event loop is free, after this continuation.
    expect(log.durableSeq).toBeLessThan(rec.seq);
    expect(log.queueDepth).toBe(1);
    // The acknowledged bytes are in the file already.
    expect(readFileSync(path, "utf8")).toContain(`"hash":"${rec.hash}"`);
    await log.sync();
    expect(log.durableSeq).toBe(rec.seq);
    expect(log.queueDepth).toBe(0);
    await log.close();
  });

  test("batch mode: an fsync follows on its own once the event loop has a turn without appends", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const rec = await log.append(event(1));
    await waitFor(`record ${rec.seq} to be fsync'd with nobody asking`, () => log.durableSeq >= rec.seq, { intervalMs: 5 });
    expect(log.durableSeq).toBe(rec.seq);
    await log.close();
  });

  test("batch mode: an fsync starts at most once per fsync interval, by the log's clock, however many turns write", async () => {
    const path = tempLog();
    let now = Date.UTC(2026, 10, 28, 9, 0, 0);
    const log = await openAuditLog({ path, fsyncIntervalMs: 10, clock: { now: () => now } });
    await log.append(event(0));
    // The first write finds no fsync in the last interval: one starts at the next turn.
    await waitFor("the first fsync", () => log.stats.fsyncs === 1);
    // 300 records, each in a turn of its own, some with real time between them: the clock
    // stands still, so the interval never ends and no other fsync starts.
    for (let i = 1; i <= 300; i++) {
      await log.append(event(i));
      await new Promise((r) => (i % 30 === 0 ? setTimeout(r, 2) : setImmediate(r)));
    }
    expect(log.stats.fsyncs).toBe(1);
    expect(log.stats.writes).toBe(301);
    expect(log.durableSeq).toBeLessThan(301);
    now += 10;
    await waitFor("the fsync after the interval", () => log.stats.fsyncs === 2);
    await waitFor("the second fsync to cover every record", () => log.durableSeq === 301);
    await log.close();
  });

  test("batch mode: sync() (which checkpoints wait on) does not wait for the fsync interval", async () => {
    const path = tempLog();
    const now = Date.UTC(2026, 10, 28, 9, 0, 0);
    const log = await openAuditLog({ path, fsyncIntervalMs: 60_000, clock: { now: () => now } });
    await log.append(event(0));
    await waitFor("the first fsync", () => log.stats.fsyncs === 1);
    const rec = await log.append(event(1));
    await log.sync(); // would hang for a minute of the log's clock (forever: it stands still) if it waited
    expect(log.durableSeq).toBe(rec.seq);
    expect(log.stats.fsyncs).toBe(2);
    await log.close();
  });

  test("strict mode ignores the fsync interval: every acknowledged record is fsync'd", async () => {
    const path = tempLog();
    const now = Date.UTC(2026, 10, 28, 9, 0, 0);
    const log = await openAuditLog({ path, durability: "strict", fsyncIntervalMs: 60_000, clock: { now: () => now } });
    for (let i = 0; i < 20; i++) {
      const rec = await log.append(event(i));
      expect(log.durableSeq).toBeGreaterThanOrEqual(rec.seq);
    }
    expect(log.stats.fsyncs).toBeGreaterThanOrEqual(20);
    await log.close();
  });

  test("strict mode acknowledges only after the fsync that covers the record", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path, durability: "strict" });
    const seen: Array<{ seq: number; durable: number }> = [];
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 10; i++) {
          const rec = await log.append(event(i));
          seen.push({ seq: rec.seq, durable: log.durableSeq });
        }
      }),
    );
    expect(seen.length).toBe(200);
    for (const s of seen) expect(s.durable).toBeGreaterThanOrEqual(s.seq);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 200 });
  });

  test("an event the schema rejects fails alone: no seq used, the log goes on", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    await log.append(event(1));
    const bad = log.append({ type: "decision", decision: { effect: "perhaps", rule: null } } as unknown as AuditEventInput);
    await expect(bad).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
    const next = await log.append(event(2));
    expect(next.seq).toBe(2);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 2 });
  });

  test("a clock that returns garbage is a rejected append, not a bad record", async () => {
    const log = await openAuditLog({ path: tempLog(), clock: { now: () => Number.NaN } });
    await expect(log.append(event(1))).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
    expect(log.lastSeq).toBe(0);
    await log.close();
  });

  test("close() writes and fsyncs what is still queued, and nothing fails after it", async () => {
    const path = tempLog();
    const errors: unknown[] = [];
    const log = await openAuditLog({ path, onError: (e) => errors.push(e) });
    const acks = Array.from({ length: 50 }, (_, i) => log.append(event(i)));
    const synced = log.sync();
    await log.close();
    expect(log.durableSeq).toBe(50);
    expect(log.queueDepth).toBe(0);
    expect((await Promise.all(acks)).map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await synced;
    await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([]);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 50 });
  });

  test("an append that an action waits for is written at the end of its tick, even after this turn has written", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    await log.append(event(1));
    let turnEnded = false;
    setImmediate(() => (turnEnded = true));
    const second = await log.append(event(2)); // this turn has written already
    expect(turnEnded).toBe(false);
    expect(readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l).seq)).toEqual([1, 2]);
    expect(second.seq).toBe(2);
    await log.close();
  });

  test("a lazy append rides on the next write, in its place in the chain; with none to ride on, it is written on its own", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const alone = await log.append(event(1), { lazy: true }); // no other write comes: its timer writes it
    expect(alone.seq).toBe(1);
    expect(log.stats.writes).toBe(1);
    const lazy = log.append(event(2), { lazy: true });
    const lazy2 = log.append(event(3), { lazy: true });
    const urgent = log.append(event(4)); // its write takes the lazy lines with it, in order
    expect((await urgent).seq).toBe(4);
    expect((await lazy).seq).toBe(2);
    expect((await lazy2).seq).toBe(3);
    expect(log.stats.writes).toBe(2);
    expect(readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4]);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 4 });
  });

  test("a lazy record waits across turns for the next write to ride on (one write for a statement and the completion before it)", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path, lazyWriteMs: 60_000 });
    const completion = log.append(event(1), { lazy: true });
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(log.stats.writes).toBe(0);
    expect(readFileSync(path, "utf8")).toBe("");
    const decision = await log.append(event(2));
    expect((await completion).seq).toBe(1);
    expect(decision.seq).toBe(2);
    expect(log.stats.writes).toBe(1);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 2 });
  });

  test("close() right after an append that waits for the end of the turn writes it and returns (it used to spin forever)", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    await log.append(event(1)); // a lazy append waits for the next write, or its timer
    const second = log.append(event(2), { lazy: true });
    await log.close();
    expect((await second).seq).toBe(2);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 2 });
  });

  test("sync() resolves when its caller holds only the promise: the log is not collected while the fsync it waits for runs", async () => {
    // Nothing but the pending waiter refers to this log. It used to be collected during the
    // fsync (the thread reaches the log through a WeakRef), and sync() never resolved: a 1-in-100
    // hang of the tests in this file.
    const open = async (path: string) => {
      const log = await openAuditLog({ path });
      await log.append(event(1));
      const synced = log.sync();
      await new Promise((r) => setImmediate(r)); // the fsync is requested now
      return { synced };
    };
    const results: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { synced } = await open(tempLog());
      Bun.gc(true);
      results.push(await within("sync() of a log nothing else refers to", synced.then(() => "synced")));
    }
    expect(results).toEqual(Array(3).fill("synced"));
  });

  test("after close, append rejects", async () => {
    const log = await openAuditLog({ path: tempLog() });
    await log.append(event(1));
    await log.close();
    await expect(log.append(event(2))).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
  });
});

/** A log whose file is a symlink to a device, to make writes or fsyncs fail. */
async function logOnDevice(device: string, opts: { durability?: "batch" | "strict" } = {}): Promise<{ log: AuditLog; errors: GatewayError[] }> {
  const path = tempLog();
  mkdirSync(join(path, ".."), { recursive: true });
  symlinkSync(device, path);
  const errors: GatewayError[] = [];
  return { log: await openAuditLog({ path, ...opts, onError: (e) => errors.push(e) }), errors };
}

describe("write failures fail the log closed", () => {
  test("a full device (/dev/full): the append rejects with E_AUDIT_WRITE, and so does every later one", async () => {
    const { log, errors } = await logOnDevice("/dev/full");
    const first = log.append(event(1));
    const sameTick = log.append(event(2));
    const e1 = await first.catch((e: unknown) => e);
    expect(isGatewayError(e1, "E_AUDIT_WRITE")).toBe(true);
    expect((e1 as GatewayError).message).toContain("ENOSPC");
    expect(await sameTick.catch((e: unknown) => e)).toBe(e1);
    const later = await log.append(event(3)).catch((e: unknown) => e);
    expect(isGatewayError(later, "E_AUDIT_WRITE")).toBe(true);
    expect((later as GatewayError).cause).toBe(e1);
    await expect(log.sync()).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
    expect(errors).toEqual([e1 as GatewayError]);
    await log.close();
  });

  test("an fsync that fails (fdatasync on /dev/null gives EINVAL) fails the log closed", async () => {
    const { log, errors } = await logOnDevice("/dev/null");
    await log.append(event(1)); // the write itself succeeds
    const synced = await log.sync().catch((e: unknown) => e);
    expect(isGatewayError(synced, "E_AUDIT_WRITE")).toBe(true);
    expect((synced as GatewayError).message).toContain("fdatasync failed: EINVAL");
    const later = await log.append(event(2)).catch((e: unknown) => e);
    expect(isGatewayError(later, "E_AUDIT_WRITE")).toBe(true);
    expect(errors).toHaveLength(1);
    await log.close().catch(() => {});
  });

  test("a failed fsync: a strict append is never acknowledged, and batch mode reports it with nobody asking", async () => {
    const strict = await logOnDevice("/dev/null", { durability: "strict" });
    await expect(strict.log.append(event(1))).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
    await strict.log.close().catch(() => {});

    const batch = await logOnDevice("/dev/null");
    await batch.log.append(event(1));
    // No append, getter or sync() from here on: the failure must still arrive by itself.
    await waitFor("the failed fsync to be reported by itself", () => batch.errors.length > 0, { intervalMs: 5 });
    expect(batch.errors).toHaveLength(1);
    expect(batch.errors[0]!.message).toContain("fdatasync failed: EINVAL");
    await batch.log.close().catch(() => {});
  });

  test("a process whose fsync failed while sync() waited still exits (the fsync thread does not hold it)", async () => {
    const path = tempLog();
    mkdirSync(join(path, ".."), { recursive: true });
    symlinkSync("/dev/null", path);
    const script = `const { openAuditLog } = await import(${JSON.stringify(join(import.meta.dir, "log.ts"))});
const log = await openAuditLog({ path: ${JSON.stringify(path)}, onError: () => {} });
await log.append({ type: "t" });
console.log(await log.sync().then(() => "synced", (e) => e.code));`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => child.kill(), 10_000);
    const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    clearTimeout(timer);
    expect(out.trim()).toBe("E_AUDIT_WRITE");
    expect(code).toBe(0);
  }, 15_000);

  test("the file descriptor goes bad after good writes: E_AUDIT_WRITE, then every append rejects", async () => {
    const path = tempLog();
    const log: AuditLog = await openAuditLog({ path });
    await log.append(event(1));
    await log.sync();
    // Find the log's descriptor the way an operator would, and close it under the writer.
    const fd = readdirSync("/proc/self/fd")
      .map(Number)
      .find((n) => {
        try {
          return readlinkSync(`/proc/self/fd/${n}`) === path;
        } catch {
          return false;
        }
      });
    expect(fd).toBeDefined();
    closeSync(fd!);
    const failed = await log.append(event(2)).catch((e: unknown) => e);
    expect(isGatewayError(failed, "E_AUDIT_WRITE")).toBe(true);
    expect((failed as GatewayError).message).toMatch(/EBADF|bad file descriptor/i);
    const after = await log.append(event(3)).catch((e: unknown) => e);
    expect(isGatewayError(after, "E_AUDIT_WRITE")).toBe(true);
    expect((after as GatewayError).cause).toBe(failed);
    // The record that was acknowledged before the failure is intact on disk.
    expect(await verifyLog(path)).toEqual({ ok: true, records: 1 });
    // No close(): the descriptor number is no longer ours to close.
  });
});

describe("rotation", () => {
  test("rotates by size to audit.log.1, .2 …; the chain continues across files and across a reopen", async () => {
    const path = tempLog();
    let log = await openAuditLog({ path, rotateSize: 2000 });
    for (let i = 0; i < 30; i++) await log.append(event(i));
    await log.close();
    const names = (await listLogFiles(path)).map((f) => f.slice(path.length));
    expect(names.length).toBeGreaterThan(3);
    expect(names).toEqual([...names.slice(0, -1).map((_, i) => `.${i + 1}`), ""]);
    const read = await allRecords(path);
    // Every rotated file holds records, and the chain runs on from one file into the next.
    for (const n of names.slice(0, -1)) expect(read.some((r) => r.file === path + n)).toBe(true);
    const records = read.map((r) => r.record);
    for (let i = 1; i < records.length; i++) expect(records[i]!.prev).toBe(records[i - 1]!.hash);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 30 });

    log = await openAuditLog({ path, rotateSize: 2000 });
    for (let i = 0; i < 10; i++) await log.append(event(i));
    await log.close();
    const rotatedNow = readdirSync(join(path, "..")).filter((n) => n.startsWith("audit.log.")).length;
    expect(rotatedNow).toBeGreaterThan(names.length - 1);
    expect(await verifyLog(path)).toEqual({ ok: true, records: 40 });
  });

  test("concurrent writers across many rotations lose and reorder nothing", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path, rotateSize: 8000 });
    await Promise.all(Array.from({ length: 20 }, async (_, w) => {
      for (let i = 0; i < 25; i++) await log.append({ type: "request", details: { w, i } });
    }));
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 500 });
    const seqs = (await allRecords(path)).map((r) => r.record.seq);
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
  });
});

import { describe, expect, test } from "bun:test";
import { readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { isGatewayError } from "../core/errors.ts";
import { tempLogs } from "./audit-test-helpers.ts";
import { openAuditLog } from "./log.ts";
import { readRecords } from "./reader.ts";
import { canonicalJson, prepareRecord, ZERO_HASH, type AuditEventInput } from "./record.ts";
import { ObjectTemplate, RecordFragment, RecordTemplate, type FragmentFields, type VaryingMember } from "./record-template.ts";
import { verifyLog } from "./verify.ts";

const tempLog = tempLogs("gatehouse-template-");

function lcg(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

// Values that stress the encoder: escapes, lone surrogates, -0, NaN, toJSON, integer-like and
// "__proto__" keys (the ones canonicalCopy cannot order), undefined members and array items.
function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 3 || r < 0.35) {
    const leaves = [null, true, false, 0, -0, 1.5, 1e21, -7, Number.NaN, "plain", 'q " b \\ s', "ctl\n\u0001\u001f", "\ud83d\ude00", "\ud800 lone", "é", "", undefined, new Date(Date.UTC(2026, 0, 2))];
    return leaves[Math.floor(rand() * leaves.length)];
  }
  if (r < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  return randomObject(rand, depth + 1);
}

function randomObject(rand: () => number, depth: number): Record<string, unknown> {
  const keys = ["b", "a", "10", "9", "0", "__proto__", "é", "Z", "aa", "a b", "constructor", "sql", "kind", "rows", "\u0000k", "ü"];
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 6); i > 0; i--) {
    const k = keys[Math.floor(rand() * keys.length)]!;
    Object.defineProperty(obj, k, { value: randomValue(rand, depth), enumerable: true, configurable: true, writable: true });
  }
  return obj;
}

function randomEvent(rand: () => number, i: number): AuditEventInput {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const maybe = <T>(v: T): T | undefined => (rand() < 0.75 ? v : undefined);
  return {
    type: pick(["decision", "statement", "request", "session.end", "x\u00e9\"y"]),
    session: maybe(`pg_${i.toString(16)}${pick(["", "\n", "\ud800"])}`),
    identity: maybe({ method: pick(["oidc", "key"]), subject: pick(["alice@example.com", 'bob "b"', "ç"]), issuer: "https://idp.example.com", groups: pick([[], ["eng"], ["b", "a", "é"]]) }),
    target: maybe(pick(["orders-db", "api", "t\\x"])),
    action: maybe({ kind: "postgres", classes: ["read"], relations: ["public.t"], sql: `SELECT ${i} -- ${pick(["", "'x'", '"y"', "\u2028"])}`, ...randomObject(rand, 1) }),
    decision: maybe(pick([{ effect: "allow", rule: "r" }, { effect: "deny", rule: null, message: "no \"rule\"" }, { effect: "review", rule: "x", message: undefined }] as const)),
    policy: maybe(pick(["3f1a", "", "p\u0007"])),
    details: maybe(randomObject(rand, 1)),
  } as AuditEventInput;
}

const EVENT_KEYS = ["type", "session", "identity", "target", "action", "decision", "policy", "details"] as const;

/** Splits an event at random into 1–3 fragments and the varying members, as a caller would. */
function randomTemplate(rand: () => number, event: AuditEventInput): { template: RecordTemplate; values: { action?: unknown; details?: unknown } } {
  const e = event as Record<string, unknown>;
  const varying: VaryingMember[] = [];
  const values: Record<string, unknown> = {};
  for (const k of ["details", "action"] as const) {
    if (rand() < 0.6) {
      varying.push(k);
      const v = e[k];
      if (k === "action" && v !== undefined && rand() < 0.5) {
        // The action as a shape template with some members left to each record.
        const action = v as Record<string, unknown>;
        const keys = Object.keys(action);
        const vary = keys.filter(() => rand() < 0.4);
        const fixed: Record<string, unknown> = {};
        for (const key of keys) if (!vary.includes(key)) Object.defineProperty(fixed, key, { value: action[key], enumerable: true, configurable: true, writable: true });
        const t = new ObjectTemplate(fixed, vary);
        values[k] = t.fill(Object.fromEntries(vary.map((key) => [key, action[key]])));
      } else values[k] = v;
    }
  }
  const fragments: FragmentFields[] = [{}, {}, {}];
  for (const k of EVENT_KEYS) {
    if (varying.includes(k as VaryingMember)) continue;
    if (e[k] !== undefined) (fragments[Math.floor(rand() * 3)] as Record<string, unknown>)[k] = e[k];
  }
  const order = rand() < 0.5 ? fragments : [...fragments].reverse();
  return { template: new RecordTemplate(order.map((f, i) => (i === 0 ? new RecordFragment(f) : f)), varying), values };
}

describe("RecordTemplate", () => {
  test("gives byte for byte the canonical JSON of prepareRecord and canonicalJson, over many random records", () => {
    const rand = lcg(7);
    let checked = 0;
    for (let i = 1; i <= 5000; i++) {
      const event = randomEvent(rand, i);
      const time = new Date(Date.UTC(2026, 0, 1) + i * 997).toISOString();
      const prev = i % 2 === 0 ? ZERO_HASH : "ab".repeat(32);
      const expected = prepareRecord(event, i, time, prev).canonical;
      expect(canonicalJson({ ...event, seq: i, time, prev })).toBe(expected);
      const { template, values } = randomTemplate(rand, event);
      expect(template.canonical(i, time, prev, values)).toBe(expected);
      expect(canonicalJson(template.event(values))).toBe(canonicalJson(event));
      checked++;
    }
    expect(checked).toBe(5000);
  });

  test("an ObjectTemplate nested as the action leaves out undefined members, as canonicalJson does", () => {
    const t = new ObjectTemplate({ kind: "postgres", classes: ["read"], relations: ["public.t"], functions: [] }, ["sql", "userFunctions"]);
    const action = t.fill({ sql: "SELECT 'a\"b'\n" });
    expect(action.json).toBe(canonicalJson({ kind: "postgres", classes: ["read"], relations: ["public.t"], functions: [], sql: "SELECT 'a\"b'\n" }));
    expect(t.fill({}).json).toBe('{"classes":["read"],"functions":[],"kind":"postgres","relations":["public.t"]}');
  });

  test("scalar members (written without the canonical copy) read as canonicalJson writes them", () => {
    const t = new ObjectTemplate({}, ["a", "b"]);
    const scalars = [0, -0, 1.5, 0.1 + 0.2, 1e21, 5e-7, -3, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MAX_SAFE_INTEGER, "", "ok", 'a"b\\c', "\n\u0000", "\ud800", "é😀", true, false];
    for (const a of scalars) for (const b of [1, "x", true]) expect(t.fill({ a, b }).json).toBe(canonicalJson({ a, b }));
  });

  test("the schema is checked when a template is built: a bad fixed member never reaches a record", () => {
    const bad: FragmentFields[] = [
      { decision: { effect: "maybe" as "allow", rule: null } },
      { identity: { method: "oidc", subject: "a", issuer: "i" } as never },
      { type: "" },
      { type: "x", action: ["not", "an", "object"] as never },
    ];
    for (const f of bad) {
      let error: unknown;
      try {
        new RecordTemplate([f]);
      } catch (e) {
        error = e;
      }
      expect(isGatewayError(error, "E_AUDIT_WRITE")).toBe(true);
      // prepareRecord rejects the same event.
      expect(() => prepareRecord(f as AuditEventInput, 1, "2026-01-01T00:00:00.000Z", ZERO_HASH)).toThrow(/audit record rejected/);
    }
    expect(() => new RecordTemplate([{ type: "x" }, {}])).not.toThrow();
    expect(() => new RecordTemplate([{ type: "x" }])).not.toThrow();
    expect(() => new RecordFragment({ seq: 3 } as never)).toThrow(/unknown or reserved field "seq"/);
    expect(() => new RecordFragment({ hash: "x" } as never)).toThrow(/reserved field "hash"/);
    expect(() => new RecordTemplate([{ type: "x" }, { type: "y" }])).toThrow(/"type" is in two fragments/);
    expect(() => new RecordTemplate([{ type: "x", details: {} }], ["details"])).toThrow(/both fixed and varying/);
    expect(() => new RecordTemplate([{ type: "x" }], ["type" as VaryingMember])).toThrow(/cannot vary/);
    // No type at all: the schema requires one.
    expect(() => new RecordTemplate([{ target: "t" }])).toThrow(/type/);
  });

  test("a varying member must be an object, as the schema wants; undefined leaves it out", () => {
    const t = new RecordTemplate([{ type: "statement" }]);
    for (const details of [[1], "text", 3, null, new Date(0)]) {
      expect(() => t.canonical(1, "2026-01-01T00:00:00.000Z", ZERO_HASH, { details })).toThrow(/\/details: Expected object/);
      expect(() => prepareRecord({ type: "statement", details: details as object }, 1, "2026-01-01T00:00:00.000Z", ZERO_HASH)).toThrow(/audit record rejected/);
    }
    expect(t.canonical(2, "2026-01-01T00:00:00.000Z", ZERO_HASH, {})).toBe(`{"prev":"${ZERO_HASH}","seq":2,"time":"2026-01-01T00:00:00.000Z","type":"statement"}`);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => t.canonical(1, "2026-01-01T00:00:00.000Z", ZERO_HASH, { details: cyclic })).toThrow(/\/details: .*cycle/);
  });
});

describe("appendSync and flush", () => {
  test("records appended from templates, mixed with append(), read back as the events and verify", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const rand = lcg(11);
    const events: AuditEventInput[] = [];
    for (let i = 1; i <= 400; i++) {
      const event = randomEvent(rand, i);
      events.push(event);
      if (i % 5 === 0) await log.append(event, { lazy: i % 10 === 0 });
      else {
        const { template, values } = randomTemplate(rand, event);
        expect(log.appendSync(template, values, { lazy: i % 3 === 0 })).toBe(i);
        if (i % 7 === 0) log.flush();
        if (i % 11 === 0) await new Promise((r) => setImmediate(r));
      }
    }
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 400 });
    let n = 0;
    for await (const { record } of readRecords(path)) {
      const { seq, time: _t, prev: _p, hash: _h, ...rest } = record;
      expect(seq).toBe(n + 1);
      expect(canonicalJson(rest)).toBe(canonicalJson(events[n]));
      n++;
    }
    expect(n).toBe(400);
  });

  test("lines beyond the write buffer (a 300 KB record of multi-byte text, 2,000 records in one tick) are written whole", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const t = new RecordTemplate([{ type: "request", target: "api" }]);
    const big = "é€😀".repeat(40_000);
    log.appendSync(t, { details: { big } });
    for (let i = 0; i < 2000; i++) log.appendSync(t, { details: { i, text: "ü".repeat(i % 50) } }, { lazy: i % 2 === 0 });
    const before = log.stats.writes;
    log.flush();
    expect(log.stats.writes).toBe(before + 1);
    const last = await log.append({ type: "request", details: { after: true } });
    expect(last.seq).toBe(2002);
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 2002 });
    const read: unknown[] = [];
    for await (const { record } of readRecords(path)) read.push(record.details);
    expect(read[0]).toEqual({ big });
    expect(read[2000]).toEqual({ i: 1999, text: "ü".repeat(1999 % 50) });
  });

  test("`gatehouse verify` accepts a log written by appendSync", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const t = new RecordTemplate([{ type: "statement", session: "pg_1", target: "db" }, { decision: { effect: "allow", rule: "r" } }]);
    for (let i = 0; i < 50; i++) log.appendSync(t, { action: { kind: "postgres", sql: `SELECT ${i}` }, details: { rows: i } });
    log.flush();
    await log.close();
    const main = join(import.meta.dir, "..", "main.ts");
    const proc = Bun.spawn([process.execPath, main, "verify", path, "--json"], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(proc.stdout).text();
    expect(await proc.exited).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ ok: true, records: 50 });
  });

  test("flush() puts every queued record in the file with one write, before it returns", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const t = new RecordTemplate([{ type: "request", target: "api" }]);
    const before = log.stats.writes;
    for (let i = 0; i < 10; i++) log.appendSync(t, { details: { i } }, { lazy: i < 5 });
    expect(readFileSync(path, "utf8")).toBe(""); // synchronously: no microtask (the tick-end pump) runs before it
    log.flush();
    expect(log.stats.writes).toBe(before + 1);
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    log.flush(); // nothing queued: no write
    expect(log.stats.writes).toBe(before + 1);
    await log.close();
  });

  test("without flush, a record is written at the end of its tick", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const t = new RecordTemplate([{ type: "request" }]);
    log.appendSync(t, {});
    await Promise.resolve(); // the pump's microtask was queued first
    expect(await Bun.file(path).text()).toContain('"seq":1');
    await log.close();
  });

  test("flushSoon(): the records of every caller in one event-loop turn go out with one write, before any of them is told", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path, lazyWriteMs: 60_000 });
    const t = new RecordTemplate([{ type: "decision", target: "api" }]);
    await log.append({ type: "start" });
    const before = log.stats.writes;
    // As a server's handlers of one poll: each queues its record and waits for its write, all in
    // one turn of the event loop, interleaved through microtasks. (Eight timers due "together"
    // are not always one turn on a loaded machine: a millisecond can pass between them.)
    const told: number[][] = [];
    const caller = async (i: number) => {
      for (let k = 0; k < i; k++) await null;
      log.appendSync(t, { details: { i } });
      // A completion that nothing waits for rides on the same write.
      if (i % 2 === 0) log.appendSync(t, { details: { i, done: true } }, { lazy: true });
      await log.flushSoon();
      told.push(readFileSync(path, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l).seq));
    };
    await new Promise<void>((resolve, reject) => setTimeout(() => Promise.all(Array.from({ length: 8 }, (_, i) => caller(i))).then(() => resolve(), reject), 0));
    expect(log.stats.writes).toBe(before + 1);
    // Each caller was told only once every line of the turn was in the file.
    for (const seqs of told) expect(seqs).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    await log.close();
    expect(await verifyLog(path)).toEqual({ ok: true, records: 13 });
  });

  test("flushSoon() in strict mode resolves only once the lines are fsync'd", async () => {
    const log = await openAuditLog({ path: tempLog(), durability: "strict" });
    const t = new RecordTemplate([{ type: "decision" }]);
    const seq = log.appendSync(t, {});
    await log.flushSoon();
    expect(log.durableSeq).toBeGreaterThanOrEqual(seq);
    await log.close();
  });

  test("flushSoon() rejects with E_AUDIT_WRITE when the write fails, and on a failed or closed log", async () => {
    const onFull = tempLog();
    symlinkSync("/dev/full", onFull);
    const full = await openAuditLog({ path: onFull });
    const t = new RecordTemplate([{ type: "decision" }]);
    full.appendSync(t, {});
    const e = await full.flushSoon().catch((err: unknown) => err);
    expect(isGatewayError(e, "E_AUDIT_WRITE")).toBe(true);
    expect((e as Error).message).toContain("ENOSPC");
    await expect(full.flushSoon()).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
    await full.close().catch(() => {});

    const log = await openAuditLog({ path: tempLog() });
    log.appendSync(t, {});
    await log.close();
    await expect(log.flushSoon()).rejects.toMatchObject({ code: "E_AUDIT_WRITE" });
  });

  test("flushSoon() called before close(): the lines close() writes count as written", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const t = new RecordTemplate([{ type: "decision" }]);
    log.appendSync(t, {});
    const soon = log.flushSoon();
    await log.close();
    await soon;
    expect(await verifyLog(path)).toEqual({ ok: true, records: 1 });
  });

  test("a failed or closed log refuses appendSync and flush with E_AUDIT_WRITE; a bad record uses no seq", async () => {
    const path = tempLog();
    const log = await openAuditLog({ path });
    const t = new RecordTemplate([{ type: "request" }]);
    expect(() => log.appendSync(t, { details: "no" })).toThrow(/Expected object/);
    expect(log.appendSync(t, {})).toBe(1);
    await log.close();
    expect(() => log.appendSync(t, {})).toThrow(/closed/);
    expect(() => log.flush()).toThrow(/closed/);

    const onFull = tempLog();
    symlinkSync("/dev/full", onFull);
    const full = await openAuditLog({ path: onFull });
    full.appendSync(t, {});
    let error: unknown;
    try {
      full.flush();
    } catch (e) {
      error = e;
    }
    expect(isGatewayError(error, "E_AUDIT_WRITE")).toBe(true);
    expect((error as Error).message).toContain("ENOSPC");
    expect(() => full.appendSync(t, {})).toThrow(/failed/);
    await full.close().catch(() => {});
  });
});

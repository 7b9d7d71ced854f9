import { describe, expect, test } from "bun:test";
import { CompletionExpander, completionsOf, foldedCompletions, withFoldedCompletions, type ReadableRecord } from "./completions.ts";

const alice = { method: "dev", subject: "alice", issuer: "dev", groups: ["eng"] };
let seq = 0;
const time = (n: number) => `2026-12-07T10:00:00.${String(n).padStart(3, "0")}Z`;

function rec(r: Partial<ReadableRecord> & { type: string }): ReadableRecord {
  seq++;
  return { seq, time: time(seq), ...r };
}
const sql = (text: string) => ({ kind: "postgres", sql: text, classes: ["read"], relations: [], functions: [] });
const decision = (session: string, text: string, details: object = {}) =>
  rec({ type: "decision", session, identity: alice, target: "db", action: sql(text), decision: { effect: "allow", rule: "read", message: "ok" }, policy: "h", details });

describe("foldedCompletions", () => {
  test("the well-formed entries of details.completed; nothing for a record without it", () => {
    const d = decision("pg_1", "SELECT 1", { completed: [{ decision: 3, outcome: "complete", rows: 1 }] });
    expect(foldedCompletions(d)).toEqual([{ decision: 3, outcome: "complete", rows: 1 }]);
    expect(foldedCompletions(decision("pg_1", "SELECT 1"))).toEqual([]);
    expect(foldedCompletions(rec({ type: "session.end" }))).toEqual([]);
  });

  test("a malformed completed is ignored, never thrown on", () => {
    for (const completed of [null, 7, "x", { decision: 1 }, true]) expect(foldedCompletions(decision("pg_1", "S", { completed }))).toEqual([]);
    const mixed = [null, 3, "x", [], { decision: "4" }, { outcome: "complete" }, { decision: 5, rows: 2 }, { decision: 1.5 }];
    expect(foldedCompletions(decision("pg_1", "S", { completed: mixed }))).toEqual([{ decision: 5, rows: 2 }]);
  });
});

describe("CompletionExpander", () => {
  test("a folded entry becomes a record shaped like the standalone statement record: action and rule of its decision, time and seq of its carrier", () => {
    const x = new CompletionExpander();
    const d1 = decision("pg_1", "SELECT email FROM t");
    expect(x.take(d1)).toEqual([]);
    const entry = { decision: d1.seq, duration_ms: 0.2, outcome: "complete", rows: 1, tag: "SELECT 1", masked_cells: 1 };
    const d2 = decision("pg_1", "SELECT 2", { at: "bind", completed: [entry] });
    expect(x.take(d2)).toEqual([
      { type: "statement", seq: d2.seq, time: d2.time, session: "pg_1", identity: alice, target: "db", action: d1.action!, decision: { effect: "allow", rule: "read" }, details: entry, foldedIn: d2.seq },
    ]);
  });

  test("several entries naming one decision (a prepared statement run again) each become one, in order", () => {
    const x = new CompletionExpander();
    const d1 = decision("pg_1", "SELECT $1");
    x.take(d1);
    const completed = [1, 2, 3].map((rows) => ({ decision: d1.seq, outcome: "complete", rows }));
    const got = x.take(decision("pg_1", "SELECT $1", { completed }));
    expect(got.map((c) => [c.details["rows"], (c.action as { sql: string }).sql, c.decision?.rule])).toEqual([
      [1, "SELECT $1", "read"],
      [2, "SELECT $1", "read"],
      [3, "SELECT $1", "read"],
    ]);
  });

  test("an entry whose decision was not seen is still given, without action or decision; its type comes from the carrier", () => {
    const x = new CompletionExpander();
    const d = decision("pg_1", "SELECT 2", { completed: [{ decision: 99999, outcome: "error", error: { code: "22012", message: "division by zero" } }] });
    const [c] = x.take(d);
    expect(c).toEqual({ type: "statement", seq: d.seq, time: d.time, session: "pg_1", identity: alice, target: "db", details: { decision: 99999, outcome: "error", error: { code: "22012", message: "division by zero" } }, foldedIn: d.seq });
    const http = rec({ type: "decision", session: "http_1", action: { kind: "http", method: "GET", path: "/" }, decision: { effect: "allow", rule: "r" }, details: { completed: [{ decision: 1, status: 200 }] } });
    expect(x.take(http)[0]?.type).toBe("request");
  });

  test("a decision of another session is not taken for this one's", () => {
    const x = new CompletionExpander();
    const other = decision("pg_2", "DELETE FROM t");
    x.take(other);
    const [c] = x.take(decision("pg_1", "SELECT 1", { completed: [{ decision: other.seq, outcome: "complete" }] }));
    expect(c?.action).toBeUndefined();
    expect(c?.decision).toBeUndefined();
  });

  test("HTTP: an entry naming its own session (a request's completion carried by the connection's next request) is of that session, with its decision's caller", () => {
    const bob = { method: "dev", subject: "bob", issuer: "dev", groups: [] };
    const http = (session: string, who: object, path: string, details?: object) =>
      rec({ type: "decision", session, identity: who as typeof alice, target: "api", action: { kind: "http", method: "GET", path }, decision: { effect: "allow", rule: "read", message: "ok" }, policy: "h", ...(details ? { details } : {}) });
    const x = new CompletionExpander();
    const d1 = http("req_1", alice, "/a");
    x.take(d1);
    const entry = { decision: d1.seq, session: "req_1", status: 200, bytes_out: 5, duration_ms: 0.3, outcome: "ok" };
    // Carried by another caller's request on the same connection.
    const d2 = http("req_2", bob, "/b", { completed: [entry] });
    expect(x.take(d2)).toEqual([
      { type: "request", seq: d2.seq, time: d2.time, session: "req_1", identity: alice, target: "api", action: d1.action!, decision: { effect: "allow", rule: "read" }, details: entry, foldedIn: d2.seq },
    ]);
    // Its decision not seen (a reader that starts mid-log): the session still the entry's, and no caller taken from the carrier.
    const y = new CompletionExpander();
    const [c] = y.take(http("req_3", bob, "/c", { completed: [{ ...entry, session: "req_9", decision: 1 }] }));
    expect(c).toMatchObject({ type: "request", session: "req_9", target: "api" });
    expect(c!.identity).toBeUndefined();
    expect(completionsOf([d1, d2]).map((r) => r.session)).toEqual(["req_1"]);
  });

  test("memory stays bounded: per session, overall, and a session's decisions are dropped at its end", () => {
    const x = new CompletionExpander({ perSession: 3, overall: 5 });
    const a = [1, 2, 3, 4].map((i) => decision("pg_a", `SELECT ${i}`));
    for (const d of a) x.take(d);
    expect(x.remembered).toBe(3);
    // The oldest of pg_a was forgotten, the newer ones are known.
    const [gone, kept] = x.take(decision("pg_a", "SELECT 5", { completed: [{ decision: a[0]!.seq }, { decision: a[3]!.seq }] }));
    expect(gone?.action).toBeUndefined();
    expect((kept?.action as { sql: string }).sql).toBe("SELECT 4");
    expect(x.remembered).toBe(3);
    const b = [1, 2, 3].map((i) => decision("pg_b", `SELECT b${i}`));
    for (const d of b) x.take(d);
    // Overall 5: pg_a, the least recently active, gave up its oldest.
    expect(x.remembered).toBe(5);
    x.take(rec({ type: "session.end", session: "pg_b" }));
    expect(x.remembered).toBe(2);
    const [late] = x.take(decision("pg_b", "SELECT 9", { completed: [{ decision: b[2]!.seq }] }));
    expect(late?.action).toBeUndefined();
  });
});

describe("completionsOf", () => {
  test("standalone and folded completions read the same, in the order a standalone record would have had", () => {
    const start = rec({ type: "session.start", session: "pg_1", identity: alice, target: "db" });
    const d1 = decision("pg_1", "SELECT email FROM t");
    const standalone = rec({ type: "statement", session: "pg_1", identity: alice, target: "db", action: sql("SELECT email FROM t"), decision: { effect: "allow", rule: "read" }, details: { outcome: "complete", rows: 1, tag: "SELECT 1" } });
    const d2 = decision("pg_1", "SELECT 1/0");
    const d3 = decision("pg_1", "SELECT 3", { completed: [{ decision: d2.seq, outcome: "error", error: { code: "22012", message: "division by zero" }, rows: 0 }] });
    const end = rec({ type: "session.end", session: "pg_1", details: { statements: 2 } });
    const all = completionsOf([start, d1, standalone, d2, d3, end]);
    expect(all.map((c) => [c.type, (c.action as { sql: string }).sql, c.decision?.rule, c.details["outcome"], c.foldedIn])).toEqual([
      ["statement", "SELECT email FROM t", "read", "complete", undefined],
      ["statement", "SELECT 1/0", "read", "error", d3.seq],
    ]);
    // Folded ones come just before their carrier.
    const order = [...withFoldedCompletions([d2, d3])].map((r) => `${r.type}@${r.seq}`);
    expect(order).toEqual([`decision@${d2.seq}`, `statement@${d3.seq}`, `decision@${d3.seq}`]);
  });

  test("a standalone request record counts too; other records do not", () => {
    const r = rec({ type: "request", session: "http_1", action: { kind: "http", method: "GET", path: "/" }, details: { status: 200 } });
    expect(completionsOf([rec({ type: "session.start" }), r, rec({ type: "mcp.call" })]).map((c) => c.seq)).toEqual([r.seq]);
  });
});

import { beforeAll, describe, expect, test } from "bun:test";
import type { Analysis, AnalysisContext, StatementInfo } from "./analysis.ts";
import { createAnalysisCache, type AnalysisCache } from "./analysis-cache.ts";
import { loadSqlParser, type SqlParser } from "./sql-parser.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

const CTX: AnalysisContext = { searchPath: ["public"] };

function only(a: Analysis): StatementInfo {
  if (!a.ok) throw new Error(a.error);
  const s = a.statements[0];
  if (s === undefined || a.statements.length !== 1) throw new Error("expected one statement");
  return s;
}

/** Analyzes `first`, then `second`, through one cache; returns the second result and what the cache did for it. */
function pair(first: string, second: string, ctx2: AnalysisContext = CTX): { second: Analysis; structureHit: boolean; cache: AnalysisCache } {
  // The structure cache alone: the shape cache (analysis-cache-lexer.test.ts) would answer first.
  const cache = createAnalysisCache(parser, { maxEntries: 100, lexer: false });
  cache.analyze(first, CTX);
  const before = cache.stats().structureHits;
  const result = cache.analyze(second, ctx2);
  return { second: result, structureHit: cache.stats().structureHits > before, cache };
}

describe("exact-text cache", () => {
  test("the same text and context return the same analysis without parsing again", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10 });
    const a = cache.analyze("SELECT * FROM t", CTX);
    const b = cache.analyze("SELECT * FROM t", CTX);
    expect(b).toBe(a);
    expect(cache.stats()).toEqual({ exactHits: 1, structureHits: 0, shapeHits: 0, misses: 1 });
  });

  test("another search path or user is another entry", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10 });
    expect(only(cache.analyze("SELECT * FROM t", CTX)).relations).toEqual(["public.t"]);
    expect(only(cache.analyze("SELECT * FROM t", { searchPath: ["hr"] })).relations).toEqual(["hr.t"]);
    expect(only(cache.analyze("SELECT * FROM t", { searchPath: ["$user"], user: "bob" })).relations).toEqual(["bob.t"]);
    expect(only(cache.analyze("SELECT * FROM t", { searchPath: ["$user"], user: "eve" })).relations).toEqual(["eve.t"]);
    expect(cache.stats().exactHits).toBe(0);
  });

  test("parse errors are cached as errors", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10 });
    const a = cache.analyze("SELEC 1", CTX);
    expect(a.ok).toBe(false);
    expect(cache.analyze("SELEC 1", CTX)).toBe(a);
  });

  test("recently used entries stay, the least recently used go", () => {
    // maxEntries 4: two generations of two. a, b fill the young one, which then turns old.
    const cache = createAnalysisCache(parser, { maxEntries: 4 });
    cache.analyze("SELECT * FROM a", CTX);
    cache.analyze("SELECT * FROM b", CTX);
    cache.analyze("SELECT * FROM a", CTX); // a hit moves a back to the young generation
    cache.analyze("SELECT * FROM c", CTX); // young fills again: the old generation (b) goes
    expect(cache.stats().exactHits).toBe(1);
    cache.analyze("SELECT * FROM a", CTX);
    expect(cache.stats().exactHits).toBe(2);
    cache.analyze("SELECT * FROM b", CTX);
    expect(cache.stats().exactHits).toBe(2);
  });

  test("the number of entries stays bounded", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10 });
    for (let i = 0; i < 100; i++) cache.analyze(`SELECT * FROM t${i}`, CTX);
    let kept = 0;
    const before = cache.stats().exactHits;
    for (let i = 0; i < 100; i++) cache.analyze(`SELECT * FROM t${i}`, CTX);
    kept = cache.stats().exactHits - before;
    expect(kept).toBeLessThanOrEqual(10);
  });

  test("structure hits can be turned off", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10, structure: false });
    cache.analyze("SELECT a FROM t WHERE id = 1", CTX);
    expect(only(cache.analyze("SELECT a FROM t WHERE id = 2", CTX)).text).toBe("SELECT a FROM t WHERE id = 2");
    expect(cache.stats().structureHits).toBe(0);
  });

  test("texts over maxSqlLength are analyzed but not kept", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10, maxSqlLength: 20 });
    const sql = "SELECT * FROM a_rather_long_table_name";
    cache.analyze(sql, CTX);
    expect(only(cache.analyze(sql, CTX)).relations).toEqual(["public.a_rather_long_table_name"]);
    expect(cache.stats().exactHits).toBe(0);
  });

  test("cached analyses are frozen, so no caller can change another's", () => {
    const cache = createAnalysisCache(parser, { maxEntries: 10 });
    const s = only(cache.analyze("SELECT * FROM t", CTX));
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.relations)).toBe(true);
  });
});

describe("structure cache: reuse across literal values", () => {
  test("pgbench -S: a new number is a structure hit with the new text", () => {
    const { second, structureHit } = pair(
      "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;",
      "SELECT abalance FROM pgbench_accounts WHERE aid = 7;",
    );
    expect(structureHit).toBe(true);
    expect(only(second)).toEqual({
      classes: ["read"],
      relations: ["public.pgbench_accounts"],
      // The gateway's markers for the operator (markers.ts), which the gate looks up once and caches.
      functions: ["\u0000op:pg_catalog.=", "\u0000op:public.="],
      text: "SELECT abalance FROM pgbench_accounts WHERE aid = 7",
      node: "SelectStmt",
    });
  });

  test("the hit's text is cut from its own query, whitespace, comments and non-ASCII included", () => {
    const { second, structureHit } = pair(
      "  /* lead */ UPDATE t SET a = 'é' WHERE id = 1 ; -- tail",
      "UPDATE t SET a = 'ünïcödé' WHERE id = 22",
    );
    expect(structureHit).toBe(true);
    expect(only(second).text).toBe("UPDATE t SET a = 'ünïcödé' WHERE id = 22");
    const back = pair("UPDATE t SET a = 'x' WHERE id = 22", "\n\t-- lead\n UPDATE t SET a = 'ü' WHERE id = 1 ; /* tail */ ");
    expect(back.structureHit).toBe(true);
    expect(only(back.second).text).toBe("UPDATE t SET a = 'ü' WHERE id = 1 ");
  });

  test("string literal spellings are the same structure: 'x', E'x', $$x$$, $q$x$q$, U&'x'", () => {
    for (const lit of ["E'a\\nb'", "$$x$$", "$q$ ; DROP TABLE y; $q$", "U&'\\0041'", "'it''s'"]) {
      const { second, structureHit } = pair("SELECT a FROM t WHERE b = 'x'", `SELECT a FROM t WHERE b = ${lit}`);
      expect([lit, structureHit]).toEqual([lit, true]);
      expect(only(second).relations).toEqual(["public.t"]);
    }
  });

  test("other literals hit when their kind matches (the key keeps the kind: integer, numeric, string, bits, boolean, null)", () => {
    for (const [a, b] of [["1", "-5"], ["1.5", "2e10"], ["B'1'", "X'ff'"], ["true", "false"], ["NULL", "null"]] as const) {
      expect([a, b, pair(`SELECT a FROM t WHERE b = ${a}`, `SELECT a FROM t WHERE b = ${b}`).structureHit]).toEqual([a, b, true]);
    }
    expect(pair("SELECT a FROM t WHERE b = 1", "SELECT a FROM t WHERE b = 'x'").structureHit).toBe(false);
  });

  const DIFFERENT: readonly (readonly [string, string, string])[] = [
    ["identifier", "SELECT a FROM sales.orders WHERE id = 1", "SELECT a FROM hr.orders WHERE id = 2"],
    ["quoted case", 'SELECT a FROM "Orders" WHERE id = 1', "SELECT a FROM orders WHERE id = 2"],
    ["quoted schema case", 'SELECT a FROM "Hr".t WHERE id = 1', "SELECT a FROM hr.t WHERE id = 2"],
    ["Unicode escape", 'SELECT a FROM U&"\\0068r".t WHERE id = 1', 'SELECT a FROM U&"\\0068s".t WHERE id = 2'],
    ["UESCAPE character", "SELECT a FROM U&\"!0068r\" UESCAPE '!' WHERE id = 1", "SELECT a FROM U&\"!0068r\" UESCAPE '#' WHERE id = 2"],
    ["commented-out join", "SELECT * FROM t /* JOIN hr.s ON true */ WHERE id = 1", "SELECT * FROM t JOIN hr.s ON true WHERE id = 2"],
    ["line comment", "SELECT * FROM t WHERE id = 1 -- OR id IN (SELECT id FROM hr.s)", "SELECT * FROM t WHERE id = 1 OR id IN (SELECT id FROM hr.s)"],
    ["string vs identifier", "SELECT a FROM t WHERE x = 'hr.salaries'", 'SELECT a FROM t WHERE x = "hr.salaries"'],
    ["function name", "SELECT lower(a) FROM t WHERE id = 1", "SELECT pg_read_file(a) FROM t WHERE id = 2"],
    ["CTE name", "WITH t AS (SELECT 1) SELECT * FROM t WHERE 1 = 1", "WITH u AS (SELECT 1) SELECT * FROM t WHERE 1 = 2"],
    ["statement kind", "DELETE FROM t WHERE id = 1", "SELECT * FROM t WHERE id = 2"],
    ["literal vs parameter", "SELECT a FROM t WHERE id = 1", "SELECT a FROM t WHERE id = $1"],
  ];
  for (const [what, first, second] of DIFFERENT) {
    test(`a different ${what} never shares an entry`, () => {
      const r = pair(first, second);
      expect(r.structureHit).toBe(false);
      expect(only(r.second)).toEqual(only(parser.analyze(second, CTX)));
    });
  }

  test("a dollar quote hiding statements vs real statements", () => {
    const r = pair("SELECT $$; DROP TABLE x; SELECT $$ FROM t", "SELECT ''; DROP TABLE x; SELECT '' FROM t");
    expect(r.structureHit).toBe(false);
    if (!r.second.ok) throw new Error(r.second.error);
    expect(r.second.statements.map((s) => s.classes)).toEqual([["read"], ["ddl.drop.table"], ["read"]]);
  });

  test("a different search path never shares an entry", () => {
    const r = pair("SELECT a FROM t WHERE id = 1", "SELECT a FROM t WHERE id = 2", { searchPath: ["hr"] });
    expect(r.structureHit).toBe(false);
    expect(only(r.second).relations).toEqual(["hr.t"]);
  });

  test("several statements are never structure hits", () => {
    const r = pair("SELECT 1; SELECT a FROM t WHERE id = 1", "SELECT 1; SELECT a FROM t WHERE id = 2");
    expect(r.structureHit).toBe(false);
  });

  const CONSTANT_DEPENDENT: readonly (readonly [string, string, (s: StatementInfo) => unknown, unknown])[] = [
    [
      "SELECT set_config('search_path', 'hr', false)",
      "SELECT set_config('search_path', 'evil', false)",
      (s) => s.sets,
      [{ name: "search_path", value: "evil", local: false }],
    ],
    [
      "SELECT set_config('application_name', 'x', false)",
      "SELECT set_config('search_path', 'x', false)",
      (s) => s.functions.includes("pg_catalog.set_config(search_path)"),
      true,
    ],
    ["SELECT nextval('sales.a')", "SELECT nextval('hr.b')", (s) => s.relations, ["hr.b"]],
    ["SELECT 'sales.x'::regclass FROM t", "SELECT 'hr.y'::regclass FROM t", (s) => s.relations, ["public.t"]],
    ["SET search_path TO hr", "SET search_path TO sales", (s) => s.sets?.[0]?.value, "sales"],
    ["COPY t TO PROGRAM 'a'", "COPY t TO PROGRAM 'b'", (s) => s.classes, ["copy.program", "copy.to", "read"]],
    // Plain EXPLAIN carries the classes too; only a run writes rows (and copies their values).
    ["EXPLAIN (ANALYZE 'off') INSERT INTO t SELECT a FROM u", "EXPLAIN (ANALYZE 'on') INSERT INTO t SELECT a FROM u", (s) => s.functions.some((f) => f.endsWith("copy:a")), true],
  ];
  for (const [first, second, pick, expected] of CONSTANT_DEPENDENT) {
    test(`constant-dependent: ${second}`, () => {
      const r = pair(first, second);
      expect(r.structureHit).toBe(false);
      expect(pick(only(r.second))).toEqual(expected);
    });
  }
});

import { beforeAll, describe, expect, test } from "bun:test";
import { loadSqlParser, type SqlParser } from "./sql-parser.ts";
import { structureKey } from "./structure-key.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

function json(sql: string): Buffer {
  const p = parser.parse(sql);
  if (!p.ok) throw new Error(p.analysis.error);
  return p.json;
}
const key = (sql: string): string | undefined => structureKey(json(sql))?.stripped.toString("utf8");

describe("structureKey", () => {
  test("every literal kind is replaced by its kind alone", () => {
    const k = key("SELECT 0, -1, 1.5, 'a\"b\\c', true, false, null, B'101', X'1f', 99999999999");
    expect(k).toBeDefined();
    expect(k).not.toMatch(/"(?:ival|fval|sval|bsval|boolval)":\{/);
    expect(k).not.toMatch(/"location":[1-9]/);
    expect(key("SELECT 7, -9, 2.5, 'zz', false, true, null, B'0', X'ff', 1e20")).toBe(k);
  });

  test("the span is the statement's byte range", () => {
    expect(structureKey(json("  SELECT 1 ;  "))?.span).toEqual({ location: 2, length: 9 });
    expect(structureKey(json("SELECT 1"))?.span).toEqual({ location: 0, length: 0 });
  });

  test("no key for zero or several statements", () => {
    expect(structureKey(json(""))).toBeNull();
    expect(structureKey(json("SELECT 1; SELECT 2"))).toBeNull();
  });

  test("identifiers that spell JSON keys do not confuse it", () => {
    const tricky = key('SELECT "{""A_Const"":{""ival"":{}}}", "x""location"":5" FROM t WHERE a = 1');
    const plain = key('SELECT "a", "b" FROM t WHERE a = 1');
    expect(tricky).toBeDefined();
    expect(tricky).not.toBe(plain);
    expect(tricky).toContain('x\\"location\\":5');
  });

  test("string literals that spell JSON keys are still just literals", () => {
    expect(key(`SELECT a FROM t WHERE b = '{"A_Const":{"ival":{}}},"location":5'`)).toBe(key("SELECT a FROM t WHERE b = 'x'"));
  });
});

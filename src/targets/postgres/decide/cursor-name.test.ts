// Reading the cursor name of a DECLARE from its text, as PostgreSQL folds it.
import { expect, test } from "bun:test";
import { declaredCursorName } from "./cursor-name.ts";

test("reads the cursor name of a DECLARE as PostgreSQL folds it", () => {
  expect(declaredCursorName("DECLARE hc CURSOR WITH HOLD FOR SELECT 1")).toBe("hc");
  expect(declaredCursorName("declare HC binary cursor for select 1")).toBe("hc");
  expect(declaredCursorName('DECLARE "Hc" CURSOR FOR SELECT 1')).toBe("Hc");
  expect(declaredCursorName('DECLARE "a""b" CURSOR FOR SELECT 1')).toBe('a"b');
  expect(declaredCursorName('DECLARE"q"CURSOR FOR SELECT 1')).toBe("q");
  expect(declaredCursorName("  /* x /* nested */ */ DECLARE -- c\n c2$ CURSOR FOR SELECT 1")).toBe("c2$");
  expect(declaredCursorName("DECLARE ünï CURSOR FOR SELECT 1")).toBe("ünï");
});

test("anything it cannot read plainly is null, so callers assume any name", () => {
  expect(declaredCursorName('DECLARE U&"d\\0061t" CURSOR FOR SELECT 1')).toBeNull();
  expect(declaredCursorName('DECLARE "" CURSOR FOR SELECT 1')).toBeNull();
  expect(declaredCursorName(`DECLARE ${"x".repeat(64)} CURSOR FOR SELECT 1`)).toBeNull();
  expect(declaredCursorName("DECLAREx CURSOR FOR SELECT 1")).toBeNull();
  expect(declaredCursorName("SELECT 1")).toBeNull();
  expect(declaredCursorName('DECLARE "open')).toBeNull();
});

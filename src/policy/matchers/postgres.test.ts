import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { PostgresRequestFacts } from "../../core/types.ts";
import { compilePostgresMatcher } from "./postgres.ts";

const stmt = (classes: string[], relations: string[] = [], functions: string[] = []): PostgresRequestFacts => ({
  kind: "postgres",
  classes,
  relations,
  functions,
});

describe("postgres matcher: allow rules need every part listed", () => {
  const m = compilePostgresMatcher({ classes: ["read"], tables: ["sales.*"] }, false);
  test("a read of sales tables matches", () => {
    expect(m(stmt(["read"], ["sales.orders", "sales.customers"]))).toBe(true);
  });
  test("one table outside sales.* and the statement is not allowed", () => {
    expect(m(stmt(["read"], ["sales.orders", "hr.salaries"]))).toBe(false);
  });
  test("one class beyond read (a CTE that deletes) and the statement is not allowed", () => {
    expect(m(stmt(["read", "delete"], ["sales.orders"]))).toBe(false);
  });
  test("* in a table glob stays within one name part", () => {
    expect(m(stmt(["read"], ["sales.orders.extra"]))).toBe(false);
    expect(m(stmt(["read"], ["orders"]))).toBe(false);
  });
  test("case matters for allow rules", () => {
    expect(m(stmt(["read"], ["Sales.orders"]))).toBe(false);
  });
  test("functions, when listed, must all be listed", () => {
    const f = compilePostgresMatcher({ classes: ["read"], functions: ["pg_catalog.lower", "pg_catalog.count"] }, false);
    expect(f(stmt(["read"], [], ["pg_catalog.lower"]))).toBe(true);
    expect(f(stmt(["read"], [], ["pg_catalog.lower", "pg_catalog.pg_read_file"]))).toBe(false);
  });
});

describe("postgres matcher: deny rules match on any part", () => {
  test("any relation matching denies", () => {
    const m = compilePostgresMatcher({ tables: ["hr.*"] }, true);
    expect(m(stmt(["read"], ["sales.orders", "hr.salaries"]))).toBe(true);
    expect(m(stmt(["read"], ["sales.orders"]))).toBe(false);
    expect(m(stmt(["read"], ["HR.salaries"]))).toBe(true);
  });
  test("any class matching denies; prefixes with .* and exact names", () => {
    const m = compilePostgresMatcher({ classes: ["ddl.drop.*", "truncate"] }, true);
    expect(m(stmt(["read", "ddl.drop.table"]))).toBe(true);
    expect(m(stmt(["ddl.drop.database"]))).toBe(true);
    expect(m(stmt(["truncate"]))).toBe(true);
    expect(m(stmt(["ddl.create.table"]))).toBe(false);
    expect(m(stmt(["read"]))).toBe(false);
  });
  test("ddl.* covers every ddl class, and * every class", () => {
    expect(compilePostgresMatcher({ classes: ["ddl.*"] }, true)(stmt(["ddl.alter.role"]))).toBe(true);
    expect(compilePostgresMatcher({ classes: ["*"] }, false)(stmt(["copy.program"]))).toBe(true);
  });
  test("any function matching denies", () => {
    const m = compilePostgresMatcher({ functions: ["pg_catalog.pg_read_*"] }, true);
    expect(m(stmt(["read"], [], ["pg_catalog.lower", "pg_catalog.pg_read_file"]))).toBe(true);
    expect(m(stmt(["read"], [], ["pg_catalog.lower"]))).toBe(false);
  });
  test("invalid class names are policy errors", () => {
    expect(() => compilePostgresMatcher({ classes: ["ddl drop"] }, true)).toThrow(GatewayError);
  });
});

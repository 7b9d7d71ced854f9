import { describe, expect, test } from "bun:test";
import { functionCandidates, parseSearchPath, qualifiedName, quoteIdentifier, relationCandidates, splitIdentifierString } from "./name-resolution.ts";

describe("search_path values (PostgreSQL's SplitIdentifierString)", () => {
  test("bare names are lower-cased, quoted names kept exact", () => {
    expect(parseSearchPath("hr, Public")).toEqual(["hr", "public"]);
    expect(parseSearchPath('"$user", "Sales", "a,b", "q""x"')).toEqual(["$user", "Sales", "a,b", 'q"x']);
    expect(parseSearchPath("  hr  ,\tpublic\n")).toEqual(["hr", "public"]);
    expect(parseSearchPath("")).toEqual([]);
    expect(parseSearchPath('""')).toEqual([""]);
  });

  test("malformed lists are null", () => {
    expect(parseSearchPath("hr,,public")).toBeNull();
    expect(parseSearchPath("hr,")).toBeNull();
    expect(parseSearchPath('"unterminated')).toBeNull();
    expect(parseSearchPath("hr public")).toBeNull();
  });

  test("qualified names for nextval('…')", () => {
    expect(splitIdentifierString('"Sales".Seq', ".")).toEqual(["Sales", "seq"]);
    expect(splitIdentifierString("a.b.c", ".")).toEqual(["a", "b", "c"]);
  });

  test("names are truncated to 63 bytes without splitting a character", () => {
    expect(parseSearchPath("a".repeat(70))).toEqual(["a".repeat(63)]);
    expect(parseSearchPath(`"${"a".repeat(62)}é"`)).toEqual(["a".repeat(62)]);
  });

  test("quoteIdentifier round-trips through parseSearchPath", () => {
    const names = ["hr", "Sales", "$user", 'we"ird', "a b", "x1", "_y", "a,b"];
    expect(parseSearchPath(names.map(quoteIdentifier).join(", "))).toEqual(names);
    expect(quoteIdentifier("hr")).toBe("hr");
  });
});

describe("candidates", () => {
  test("qualified names are exact; a dot or quote inside a part is quoted", () => {
    expect(relationCandidates("Sales", "Orders", { searchPath: ["x"] })).toEqual(["Sales.Orders"]);
    expect(qualifiedName("a.b", "c")).toBe('"a.b".c');
    expect(qualifiedName("a", 'b"c')).toBe('a."b""c"');
  });

  test("unqualified relations: every search_path schema; pg_catalog only for pg_ names", () => {
    expect(relationCandidates(undefined, "t", { searchPath: ["sales", "public", "sales"] })).toEqual(["sales.t", "public.t"]);
    expect(relationCandidates(undefined, "pg_roles", { searchPath: ["public"] })).toEqual(["pg_catalog.pg_roles", "public.pg_roles"]);
    expect(relationCandidates(undefined, "t", { searchPath: ["$user", "public"], user: "ann" })).toEqual(["ann.t", "public.t"]);
    expect(relationCandidates(undefined, "t", { searchPath: ["$user"] })).toEqual(["pg_temp.t"]);
  });

  test("unqualified functions: pg_catalog first unless the path places it", () => {
    expect(functionCandidates(undefined, "f", { searchPath: ["public"] })).toEqual(["pg_catalog.f", "public.f"]);
    expect(functionCandidates(undefined, "f", { searchPath: ["public", "pg_catalog"] })).toEqual(["public.f", "pg_catalog.f"]);
    expect(functionCandidates(undefined, "f", { searchPath: ["pg_temp", "public"] })).toEqual(["pg_catalog.f", "public.f"]);
  });
});

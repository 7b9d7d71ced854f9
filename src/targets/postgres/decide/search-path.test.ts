// The search_path the gateway follows for name resolution: SET, RESET and uncertain outcomes.
import { expect, test } from "bun:test";
import { SearchPathTracker } from "./search-path.ts";

test("a SET in autocommit replaces the path; RESET goes back to the login value", () => {
  const t = new SearchPathTracker(["$user", "public"], "alice");
  expect(t.context).toEqual({ searchPath: ["$user", "public"], user: "alice" });
  const before = t.context;
  t.apply([{ name: "search_path", value: "hr, public", local: false }], true);
  expect(t.schemas).toEqual(["hr", "public"]);
  expect(t.context).not.toBe(before);
  t.apply([{ name: "search_path", value: null, local: false }], true);
  expect(t.schemas).toEqual(["$user", "public"]);
});

test("where the outcome is uncertain the path only grows, so every candidate stays checked", () => {
  const t = new SearchPathTracker(["public"], undefined);
  t.apply([{ name: "search_path", value: "hr", local: false }], false);
  expect(t.schemas).toEqual(["public", "hr"]);
  t.apply([{ name: "search_path", value: '"Sales", x', local: true }], true);
  expect(t.schemas).toEqual(["public", "hr", "Sales", "x"]);
  t.apply([{ name: "role", value: "admin", local: false }], true);
  expect(t.schemas).toContain("admin");
  t.apply([{ name: "search_path", value: "only", local: false }], true);
  expect(t.schemas).toEqual(["only"]);
});

test("a value PostgreSQL would reject changes nothing; an unknowable one is flagged", () => {
  const t = new SearchPathTracker(["public"], undefined);
  const ctx = t.context;
  t.apply([{ name: "search_path", value: '"unterminated', local: false }], true);
  expect(t.context).toBe(ctx);
  expect(t.unknownBecause).toBeNull();
  t.apply([{ name: "search_path", value: null, local: false, opaque: true }], true);
  expect(t.unknownBecause).not.toBeNull();
  t.apply([{ name: "search_path", value: "public", local: false }], true);
  expect(t.unknownBecause).toBeNull();
});

test("other settings leave the path alone", () => {
  const t = new SearchPathTracker(["public"], undefined);
  const ctx = t.context;
  t.apply([{ name: "work_mem", value: "64MB", local: false }], true);
  expect(t.context).toBe(ctx);
});

test('"$user" counts only once a schema of that name exists', () => {
  const t = new SearchPathTracker(["$user", "public"], "gatehouse", false);
  expect(t.context).toEqual({ searchPath: ["$user", "public"] });
  t.schemaCreated();
  expect(t.context).toEqual({ searchPath: ["$user", "public"], user: "gatehouse" });
});

import { expect, test } from "bun:test";
import { safeReturnTo } from "./return-to.ts";

test("a local path is kept, with its query", () => {
  expect(safeReturnTo("/approvals")).toBe("/approvals");
  expect(safeReturnTo("/audit?identity=alice&page=2")).toBe("/audit?identity=alice&page=2");
});

test("anything that could leave the console becomes /", () => {
  for (const bad of [
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "http:/evil.example",
    "evil.example",
    "",
    undefined,
    null,
    "/login/callback?code=x",
    "/logout",
    // Dot segments that the URL parser resolves to "//evil.example".
    "/.//evil.example",
    "/..//evil.example/x",
    "/a/..//evil.example",
    "/%2e//evil.example",
    "/%2E%2E//evil.example?x=1",
  ]) {
    expect(safeReturnTo(bad as string)).toBe("/");
  }
});

import { describe, expect, test } from "bun:test";
import { GatewayError } from "../core/errors.ts";
import { compileGlob, compileGlobs } from "./glob.ts";

const path = (p: string) => compileGlob(p, { separator: "/" });

describe("globs with a separator", () => {
  test("* stays within one segment", () => {
    const g = path("/api/*/items");
    expect(g("/api/1/items")).toBe(true);
    expect(g("/api/1/2/items")).toBe(false);
    expect(g("/api//items")).toBe(true);
  });
  test("trailing /** matches the folder itself and everything below", () => {
    const g = path("/api/**");
    for (const p of ["/api", "/api/", "/api/a", "/api/a/b/c"]) expect(g(p)).toBe(true);
    for (const p of ["/apix", "/ap", "/other/api/x"]) expect(g(p)).toBe(false);
  });
  test("a middle ** spans zero or more segments", () => {
    const g = path("/a/**/z");
    for (const p of ["/a/z", "/a/b/z", "/a/b/c/z"]) expect(g(p)).toBe(true);
    for (const p of ["/a/bz", "/a/z/y"]) expect(g(p)).toBe(false);
  });
  test("a leading ** matches any prefix of segments", () => {
    const g = compileGlob("**.orders", { separator: "." });
    expect(g("orders")).toBe(true);
    expect(g("sales.orders")).toBe(true);
    expect(g("salesorders")).toBe(false);
  });
  test("? is one character, other characters are literal", () => {
    const g = path("/v?/a.b+c");
    expect(g("/v1/a.b+c")).toBe(true);
    expect(g("/v1/aXb+c")).toBe(false);
    expect(g("/v12/a.b+c")).toBe(false);
  });
  test("ignoreCase is for restricting rules", () => {
    expect(compileGlob("/admin/**", { separator: "/", ignoreCase: true })("/ADMIN/x")).toBe(true);
    expect(compileGlob("/admin/**", { separator: "/" })("/ADMIN/x")).toBe(false);
    expect(compileGlob("/admin", { separator: "/", ignoreCase: true })("/AdMiN")).toBe(true);
  });
});

describe("globs without a separator", () => {
  test("* matches anything", () => {
    const g = compileGlob("prod-*");
    expect(g("prod-k8s")).toBe(true);
    expect(g("prod-")).toBe(true);
    expect(g("a/prod-x")).toBe(false);
    expect(g("staging-k8s")).toBe(false);
  });
});

describe("lists and errors", () => {
  test("a list matches when any glob matches", () => {
    const g = compileGlobs(["sales.*", "public.users"], { separator: "." });
    expect(g("sales.orders")).toBe(true);
    expect(g("public.users")).toBe(true);
    expect(g("public.orders")).toBe(false);
    expect(g("sales.orders.x")).toBe(false);
  });
  test("invalid globs are policy errors", () => {
    for (const bad of ["", "/a/{b,c}", "/a/[ab]", "/a/***", "/a/x**"]) {
      expect(() => compileGlob(bad, { separator: "/" })).toThrow(GatewayError);
    }
  });
});

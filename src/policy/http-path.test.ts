import { describe, expect, test } from "bun:test";
import { PathRefusal, canonicalHttpPath, normalizeHttpPath } from "./http-path.ts";

describe("normalizeHttpPath", () => {
  test("canonical paths come back unchanged", () => {
    for (const p of ["/", "/api", "/api/orders/1", "/api/", "/a-b_c.d~e"]) expect(normalizeHttpPath(p)).toBe(p);
  });
  test("query and fragment are dropped", () => {
    expect(normalizeHttpPath("/api/x?y=/../admin")).toBe("/api/x");
    expect(normalizeHttpPath("/api/x#frag")).toBe("/api/x");
  });
  test("// collapses and . and .. resolve", () => {
    expect(normalizeHttpPath("//api")).toBe("/api");
    expect(normalizeHttpPath("/api//orders")).toBe("/api/orders");
    expect(normalizeHttpPath("/api/./orders")).toBe("/api/orders");
    expect(normalizeHttpPath("/api/../admin")).toBe("/admin");
    expect(normalizeHttpPath("/api/orders/..")).toBe("/api/");
  });
  test("percent-encoded unreserved characters are decoded, so %2e%2e is ..", () => {
    expect(normalizeHttpPath("/api/%2e%2e/admin")).toBe("/admin");
    expect(normalizeHttpPath("/api/%2E%2e/admin")).toBe("/admin");
    expect(normalizeHttpPath("/%61dmin")).toBe("/admin");
    expect(normalizeHttpPath("/caf%c3%a9")).toBe("/caf%C3%A9");
    expect(normalizeHttpPath("/a%25b")).toBe("/a%25b");
  });
  test("double encoding is not decoded twice", () => {
    expect(normalizeHttpPath("/api/%252e%252e/admin")).toBe("/api/%252e%252e/admin");
  });
  test("case is kept: /API is not /api", () => {
    expect(normalizeHttpPath("/API/x")).toBe("/API/x");
  });
  test("what cannot be made canonical is refused", () => {
    for (const p of [
      "/api%2Fadmin",
      "/api%2fadmin",
      "/api%5Cadmin",
      "/api\\admin",
      "/..",
      "/api/../../etc",
      "/%2e%2e/x",
      "/bad%zz",
      "/bad%4",
      "/bad%",
      "/nul%00x",
      "/sp ace",
      "/tab\tx",
      "api/x",
      "",
      "*",
      "http://evil/api",
    ]) {
      expect(normalizeHttpPath(p)).toBeNull();
    }
  });
});

test("a ';' anywhere in the path is refused: some servers drop ';params' from each segment", () => {
  for (const p of ["/api/admin;x=1/users", "/api/admin;/users", "/api/x/..;/admin", "/api/customers;x=1"]) expect(normalizeHttpPath(p)).toBeNull();
  expect(normalizeHttpPath("/api/a?x=1;y=2")).toBe("/api/a");
});

describe("percent-encoded bytes must be well-formed UTF-8", () => {
  test("overlong forms, surrogates, lone continuation bytes, bytes UTF-8 never uses and cut-short sequences are refused with the reason", () => {
    const cases: Record<string, RegExp> = {
      "/%c0%afadmin": /overlong/, // "/" in two bytes
      "/api/..%c0%afadmin": /overlong/,
      "/api/%c0%ae%c0%ae/admin": /overlong/, // ".."
      "/api/x%e0%80%af..%e0%80%afadmin": /overlong/, // "/" in three bytes
      "/api/x%f0%80%80%afadmin": /overlong/, // "/" in four bytes
      "/api/x%c1%9cadmin": /overlong/, // "\"
      "/api/admin%ed%a0%80": /surrogate/, // U+D800
      "/api/x%f4%90%80%80": /above U\+10FFFF/,
      "/api/admin%80": /continuation byte without a lead byte/,
      "/api/admin%bf/x": /continuation byte without a lead byte/,
      "/api/x%f5%80%80%80": /never occurs/,
      "/api/x%ff": /never occurs/,
      "/api/admin%c3/users": /cut short/,
      "/api/admin%c3": /cut short/,
      "/api/x%e2%82": /cut short/,
      "/api/x%e2%82a": /cut short/,
      "/api/x%e2%82%2f": /cut short/,
      "/api/x%c3%c3%a9": /cut short/,
    };
    for (const [p, reason] of Object.entries(cases)) {
      expect(normalizeHttpPath(p)).toBeNull();
      const r = canonicalHttpPath(p);
      expect(r).toBeInstanceOf(PathRefusal);
      expect((r as PathRefusal).reason).toMatch(reason);
      expect((r as PathRefusal).reason).toContain("not well-formed UTF-8");
    }
  });
  test("well-formed multi-byte characters stay encoded, upper-cased", () => {
    expect(normalizeHttpPath("/caf%c3%a9")).toBe("/caf%C3%A9");
    expect(normalizeHttpPath("/%e2%82%ac/%f0%9f%98%80")).toBe("/%E2%82%AC/%F0%9F%98%80");
    expect(normalizeHttpPath("/%ed%9f%bf%ee%80%80%f4%8f%bf%bf")).toBe("/%ED%9F%BF%EE%80%80%F4%8F%BF%BF"); // U+D7FF, U+E000, U+10FFFF
    expect(normalizeHttpPath("/%EF%BC%A1dmin")).toBe("/%EF%BC%A1dmin");
  });
  test("every refusal says why", () => {
    const reasons = ["/api%2Fadmin", "/api\\admin", "/..", "/bad%zz", "/nul%00x", "/sp ace", "api/x", "/a;b"].map((p) => (canonicalHttpPath(p) as PathRefusal).reason);
    expect(reasons).toEqual([
      'the path holds an encoded "/" ("%2F"), one segment to us and two to some upstreams',
      'the path holds a backslash, which some servers read as "/"',
      '".." climbs above the root',
      'invalid percent-encoding at offset 4 ("%zz")',
      'the path holds an encoded space or control character ("%00")',
      "the path holds a space or a control character",
      'the path does not start with "/"',
      'the path holds ";" (path parameters), which some servers strip from a segment',
    ]);
  });
});

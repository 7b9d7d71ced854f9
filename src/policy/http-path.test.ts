import { describe, expect, test } from "bun:test";
import { normalizeHttpPath } from "./http-path.ts";

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

import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import { normalizeHttpPath } from "../http-path.ts";
import { compileHttpMatcher } from "./http.ts";

// As decide() does: canonical path, upper-case method.
const run = (m: ReturnType<typeof compileHttpMatcher>, method: string, path: string) => {
  const p = normalizeHttpPath(path);
  return p !== null && m(method.toUpperCase(), p);
};

describe("http matcher", () => {
  const allow = compileHttpMatcher({ methods: ["GET", "head"], paths: ["/api/**"] }, false);
  const deny = compileHttpMatcher({ paths: ["/admin/**"] }, true);

  test("methods are case-insensitive; * or no list is any method", () => {
    expect(run(allow, "get", "/api/x")).toBe(true);
    expect(run(allow, "HEAD", "/api/x")).toBe(true);
    expect(run(allow, "POST", "/api/x")).toBe(false);
    expect(run(compileHttpMatcher({ methods: ["*"] }, false), "PURGE", "/x")).toBe(true);
    expect(run(compileHttpMatcher({}, false), "DELETE", "/x")).toBe(true);
  });

  test("bypass attempts do not reach /admin through an /api allow rule", () => {
    for (const p of ["/api/../admin", "/api/%2e%2e/admin", "/api/./../admin/x", "//admin", "/api/..%2fadmin"]) {
      expect(run(allow, "GET", p)).toBe(false);
    }
  });

  test("the same attempts are caught by a deny rule on /admin", () => {
    for (const p of ["/api/../admin", "/api/%2e%2e/admin/users", "//admin", "/%61dmin/x", "/ADMIN", "/Admin/users"]) {
      expect(run(deny, "GET", p)).toBe(true);
    }
    expect(run(deny, "GET", "/administrator")).toBe(false);
  });

  test("allow rules match the path exactly: /API is not /api", () => {
    expect(run(allow, "GET", "/API/orders")).toBe(false);
    expect(run(allow, "GET", "/api/orders")).toBe(true);
  });

  test("path globs must start with /", () => {
    expect(() => compileHttpMatcher({ paths: ["api/**"] }, false)).toThrow(GatewayError);
  });
});

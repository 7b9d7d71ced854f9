import { describe, expect, test } from "bun:test";
import { GatewayError } from "../core/errors.ts";
import { authFailureReason } from "./auth-failure.ts";
import { claimAt, readGroups } from "./group-claim.ts";

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("readGroups", () => {
  test("a list of strings at the default claim", () => {
    expect(readGroups({ groups: ["a", "b"] })).toEqual(["a", "b"]);
  });

  test("a single string counts as one group", () => {
    expect(readGroups({ groups: "admins" })).toEqual(["admins"]);
  });

  test("an empty list is no groups, not an error", () => {
    expect(readGroups({ groups: [] })).toEqual([]);
  });

  test("dotted paths reach nested claims (Keycloak realm_access.roles)", () => {
    const payload = { realm_access: { roles: ["db-read", "ops"] }, resource_access: { api: { roles: "writer" } } };
    expect(readGroups(payload, "realm_access.roles")).toEqual(["db-read", "ops"]);
    expect(readGroups(payload, "resource_access.api.roles")).toEqual(["writer"]);
  });

  test("a claim whose name itself has dots (namespaced) is read verbatim", () => {
    expect(readGroups({ "https://example.com/groups": ["x"] }, "https://example.com/groups")).toEqual(["x"]);
  });

  test("a missing claim is refused and named", () => {
    const e = refusal(() => readGroups({ sub: "a" }, "realm_access.roles"));
    expect(e.code).toBe("E_AUTH_CLAIMS");
    expect(e.message).toBe("token has no groups claim 'realm_access.roles'");
    expect(authFailureReason(e)).toBe("no_groups");
    expect(refusal(() => readGroups({ groups: null })).code).toBe("E_AUTH_CLAIMS");
    expect(refusal(() => readGroups({ realm_access: "x" }, "realm_access.roles")).code).toBe("E_AUTH_CLAIMS");
  });

  test("inherited properties are not claims", () => {
    expect(claimAt({}, "constructor")).toBeUndefined();
    expect(claimAt({ a: {} }, "a.toString")).toBeUndefined();
    expect(refusal(() => readGroups({}, "constructor")).message).toBe("token has no groups claim 'constructor'");
  });

  test("ill-typed values are refused, not coerced", () => {
    for (const groups of [42, true, { a: 1 }, ["a", 1], [null], [["a"]]]) {
      const e = refusal(() => readGroups({ groups }));
      expect(e.code).toBe("E_AUTH_CLAIMS");
      expect(authFailureReason(e)).toBe("claims");
    }
  });
});

import { describe, expect, test } from "bun:test";
import { impersonationRequests, isImpersonationHeader } from "./impersonation.ts";

describe("impersonation headers", () => {
  test("none: nothing to decide", () => {
    expect(impersonationRequests([["Authorization", "Bearer x"], ["Accept", "application/json"]])).toEqual({ ok: true, requests: [] });
  });
  test("each header is an impersonate request on what RBAC names", () => {
    const r = impersonationRequests([
      ["Impersonate-User", "alice"],
      ["impersonate-group", "system:masters"],
      ["Impersonate-Uid", "1234"],
      ["Impersonate-Extra-Scopes", "view"],
      ["Impersonate-Extra-acme.com%2fproject", "p1"],
    ]);
    expect(r.ok && r.requests).toEqual([
      { kind: "kubernetes", verb: "impersonate", resource: "users", name: "alice", apiGroup: "" },
      { kind: "kubernetes", verb: "impersonate", resource: "groups", name: "system:masters", apiGroup: "" },
      { kind: "kubernetes", verb: "impersonate", resource: "uids", name: "1234", apiGroup: "authentication.k8s.io" },
      { kind: "kubernetes", verb: "impersonate", resource: "userextras", name: "view", apiGroup: "authentication.k8s.io", subresource: "scopes" },
      { kind: "kubernetes", verb: "impersonate", resource: "userextras", name: "p1", apiGroup: "authentication.k8s.io", subresource: "acme.com/project" },
    ]);
  });
  test("a service account user is the serviceaccounts resource in its namespace", () => {
    const r = impersonationRequests([["Impersonate-User", "system:serviceaccount:kube-system:admin"]]);
    expect(r.ok && r.requests).toEqual([{ kind: "kubernetes", verb: "impersonate", resource: "serviceaccounts", name: "admin", namespace: "kube-system", apiGroup: "" }]);
  });
  test("groups without a user, a repeated user, unknown Impersonate-* headers: refused", () => {
    expect(impersonationRequests([["Impersonate-Group", "system:masters"]])).toMatchObject({ ok: false, status: 400 });
    expect(impersonationRequests([["Impersonate-User", "a"], ["Impersonate-User", "b"]])).toMatchObject({ ok: false });
    expect(impersonationRequests([["Impersonate-Whatever", "a"]])).toMatchObject({ ok: false });
    expect(isImpersonationHeader("IMPERSONATE-USER")).toBe(true);
    expect(isImpersonationHeader("Impersonate-Extra-x")).toBe(true);
    expect(isImpersonationHeader("X-Impersonate-User")).toBe(false);
  });
});

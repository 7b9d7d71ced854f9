import { describe, expect, test } from "bun:test";
import { readKubernetesRequest } from "./read-request.ts";

describe("readKubernetesRequest", () => {
  test("the facts, the impersonations, and the body's name", () => {
    const r = readKubernetesRequest({
      method: "POST",
      target: "/apis/apps/v1/namespaces/staging/deployments?dryRun=All",
      headers: [["Content-Type", "application/json"], ["Impersonate-User", "bob"]],
      body: JSON.stringify({ metadata: { name: "web", namespace: "staging" } }),
    });
    expect(r).toMatchObject({ ok: true, facts: { verb: "create", resource: "deployments", namespace: "staging" }, dryRun: true, bodyName: "web", resourceRequest: true });
    expect(r.ok && r.impersonations).toEqual([{ kind: "kubernetes", verb: "impersonate", resource: "users", name: "bob", apiGroup: "" }]);
  });
  test("the first refusal wins: the path, then the headers, then the body", () => {
    expect(readKubernetesRequest({ method: "GET", target: "/api/v1/namespaces/a/../b/pods", headers: [["Impersonate-Group", "x"]] })).toMatchObject({ ok: false, status: 400, reason: 'a ".." path segment' });
    expect(readKubernetesRequest({ method: "GET", target: "/api/v1/namespaces/a/pods", headers: [["Impersonate-Group", "x"]] })).toMatchObject({ ok: false, status: 400 });
    expect(readKubernetesRequest({ method: "POST", target: "/api/v1/namespaces/a/configmaps", headers: [["content-type", "application/json"]], body: '{"metadata":{"namespace":"b"}}' })).toMatchObject({ ok: false, status: 400 });
  });
  test("the Content-Type comes from the headers, once", () => {
    expect(readKubernetesRequest({ method: "PATCH", target: "/api/v1/namespaces/a/pods/x", headers: [["CONTENT-TYPE", "application/merge-patch+json"]] })).toMatchObject({ ok: true, facts: { patchType: "merge" } });
    expect(readKubernetesRequest({ method: "PATCH", target: "/api/v1/namespaces/a/pods/x", headers: [["Content-Type", "application/merge-patch+json"], ["Content-Type", "application/json-patch+json"]] })).toMatchObject({ ok: false, status: 400, reason: "more than one Content-Type header" });
    expect(readKubernetesRequest({ method: "PATCH", target: "/api/v1/namespaces/a/pods/x", headers: [] })).toMatchObject({ ok: false, status: 415 });
  });
});

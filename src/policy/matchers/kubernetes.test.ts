import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { compileKubernetesMatcher, resourceKeys } from "./kubernetes.ts";

const req = (verb: string, resource: string, namespace?: string, extra: Partial<KubernetesRequestFacts> = {}): KubernetesRequestFacts => ({
  kind: "kubernetes",
  verb,
  resource,
  ...(namespace === undefined ? {} : { namespace }),
  ...extra,
});
const run = (m: ReturnType<typeof compileKubernetesMatcher>, r: KubernetesRequestFacts) => m(r, resourceKeys(r));

describe("kubernetes matcher", () => {
  test("write and read are shorthands for their verbs", () => {
    const w = compileKubernetesMatcher({ verbs: ["write"] }, true);
    for (const v of ["create", "update", "patch", "delete", "deletecollection"]) expect(run(w, req(v, "pods", "x"))).toBe(true);
    for (const v of ["get", "list", "watch"]) expect(run(w, req(v, "pods", "x"))).toBe(false);
    const r = compileKubernetesMatcher({ verbs: ["read"] }, false);
    expect(run(r, req("watch", "pods", "x"))).toBe(true);
    expect(run(r, req("patch", "pods", "x"))).toBe(false);
    expect(run(compileKubernetesMatcher({ verbs: ["*"] }, false), req("escalate", "roles", "x"))).toBe(true);
  });

  test("resources in RBAC form: group after a dot, subresource after a slash", () => {
    const m = compileKubernetesMatcher({ resources: ["deployments.apps", "pods/exec"] }, false);
    expect(run(m, req("create", "deployments", "x", { apiGroup: "apps" }))).toBe(true);
    expect(run(m, req("create", "pods", "x", { subresource: "exec" }))).toBe(true);
    expect(run(m, req("create", "pods", "x"))).toBe(false);
    expect(run(m, req("create", "deployments", "x", { apiGroup: "apps", subresource: "scale" }))).toBe(false);
  });

  test("a bare * is every resource and subresource", () => {
    const m = compileKubernetesMatcher({ resources: ["*"] }, false);
    expect(run(m, req("get", "pods", "x", { subresource: "log" }))).toBe(true);
  });

  test("a deny rule on a resource without group also covers the grouped name", () => {
    const d = compileKubernetesMatcher({ resources: ["deployments"] }, true);
    expect(run(d, req("delete", "deployments", "x", { apiGroup: "apps" }))).toBe(true);
    const a = compileKubernetesMatcher({ resources: ["deployments"] }, false);
    expect(run(a, req("delete", "deployments", "x", { apiGroup: "apps" }))).toBe(false);
  });

  test("cluster-scoped requests match only rules without namespaces or listing \"\"", () => {
    const ns = compileKubernetesMatcher({ namespaces: ["prod*"] }, true);
    expect(run(ns, req("create", "namespaces"))).toBe(false);
    expect(run(ns, req("create", "pods", "production"))).toBe(true);
    expect(run(ns, req("create", "pods", "staging"))).toBe(false);
    expect(run(compileKubernetesMatcher({ namespaces: ["", "kube-system"] }, true), req("create", "clusterroles"))).toBe(true);
    expect(run(compileKubernetesMatcher({}, true), req("create", "clusterroles"))).toBe(true);
  });

  test("unknown verbs are policy errors", () => {
    expect(() => compileKubernetesMatcher({ verbs: ["delet"] }, true)).toThrow(GatewayError);
  });
});

import { describe, expect, test } from "bun:test";
import { classifyRequest } from "./request-info.ts";
import { checkBodyNamespace } from "./request-body.ts";

const facts = (method: string, target: string, ct?: string) => {
  const r = classifyRequest(method, target, ct ? { contentType: ct } : {});
  if (!r.ok) throw new Error(r.reason);
  return r.facts;
};

describe("checkBodyNamespace", () => {
  const create = facts("POST", "/apis/apps/v1/namespaces/staging/deployments");
  test("a body naming the path's namespace, or none, passes", () => {
    expect(checkBodyNamespace(create, JSON.stringify({ metadata: { name: "web", namespace: "staging" } }), "application/json")).toEqual({ ok: true, namespace: "staging", name: "web" });
    expect(checkBodyNamespace(create, JSON.stringify({ metadata: { name: "web" } }), "application/json")).toEqual({ ok: true, name: "web" });
    expect(checkBodyNamespace(create, "", "application/json")).toEqual({ ok: true });
  });
  test("a body naming another namespace is refused", () => {
    const r = checkBodyNamespace(create, JSON.stringify({ metadata: { name: "web", namespace: "production" } }), "application/json");
    expect(r).toMatchObject({ ok: false, status: 400 });
    expect(!r.ok && r.reason).toContain('"production"');
  });
  test("field names in any case count (older servers decode them so)", () => {
    expect(checkBodyNamespace(create, JSON.stringify({ Metadata: { Namespace: "production" } }), "application/json")).toMatchObject({ ok: false });
    expect(checkBodyNamespace(create, JSON.stringify({ metadata: { namespace: "staging", NAMESPACE: "production" } }), "application/json")).toMatchObject({ ok: false });
    const json = facts("PATCH", "/apis/apps/v1/namespaces/staging/deployments/web", "application/json-patch+json");
    expect(checkBodyNamespace(json, JSON.stringify([{ op: "add", path: "/Metadata/Namespace", value: "production" }]), "application/json-patch+json")).toMatchObject({ ok: false });
  });
  test("a namespace in the body of a cluster-scoped path is refused", () => {
    const r = checkBodyNamespace(facts("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"), JSON.stringify({ metadata: { name: "x", namespace: "production" } }), "application/json");
    expect(r).toMatchObject({ ok: false, status: 400 });
  });
  test("YAML bodies and patches are read too", () => {
    const patch = facts("PATCH", "/apis/apps/v1/namespaces/staging/deployments/web?fieldManager=kubectl", "application/apply-patch+yaml");
    expect(checkBodyNamespace(patch, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: production\n", "application/apply-patch+yaml")).toMatchObject({ ok: false });
    expect(checkBodyNamespace(patch, "metadata:\n  name: web\n", "application/apply-patch+yaml")).toMatchObject({ ok: true });
    expect(checkBodyNamespace(patch, "a: 1\n---\nb: 2\n", "application/apply-patch+yaml")).toMatchObject({ ok: false });
    const merge = facts("PATCH", "/apis/apps/v1/namespaces/staging/deployments/web", "application/merge-patch+json");
    expect(checkBodyNamespace(merge, JSON.stringify({ metadata: { namespace: "production" } }), "application/merge-patch+json")).toMatchObject({ ok: false });
    const json = facts("PATCH", "/apis/apps/v1/namespaces/staging/deployments/web", "application/json-patch+json");
    expect(checkBodyNamespace(json, JSON.stringify([{ op: "replace", path: "/metadata/namespace", value: "production" }]), "application/json-patch+json")).toMatchObject({ ok: false });
    expect(checkBodyNamespace(json, JSON.stringify([{ op: "replace", path: "/metadata", value: { namespace: "production" } }]), "application/json-patch+json")).toMatchObject({ ok: false });
    expect(checkBodyNamespace(json, JSON.stringify([{ op: "replace", path: "/spec/replicas", value: 3 }]), "application/json-patch+json")).toEqual({ ok: true });
  });
  test("a name in the body that is not the path's is refused; bodies the gateway cannot read are refused", () => {
    const put = facts("PUT", "/api/v1/namespaces/staging/configmaps/a");
    expect(checkBodyNamespace(put, JSON.stringify({ metadata: { name: "b" } }), "application/json")).toMatchObject({ ok: false });
    expect(checkBodyNamespace(put, "{not json", "application/json")).toMatchObject({ ok: false, status: 400 });
    expect(checkBodyNamespace(put, "\u0000k8s", "application/vnd.kubernetes.protobuf")).toMatchObject({ ok: false, status: 415 });
    expect(checkBodyNamespace(put, JSON.stringify({ metadata: { namespace: 7 } }), "application/json")).toMatchObject({ ok: false });
  });
});

import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { compileKubernetesMatcher, kubeView } from "./kubernetes.ts";

const req = (verb: string, resource: string, namespace?: string, extra: Partial<KubernetesRequestFacts> = {}): KubernetesRequestFacts => ({
  kind: "kubernetes",
  verb,
  resource,
  ...(namespace === undefined ? {} : { namespace }),
  ...extra,
});
const run = (m: ReturnType<typeof compileKubernetesMatcher>, r: KubernetesRequestFacts) => m(r, kubeView(r));

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

import { classifyRequest } from "../../targets/kubernetes/request-info.ts";
import { compileKubernetesConditions, type KubernetesSection } from "./kubernetes.ts";

/** Facts of a raw request, through the classifier. */
const raw = (method: string, target: string, ct?: string): KubernetesRequestFacts => {
  const r = classifyRequest(method, target, ct ? { contentType: ct } : {});
  if (!r.ok) throw new Error(r.reason);
  return r.facts;
};
const allows = (section: KubernetesSection, f: KubernetesRequestFacts) => compileKubernetesMatcher(section, false)(f, kubeView(f));
const restricts = (section: KubernetesSection, f: KubernetesRequestFacts) => compileKubernetesMatcher(section, true)(f, kubeView(f));
const policyError = (section: KubernetesSection): GatewayError => {
  try {
    compileKubernetesConditions(section, true);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("no error");
};

describe("kubernetes matcher: verbs", () => {
  test("exec over WebSocket is a GET, but never a read: it is create, and a write", () => {
    const exec = raw("GET", "/api/v1/namespaces/p/pods/web/exec?command=sh");
    expect(allows({ verbs: ["read"] }, exec)).toBe(false);
    expect(allows({ verbs: ["get"] }, exec)).toBe(false);
    expect(allows({ verbs: ["create"], resources: ["pods/exec"] }, exec)).toBe(true);
    expect(restricts({ verbs: ["write"] }, exec)).toBe(true);
    expect(restricts({ verbs: ["write"] }, raw("GET", "/api/v1/namespaces/p/pods/web/attach"))).toBe(true);
    expect(restricts({ verbs: ["write"] }, raw("GET", "/api/v1/namespaces/p/pods/web/portforward?ports=80"))).toBe(true);
  });
  test("a GET through a proxy subresource is not a read either (it reaches whatever the backend does)", () => {
    const proxy = raw("GET", "/api/v1/namespaces/p/services/web:80/proxy/admin/delete");
    expect(allows({ verbs: ["read"] }, proxy)).toBe(false);
    expect(restricts({ verbs: ["write"] }, proxy)).toBe(true);
    // Named explicitly, as RBAC does it: get on services/proxy.
    expect(allows({ verbs: ["get"], resources: ["services/proxy"] }, proxy)).toBe(true);
  });
  test("subresource verbs match any request on that subresource", () => {
    expect(allows({ verbs: ["log"] }, raw("GET", "/api/v1/namespaces/p/pods/web/log"))).toBe(true);
    expect(allows({ verbs: ["exec"], resources: ["pods"] }, raw("POST", "/api/v1/namespaces/p/pods/web/exec?command=ls"))).toBe(true);
    expect(allows({ verbs: ["exec"], resources: ["pods"] }, raw("POST", "/api/v1/namespaces/p/pods/web/attach"))).toBe(false);
    expect(allows({ verbs: ["scale"] }, raw("PATCH", "/apis/apps/v1/namespaces/p/deployments/web/scale", "application/merge-patch+json"))).toBe(true);
    expect(allows({ verbs: ["status"] }, raw("PUT", "/apis/apps/v1/namespaces/p/deployments/web/status"))).toBe(true);
    expect(allows({ verbs: ["eviction"] }, raw("POST", "/api/v1/namespaces/p/pods/web/eviction"))).toBe(true);
    expect(allows({ verbs: ["ephemeralcontainers"] }, raw("PATCH", "/api/v1/namespaces/p/pods/web/ephemeralcontainers", "application/strategic-merge-patch+json"))).toBe(true);
    expect(allows({ verbs: ["log"] }, raw("GET", "/api/v1/namespaces/p/pods/web"))).toBe(false);
  });
  test("deletecollection is a write; an allow rule's delete does not allow it", () => {
    const dc = raw("DELETE", "/api/v1/namespaces/p/pods");
    expect(restricts({ verbs: ["write"] }, dc)).toBe(true);
    expect(allows({ verbs: ["delete"] }, dc)).toBe(false);
    expect(restricts({ verbs: ["deletecollection"] }, dc)).toBe(true);
  });
  test("misspelt verbs are load errors at the item, with a suggestion", () => {
    const e = policyError({ verbs: ["get", "delet"] });
    expect(e.message).toContain('did you mean "delete"');
    expect(e.details["path"]).toEqual(["kubernetes", "verbs", 1]);
  });
});

describe("kubernetes matcher: groups, resources, names, namespaces", () => {
  test("groups: core is the empty group; globs; misspelt groups are load errors", () => {
    const pods = raw("GET", "/api/v1/namespaces/p/pods");
    const deps = raw("GET", "/apis/apps/v1/namespaces/p/deployments");
    expect(allows({ groups: ["core"] }, pods)).toBe(true);
    expect(allows({ groups: [""] }, pods)).toBe(true);
    expect(allows({ groups: ["core"] }, deps)).toBe(false);
    expect(allows({ groups: ["apps"], resources: ["deployments"] }, deps)).toBe(true);
    expect(allows({ groups: ["*.k8s.io"] }, raw("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"))).toBe(true);
    expect(policyError({ groups: ["app"] }).message).toContain('did you mean "apps"');
    expect(policyError({ groups: ["rbac.authorisation.k8s.io"] }).details["path"]).toEqual(["kubernetes", "groups", 0]);
    expect(policyError({ resources: ["deployments.ap"] }).message).toContain("unknown API group");
    expect(() => compileKubernetesConditions({ groups: ["cert-manager.io"] }, false)).not.toThrow();
  });
  test("deny rules match a subresource by its parent; allow rules do not", () => {
    const exec = raw("POST", "/api/v1/namespaces/p/pods/web/exec?command=ls");
    expect(restricts({ resources: ["pods"] }, exec)).toBe(true);
    expect(allows({ resources: ["pods"] }, exec)).toBe(false);
    expect(allows({ resources: ["pods/*"] }, exec)).toBe(true);
  });
  test("names: an allow rule never allows a nameless request; a deny rule always matches one", () => {
    const list = raw("GET", "/api/v1/namespaces/p/secrets");
    const one = raw("GET", "/api/v1/namespaces/p/secrets?fieldSelector=metadata.name%3Dweb-tls");
    expect(allows({ names: ["web-*"] }, list)).toBe(false);
    expect(restricts({ names: ["db-*"] }, list)).toBe(true);
    expect(allows({ names: ["web-*"] }, one)).toBe(true);
    expect(restricts({ names: ["db-*"] }, one)).toBe(false);
    expect(restricts({ names: ["db-*"] }, raw("DELETE", "/api/v1/namespaces/p/secrets"))).toBe(true);
    expect(restricts({ names: ["DB-*"] }, raw("GET", "/api/v1/namespaces/p/secrets/db-1"))).toBe(true);
    // A proxy name carries scheme and port: the service's own name is what names are about.
    expect(allows({ names: ["web"] }, raw("GET", "/api/v1/namespaces/p/services/https:web:443/proxy/"))).toBe(true);
    expect(allows({ names: ["web"] }, raw("GET", "/api/v1/namespaces/p/services/https:db:443/proxy/"))).toBe(false);
    expect(allows({ names: ["https:*"] }, raw("GET", "/api/v1/namespaces/p/services/https:db:443/proxy/"))).toBe(false);
    expect(restricts({ names: ["web"] }, raw("GET", "/api/v1/namespaces/p/services/https:web:443/proxy/x"))).toBe(true);
  });
  test("a namespace's own path is in that namespace (as RequestInfo has it)", () => {
    expect(restricts({ namespaces: ["production"] }, raw("DELETE", "/api/v1/namespaces/production"))).toBe(true);
    expect(restricts({ namespaces: [""] }, raw("POST", "/api/v1/namespaces"))).toBe(true);
  });
});

describe("kubernetes matcher: exec commands", () => {
  const exec = (...argv: string[]) => raw("POST", `/api/v1/namespaces/p/pods/web/exec?${argv.map((a) => `command=${encodeURIComponent(a)}`).join("&")}`);
  test("allow: every command the argv runs must match; wrappers are followed", () => {
    const section: KubernetesSection = { verbs: ["exec"], commands: ["cat /var/log/*", "ls **"] };
    expect(allows(section, exec("cat", "/var/log/app.log"))).toBe(true);
    expect(allows(section, exec("ls", "-la", "/"))).toBe(true);
    expect(allows(section, exec("sh", "-c", "ls /"))).toBe(false);
    expect(allows({ verbs: ["exec"], commands: ["sh -c *", "ls **"] }, exec("sh", "-c", "rm -rf /"))).toBe(false);
    expect(allows(section, exec("cat", "/var/log/../../etc/shadow"))).toBe(false);
    expect(allows(section, raw("POST", "/api/v1/namespaces/p/pods/web/exec"))).toBe(false);
    expect(allows(section, raw("GET", "/api/v1/namespaces/p/pods/web/attach"))).toBe(false);
  });
  test("deny: a command anywhere in the argv, any opaque or unsplittable one, every attach", () => {
    const section: KubernetesSection = { commands: ["rm **"] };
    expect(restricts(section, exec("rm", "-rf", "/data"))).toBe(true);
    expect(restricts(section, exec("/bin/rm", "-rf", "/data"))).toBe(true);
    expect(restricts(section, exec("sh", "-c", "rm -rf /data"))).toBe(true);
    expect(restricts(section, exec("sh", "-c", "true; rm -rf /data"))).toBe(true);
    expect(restricts(section, exec("python3", "-c", "import shutil"))).toBe(true);
    expect(restricts(section, exec("ls"))).toBe(false);
    expect(restricts(section, raw("GET", "/api/v1/namespaces/p/pods/web/attach"))).toBe(true);
    expect(restricts(section, raw("GET", "/api/v1/namespaces/p/pods/web"))).toBe(false);
  });
});

describe("kubernetes matcher: non-resource paths", () => {
  test("a rule with paths matches only non-resource URLs; one without, only resources", () => {
    expect(allows({ verbs: ["get"], paths: ["/metrics"] }, raw("GET", "/metrics"))).toBe(true);
    expect(allows({ verbs: ["read"] }, raw("GET", "/metrics"))).toBe(false);
    expect(allows({}, raw("GET", "/logs/syslog"))).toBe(false);
    expect(allows({ paths: ["/logs/*"] }, raw("GET", "/logs/syslog"))).toBe(true);
    expect(allows({ paths: ["/logs/*"] }, raw("GET", "/api/v1/namespaces/p/pods"))).toBe(false);
    expect(policyError({ paths: ["/metrics"], resources: ["pods"] }).message).toContain("can never match");
    expect(policyError({ paths: ["metrics"] }).details["path"]).toEqual(["kubernetes", "paths", 0]);
  });
});

describe("kubernetes matcher: deny verbs cover their siblings", () => {
  test("delete covers deletecollection, get covers list and watch, update covers patch; allow rules stay exact", () => {
    const dc = raw("DELETE", "/apis/apps/v1/namespaces/p/statefulsets?labelSelector=app%3Ddb");
    expect(restricts({ verbs: ["delete"], resources: ["statefulsets.apps"], names: ["db-*"] }, dc)).toBe(true);
    expect(allows({ verbs: ["delete"] }, dc)).toBe(false);
    expect(restricts({ verbs: ["get"], resources: ["secrets"] }, raw("GET", "/api/v1/namespaces/p/secrets?watch=true"))).toBe(true);
    expect(allows({ verbs: ["get"], resources: ["secrets"] }, raw("GET", "/api/v1/namespaces/p/secrets?watch=true"))).toBe(false);
    expect(restricts({ verbs: ["update"] }, raw("PATCH", "/api/v1/namespaces/p/configmaps/c", "application/json-patch+json"))).toBe(true);
    expect(restricts({ verbs: ["create"] }, raw("PATCH", "/api/v1/namespaces/p/configmaps/c", "application/json-patch+json"))).toBe(false);
  });
});

describe("kubernetes matcher: requests across every namespace", () => {
  const allSecrets = raw("GET", "/api/v1/secrets?watch=true");
  test("a deny rule naming a namespace matches a list or watch across every namespace", () => {
    expect(restricts({ verbs: ["get"], resources: ["secrets"], namespaces: ["production"] }, allSecrets)).toBe(true);
    // Nodes are cluster-scoped: a rule about production is not about them.
    expect(restricts({ namespaces: ["production"] }, raw("GET", "/api/v1/nodes"))).toBe(false);
    // A resource the gateway does not know may be either.
    expect(restricts({ namespaces: ["production"] }, raw("GET", "/apis/acme.io/v1/widgets"))).toBe(true);
  });
  test("an allow rule allows it only when its namespaces hold \"*\" (and \"\" too for a resource of unknown scope)", () => {
    expect(allows({ namespaces: ["staging", "production"] }, allSecrets)).toBe(false);
    expect(allows({ namespaces: ["*"] }, allSecrets)).toBe(true);
    expect(allows({ namespaces: [""] }, raw("GET", "/api/v1/nodes"))).toBe(true);
    expect(allows({ namespaces: ["*"] }, raw("GET", "/api/v1/nodes"))).toBe(false);
    expect(allows({ namespaces: [""] }, raw("GET", "/apis/acme.io/v1/widgets"))).toBe(false);
    expect(allows({ namespaces: ["", "*"] }, raw("GET", "/apis/acme.io/v1/widgets"))).toBe(true);
  });
});

describe("kubernetes matcher: deny rules cover subresources of the same power", () => {
  test("exec, attach and ephemeral containers; port-forward and the pod proxy", () => {
    const attach = raw("GET", "/api/v1/namespaces/p/pods/db-0/attach?stdin=true");
    const debug = raw("PATCH", "/api/v1/namespaces/p/pods/db-0/ephemeralcontainers", "application/strategic-merge-patch+json");
    const proxy = raw("GET", "/api/v1/namespaces/p/pods/db-0:5432/proxy/");
    expect(restricts({ verbs: ["exec"] }, attach)).toBe(true);
    expect(restricts({ verbs: ["exec"] }, debug)).toBe(true);
    expect(restricts({ resources: ["pods/exec"] }, attach)).toBe(true);
    expect(restricts({ resources: ["pods/exec"] }, debug)).toBe(true);
    expect(restricts({ verbs: ["portforward"] }, proxy)).toBe(true);
    expect(restricts({ resources: ["pods/portforward"] }, proxy)).toBe(true);
    expect(allows({ verbs: ["exec"] }, attach)).toBe(false);
    expect(allows({ resources: ["pods/exec"] }, attach)).toBe(false);
    // Services have no exec: their proxy is only their proxy.
    expect(restricts({ resources: ["services/portforward"] }, raw("GET", "/api/v1/namespaces/p/services/web/proxy/"))).toBe(false);
  });
});

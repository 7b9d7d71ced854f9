import { describe, expect, test } from "bun:test";
import { classifyRequest, type ClassifyOk } from "./request-info.ts";

const ok = (method: string, target: string, contentType?: string): ClassifyOk => {
  const r = classifyRequest(method, target, contentType === undefined ? {} : { contentType });
  if (!r.ok) throw new Error(`${method} ${target} refused: ${r.reason}`);
  return r;
};
const refused = (method: string, target: string, contentType?: string) => {
  const r = classifyRequest(method, target, contentType === undefined ? {} : { contentType });
  if (r.ok) throw new Error(`${method} ${target} was not refused: ${JSON.stringify(r.facts)}`);
  return r;
};

describe("classifyRequest: what kubectl sends", () => {
  test("get, list, watch, describe", () => {
    expect(ok("GET", "/api/v1/namespaces/prod/pods?limit=500").facts).toEqual({ kind: "kubernetes", verb: "list", resource: "pods", namespace: "prod", apiGroup: "", apiVersion: "v1" });
    expect(ok("GET", "/api/v1/namespaces/prod/pods/web-0").facts).toMatchObject({ verb: "get", resource: "pods", name: "web-0", namespace: "prod" });
    expect(ok("GET", "/api/v1/namespaces/prod/pods?watch=true&resourceVersion=10").facts.verb).toBe("watch");
    expect(ok("GET", "/apis/apps/v1/namespaces/prod/deployments/web").facts).toMatchObject({ verb: "get", resource: "deployments", apiGroup: "apps", apiVersion: "v1", name: "web" });
    // kubectl get pod web -w: a watch pinned to one name by the field selector.
    expect(ok("GET", "/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%3Dweb&watch=true").facts).toMatchObject({ verb: "watch", name: "web" });
    expect(ok("GET", "/api/v1/namespaces/prod/events?fieldSelector=involvedObject.name%3Dweb").facts).toMatchObject({ verb: "list", resource: "events" });
    expect(ok("GET", "/api/v1/namespaces/prod/events?fieldSelector=involvedObject.name%3Dweb").facts.name).toBeUndefined();
  });

  test("watch is any value but 0 and false, as Go converts it; the first value counts", () => {
    for (const [q, verb] of [["watch=true", "watch"], ["watch=1", "watch"], ["watch=", "watch"], ["watch", "watch"], ["watch=yes", "watch"], ["watch=0", "list"], ["watch=FALSE", "list"], ["Watch=true", "list"]] as const) {
      expect(ok("GET", `/api/v1/pods?${q}`).facts.verb).toBe(verb);
    }
    expect(refused("GET", "/api/v1/pods?watch=false&watch=true").reason).toContain("more than once");
    // Go's EqualFold folds the long s: "falſe" is false to the server, true to a plain comparison.
    expect(refused("GET", "/api/v1/pods?watch=fal%C5%BFe").reason).toContain("outside ASCII");
  });

  test("legacy watch prefix", () => {
    expect(ok("GET", "/apis/apps/v1/watch/namespaces/prod/deployments").facts).toMatchObject({ verb: "watch", resource: "deployments", namespace: "prod" });
    expect(ok("GET", "/api/v1/watch/namespaces/prod/secrets/db").facts).toMatchObject({ verb: "watch", resource: "secrets", name: "db" });
    expect(refused("DELETE", "/api/v1/watch/namespaces/prod/pods/x").status).toBe(405);
    expect(refused("GET", "/api/v1/watch/namespaces/prod/pods/x/status").reason).toContain("/watch/");
    expect(refused("GET", "/api/v1/proxy/namespaces/prod/pods/x").reason).toContain("/proxy/");
  });

  test("writes: create, apply, replace, patch types, delete, deletecollection, dry run", () => {
    expect(ok("POST", "/apis/apps/v1/namespaces/prod/deployments?fieldManager=kubectl-client-side-apply").facts).toMatchObject({ verb: "create", resource: "deployments", apiGroup: "apps" });
    expect(ok("PUT", "/api/v1/namespaces/prod/configmaps/c").facts.verb).toBe("update");
    const types: Record<string, string> = {
      "application/json-patch+json": "json",
      "application/merge-patch+json": "merge",
      "application/strategic-merge-patch+json": "strategic",
      "application/apply-patch+yaml": "apply",
      "application/apply-patch+cbor": "apply",
      "application/merge-patch+json; charset=utf-8": "merge",
    };
    for (const [ct, type] of Object.entries(types)) expect(ok("PATCH", "/apis/apps/v1/namespaces/prod/deployments/web?fieldManager=kubectl", ct).facts.patchType).toBe(type);
    for (const ct of ["application/json", "Application/Merge-Patch+JSON", "application/merge-patch+json ", "", "application/yaml"]) expect(refused("PATCH", "/api/v1/namespaces/prod/pods/x", ct).status).toBe(415);
    expect(refused("PATCH", "/api/v1/namespaces/prod/pods/x").status).toBe(415);
    expect(ok("DELETE", "/api/v1/namespaces/prod/pods/x").facts.verb).toBe("delete");
    expect(ok("DELETE", "/api/v1/namespaces/prod/pods?labelSelector=app%3Dweb").facts.verb).toBe("deletecollection");
    // A field selector does not give deletecollection a name: it stays a deletecollection.
    expect(ok("DELETE", "/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%3Dx").facts).toMatchObject({ verb: "deletecollection" });
    expect(ok("DELETE", "/api/v1/namespaces/prod/pods?fieldSelector=metadata.name%3Dx").facts.name).toBeUndefined();
    const dry = ok("POST", "/api/v1/namespaces/prod/pods?dryRun=All");
    expect(dry.dryRun).toBe(true);
    expect(dry.facts.verb).toBe("create");
  });

  test("the namespace object's own paths", () => {
    expect(ok("DELETE", "/api/v1/namespaces/production").facts).toMatchObject({ verb: "delete", resource: "namespaces", name: "production", namespace: "production" });
    expect(ok("POST", "/api/v1/namespaces").facts).toMatchObject({ verb: "create", resource: "namespaces" });
    expect(ok("POST", "/api/v1/namespaces").facts.namespace).toBeUndefined();
    expect(ok("PUT", "/api/v1/namespaces/production/finalize").facts).toMatchObject({ verb: "update", resource: "namespaces", subresource: "finalize", name: "production" });
    expect(ok("GET", "/api/v1/namespaces/production/status").facts).toMatchObject({ verb: "get", resource: "namespaces", subresource: "status" });
    expect(refused("GET", "/api/v1/namespaces/x/namespaces/y").reason).toContain("namespaces inside a namespace");
  });

  test("exec, attach, portforward, log, proxy", () => {
    const e = ok("GET", "/api/v1/namespaces/prod/pods/web/exec?command=sh&command=-c&command=echo+hi%21&container=app&stdin=true&stdout=true&tty=true");
    expect(e.facts).toMatchObject({ verb: "get", resource: "pods", subresource: "exec", name: "web", command: ["sh", "-c", "echo hi!"] });
    expect(ok("POST", "/api/v1/namespaces/prod/pods/web/exec?command=ls").facts).toMatchObject({ verb: "create", command: ["ls"] });
    expect(ok("POST", "/api/v1/namespaces/prod/pods/web/exec").facts.command).toEqual([]);
    expect(ok("GET", "/api/v1/namespaces/prod/pods/web/attach?stdin=true").facts).toMatchObject({ subresource: "attach" });
    expect(ok("GET", "/api/v1/namespaces/prod/pods/web/attach?command=ls").facts.command).toBeUndefined();
    expect(ok("GET", "/api/v1/namespaces/prod/pods/web/portforward?ports=8080").facts.subresource).toBe("portforward");
    expect(ok("GET", "/api/v1/namespaces/prod/pods/web/log?follow=true").facts).toMatchObject({ verb: "get", subresource: "log" });
    const p = ok("GET", "/api/v1/namespaces/prod/services/https:web:8443/proxy/api/v1/x%20y?q=1");
    expect(p.facts).toMatchObject({ resource: "services", subresource: "proxy", name: "https:web:8443" });
    expect(p.tail).toEqual(["api", "v1", "x%20y"]);
    expect(ok("POST", "/api/v1/nodes/node-1/proxy/configz").facts).toMatchObject({ verb: "create", resource: "nodes", subresource: "proxy", name: "node-1" });
    expect(ok("PATCH", "/api/v1/namespaces/prod/pods/web/ephemeralcontainers", "application/strategic-merge-patch+json").facts).toMatchObject({ verb: "patch", subresource: "ephemeralcontainers" });
  });

  test("non-resource URLs: the lower-cased method and the path", () => {
    for (const path of ["/", "/version", "/healthz", "/livez", "/readyz/etcd", "/metrics", "/openapi/v2", "/openapi/v3/apis/apps/v1", "/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/logs/syslog"]) {
      const r = ok("GET", `${path}?timeout=32s`);
      expect(r.resourceRequest).toBe(false);
      expect(r.facts).toEqual({ kind: "kubernetes", verb: "get", resource: "", path });
    }
    expect(ok("POST", "/apis/x").facts.verb).toBe("post");
    expect(refused("TRACE", "/version").status).toBe(405);
  });
});

describe("classifyRequest refuses path tricks", () => {
  const tricks: [string, string][] = [
    ["encoded slash", "/api/v1/namespaces/prod%2Fpods/secrets"],
    ["encoded slash, lower case", "/api/v1/namespaces/prod/secrets%2fdb"],
    ["encoded letters", "/api/v1/namespaces/prod/%70ods"],
    ["encoded dot dot", "/api/v1/namespaces/prod/pods/%2e%2e/secrets"],
    ["dot dot", "/api/v1/namespaces/staging/../production/pods"],
    ["dot", "/api/v1/namespaces/prod/./pods"],
    ["doubled slash", "/api/v1/namespaces//prod/pods"],
    ["leading doubled slash", "//api/v1/namespaces/prod/pods"],
    ["trailing slash", "/api/v1/namespaces/prod/pods/"],
    ["doubled slash in a proxy path", "/api/v1/namespaces/prod/pods/web/proxy/a//b"],
    ["empty proxy path", "/api/v1/namespaces/prod/pods/web/proxy//"],
    ["backslash", "/api/v1/namespaces/prod\\pods"],
    ["NUL", "/api/v1/namespaces/prod/pods/x\u0000"],
    ["tab", "/api/v1/namespaces/prod/pods\t"],
    ["non-ASCII", "/api/v1/namespaces/prod/pоds"],
    ["upper-case namespace", "/api/v1/namespaces/Production/pods"],
    ["namespace too long", `/api/v1/namespaces/${"a".repeat(64)}/pods`],
    ["upper-case resource", "/api/v1/namespaces/prod/Secrets"],
    ["upper-case group", "/apis/Apps/v1/namespaces/prod/deployments"],
    ["name with a colon where the server wants a subdomain", "/api/v1/namespaces/prod/secrets/a:b"],
    ["semicolon in the query", "/api/v1/namespaces/prod/pods?watch=false;watch=true"],
    ["bad escape in the query", "/api/v1/namespaces/prod/pods?fieldSelector=%zz"],
    ["NUL in the query", "/api/v1/namespaces/prod/pods/x/exec?command=ls%00"],
    ["non-UTF-8 in the query", "/api/v1/namespaces/prod/pods/x/exec?command=%ff"],
    ["a fragment", "/api/v1/namespaces/prod/pods#x"],
    ["absolute form", "http://evil/api/v1/namespaces/prod/pods"],
    ["path after a subresource that is not proxy", "/api/v1/namespaces/prod/pods/x/status/extra"],
    ["encoded slash in a proxy path", "/api/v1/namespaces/prod/services/web/proxy/a%2F..%2Fb"],
    ["encoded dot in a proxy path", "/api/v1/namespaces/prod/pods/web/proxy/%2e%2e/x"],
    ["dot dot in a proxy path", "/api/v1/namespaces/prod/pods/web/proxy/../../secrets"],
    ["bad field selector", "/api/v1/namespaces/prod/secrets?fieldSelector=metadata.name%3Da,b"],
    ["field selector given twice", "/api/v1/namespaces/prod/secrets?fieldSelector=metadata.name%3Da&fieldSelector=metadata.name%3Db"],
    ["field selector with a non-numeric limit", "/api/v1/namespaces/prod/secrets?fieldSelector=metadata.name%3Da&limit=x"],
    ["encoded non-resource path", "/metric%73"],
    ["lower-case method", "/api/v1/namespaces/prod/pods"],
    ["a request target over 64 KiB", `/api/v1/namespaces/prod/pods/x/exec?${"command=a&".repeat(7000)}`],
  ];
  for (const [what, target] of tricks) {
    test(what, () => {
      const method = what === "lower-case method" ? "get" : "GET";
      const r = refused(method, target);
      expect(r.status === 400 || r.status === 405).toBe(true);
      expect(r.reason.length).toBeGreaterThan(5);
    });
  }

  test("field selector: terms are sorted as Go sorts them before the first exact name is taken", () => {
    // fields.ParseSelector sorts the terms: metadata.name=a comes first, whichever order they came in.
    expect(ok("GET", "/api/v1/namespaces/p/secrets?fieldSelector=metadata.name%3Db,metadata.name%3Da").facts.name).toBe("a");
    expect(ok("GET", "/api/v1/namespaces/p/secrets?fieldSelector=metadata.name%3D%3Dx").facts.name).toBe("x");
    expect(ok("GET", "/api/v1/namespaces/p/secrets?fieldSelector=metadata.name!%3Dx").facts.name).toBeUndefined();
    expect(ok("GET", "/api/v1/namespaces/p/secrets?fieldSelector=metadata.name%3D").facts.name).toBeUndefined();
    expect(ok("GET", "/api/v1/namespaces/p/secrets?fieldSelector=Metadata.name%3Dx").facts.name).toBeUndefined();
    // Not a valid path segment name: the server keeps no name, so neither does the gateway (a list of all, decided as such).
    expect(ok("GET", "/api/v1/namespaces/p/secrets?fieldSelector=metadata.name%3Da%2Fb").facts.name).toBeUndefined();
  });

  test("names the server reads loosely are kept exactly: RBAC names with colons", () => {
    expect(ok("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:node").facts.name).toBe("system:node");
  });
});

// URL → what is asked, by the rules of k8s.io/apiserver/pkg/endpoints/request/requestinfo.go:
// /api/v1/... and /apis/GROUP/VERSION/..., "namespaces/NS/" prefixes (but namespaces/NS/status
// and /finalize are subresources of the namespace), then resource, name, subresource; the verb
// from the method, with GET on a collection being list or, with ?watch=true, watch.
import { findResource } from "./resources.ts";
import type { ResourceDef } from "./resources.ts";

export interface ResourceRequest {
  readonly kind: "resource";
  readonly group: string;
  readonly version: string;
  readonly resource: string;
  readonly def: ResourceDef | undefined;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
  readonly verb: string;
}

export interface NonResourceRequest {
  readonly kind: "nonresource";
  readonly path: string;
  readonly verb: string;
}

const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

function verbOf(method: string, collection: boolean, watch: boolean): string {
  switch (method) {
    case "GET":
    case "HEAD":
      return collection ? (watch ? "watch" : "list") : "get";
    case "POST":
      return "create";
    case "PUT":
      return "update";
    case "PATCH":
      return "patch";
    case "DELETE":
      return collection ? "deletecollection" : "delete";
    default:
      return method.toLowerCase();
  }
}

export function classify(method: string, url: URL): ResourceRequest | NonResourceRequest {
  const segments = url.pathname.split("/").filter((s) => s !== "").map((s) => decodeURIComponent(s));
  const watchParam = url.searchParams.get("watch");
  const watch = watchParam === "true" || watchParam === "1";
  let parts: string[];
  let group: string;
  let version: string;
  if (segments[0] === "api" && segments.length >= 3) {
    group = "";
    version = segments[1]!;
    parts = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 4) {
    group = segments[1]!;
    version = segments[2]!;
    parts = segments.slice(3);
  } else {
    return { kind: "nonresource", path: url.pathname, verb: method.toLowerCase() };
  }
  let namespace: string | undefined;
  if (parts[0] === "namespaces" && parts.length > 1) {
    namespace = parts[1];
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }
  const resource = parts[0]!;
  const name = parts[1];
  const subresource = parts[2];
  // A namespace's own URL names it twice: /api/v1/namespaces/NAME is the namespace NAME.
  if (resource === "namespaces" && name !== undefined) namespace = undefined;
  const def = findResource(group, version, resource);
  let verb = verbOf(method, name === undefined, watch);
  if (watch && verb === "get") verb = "watch";
  return { kind: "resource", group, version, resource, def, namespace: def && !def.namespaced ? undefined : namespace, name, subresource, verb };
}

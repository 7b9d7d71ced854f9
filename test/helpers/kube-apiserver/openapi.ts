// OpenAPI v3, as much of it as kubectl 1.32 reads: the /openapi/v3 index (paths to one document
// per group-version) and per group-version documents whose PATCH operations carry
// x-kubernetes-group-version-kind and the fieldValidation parameter. That is how kubectl's
// QueryParamVerifierV3 learns the server validates fields itself, so `kubectl apply` (default
// --validate=strict) sends ?fieldValidation=Strict instead of downloading schemas to validate
// client-side. There are no component schemas: kubectl apply then computes strategic merge
// patches from its compiled-in types, as it does for any server without them. /openapi/v2 is 404.
import { RESOURCES, groupVersions } from "./resources.ts";
import type { ResourceDef } from "./resources.ts";
import type { KubeObject } from "./store.ts";

function gvPath(g: { group: string; version: string }): string {
  return g.group === "" ? `api/${g.version}` : `apis/${g.group}/${g.version}`;
}

function hashOf(text: string): string {
  return new Bun.CryptoHasher("sha512").update(text).digest("hex").slice(0, 128).toUpperCase();
}

const QUERY_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force"].map((name) => ({
  name,
  in: "query",
  description: `${name} (see the Kubernetes API reference)`,
  schema: { type: name === "force" ? "boolean" : "string", uniqueItems: true },
}));

function operations(def: ResourceDef): Record<string, KubeObject> {
  const base = `/${gvPath(def)}${def.namespaced ? "/namespaces/{namespace}" : ""}/${def.resource}`;
  const gvk = { group: def.group, version: def.version, kind: def.kind };
  const op = (action: string, params: KubeObject[] = []) => ({
    operationId: `${action}${def.kind}`,
    "x-kubernetes-action": action,
    "x-kubernetes-group-version-kind": gvk,
    parameters: params,
    responses: { "200": { description: "OK" }, "401": { description: "Unauthorized" } },
  });
  const pathParams = [
    ...(def.namespaced ? [{ name: "namespace", in: "path", required: true, schema: { type: "string", uniqueItems: true } }] : []),
  ];
  const paths: Record<string, KubeObject> = {};
  if (def.verbs.includes("list") || def.verbs.includes("create")) {
    paths[base] = { parameters: pathParams, ...(def.verbs.includes("list") ? { get: op("list") } : {}), ...(def.verbs.includes("create") ? { post: op("post", QUERY_PARAMS.slice(0, 3)) } : {}) };
  }
  if (def.verbs.includes("get")) {
    paths[`${base}/{name}`] = {
      parameters: [{ name: "name", in: "path", required: true, schema: { type: "string", uniqueItems: true } }, ...pathParams],
      get: op("get"),
      put: op("put", QUERY_PARAMS.slice(0, 3)),
      patch: op("patch", QUERY_PARAMS),
      delete: op("delete", [QUERY_PARAMS[0]!]),
    };
  }
  return paths;
}

function gvDocument(g: { group: string; version: string }): KubeObject {
  const paths: Record<string, KubeObject> = {};
  for (const def of RESOURCES.filter((r) => r.group === g.group && r.version === g.version)) Object.assign(paths, operations(def));
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.32.4" },
    paths,
    components: { schemas: {}, securitySchemes: { BearerToken: { type: "apiKey", description: "Bearer Token authentication", name: "authorization", in: "header" } } },
  };
}

const DOCS = new Map(groupVersions().map((g) => [gvPath(g), gvDocument(g)]));

/** The document served at `path` (/openapi/v3 or /openapi/v3/<gv>), or undefined (404). */
export function openApiDocument(path: string): KubeObject | undefined {
  if (path === "/openapi/v3" || path === "/openapi/v3/") {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    for (const [p, doc] of DOCS) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hashOf(JSON.stringify(doc))}` };
    return { paths };
  }
  if (path.startsWith("/openapi/v3/")) return DOCS.get(path.slice("/openapi/v3/".length));
  return undefined;
}


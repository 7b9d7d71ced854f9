// Turns one Kubernetes API request (method, raw request-target, Content-Type) into the facts
// policy decides on, following the API server's RequestInfo rules
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go): /api (core group) and /apis/{group},
// the version, the legacy /watch/ and /proxy/ prefixes, /namespaces/{ns}/{resource}/{name}/{sub},
// the namespace object's own paths (/api/v1/namespaces/{name}[/status|/finalize]), the verb from
// the method (GET without a name is list, or watch with ?watch=; DELETE without one is
// deletecollection), and fieldSelector=metadata.name=X pinning a list or watch to one name.
//
// It refuses (400) what the server could read differently from this code: any %-escape in the
// interpreted part of the path (the server decodes %2F into a separator after routing has begun),
// "." and ".." segments, doubled or trailing slashes, backslashes, control and non-ASCII
// characters, names that are not what the server requires, a ";" or a bad escape in the query,
// repeated watch or fieldSelector parameters. When in doubt it refuses: a refused request never
// reaches the server, so it cannot be decided on one reading and acted on under another.
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { fieldSelectorName, goBool, parseQuery } from "./request-query.ts";
import { isApiVersion, isDnsLabel, isDnsSubdomain, isObjectName } from "./request-names.ts";

export interface ClassifyOk {
  readonly ok: true;
  readonly facts: KubernetesRequestFacts;
  /** RequestInfo's IsResourceRequest: false for /version, /healthz, /api, /apis … (facts.path is set). */
  readonly resourceRequest: boolean;
  /** The path after the subresource that the server does not interpret (proxy paths), as given. */
  readonly tail: readonly string[];
  /** ?dryRun=All: the server does not persist the write. Decided like any other write. */
  readonly dryRun: boolean;
  /** The query parameters as the server reads them. */
  readonly query: ReadonlyMap<string, readonly string[]>;
}

export interface ClassifyRefused {
  readonly ok: false;
  /** 400 for a path or query the gateway will not read; 405 for a method; 415 for a patch type. */
  readonly status: number;
  readonly reason: string;
}

export type ClassifyResult = ClassifyOk | ClassifyRefused;

/** Patch Content-Types (media type only, as the server compares them) and their patch types. */
export const PATCH_TYPES: Readonly<Record<string, string>> = {
  "application/json-patch+json": "json",
  "application/merge-patch+json": "merge",
  "application/strategic-merge-patch+json": "strategic",
  "application/apply-patch+yaml": "apply",
  "application/apply-patch+cbor": "apply",
};

const RESOURCE_METHODS: Readonly<Record<string, string>> = { GET: "get", HEAD: "get", POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" };
const NON_RESOURCE_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** RequestInfo's namespaceSubresources: /api/v1/namespaces/{name}/{this} is the namespace's own. */
const NAMESPACE_SUBRESOURCES = new Set(["status", "finalize"]);

/** Subresources whose requests carry a path on to a pod, service or node (the rest is not interpreted). */
const PROXY_SUBRESOURCE = "proxy";

/** %-escapes the proxy tail may hold: none that decodes to a separator, an escape, a dot or a control character. */
const TAIL_FORBIDDEN = /[/\\%.?#;\x00-\x1f\x7f]/;

/** Longer request targets are refused (Go's server takes up to 1 MiB of headers; kubectl sends far less). */
export const MAX_TARGET_LENGTH = 64 * 1024;

const refuse = (reason: string, status = 400): ClassifyRefused => ({ ok: false, status, reason });

/** Checks of one raw path segment that hold for every part of every path. */
function segmentProblem(seg: string): string | null {
  if (seg === "") return "an empty path segment (doubled or trailing slash)";
  if (seg === "." || seg === "..") return `a "${seg}" path segment`;
  return null;
}

/** A proxy tail segment: %-escapes allowed when none decodes to something structural. */
function tailProblem(seg: string): string | null {
  const p = segmentProblem(seg);
  if (p !== null) return p;
  if (!seg.includes("%")) return null;
  for (const m of seg.matchAll(/%(..)?/g)) {
    const hex = m[1];
    if (hex === undefined || !/^[0-9A-Fa-f]{2}$/.test(hex)) return `a malformed %-escape in the path segment ${JSON.stringify(seg)}`;
    if (TAIL_FORBIDDEN.test(String.fromCharCode(parseInt(hex, 16)))) return `a %-escape of a separator, dot, "%" or control character (%${hex}) in the path segment ${JSON.stringify(seg)}`;
  }
  try {
    decodeURIComponent(seg);
  } catch {
    return `%-escapes that are not UTF-8 in the path segment ${JSON.stringify(seg)}`;
  }
  return null;
}

/**
 * Classifies one request. `target` is the raw request-target as received (path and query,
 * %-escapes untouched); `headers.contentType` is needed for PATCH.
 */
export function classifyRequest(method: string, target: string, headers: { readonly contentType?: string } = {}): ClassifyResult {
  if (!/^[A-Z]+$/.test(method)) return refuse(`the method ${JSON.stringify(method.slice(0, 32))} is not an upper-case HTTP method`, 405);
  if (!target.startsWith("/")) return refuse("the request target must be an absolute path (origin form)");
  if (target.length > MAX_TARGET_LENGTH) return refuse(`a request target longer than ${MAX_TARGET_LENGTH} characters`);
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return refuse(`a control, space or non-ASCII character (code ${c}) in the request target`);
  }
  if (target.includes("#")) return refuse('a "#" in the request target');
  if (target.includes("\\")) return refuse("a backslash in the request target");
  const q = target.indexOf("?");
  const path = q < 0 ? target : target.slice(0, q);
  const query = parseQuery(q < 0 ? "" : target.slice(q + 1));
  if (!query.ok) return refuse(query.reason);
  const params = query.params;
  const dryRun = (params.get("dryRun") ?? []).length > 0;

  const segments = path === "/" ? [] : path.slice(1).split("/");

  // RequestInfo: fewer than 3 segments, an unknown prefix, or a group path with fewer than 4: not a resource.
  const prefix = segments[0];
  const grouped = prefix === "apis";
  const isResource = (prefix === "api" || grouped) && segments.length >= (grouped ? 4 : 3);
  if (!isResource) return nonResource(method, path, segments, params, dryRun);

  // Every segment up to the subresource is interpreted: no %-escape at all there.
  let i = 1;
  let apiGroup = "";
  if (grouped) {
    apiGroup = segments[i++]!;
    if (!isDnsSubdomain(apiGroup)) return refuse(`the API group ${JSON.stringify(apiGroup)} is not a DNS subdomain`);
  }
  const apiVersion = segments[i++]!;
  if (!isApiVersion(apiVersion)) return refuse(`the API version ${JSON.stringify(apiVersion)} is not a version the server serves`);

  let verb: string;
  let viaPrefix = false;
  if (segments[i] === "watch" || segments[i] === "proxy") {
    if (segments.length - i < 2) return refuse(`"${segments[i]}" without a resource after it`);
    if (segments[i] === "proxy") return refuse("the legacy /proxy/ path prefix (removed from the API server); use the proxy subresource");
    if (method !== "GET") return refuse(`the legacy /watch/ path prefix with ${method} (the server serves it for GET only)`, 405);
    verb = "watch";
    viaPrefix = true;
    i++;
  } else {
    const v = RESOURCE_METHODS[method];
    if (v === undefined) return refuse(`the method ${method} has no Kubernetes verb`, 405);
    verb = v;
  }

  let rest = segments.slice(i);
  for (const s of rest.slice(0, 5)) {
    const p = segmentProblem(s);
    if (p !== null) return refuse(p);
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length > 1) {
    namespace = rest[1]!;
    if (!isDnsLabel(namespace)) return refuse(`the namespace ${JSON.stringify(namespace)} is not a DNS label`);
    // /namespaces/{ns}/{resource}…, unless the next step is the namespace's own subresource.
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2]!)) {
      rest = rest.slice(2);
      if (rest[0] === "namespaces") return refuse("namespaces inside a namespace (the server serves no such path)");
    }
  }
  const resource = rest[0]!;
  const name = rest[1];
  const subresource = rest[2];
  const tail = rest.slice(3);
  if (!isDnsLabel(resource)) return refuse(`the resource ${JSON.stringify(resource)} is not a resource name (lower-case letters, digits, "-")`);
  if (subresource !== undefined) {
    if (!isDnsLabel(subresource)) return refuse(`the subresource ${JSON.stringify(subresource)} is not a subresource name`);
    if (viaPrefix) return refuse("a subresource under the legacy /watch/ prefix (the server serves no such path)");
  }
  if (name !== undefined && !isObjectName(resource, name, subresource)) {
    return refuse(`the name ${JSON.stringify(name)} is not a valid ${resource === "namespaces" ? "namespace name (a DNS label)" : "object name"} for ${resource}${subresource ? `/${subresource}` : ""}`);
  }
  if (tail.length > 0) {
    if (subresource !== PROXY_SUBRESOURCE) return refuse(`path segments after the subresource ${subresource} (only proxy passes a path on)`);
    // A trailing slash after proxy is the backend's own business ("/proxy/" is its root).
    const last = tail.length - 1;
    for (const [k, s] of tail.entries()) {
      if (k === last && s === "") continue;
      const p = tailProblem(s);
      if (p !== null) return refuse(p);
    }
  }

  let factsName = name;
  if (name === undefined && verb === "get") {
    const watch = params.get("watch");
    if (watch !== undefined && watch.length > 1) return refuse("the watch parameter given more than once");
    // Go compares "false" with Unicode case folding ("falſe" is false to it): only ASCII here.
    if (watch !== undefined && /[^\x20-\x7e]/.test(watch[0]!)) return refuse("a watch value with characters outside ASCII");
    verb = goBool(watch) ? "watch" : "list";
    const selector = params.get("fieldSelector");
    if (selector !== undefined) {
      if (selector.length > 1) return refuse("the fieldSelector parameter given more than once");
      const parsed = fieldSelectorName(selector[0]!);
      if (!parsed.ok) return refuse(parsed.reason);
      if (parsed.exactName !== null && parsed.exactName !== "") {
        // The server keeps the name only when the whole of ListOptions decodes; these are the
        // options whose values can fail to.
        for (const k of ["limit", "timeoutSeconds"]) {
          const v = params.get(k);
          if (v !== undefined && !/^-?[0-9]+$/.test(v[0]!)) return refuse(`${k}=${JSON.stringify(v[0])} is not a number`);
        }
        if (!isObjectName(resource, parsed.exactName, undefined)) return refuse(`the field selector names ${JSON.stringify(parsed.exactName)}, which is not a valid object name for ${resource}`);
        factsName = parsed.exactName;
      }
    }
  }
  if (name === undefined && verb === "delete") verb = "deletecollection";

  let patchType: string | undefined;
  if (method === "PATCH") {
    const ct = headers.contentType ?? "";
    // As the server's patch handler: the media type is what comes before the first ";", compared exactly.
    const semi = ct.indexOf(";");
    const media = semi > 0 ? ct.slice(0, semi) : ct;
    patchType = PATCH_TYPES[media];
    if (patchType === undefined) return refuse(`the patch Content-Type ${JSON.stringify(ct)} is not one the API server accepts (${Object.keys(PATCH_TYPES).join(", ")})`, 415);
  }

  let command: string[] | undefined;
  if (resource === "pods" && subresource === "exec") command = [...(params.get("command") ?? [])];

  const facts: KubernetesRequestFacts = {
    kind: "kubernetes",
    verb,
    resource,
    ...(subresource !== undefined ? { subresource } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(factsName !== undefined ? { name: factsName } : {}),
    apiGroup,
    apiVersion,
    ...(command !== undefined ? { command } : {}),
    ...(patchType !== undefined ? { patchType } : {}),
  };
  return { ok: true, facts, resourceRequest: true, tail, dryRun, query: params };
}

function nonResource(method: string, path: string, segments: readonly string[], params: ReadonlyMap<string, readonly string[]>, dryRun: boolean): ClassifyResult {
  if (!NON_RESOURCE_METHODS.has(method)) return refuse(`the method ${method} is not served`, 405);
  for (const s of segments) {
    const p = segmentProblem(s);
    if (p !== null) return refuse(p);
    if (s.includes("%")) return refuse(`a %-escape in the path segment ${JSON.stringify(s)}`);
  }
  const facts: KubernetesRequestFacts = { kind: "kubernetes", verb: method.toLowerCase(), resource: "", path };
  return { ok: true, facts, resourceRequest: false, tail: [], dryRun, query: params };
}

// The shapes of the names in a Kubernetes API path, as the API server validates them: a namespace
// is a DNS-1123 label, most object names DNS-1123 subdomains, API groups subdomains, versions
// and resource plurals labels. The classifier refuses a request whose path holds anything else,
// so that what policy matches is exactly the string the server will act on.

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** RFC 1123 label: what a namespace name must be (at most 63 characters). */
export function isDnsLabel(s: string): boolean {
  return s.length > 0 && s.length <= 63 && LABEL.test(s);
}

/** RFC 1123 subdomain: dot-separated labels, at most 253 characters (most object names, API groups). */
export function isDnsSubdomain(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split(".").every((l) => l.length > 0 && l.length <= 63 && LABEL.test(l));
}

/**
 * Resources of the built-in API whose object names the API server requires to be DNS-1123
 * subdomains (ValidateObjectMeta with NameIsDNSSubdomain). Other resources (RBAC roles such as
 * "system:node", custom resources) accept any path segment name; see isObjectName.
 */
const SUBDOMAIN_NAMED = new Set([
  "pods",
  "services",
  "secrets",
  "configmaps",
  "deployments",
  "replicasets",
  "statefulsets",
  "daemonsets",
  "jobs",
  "cronjobs",
  "serviceaccounts",
  "persistentvolumeclaims",
  "persistentvolumes",
  "nodes",
  "endpoints",
  "events",
  "limitranges",
  "resourcequotas",
  "replicationcontrollers",
  "ingresses",
  "networkpolicies",
  "poddisruptionbudgets",
  "horizontalpodautoscalers",
  "storageclasses",
  "customresourcedefinitions",
]);

/**
 * Characters a name that is not a DNS subdomain may hold here: letters, digits and - . _ : @.
 * The server allows more in some names (any path segment without / or %), but a name with
 * other characters is refused rather than risk reading it differently from the server.
 */
const LOOSE_NAME = /^[A-Za-z0-9_@:.-]+$/;

/**
 * Whether `name` is a name the server would act on exactly as written for `resource`. For the
 * proxy subresource of pods, services and nodes the name may carry a scheme and port
 * ("https:web:8443", "web:http"), which the server takes apart itself.
 */
export function isObjectName(resource: string, name: string, subresource: string | undefined): boolean {
  if (name === "." || name === ".." || name.length > 253) return false;
  if (subresource === "proxy" && (resource === "pods" || resource === "services" || resource === "nodes")) {
    const parts = name.split(":");
    if (parts.length > 3) return false;
    const host = parts.length === 3 ? parts[1]! : parts[0]!;
    if (parts.length === 3 && !/^https?$/.test(parts[0]!)) return false;
    const port = parts.length === 3 ? parts[2]! : parts[1];
    if (port !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(port)) return false;
    return isDnsSubdomain(host);
  }
  if (SUBDOMAIN_NAMED.has(resource) || resource === "namespaces") return resource === "namespaces" ? isDnsLabel(name) : isDnsSubdomain(name);
  return LOOSE_NAME.test(name);
}

/** The object a proxy name points at: "https:web:8443" → "web", "web:http" → "web". */
export function proxyObjectName(name: string): string {
  const parts = name.split(":");
  return parts.length === 3 ? parts[1]! : parts[0]!;
}

/** An API version as the server serves them: v1, v1beta1, v2alpha3 (CRDs: any DNS label). */
export function isApiVersion(s: string): boolean {
  return isDnsLabel(s);
}

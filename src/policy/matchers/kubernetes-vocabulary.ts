// The words of a rule's kubernetes: section that are checked at load: verbs (with the read and
// write shorthands and the subresource verbs) and API groups. A misspelt verb or group in a deny
// rule would silently never match, so each is an error with a suggestion.
import { GatewayError } from "../../core/errors.ts";

export const READ_VERBS = ["get", "list", "watch"] as const;
export const WRITE_VERBS = ["create", "update", "patch", "delete", "deletecollection"] as const;
/** RBAC's other verbs. */
export const OTHER_VERBS = ["impersonate", "bind", "escalate", "use", "approve", "sign", "attest"] as const;
/** Verbs of non-resource URLs (the lower-cased method) that no resource verb spells. */
export const NON_RESOURCE_VERBS = ["head", "post", "put", "options"] as const;
/**
 * Subresource verbs: each matches any request on that subresource, whatever its RBAC verb
 * (exec is "create" on pods/exec, log is "get" on pods/log, status is get/update/patch on any status subresource).
 */
export const SUBRESOURCE_VERBS = ["exec", "attach", "portforward", "log", "proxy", "scale", "status", "eviction", "ephemeralcontainers"] as const;
export const SHORTHAND_VERBS = ["read", "write", "*"] as const;

export const KUBERNETES_VERBS: readonly string[] = [...READ_VERBS, ...WRITE_VERBS, ...OTHER_VERBS, ...NON_RESOURCE_VERBS, ...SUBRESOURCE_VERBS];

/**
 * Subresources that connect to a running container or pass traffic on (pods/exec, attach,
 * portforward; the proxy of pods, services and nodes). Never a read, whatever the method:
 * kubectl's WebSocket exec is a GET.
 */
export const CONNECT_SUBRESOURCES: ReadonlySet<string> = new Set(["exec", "attach", "portforward", "proxy"]);

/** API groups the Kubernetes project serves or reserves ("" and core are the core group). */
export const KNOWN_GROUPS: ReadonlySet<string> = new Set([
  "",
  "core",
  "apps",
  "batch",
  "autoscaling",
  "policy",
  "extensions",
  "admissionregistration.k8s.io",
  "apiextensions.k8s.io",
  "apiregistration.k8s.io",
  "apiserverinternal.k8s.io",
  "authentication.k8s.io",
  "authorization.k8s.io",
  "certificates.k8s.io",
  "coordination.k8s.io",
  "discovery.k8s.io",
  "events.k8s.io",
  "flowcontrol.apiserver.k8s.io",
  "internal.apiserver.k8s.io",
  "metrics.k8s.io",
  "custom.metrics.k8s.io",
  "external.metrics.k8s.io",
  "networking.k8s.io",
  "node.k8s.io",
  "rbac.authorization.k8s.io",
  "resource.k8s.io",
  "scheduling.k8s.io",
  "storage.k8s.io",
  "storagemigration.k8s.io",
  "snapshot.storage.k8s.io",
  "gateway.networking.k8s.io",
  "policy.networking.k8s.io",
]);

function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** ` (did you mean "x"?)` for the nearest known word within two edits, else "". */
export function suggestion(word: string, known: Iterable<string>): string {
  let best: string | null = null;
  let bestD = 3;
  for (const k of known) {
    if (k === "") continue;
    const d = distance(word.toLowerCase(), k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best === null ? "" : ` (did you mean "${best}"?)`;
}

const invalid = (message: string, path: readonly (string | number)[]) => new GatewayError("E_POLICY_INVALID", message, { details: { path: ["kubernetes", ...path] } });

/** Checks one verb of the section; throws with the item's key path. */
export function checkVerb(raw: string, index: number): void {
  const v = raw.toLowerCase();
  if ((SHORTHAND_VERBS as readonly string[]).includes(v) || KUBERNETES_VERBS.includes(v)) return;
  throw invalid(`unknown kubernetes verb "${raw}"${suggestion(v, [...SHORTHAND_VERBS, ...KUBERNETES_VERBS])} (expected read, write, *, one of ${[...READ_VERBS, ...WRITE_VERBS, ...OTHER_VERBS].join(", ")}, a subresource verb (${SUBRESOURCE_VERBS.join(", ")}) or a non-resource verb (${NON_RESOURCE_VERBS.join(", ")}))`, ["verbs", index]);
}

const GROUP_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Checks one API group (or group glob) of `groups`, or the group part of a resource; throws with `path`. */
export function checkGroup(raw: string, path: readonly (string | number)[]): void {
  if (raw === "" || raw === "core" || raw === "*") return;
  if (/[*?]/.test(raw)) {
    if (!/^[a-z0-9.*?-]+$/.test(raw)) throw invalid(`API group glob "${raw}" may hold only lower-case letters, digits, ".", "-", "*" and "?"`, path);
    return;
  }
  if (!GROUP_SUBDOMAIN.test(raw)) throw invalid(`"${raw}" is not an API group (a lower-case DNS subdomain such as apps or networking.k8s.io; "" or core for the core group)`, path);
  if (KNOWN_GROUPS.has(raw)) return;
  // Groups of custom resources always hold a dot; the project's own end in .k8s.io and are known.
  if (!raw.includes(".") || raw.endsWith(".k8s.io")) throw invalid(`unknown API group "${raw}"${suggestion(raw, KNOWN_GROUPS)}`, path);
}

const RESOURCE_PATTERN = /^([a-z0-9*?-]+)(\.([a-z0-9.*?-]+))?(\/([a-z0-9*?-]+))?$/;

/** Checks one entry of `resources` (RBAC form: pods, pods/exec, deployments.apps, a glob such as pods/*); throws with its key path. */
export function checkResource(raw: string, index: number): void {
  if (raw === "*") return;
  const m = RESOURCE_PATTERN.exec(raw);
  if (m === null) throw invalid(`"${raw}" is not a resource (RBAC form: lower-case plural, then .group and /subresource, e.g. pods, pods/exec, deployments.apps, */scale)`, ["resources", index]);
  if (m[3] !== undefined) checkGroup(m[3], ["resources", index]);
}

/**
 * Resources the API server serves without a namespace (and the impersonation pseudo-resources).
 * A request for one of them without a namespace is cluster-scoped.
 */
export const CLUSTER_SCOPED_RESOURCES: ReadonlySet<string> = new Set([
  "nodes", "namespaces", "persistentvolumes", "componentstatuses",
  "clusterroles", "clusterrolebindings",
  "storageclasses", "csidrivers", "csinodes", "volumeattachments", "volumeattributesclasses", "storageversionmigrations",
  "customresourcedefinitions", "apiservices",
  "mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies", "mutatingadmissionpolicybindings",
  "priorityclasses", "runtimeclasses", "ingressclasses", "ipaddresses", "servicecidrs",
  "certificatesigningrequests", "clustertrustbundles",
  "tokenreviews", "selfsubjectaccessreviews", "selfsubjectreviews", "selfsubjectrulesreviews", "subjectaccessreviews",
  "flowschemas", "prioritylevelconfigurations", "storageversions",
  "deviceclasses", "resourceslices",
  "users", "groups", "uids", "userextras",
]);

/**
 * Resources that live in a namespace. A request for one of them without a namespace (GET
 * /api/v1/secrets) reaches every namespace.
 */
export const NAMESPACED_RESOURCES: ReadonlySet<string> = new Set([
  "pods", "services", "secrets", "configmaps", "serviceaccounts", "persistentvolumeclaims", "endpoints", "events", "limitranges", "resourcequotas", "replicationcontrollers", "podtemplates", "bindings",
  "deployments", "replicasets", "statefulsets", "daemonsets", "controllerrevisions",
  "jobs", "cronjobs", "horizontalpodautoscalers", "poddisruptionbudgets",
  "ingresses", "networkpolicies", "endpointslices", "leases", "roles", "rolebindings",
  "csistoragecapacities", "localsubjectaccessreviews", "resourceclaims", "resourceclaimtemplates",
]);

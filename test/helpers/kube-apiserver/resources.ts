// The resources this stand-in API server serves, as one table: discovery (legacy and aggregated),
// URL routing, Status messages and Table printing all read it, so they cannot disagree.
// Names, short names, verbs, categories and subresources are those of a v1.32 kube-apiserver.

export interface SubresourceDef {
  readonly name: string;
  /** The kind the subresource answers with (group/version default to the parent's). */
  readonly kind: string;
  readonly group?: string;
  readonly version?: string;
  readonly verbs: readonly string[];
}

export interface ResourceDef {
  readonly group: string;
  readonly version: string;
  /** Plural, as in the URL. */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly verbs: readonly string[];
  readonly subresources: readonly SubresourceDef[];
  /** Stored objects (false: create-only review resources such as SelfSubjectAccessReview). */
  readonly stored: boolean;
}

const CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] as const;
const STATUS: SubresourceDef = { name: "status", kind: "", verbs: ["get", "patch", "update"] };

export const RESOURCES: readonly ResourceDef[] = [
  {
    group: "", version: "v1", resource: "namespaces", singular: "namespace", kind: "Namespace", namespaced: false,
    shortNames: ["ns"], categories: [], verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
    subresources: [{ name: "finalize", kind: "Namespace", verbs: ["update"] }, STATUS], stored: true,
  },
  {
    group: "", version: "v1", resource: "pods", singular: "pod", kind: "Pod", namespaced: true,
    shortNames: ["po"], categories: ["all"], verbs: CRUD,
    subresources: [
      { name: "attach", kind: "PodAttachOptions", verbs: ["create", "get"] },
      { name: "binding", kind: "Binding", verbs: ["create"] },
      { name: "ephemeralcontainers", kind: "Pod", verbs: ["get", "patch", "update"] },
      { name: "eviction", kind: "Eviction", group: "policy", version: "v1", verbs: ["create"] },
      { name: "exec", kind: "PodExecOptions", verbs: ["create", "get"] },
      { name: "log", kind: "Pod", verbs: ["get"] },
      { name: "portforward", kind: "PodPortForwardOptions", verbs: ["create", "get"] },
      { name: "proxy", kind: "PodProxyOptions", verbs: ["create", "delete", "get", "patch", "update"] },
      STATUS,
    ],
    stored: true,
  },
  {
    group: "", version: "v1", resource: "configmaps", singular: "configmap", kind: "ConfigMap", namespaced: true,
    shortNames: ["cm"], categories: [], verbs: CRUD, subresources: [], stored: true,
  },
  {
    group: "", version: "v1", resource: "secrets", singular: "secret", kind: "Secret", namespaced: true,
    shortNames: [], categories: [], verbs: CRUD, subresources: [], stored: true,
  },
  {
    group: "", version: "v1", resource: "services", singular: "service", kind: "Service", namespaced: true,
    shortNames: ["svc"], categories: ["all"], verbs: ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    subresources: [{ name: "proxy", kind: "ServiceProxyOptions", verbs: ["create", "delete", "get", "patch", "update"] }, STATUS], stored: true,
  },
  {
    group: "", version: "v1", resource: "events", singular: "event", kind: "Event", namespaced: true,
    shortNames: ["ev"], categories: [], verbs: CRUD, subresources: [], stored: true,
  },
  {
    group: "apps", version: "v1", resource: "deployments", singular: "deployment", kind: "Deployment", namespaced: true,
    shortNames: ["deploy"], categories: ["all"], verbs: CRUD,
    subresources: [{ name: "scale", kind: "Scale", group: "autoscaling", version: "v1", verbs: ["get", "patch", "update"] }, STATUS],
    stored: true,
  },
  {
    group: "authorization.k8s.io", version: "v1", resource: "selfsubjectaccessreviews", singular: "selfsubjectaccessreview",
    kind: "SelfSubjectAccessReview", namespaced: false, shortNames: [], categories: [], verbs: ["create"], subresources: [], stored: false,
  },
  {
    group: "authorization.k8s.io", version: "v1", resource: "selfsubjectrulesreviews", singular: "selfsubjectrulesreview",
    kind: "SelfSubjectRulesReview", namespaced: false, shortNames: [], categories: [], verbs: ["create"], subresources: [], stored: false,
  },
];

/** "apps/v1", or "v1" for the core group. */
export function apiVersionOf(def: { group: string; version: string }): string {
  return def.group === "" ? def.version : `${def.group}/${def.version}`;
}

export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function findByKind(apiVersion: string, kind: string): ResourceDef | undefined {
  return RESOURCES.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
}

/** The API groups in the order discovery lists them ("" first). */
export function groupVersions(): { group: string; version: string }[] {
  const out: { group: string; version: string }[] = [];
  for (const r of RESOURCES) if (!out.some((g) => g.group === r.group && g.version === r.version)) out.push({ group: r.group, version: r.version });
  return out;
}

/** The "pods" or "deployments.apps" a Status message names a resource by. */
export function qualifiedResource(def: ResourceDef): string {
  return def.group === "" ? def.resource : `${def.resource}.${def.group}`;
}

// Matches Kubernetes API requests: verb, resource (RBAC style: `pods`, `pods/exec`,
// `deployments.apps`) and namespace.
import { GatewayError } from "../../core/errors.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlobs, type StringPredicate } from "../glob.ts";

export type KubernetesSection = NonNullable<RuleConfig["kubernetes"]>;
export type KubernetesMatcher = (facts: KubernetesRequestFacts, resource: ResourceKeys) => boolean;

const READ = ["get", "list", "watch"];
const WRITE = ["create", "update", "patch", "delete", "deletecollection"];
const OTHER = ["proxy", "impersonate", "bind", "escalate", "use", "approve", "sign", "attest"];
export const KUBERNETES_VERBS = [...READ, ...WRITE, ...OTHER] as const;

/** The names a resource is matched by, computed once per request. */
export interface ResourceKeys {
  /** resource[.group][/subresource], e.g. "deployments.apps/scale". */
  readonly full: string;
  /** The same without the API group, e.g. "deployments/scale". */
  readonly core: string;
}

export function resourceKeys(f: KubernetesRequestFacts): ResourceKeys {
  const sub = f.subresource ? `/${f.subresource}` : "";
  const group = f.apiGroup ? `.${f.apiGroup}` : "";
  return { full: `${f.resource}${group}${sub}`, core: `${f.resource}${sub}` };
}

function compileVerbs(verbs: readonly string[]): Set<string> | null {
  const out = new Set<string>();
  for (const raw of verbs) {
    const v = raw.toLowerCase();
    if (v === "*") return null;
    if (v === "read") READ.forEach((x) => out.add(x));
    else if (v === "write") WRITE.forEach((x) => out.add(x));
    else if ((KUBERNETES_VERBS as readonly string[]).includes(v)) out.add(v);
    // A misspelt verb in a deny rule would silently never match.
    else throw new GatewayError("E_POLICY_INVALID", `unknown kubernetes verb "${raw}" (expected read, write, *, or one of ${KUBERNETES_VERBS.join(", ")})`);
  }
  return out;
}

export function compileKubernetesMatcher(section: KubernetesSection, restricting: boolean): KubernetesMatcher {
  const verbs = section.verbs ? compileVerbs(section.verbs) : null;
  let resources: StringPredicate | null = null;
  if (section.resources) {
    // A bare "*" means every resource and subresource, as in Kubernetes RBAC.
    resources = section.resources.includes("*")
      ? () => true
      : compileGlobs(section.resources, { separator: "/", ignoreCase: restricting });
  }
  let namespaces: StringPredicate | null = null;
  let clusterScoped = true;
  if (section.namespaces) {
    // "" stands for cluster-scoped requests, which have no namespace.
    clusterScoped = section.namespaces.includes("");
    const globs = section.namespaces.filter((n) => n !== "");
    namespaces = globs.length > 0 ? compileGlobs(globs, { ignoreCase: restricting }) : () => false;
  }
  return (f, keys) => {
    if (verbs !== null && !verbs.has(f.verb.toLowerCase())) return false;
    if (resources !== null && !resources(keys.full)) {
      // `deployments` in a deny rule also covers deployments.apps: no dodging by group name.
      if (!restricting || !resources(keys.core)) return false;
    }
    if (namespaces === null) return true;
    const ns = f.namespace ?? "";
    return ns === "" ? clusterScoped : namespaces(ns);
  };
}

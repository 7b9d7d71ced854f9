// Built-in rules of the Kubernetes target, applied to the policy's decision before it is audited
// (Gate.check's `adjust`), as the Postgres target's builtin:session is:
//  - builtin:bad-request: a request the classifier (request-info.ts) refuses is denied with its
//    reason before any rule is asked (refusalDecision);
//  - builtin:discovery: a GET or HEAD of a URL that only describes the API (/api, /apis,
//    /apis/{group}, /apis/{group}/{version}, /api/{version}, /version, /openapi/v2,
//    /openapi/v3 and below) or reports health (/healthz, /livez, /readyz and below) is allowed
//    to anyone with at least one allow or review rule for the target, where the policy had no
//    rule for it (default deny). kubectl reads these before every command; they hold no
//    objects. /metrics, /logs, /debug and the rest are not on the list: a rule must name them
//    in kubernetes.paths.
// A deny rule that matches keeps its deny: the built-in only replaces the default deny.
import type { Action, Decision, Identity } from "../../core/types.ts";
import { NO_MASKS } from "../../core/types.ts";

export const DISCOVERY_RULE = "builtin:discovery";
/** The rule named when the classifier refuses a request (it never reaches policy or the server). */
export const BAD_REQUEST_RULE = "builtin:bad-request";

/** The decision to audit for a request the classifier refused (answered with its status, 400/405/415). */
export function refusalDecision(reason: string): Decision {
  return { effect: "deny", rule: BAD_REQUEST_RULE, message: `request refused: ${reason}`, masks: NO_MASKS };
}

/** Whether a non-resource path only describes the API or reports health. */
export function isDiscoveryPath(path: string): boolean {
  if (path === "/api" || path === "/apis" || path === "/version" || path === "/openapi/v2" || path === "/openapi/v3") return true;
  if (/^\/api\/[a-z0-9]+$/.test(path)) return true;
  if (/^\/apis\/[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(path)) return true;
  if (/^\/openapi\/v3\/[a-z0-9./-]+$/.test(path)) return true;
  return /^\/(healthz|livez|readyz)(\/[a-z0-9-]+)*$/.test(path);
}

export interface KubernetesBuiltinDeps {
  /** True when at least one allow or review rule names this target for this identity. */
  readonly mayUseTarget: (identity: Identity, target: string) => boolean;
}

export function kubernetesBuiltins(deps: KubernetesBuiltinDeps): (decision: Decision, action: Action) => Decision {
  return (decision, action) => {
    const r = action.request;
    if (r.kind !== "kubernetes" || decision.effect !== "deny" || decision.rule !== null) return decision;
    if (r.resource !== "" || r.path === undefined || (r.verb !== "get" && r.verb !== "head")) return decision;
    if (!isDiscoveryPath(r.path) || !deps.mayUseTarget(action.identity, action.target)) return decision;
    return { effect: "allow", rule: DISCOVERY_RULE, message: "API discovery allowed to users of this target", masks: NO_MASKS };
  };
}

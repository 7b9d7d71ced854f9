// Impersonation headers (Impersonate-User, -Group, -Uid, Impersonate-Extra-*): the gateway strips
// every one of them before forwarding (the cluster sees the gateway's own credential), and a
// request that carries them is allowed only when policy allows each impersonation, which is the
// verb `impersonate` on users, groups, serviceaccounts, uids and userextras/KEY, as RBAC names
// them (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go).
import type { KubernetesRequestFacts } from "../../core/types.ts";

export const IMPERSONATE_USER = "impersonate-user";
export const IMPERSONATE_GROUP = "impersonate-group";
export const IMPERSONATE_UID = "impersonate-uid";
export const IMPERSONATE_EXTRA_PREFIX = "impersonate-extra-";
/** Header names (lower case) the gateway removes; any other Impersonate-* is removed too. */
export const IMPERSONATION_HEADERS: readonly string[] = [IMPERSONATE_USER, IMPERSONATE_GROUP, IMPERSONATE_UID];

/** Whether a header is one the gateway strips: every header whose name starts with Impersonate-. */
export function isImpersonationHeader(name: string): boolean {
  return name.toLowerCase().startsWith("impersonate-");
}

export type ImpersonationVerdict =
  /** No impersonation asked for. */
  | { readonly ok: true; readonly requests: readonly [] }
  /** Each of these must be allowed for the request to go on. */
  | { readonly ok: true; readonly requests: readonly KubernetesRequestFacts[] }
  | { readonly ok: false; readonly status: number; readonly reason: string };

const SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:";

const imp = (resource: string, name: string, extra: Partial<KubernetesRequestFacts> = {}): KubernetesRequestFacts => ({ kind: "kubernetes", verb: "impersonate", resource, name, apiGroup: "", ...extra });

/**
 * The impersonations a request asks for, as facts policy decides one by one; headers are
 * [name, value] pairs as received (a header given twice appears twice).
 */
export function impersonationRequests(headers: Iterable<readonly [string, string]>): ImpersonationVerdict {
  const out: KubernetesRequestFacts[] = [];
  let user: string | null = null;
  let others = false;
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    if (!name.startsWith("impersonate-")) continue;
    if (name === IMPERSONATE_USER) {
      if (user !== null) return { ok: false, status: 400, reason: "Impersonate-User given more than once" };
      user = value;
      if (value.startsWith(SERVICE_ACCOUNT_PREFIX)) {
        const rest = value.slice(SERVICE_ACCOUNT_PREFIX.length).split(":");
        if (rest.length !== 2 || rest[0] === "" || rest[1] === "") return { ok: false, status: 400, reason: `Impersonate-User ${JSON.stringify(value)} is not system:serviceaccount:NAMESPACE:NAME` };
        out.push(imp("serviceaccounts", rest[1]!, { namespace: rest[0]! }));
      } else out.push(imp("users", value));
    } else if (name === IMPERSONATE_GROUP) {
      others = true;
      out.push(imp("groups", value));
    } else if (name === IMPERSONATE_UID) {
      others = true;
      out.push(imp("uids", value, { apiGroup: "authentication.k8s.io" }));
    } else if (name.startsWith(IMPERSONATE_EXTRA_PREFIX)) {
      others = true;
      let key: string;
      try {
        key = decodeURIComponent(name.slice(IMPERSONATE_EXTRA_PREFIX.length));
      } catch {
        return { ok: false, status: 400, reason: `a malformed %-escape in the header ${rawName}` };
      }
      if (key === "") return { ok: false, status: 400, reason: "Impersonate-Extra- without a key" };
      out.push(imp("userextras", value, { apiGroup: "authentication.k8s.io", subresource: key }));
    } else {
      // Not an impersonation the server knows; stripped all the same, and refused so nobody relies on it.
      return { ok: false, status: 400, reason: `unknown impersonation header ${rawName}` };
    }
  }
  if (others && user === null) return { ok: false, status: 400, reason: "impersonating groups, a uid or extras needs Impersonate-User" };
  return { ok: true, requests: out };
}

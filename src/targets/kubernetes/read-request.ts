// One Kubernetes API request read the way the target must read it before deciding: the
// request line through the classifier, the Impersonate-* headers into impersonate requests
// (each to be decided too), and, for a write whose body the target has read, the body's
// namespace against the path's. Pure: the target passes what it received, in the raw form
// (header pairs as they came, so that two Impersonate-Group lines stay two and a repeated
// Content-Type is seen), and decides the facts it gets back.
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { classifyRequest } from "./request-info.ts";
import { impersonationRequests } from "./impersonation.ts";
import { checkBodyNamespace } from "./request-body.ts";

export interface KubernetesRequestIn {
  readonly method: string;
  /** The raw request-target: path and query as received. */
  readonly target: string;
  /** Header [name, value] pairs as received (Node's rawHeaders, paired). */
  readonly headers: readonly (readonly [string, string])[];
  /** The whole body (text, or the bytes as received: protobuf needs them), when the target has read it (writes); omit otherwise. */
  readonly body?: string | Uint8Array;
}

export type KubernetesRequestRead =
  | {
      readonly ok: true;
      /** What policy decides. */
      readonly facts: KubernetesRequestFacts;
      /** Impersonations asked for: each must be allowed too, or the request is denied. */
      readonly impersonations: readonly KubernetesRequestFacts[];
      readonly resourceRequest: boolean;
      readonly dryRun: boolean;
      /** The proxied path after a proxy subresource. */
      readonly tail: readonly string[];
      /** The object's name as the body gives it (a create names it there), when the body was read. */
      readonly bodyName?: string;
    }
  /** Refused before any rule: answer with `status` and a metav1.Status naming `reason` (audited as builtin:bad-request). */
  | { readonly ok: false; readonly status: number; readonly reason: string };

/** Reads one request: see the top of this file. */
export function readKubernetesRequest(req: KubernetesRequestIn): KubernetesRequestRead {
  const contentTypes = req.headers.filter(([n]) => n.toLowerCase() === "content-type").map(([, v]) => v);
  if (contentTypes.length > 1) return { ok: false, status: 400, reason: "more than one Content-Type header" };
  const contentType = contentTypes[0];
  const c = classifyRequest(req.method, req.target, contentType !== undefined ? { contentType } : {});
  if (!c.ok) return c;
  const imp = impersonationRequests(req.headers);
  if (!imp.ok) return imp;
  let bodyName: string | undefined;
  if (req.body !== undefined) {
    const b = checkBodyNamespace(c.facts, req.body, contentType);
    if (!b.ok) return b;
    bodyName = b.name;
  }
  return {
    ok: true,
    facts: c.facts,
    impersonations: imp.requests,
    resourceRequest: c.resourceRequest,
    dryRun: c.dryRun,
    tail: c.tail,
    ...(bodyName !== undefined ? { bodyName } : {}),
  };
}

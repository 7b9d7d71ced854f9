// metav1.Status answers in the Kubernetes API's own form, so kubectl prints the gateway's
// refusals as it prints the server's ("Error from server (Forbidden): ...").
import type { KubernetesRequestFacts } from "../../core/types.ts";

/** StatusReason values (k8s.io/apimachinery/pkg/apis/meta/v1/types.go) by HTTP status. */
export const STATUS_REASONS = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  429: "TooManyRequests",
  500: "InternalError",
  501: "NotImplemented",
  502: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
} as const;

export type StatusCode = keyof typeof STATUS_REASONS;

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
}

/** The details kubectl prints ("pods \"web\" is forbidden"): name, group and the resource (kind). */
export function detailsOf(facts: KubernetesRequestFacts | undefined): StatusDetails | undefined {
  if (facts === undefined || facts.resource === "") return undefined;
  return {
    ...(facts.name !== undefined ? { name: facts.name } : {}),
    ...(facts.apiGroup !== undefined && facts.apiGroup !== "" ? { group: facts.apiGroup } : {}),
    kind: facts.subresource ? `${facts.resource}/${facts.subresource}` : facts.resource,
  };
}

export function statusBody(code: StatusCode, message: string, details?: StatusDetails): Record<string, unknown> {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason: STATUS_REASONS[code],
    ...(details !== undefined ? { details } : {}),
    code,
  };
}

/** A Status response; `extra` headers (e.g. WWW-Authenticate) beside the JSON type. */
export function statusResponse(code: StatusCode, message: string, details?: StatusDetails, extra: Record<string, string> = {}): Response {
  const body = JSON.stringify(statusBody(code, message, details));
  return new Response(body, {
    status: code,
    headers: { "content-type": "application/json", "cache-control": "no-store", "content-length": String(Buffer.byteLength(body)), ...extra },
  });
}

/** The message of a 403, worded as the API server words it so kubectl's output reads naturally. */
export function forbiddenMessage(facts: KubernetesRequestFacts | undefined, why: string): string {
  if (facts === undefined) return `forbidden: ${why}`;
  if (facts.resource === "") return `forbidden: ${facts.verb} ${facts.path ?? ""}: ${why}`;
  const what = `${facts.resource}${facts.apiGroup ? `.${facts.apiGroup}` : ""}${facts.subresource ? `/${facts.subresource}` : ""}`;
  const subject = facts.name !== undefined ? `${what} "${facts.name}"` : what;
  const where = facts.namespace !== undefined ? ` in the namespace "${facts.namespace}"` : "";
  return `${subject} is forbidden: gatehouse: ${facts.verb}${where}: ${why}`;
}

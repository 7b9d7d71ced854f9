// metav1.Status bodies with the messages, reasons and details of k8s.io/apimachinery's
// api/errors, so kubectl prints "Error from server (NotFound): pods "x" not found" exactly as
// against a real cluster. Handlers throw ApiError; the router turns it into the response.
import type { ResourceDef } from "./resources.ts";
import { qualifiedResource } from "./resources.ts";

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Success" | "Failure";
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message ?? status.reason ?? "error");
  }
}

export function statusBody(code: number, reason: string, message: string, details?: StatusDetails): StatusBody {
  // Field order is Go's json.Marshal of metav1.Status: details before code.
  return details
    ? { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, details, code }
    : { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

function resourceDetails(def: ResourceDef, name?: string): StatusDetails {
  const d: StatusDetails = {};
  if (name !== undefined && name !== "") d.name = name;
  if (def.group !== "") d.group = def.group;
  d.kind = def.resource;
  return d;
}

export const errors = {
  notFound: (def: ResourceDef, name: string) =>
    new ApiError(statusBody(404, "NotFound", `${qualifiedResource(def)} "${name}" not found`, resourceDetails(def, name))),
  /** The 404 of a URL that names nothing this server serves (its body is the generic one). */
  pathNotFound: () => new ApiError(statusBody(404, "NotFound", "the server could not find the requested resource", {})),
  alreadyExists: (def: ResourceDef, name: string) =>
    new ApiError(statusBody(409, "AlreadyExists", `${qualifiedResource(def)} "${name}" already exists`, resourceDetails(def, name))),
  conflict: (def: ResourceDef, name: string) =>
    new ApiError(
      statusBody(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${qualifiedResource(def)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        resourceDetails(def, name),
      ),
    ),
  /** 422: `causes` are field errors ("spec.containers: Required value"). */
  invalid: (def: ResourceDef, name: string, causes: { type: string; field: string; detail: string }[]) => {
    const kind = def.group === "" ? def.kind : `${def.kind}.${def.group}`;
    const text = causes.map((c) => `${c.field}: ${c.detail}`);
    const message = `${kind} "${name}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(", ")}]`}`;
    const details: StatusDetails = { name, ...(def.group !== "" ? { group: def.group } : {}), kind: def.kind };
    details.causes = causes.map((c) => ({ reason: c.type, message: c.detail, field: c.field }));
    return new ApiError(statusBody(422, "Invalid", message, details));
  },
  badRequest: (message: string) => new ApiError(statusBody(400, "BadRequest", message)),
  methodNotAllowed: () => new ApiError(statusBody(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})),
  notAcceptable: (message: string) => new ApiError(statusBody(406, "NotAcceptable", message)),
  unsupportedMediaType: (contentType: string) =>
    new ApiError(statusBody(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/apply-patch+yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got "${contentType}")`)),
  forbidden: (user: string, verb: string, def: ResourceDef | undefined, resource: string, name: string | undefined, namespace: string | undefined, why?: string) => {
    const group = def?.group ?? "";
    const subject = name ? `${resource} "${name}"` : resource;
    const scope = namespace ? ` in the namespace "${namespace}"` : ` at the cluster scope`;
    const reason = why ? `: ${why}` : "";
    const message = `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}"${scope}${reason}`;
    const details: StatusDetails = {};
    if (name) details.name = name;
    if (group) details.group = group;
    details.kind = resource;
    return new ApiError(statusBody(403, "Forbidden", message, details));
  },
  unauthorized: () => new ApiError(statusBody(401, "Unauthorized", "Unauthorized")),
  internal: (message: string) =>
    new ApiError(statusBody(500, "InternalError", `Internal error occurred: ${message}`, { causes: [{ message }] })),
};

/** The Status a delete answers with for resources whose registry does not return the object. */
export function deleteSuccess(def: ResourceDef, name: string, uid: string): Omit<StatusBody, "code" | "message" | "reason"> & { details: StatusDetails } {
  const details: StatusDetails = { name, ...(def.group !== "" ? { group: def.group } : {}), kind: def.resource, uid };
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details };
}

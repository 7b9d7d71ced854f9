// `kubectl auth can-i` asks the cluster (a SelfSubjectAccessReview), but the cluster would answer
// for the gateway's own credential. The gateway answers it itself, from the policy, for the
// caller: the attributes asked about become request facts, decided as that request would be
// (the built-ins included); review counts as "no, until approved".
import type { Decision, KubernetesRequestFacts } from "../../core/types.ts";
import { protobufFields } from "./protobuf-meta.ts";

export interface AccessReviewAsk {
  readonly resource?: { namespace?: string; verb?: string; group?: string; version?: string; resource?: string; subresource?: string; name?: string };
  readonly nonResource?: { path?: string; verb?: string };
}

export function isAccessReview(f: KubernetesRequestFacts): boolean {
  return f.verb === "create" && f.resource === "selfsubjectaccessreviews" && f.apiGroup === "authorization.k8s.io" && f.subresource === undefined;
}

const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

function fieldsOf(bytes: Uint8Array | undefined, names: Record<number, string>): Record<string, string> | null {
  if (bytes === undefined) return null;
  const fs = protobufFields(bytes);
  if (fs === null) return null;
  const out: Record<string, string> = {};
  for (const f of fs) if (names[f.no] !== undefined && f.bytes !== undefined) out[names[f.no]!] = text(f.bytes)!;
  return out;
}

/** The spec of a SelfSubjectAccessReview body (JSON, or protobuf as kubectl sends it); null when unreadable. */
export function readAccessReview(body: Uint8Array, contentType: string | null): AccessReviewAsk | null {
  if ((contentType ?? "").startsWith("application/vnd.kubernetes.protobuf")) {
    const env = protobufFields(body.subarray(4));
    const raw = env?.find((f) => f.no === 2)?.bytes;
    const obj = raw === undefined ? null : protobufFields(raw);
    const spec = obj?.find((f) => f.no === 2)?.bytes;
    const parts = spec === undefined ? null : protobufFields(spec);
    if (parts === null) return null;
    const ra = fieldsOf(parts.find((f) => f.no === 1)?.bytes, { 1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name" });
    const nr = fieldsOf(parts.find((f) => f.no === 2)?.bytes, { 1: "path", 2: "verb" });
    return { ...(ra ? { resource: ra } : {}), ...(nr ? { nonResource: nr } : {}) };
  }
  try {
    const v = JSON.parse(new TextDecoder().decode(body)) as { spec?: { resourceAttributes?: AccessReviewAsk["resource"]; nonResourceAttributes?: AccessReviewAsk["nonResource"] } };
    return { ...(v.spec?.resourceAttributes ? { resource: v.spec.resourceAttributes } : {}), ...(v.spec?.nonResourceAttributes ? { nonResource: v.spec.nonResourceAttributes } : {}) };
  } catch {
    return null;
  }
}

/** The request the review asks about, as facts policy decides; null when it names nothing. */
export function askedFacts(ask: AccessReviewAsk): KubernetesRequestFacts | null {
  if (ask.resource?.verb) {
    const r = ask.resource;
    return {
      kind: "kubernetes",
      verb: r.verb!,
      resource: r.resource ?? "",
      apiGroup: r.group ?? "",
      ...(r.subresource ? { subresource: r.subresource } : {}),
      ...(r.namespace ? { namespace: r.namespace } : {}),
      ...(r.name ? { name: r.name } : {}),
    };
  }
  if (ask.nonResource?.path && ask.nonResource.verb) return { kind: "kubernetes", verb: ask.nonResource.verb, resource: "", path: ask.nonResource.path };
  return null;
}

/** The SelfSubjectAccessReview the gateway answers with. */
export function accessReviewAnswer(ask: AccessReviewAsk, d: Decision): Record<string, unknown> {
  const allowed = d.effect === "allow";
  const reason = d.effect === "allow" ? `gatehouse: allowed by rule ${d.rule}` : d.effect === "review" ? `gatehouse: needs approval (rule ${d.rule})` : `gatehouse: ${d.message}`;
  return {
    kind: "SelfSubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: {},
    spec: { ...(ask.resource ? { resourceAttributes: ask.resource } : {}), ...(ask.nonResource ? { nonResourceAttributes: ask.nonResource } : {}) },
    status: { allowed, ...(d.effect === "deny" ? { denied: true } : {}), reason },
  };
}

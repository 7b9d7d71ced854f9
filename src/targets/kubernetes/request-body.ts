// The namespace (and name) a write's body names, checked against the path's. The server takes
// the namespace from the path and rejects a body naming another, but the gateway decides before
// the server sees the body: a body that names another namespace, or a namespace on a
// cluster-scoped path, is refused here so that the decision and the server's act cannot differ.
// Bodies the gateway cannot read (protobuf, CBOR, several YAML documents) are refused too.
import { parseAllDocuments } from "yaml";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { readProtobufMeta } from "./protobuf-meta.ts";

const PROTOBUF = "application/vnd.kubernetes.protobuf";

export type BodyCheck = { readonly ok: true; readonly namespace?: string; readonly name?: string } | { readonly ok: false; readonly status: number; readonly reason: string };

const refuse = (reason: string, status = 400): BodyCheck => ({ ok: false, status, reason });

function mediaType(contentType: string | undefined): string {
  const ct = contentType ?? "";
  const semi = ct.indexOf(";");
  return (semi >= 0 ? ct.slice(0, semi) : ct).trim().toLowerCase();
}

// The body as a value: JSON for application/json and the +json patch types, YAML for the YAML ones.
function readBody(text: string, media: string): { value: unknown } | { error: string; status: number } {
  if (media === "application/json" || media.endsWith("+json") || media === "") {
    try {
      return { value: JSON.parse(text) };
    } catch (e) {
      return { error: `the request body is not JSON: ${e instanceof Error ? e.message : String(e)}`, status: 400 };
    }
  }
  if (media === "application/yaml" || media.endsWith("+yaml")) {
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs) || docs.length !== 1) return { error: "the request body must be exactly one YAML document", status: 400 };
    const doc = docs[0]!;
    if (doc.errors.length > 0) return { error: `the request body is not YAML: ${doc.errors[0]!.message}`, status: 400 };
    return { value: doc.toJS() };
  }
  return { error: `the gateway cannot read a ${JSON.stringify(media)} body (protobuf and CBOR are not inspected); send JSON`, status: 415 };
}

/**
 * The value of `key` in an object, ignoring case: older API servers decode JSON field names
 * without regard to case ("Namespace" sets the namespace), so every spelling counts. Several
 * spellings with different values: an error.
 */
function field(obj: Record<string, unknown>, key: string): { value?: unknown; error?: string } {
  let found: unknown = undefined;
  let seen = false;
  for (const [k, v] of Object.entries(obj)) {
    if (k.toLowerCase() !== key) continue;
    if (seen && JSON.stringify(v) !== JSON.stringify(found)) return { error: `the body gives ${key} twice, in different spellings` };
    found = v;
    seen = true;
  }
  return seen ? { value: found } : {};
}

/** metadata.namespace and metadata.name of an object body, or of what a JSON patch writes there. */
function bodyMeta(value: unknown, patchType: string | undefined): { namespace?: unknown; name?: unknown; error?: string } {
  if (patchType === "json") {
    if (!Array.isArray(value)) return { error: "a JSON patch must be an array of operations" };
    const out: { namespace?: unknown; name?: unknown } = {};
    for (const op of value) {
      if (typeof op !== "object" || op === null) return { error: "a JSON patch operation is not an object" };
      const path = (op as Record<string, unknown>)["path"];
      const from = (op as Record<string, unknown>)["from"];
      for (const p of [path, from]) {
        if (typeof p !== "string") continue;
        // Any operation on /metadata as a whole, or on its namespace, could move the object.
        const l = p.toLowerCase();
        if (l === "" || l === "/metadata" || l === "/metadata/namespace" || l.startsWith("/metadata/namespace/")) return { error: `a JSON patch operation on ${JSON.stringify(p)} (the namespace is the path's)` };
      }
    }
    return out;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { error: "the request body is not an object" };
  const metaField = field(value as Record<string, unknown>, "metadata");
  if (metaField.error !== undefined) return { error: metaField.error };
  const meta = metaField.value;
  if (meta === undefined || meta === null) return {};
  if (typeof meta !== "object" || Array.isArray(meta)) return { error: "metadata is not an object" };
  const m = meta as Record<string, unknown>;
  const ns = field(m, "namespace");
  const name = field(m, "name");
  if (ns.error !== undefined || name.error !== undefined) return { error: (ns.error ?? name.error)! };
  return { namespace: ns.value, name: name.value };
}

/**
 * Checks a write's body against the classified path: a body that names a namespace must name
 * the path's (a cluster-scoped path: none), and a body that names an object must name the
 * path's object when the path names one. `body` is the whole body as text (UTF-8).
 */
export function checkBodyNamespace(facts: KubernetesRequestFacts, body: string | Uint8Array, contentType: string | undefined): BodyCheck {
  const media = mediaType(contentType);
  let meta: { namespace?: unknown; name?: unknown; error?: string };
  if (media === PROTOBUF && typeof body !== "string") {
    // Typed clients (kubectl create secret, auth can-i) send protobuf: its metadata is read.
    if (body.length === 0) return { ok: true };
    const pb = readProtobufMeta(body);
    if (!pb.ok) return refuse(pb.reason);
    meta = { namespace: pb.namespace, name: pb.name };
  } else {
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    if (text.trim() === "") return { ok: true };
    const read = readBody(text, media);
    if ("error" in read) return refuse(read.error, read.status);
    meta = bodyMeta(read.value, facts.patchType);
  }
  if (meta.error !== undefined) return refuse(`${meta.error}`);
  const out: { namespace?: string; name?: string } = {};
  if (meta.namespace !== undefined && meta.namespace !== null && meta.namespace !== "") {
    if (typeof meta.namespace !== "string") return refuse("metadata.namespace in the body is not a string");
    if (facts.namespace === undefined) return refuse(`the body names namespace ${JSON.stringify(meta.namespace)}, but the path is cluster-scoped`);
    if (meta.namespace !== facts.namespace) return refuse(`the body names namespace ${JSON.stringify(meta.namespace)}, but the path names namespace ${JSON.stringify(facts.namespace)}`);
    out.namespace = meta.namespace;
  }
  if (meta.name !== undefined && meta.name !== null && meta.name !== "") {
    if (typeof meta.name !== "string") return refuse("metadata.name in the body is not a string");
    if (facts.name !== undefined && facts.subresource === undefined && meta.name !== facts.name) {
      return refuse(`the body names ${JSON.stringify(meta.name)}, but the path names ${JSON.stringify(facts.name)}`);
    }
    out.name = meta.name;
  }
  return { ok: true, ...out };
}

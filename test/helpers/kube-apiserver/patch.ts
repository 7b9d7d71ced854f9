// The four PATCH bodies the API server accepts: JSON Patch (RFC 6902), JSON merge patch
// (RFC 7386), strategic merge patch (the subset of k8s.io/apimachinery strategicpatch that
// kubectl apply/edit/label/scale produce: merge keys of the core list fields and the $patch,
// $retainKeys, $setElementOrder and $deleteFromPrimitiveList directives) and apply patches,
// which server-side apply merges like a strategic patch (no field ownership conflicts).
import { ApiError, errors, statusBody } from "./status.ts";

/** A JSON Patch that does not apply: 422, as the API server answers jsonpatch errors. */
function patchFailed(message: string): ApiError {
  return new ApiError(statusBody(422, "Invalid", message));
}
import type { KubeObject } from "./store.ts";

export const PATCH_TYPES = {
  json: "application/json-patch+json",
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  apply: "application/apply-patch+yaml",
  applyCbor: "application/apply-patch+cbor",
} as const;

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// ---- RFC 6902 ------------------------------------------------------------------------------

function pointer(path: string): string[] {
  if (path === "") return [];
  if (!path.startsWith("/")) throw errors.badRequest(`the server rejected our request due to an error in our request: invalid JSON pointer ${JSON.stringify(path)}`);
  return path.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function parentOf(doc: Json, parts: string[], path: string): { parent: Json; last: string } {
  let cur: Json = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw patchFailed(`jsonpatch add operation does not apply: doc is missing path: "${path}"`);
  }
  return { parent: cur, last: parts[parts.length - 1] ?? "" };
}

function getAt(doc: Json, path: string): Json {
  let cur: Json = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObject(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

export function applyJsonPatch(doc: KubeObject, ops: Json): KubeObject {
  if (!Array.isArray(ops)) throw errors.badRequest("the server rejected our request due to an error in our request: a JSON patch must be an array of operations");
  let root: Json = structuredClone(doc);
  for (const op of ops as Record<string, Json>[]) {
    const path = String(op.path ?? "");
    const parts = pointer(path);
    const set = (value: Json, insert: boolean) => {
      if (parts.length === 0) {
        root = value;
        return;
      }
      const { parent, last } = parentOf(root, parts, path);
      if (Array.isArray(parent)) {
        const i = last === "-" ? parent.length : Number(last);
        if (!Number.isInteger(i) || i < 0 || i > parent.length) throw patchFailed(`jsonpatch ${String(op.op)} operation does not apply: index out of range for path "${path}"`);
        if (insert) parent.splice(i, 0, value);
        else parent[i] = value;
      } else if (isObject(parent)) parent[last] = value;
      else throw patchFailed(`jsonpatch ${String(op.op)} operation does not apply: doc is missing path: "${path}"`);
    };
    const remove = (): Json => {
      const { parent, last } = parentOf(root, parts, path);
      if (Array.isArray(parent)) return parent.splice(Number(last), 1)[0];
      if (isObject(parent) && last in parent) {
        const v = parent[last];
        delete parent[last];
        return v;
      }
      throw patchFailed(`jsonpatch remove operation does not apply: doc is missing key: ${path}`);
    };
    switch (op.op) {
      case "add":
        set(structuredClone(op.value), true);
        break;
      case "replace":
        if (getAt(root, path) === undefined) throw patchFailed(`jsonpatch replace operation does not apply: doc is missing key: ${path}`);
        set(structuredClone(op.value), false);
        break;
      case "remove":
        remove();
        break;
      case "move": {
        const from = String(op.from ?? "");
        const v = getAt(root, from);
        const fparts = pointer(from);
        const { parent, last } = parentOf(root, fparts, from);
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else if (isObject(parent)) delete parent[last];
        set(v, true);
        break;
      }
      case "copy":
        set(structuredClone(getAt(root, String(op.from ?? ""))), true);
        break;
      case "test":
        if (JSON.stringify(getAt(root, path)) !== JSON.stringify(op.value)) throw patchFailed(`testing value ${path} failed: test failed`);
        break;
      default:
        throw errors.badRequest(`the server rejected our request due to an error in our request: unexpected kind of operation ${JSON.stringify(op.op)}`);
    }
  }
  if (!isObject(root)) throw errors.badRequest("the server rejected our request: the patched document is not an object");
  return root as KubeObject;
}

// ---- RFC 7386 ------------------------------------------------------------------------------

export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

// ---- strategic merge -----------------------------------------------------------------------

/** The patchMergeKey of a list field, by its name and its parent's (as the Go struct tags say). */
function mergeKeyOf(field: string, parentPath: string[], kind: string): string | undefined {
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
      return "name";
    case "volumeMounts":
      return "mountPath";
    case "conditions":
      return "type";
    case "hostAliases":
      return "ip";
    case "ownerReferences":
      return "uid";
    case "ports":
      return kind === "Service" && parentPath.length === 1 && parentPath[0] === "spec" ? "port" : "containerPort";
    default:
      return undefined;
  }
}

/** Primitive lists merged as sets rather than replaced. */
const MERGED_PRIMITIVE_LISTS = new Set(["finalizers"]);

function strategicMerge(target: Json, patch: Json, path: string[], kind: string): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch.$patch === "replace") {
    const { $patch: _drop, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch.$patch === "delete") return undefined;
  const out: Record<string, Json> = isObject(target) ? structuredClone(target) : {};
  const orders: [string, Json[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys") continue;
    if (k.startsWith("$setElementOrder/")) {
      if (Array.isArray(v)) orders.push([k.slice("$setElementOrder/".length), v]);
      continue;
    }
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const f = k.slice("$deleteFromPrimitiveList/".length);
      const drop = new Set((Array.isArray(v) ? v : []).map((x) => JSON.stringify(x)));
      if (Array.isArray(out[f])) out[f] = (out[f] as Json[]).filter((x) => !drop.has(JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    if (Array.isArray(v)) {
      const key = mergeKeyOf(k, path, kind);
      const cur = out[k];
      if (key && Array.isArray(cur)) out[k] = mergeList(cur, v, key, [...path, k], kind);
      else if (MERGED_PRIMITIVE_LISTS.has(k) && Array.isArray(cur)) out[k] = [...cur, ...v.filter((x) => !cur.some((c) => JSON.stringify(c) === JSON.stringify(x)))];
      else out[k] = stripDirectives(v);
      continue;
    }
    const merged = strategicMerge(out[k], v, [...path, k], kind);
    if (merged === undefined) delete out[k];
    else out[k] = merged;
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys as string[]);
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k];
  }
  for (const [field, order] of orders) {
    const list = out[field];
    const key = mergeKeyOf(field, path, kind);
    if (!Array.isArray(list)) continue;
    const id = (x: Json) => JSON.stringify(key && isObject(x) ? x[key] : x);
    const rank = new Map(order.map((o, i) => [JSON.stringify(key && isObject(o) ? o[key] : o), i]));
    out[field] = [...list].sort((a, b) => (rank.get(id(a)) ?? Infinity) - (rank.get(id(b)) ?? Infinity));
  }
  return out;
}

function mergeList(cur: Json[], patch: Json[], key: string, path: string[], kind: string): Json[] {
  if (patch.some((p) => isObject(p) && p.$patch === "replace" && Object.keys(p).length === 1)) return stripDirectives(patch.filter((p) => !(isObject(p) && p.$patch === "replace"))) as Json[];
  const out = structuredClone(cur);
  for (const p of patch) {
    if (!isObject(p)) continue;
    const i = out.findIndex((c) => isObject(c) && c[key] === p[key]);
    if (p.$patch === "delete") {
      if (i >= 0) out.splice(i, 1);
      continue;
    }
    if (i >= 0) out[i] = strategicMerge(out[i], p, path, kind);
    else out.push(stripDirectives(p));
  }
  return out;
}

function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, Json> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith("$")) out[k] = stripDirectives(x);
  return out;
}

export function applyStrategicMergePatch(target: KubeObject, patch: Json, kind: string): KubeObject {
  if (!isObject(patch)) throw errors.badRequest("the server rejected our request due to an error in our request: a strategic merge patch must be a JSON object");
  const out = strategicMerge(target, patch, [], kind);
  return (isObject(out) ? out : {}) as KubeObject;
}

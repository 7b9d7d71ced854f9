// The canonical JSON that record hashes are computed over: keys sorted at every level, no
// whitespace, undefined members dropped. Two encoders give the same text: a fast one that leans
// on the native JSON.stringify, and a plain one for the objects the fast one cannot order.
import { GatewayError } from "../core/errors.ts";

const MAX_DEPTH = 64;

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort does) at every
 * level, no whitespace, undefined members dropped. It follows JSON.stringify for everything
 * else (toJSON, NaN → null, undefined in arrays → null) so that a record hashed in memory
 * hashes the same after a write and JSON.parse.
 */
export function canonicalJson(value: unknown): string {
  const copy = canonicalCopy(value);
  const text = copy === NOT_COPYABLE ? write(value, 0) : JSON.stringify(copy);
  if (text === undefined) throw new GatewayError("E_INTERNAL", `cannot encode as JSON: a value of type ${typeof value}`);
  return text;
}

/** Returned by canonicalCopy for values only the plain encoder can order. */
export const NOT_COPYABLE: unique symbol = Symbol("not copyable");

/**
 * A copy of `value` whose objects have their keys inserted in sorted order, toJSON applied and
 * undefined, function and symbol members left out, so JSON.stringify(copy) is canonical.
 * JS always enumerates integer-like keys ("9" before "10") first and a "__proto__" key cannot be
 * inserted as data, so values with such keys give NOT_COPYABLE.
 */
export function canonicalCopy(value: unknown, depth = 0): unknown {
  if (typeof value !== "object" || value === null) {
    if (typeof value === "bigint") throw new GatewayError("E_INTERNAL", "cannot encode as JSON: a bigint");
    return value;
  }
  if (depth > MAX_DEPTH) throw new GatewayError("E_INTERNAL", `cannot encode as JSON: nested deeper than ${MAX_DEPTH} (a cycle?)`);
  const obj = value as { toJSON?: unknown };
  if (typeof obj.toJSON === "function") return canonicalCopy((obj.toJSON as () => unknown)(), depth + 1);
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item = canonicalCopy(value[i], depth + 1);
      if (item === NOT_COPYABLE) return NOT_COPYABLE;
      out[i] = item;
    }
    return out;
  }
  const rec = value as Record<string, unknown>;
  const keys = sortKeys(Object.keys(rec));
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (!isPlainKey(key)) return NOT_COPYABLE;
    const member = canonicalCopy(rec[key], depth + 1);
    if (member === NOT_COPYABLE) return NOT_COPYABLE;
    if (member === undefined || typeof member === "function" || typeof member === "symbol") continue;
    out[key] = member;
  }
  return out;
}

const INDEX_KEY = /^(?:0|[1-9][0-9]*)$/;

/** False for keys that object insertion order cannot place: integer-like ones and "__proto__". */
export function isPlainKey(key: string): boolean {
  const c = key.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39) return !INDEX_KEY.test(key);
  return c !== 0x5f || key !== "__proto__";
}

/** Insertion sort: objects in records have a handful of keys, where it beats Array.prototype.sort. */
function sortKeys(keys: string[]): string[] {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > key) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}

// Strings without quote, backslash, control or surrogate characters need no escaping.
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"';
}

/** The plain encoder: any JSON value, keys sorted as strings. */
function write(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      // String(n) and JSON.stringify(n) agree for finite numbers (both use Number::toString).
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
    case "bigint":
      throw new GatewayError("E_INTERNAL", "cannot encode as JSON: a bigint");
    case "object":
      break;
  }
  if (value === null) return "null";
  if (depth > MAX_DEPTH) throw new GatewayError("E_INTERNAL", `cannot encode as JSON: nested deeper than ${MAX_DEPTH} (a cycle?)`);
  const obj = value as { toJSON?: unknown };
  if (typeof obj.toJSON === "function") return write((obj.toJSON as () => unknown)(), depth + 1);
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ",";
      out += write(value[i], depth + 1) ?? "null";
    }
    return out + "]";
  }
  const rec = value as Record<string, unknown>;
  const keys = sortKeys(Object.keys(rec));
  let out = "{";
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const member = write(rec[key], depth + 1);
    if (member === undefined) continue;
    if (first) first = false;
    else out += ",";
    out += quote(key) + ":" + member;
  }
  return out + "}";
}

// Turns TypeBox validation errors into messages a person can act on: the key path, what was
// expected and what was found. Unions are resolved to the variant the author meant.
import { Kind, type TSchema } from "@sinclair/typebox";
import { Value, ValueErrorType, type ValueError } from "@sinclair/typebox/value";
import type { KeyPath } from "./issue.ts";

export interface SchemaProblem {
  readonly path: KeyPath;
  readonly message: string;
}

// Values under these keys may be credentials typed in by hand: never echo them.
const SENSITIVE_KEY = /password|secret|token|headers|authorization|sha256|key$/i;

function pointerToPath(pointer: string, root: unknown): (string | number)[] {
  if (pointer === "") return [];
  const out: (string | number)[] = [];
  let cur: unknown = root;
  for (const raw of pointer.slice(1).split("/")) {
    const seg = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (Array.isArray(cur)) {
      const i = Number(seg);
      out.push(i);
      cur = cur[i];
    } else {
      out.push(seg);
      cur = cur !== null && typeof cur === "object" ? (cur as Record<string, unknown>)[seg] : undefined;
    }
  }
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a map";
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return Number.isInteger(v) ? "an integer" : "a number";
  if (typeof v === "boolean") return "a boolean";
  return typeof v;
}

function got(path: KeyPath, v: unknown): string {
  if (path.some((s) => typeof s === "string" && SENSITIVE_KEY.test(s))) return `got ${typeName(v)}`;
  if (typeof v === "string") return `got ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v)}`;
  if (typeof v === "number" || typeof v === "boolean" || v === null) return `got ${typeName(v)} ${String(v)}`;
  return `got ${typeName(v)}`;
}

function kindOf(schema: TSchema): string {
  return String((schema as unknown as Record<symbol, unknown>)[Kind] ?? "");
}

function literalValues(schema: TSchema): unknown[] | null {
  const variants = (schema.anyOf as TSchema[] | undefined) ?? [];
  if (variants.length === 0 || !variants.every((v) => kindOf(v) === "Literal")) return null;
  return variants.map((v) => v.const);
}

function describe(schema: TSchema): string {
  const lits = literalValues(schema);
  if (lits) return `one of ${lits.map((l) => JSON.stringify(l)).join(", ")}`;
  switch (kindOf(schema)) {
    case "String":
      return "a string";
    case "Array":
      return "a list";
    case "Object":
    case "Record":
      return "a map";
    case "Boolean":
      return "true or false";
    case "Integer":
      return "an integer";
    case "Number":
      return "a number";
    case "Literal":
      return JSON.stringify(schema.const);
    case "Union":
      return ((schema.anyOf as TSchema[]) ?? []).map(describe).join(" or ");
    default:
      return "a valid value";
  }
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

function unknownKey(key: string, parent: TSchema): string {
  const known = Object.keys((parent.properties as Record<string, unknown> | undefined) ?? {});
  const near = known.map((k) => [k, levenshtein(key, k)] as const).sort((x, y) => x[1] - y[1])[0];
  if (near && near[1] <= 2) return `unknown key "${key}" (did you mean "${near[0]}"?)`;
  return known.length > 0 ? `unknown key "${key}" (expected one of: ${known.join(", ")})` : `unknown key "${key}"`;
}

function expectedString(schema: TSchema, path: KeyPath, value: unknown): string {
  const hint = typeof value === "number" || typeof value === "boolean" ? " (put it in quotes)" : "";
  return `expected a string, ${got(path, value)}${hint}`;
}

function messageFor(e: ValueError, path: KeyPath): string | null {
  const s = e.schema;
  const v = e.value;
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return unknownKey(String(path[path.length - 1]), s);
    case ValueErrorType.String:
      return expectedString(s, path, v);
    case ValueErrorType.StringPattern:
      return `expected ${s.description ? lowerFirst(s.description) : `a string matching /${s.pattern}/`}, ${got(path, v)}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? "expected a non-empty string" : `expected at least ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `expected at most ${s.maxLength} characters`;
    case ValueErrorType.ArrayMinItems:
      return s.minItems === 1 ? "expected a non-empty list" : `expected at least ${s.minItems} items`;
    case ValueErrorType.Array:
      return `expected a list, ${got(path, v)}`;
    case ValueErrorType.Object:
      return `expected a map (key: value), ${got(path, v)}`;
    case ValueErrorType.Boolean:
      return `expected true or false, ${got(path, v)}`;
    case ValueErrorType.Integer:
      return `expected an integer, ${got(path, v)}`;
    case ValueErrorType.Number:
      return `expected a number, ${got(path, v)}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `expected at least ${s.minimum}, ${got(path, v)}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `expected at most ${s.maximum}, ${got(path, v)}`;
    case ValueErrorType.Literal:
      return `expected ${JSON.stringify(s.const)}, ${got(path, v)}`;
    default:
      return `${lowerFirst(e.message)}, ${got(path, v)}`;
  }
}

/** "A duration such as 15m." → "a duration such as 15m"; "HH:MM…" keeps its capitals. */
function lowerFirst(s: string): string {
  const t = s.replace(/\.$/, "");
  return /^[A-Z](?![A-Z])/.test(t) ? t[0]!.toLowerCase() + t.slice(1) : t;
}

/** Errors of one union value, against the variant the author evidently meant. */
function unionProblems(schema: TSchema, value: unknown, path: KeyPath): SchemaProblem[] {
  const variants = (schema.anyOf as TSchema[] | undefined) ?? [];
  const lits = literalValues(schema);
  if (lits) return [{ path, message: `expected one of ${lits.map((l) => JSON.stringify(l)).join(", ")}, ${got(path, value)}` }];

  // Tagged objects (targets by `kind`): the tag names the variant.
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const tagged = variants.filter((v) => kindOf(v) === "Object" && kindOf((v.properties ?? {}).kind ?? {}) === "Literal");
    if (tagged.length > 0 && tagged.length === variants.length) {
      const tag = (value as Record<string, unknown>)["kind"];
      const chosen = tagged.find((v) => v.properties.kind.const === tag);
      if (chosen) return problems(chosen, value, path);
      const kinds = tagged.map((v) => JSON.stringify(v.properties.kind.const)).join(", ");
      if (tag === undefined) return [{ path, message: `missing required key "kind" (one of ${kinds})` }];
      return [{ path: [...path, "kind"], message: `expected one of ${kinds}, ${got(path, tag)}` }];
    }
  }
  // Otherwise the variant whose top-level type fits and has the fewest errors.
  let best: SchemaProblem[] | null = null;
  for (const v of variants) {
    const list = problems(v, value, path);
    const topLevel = list.some((p) => p.path.length === path.length);
    if (!topLevel && (best === null || list.length < best.length)) best = list;
  }
  if (best) return best;
  return [{ path, message: `expected ${describe(schema)}, ${got(path, value)}` }];
}

/** All problems of a value against a schema, with key paths rooted at `base`. */
export function problems(schema: TSchema, value: unknown, base: KeyPath = []): SchemaProblem[] {
  const out: SchemaProblem[] = [];
  const missing = new Set<string>();
  for (const e of Value.Errors(schema, value)) {
    const path = [...base, ...pointerToPath(e.path, value)];
    const key = JSON.stringify(path);
    if (missing.has(key)) continue;
    if (e.type === ValueErrorType.ObjectRequiredProperty) {
      // TypeBox also reports the missing value's type; one message is enough.
      missing.add(key);
      out.push({ path: path.slice(0, -1), message: `missing required key "${String(path[path.length - 1])}"` });
      continue;
    }
    if (e.type === ValueErrorType.Union) {
      out.push(...unionProblems(e.schema, e.value, path));
      continue;
    }
    const message = messageFor(e, path);
    if (message) out.push({ path, message });
  }
  return out;
}

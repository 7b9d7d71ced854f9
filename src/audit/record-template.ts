// Audit records from pre-serialised fragments, for the hot path of every target: what is fixed
// for a session (identity, session, target, policy) and for a statement or request shape (type,
// decision, most of the action) is turned into canonical JSON and checked against the record
// schema once; per record only seq, time, prev and the varying facts are serialised, and the
// pieces are joined in sorted-key order, so the text is byte for byte what canonicalJson of the
// whole record gives (record-template.test.ts proves it against prepareRecord).
import { GatewayError } from "../core/errors.ts";
import { canonicalJson } from "./canonical-json.ts";
import { unhashedSchemaProblem, ZERO_HASH, type AuditEventInput } from "./record.ts";

/** A JSON value already in canonical form, made only by this module (so it is never unchecked text). */
export class CanonicalValue {
  readonly json: string;
  /** @internal use objectTemplate / canonicalValue */
  constructor(json: string, token: typeof TOKEN) {
    if (token !== TOKEN) throw new GatewayError("E_INTERNAL", "CanonicalValue is made by record-template.ts only");
    this.json = json;
  }
}
const TOKEN: unique symbol = Symbol("canonical");

/** Canonical JSON of any value, once, to pass where a template takes a varying member. */
export function canonicalValue(value: unknown): CanonicalValue {
  return new CanonicalValue(canonicalJson(value), TOKEN);
}

/** An array of values already canonical, as canonicalJson writes an array of them (no copy of the items). */
export function canonicalArray(items: readonly CanonicalValue[]): CanonicalValue {
  let out = "[";
  for (let i = 0; i < items.length; i++) out += (i === 0 ? "" : ",") + items[i]!.json;
  return new CanonicalValue(out + "]", TOKEN);
}

/** A member's canonical JSON, or undefined where canonicalJson drops the member. */
function memberJson(value: unknown): string | undefined {
  // Scalars (a status, a byte count, an outcome) as JSON.stringify writes them, without the copy.
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? String(value) : "null";
    case "boolean":
      return value ? "true" : "false";
  }
  if (value instanceof CanonicalValue) return value.json;
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return undefined;
  return canonicalJson(value);
}

// Object keys in canonical order: by UTF-16 code units, as canonical-json.ts sorts them.
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A run of fixed members ("a":1,"b":2) or one varying member's slot ("key": prefix). */
type Piece = { readonly fixed: string } | { readonly slot: number; readonly prefix: string };

/**
 * An object whose members are partly fixed (serialised here, once) and partly varying (named by
 * `varying`, serialised per fill). fill() gives the canonical JSON of the whole object.
 * Varying members that are undefined are left out, as canonicalJson leaves them out.
 */
export class ObjectTemplate<K extends string = string> {
  readonly #pieces: readonly Piece[];
  readonly #varying: readonly K[];
  /** The fixed members as given, for a caller that needs the plain event back (fallback paths). */
  readonly fixed: Readonly<Record<string, unknown>>;

  constructor(fixed: Readonly<Record<string, unknown>>, varying: readonly K[]) {
    const members = new Map<string, string | number>();
    for (const key of Object.keys(fixed)) {
      const json = memberJson(fixed[key]);
      if (json !== undefined) members.set(key, json);
    }
    varying.forEach((key, i) => {
      if (members.has(key) || [...varying].indexOf(key) !== i) {
        throw new GatewayError("E_INTERNAL", `record template: "${key}" is both fixed and varying, or varying twice`);
      }
      members.set(key, i);
    });
    const pieces: Piece[] = [];
    let run = "";
    for (const key of [...members.keys()].sort(byCodeUnits)) {
      const m = members.get(key)!;
      const prefix = JSON.stringify(key) + ":";
      if (typeof m === "string") {
        run += (run === "" ? "" : ",") + prefix + m;
        continue;
      }
      if (run !== "") pieces.push({ fixed: run });
      run = "";
      pieces.push({ slot: m, prefix });
    }
    if (run !== "") pieces.push({ fixed: run });
    this.#pieces = pieces;
    this.#varying = varying;
    this.fixed = fixed;
  }

  /** Canonical JSON of the object with these varying members (positional, in `varying` order). */
  json(values: readonly unknown[]): string {
    return this.joined(values.map(memberJson));
  }

  /** @internal The same from the varying members' JSON texts (undefined: left out). */
  joined(texts: readonly (string | undefined)[]): string {
    let out = "{";
    let first = true;
    for (const p of this.#pieces) {
      let text: string;
      if ("fixed" in p) text = p.fixed;
      else {
        const v = texts[p.slot];
        if (v === undefined) continue;
        text = p.prefix + v;
      }
      out += first ? text : "," + text;
      first = false;
    }
    return out + "}";
  }

  /** The same as a CanonicalValue, to nest in a record template (an action built per shape). */
  fill(values: Readonly<Partial<Record<K, unknown>>>): CanonicalValue {
    return new CanonicalValue(this.json(this.#varying.map((k) => values[k])), TOKEN);
  }
}

/**
 * The record's members a template may leave to each record: action and details are free objects,
 * so the schema has nothing more to say of them; session is a string (an HTTP request is its own
 * session, so one identity's templates serve many session ids).
 */
export type VaryingMember = "action" | "details" | "session";

/** The event fields a fragment may fix (everything but the chain fields the log assigns). */
export type FragmentFields = Partial<AuditEventInput>;

/** Fixed members of a record, checked once (unknown fields rejected; the schema is checked when a template is built). */
export class RecordFragment {
  readonly fields: FragmentFields;
  constructor(fields: FragmentFields) {
    for (const key of Object.keys(fields)) {
      if (!FRAGMENT_KEYS.has(key)) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: unknown or reserved field "${key}" in a fragment`);
    }
    this.fields = fields;
  }
}
const FRAGMENT_KEYS: ReadonlySet<string> = new Set(["type", "session", "identity", "target", "action", "decision", "policy", "details"]);

/** Per-record values of a template: the varying members (plain values, or CanonicalValues from an ObjectTemplate). */
export interface RecordValues {
  readonly action?: unknown;
  readonly details?: unknown;
  /** Used only by a template that varies it (ignored by one that fixes the session). */
  readonly session?: string;
}

/**
 * A whole record's layout: fragments merged (say one per session, one per policy hash, one per
 * shape), with seq, time, prev and the members in `varying` filled per record. Built once, it is
 * checked against the record schema with placeholders in the varying slots; per record only the
 * varying members are checked (each must be a JSON object, as the schema wants).
 */
export class RecordTemplate {
  readonly #object: ObjectTemplate<string>;
  readonly #fixed: FragmentFields;
  readonly #varying: readonly VaryingMember[];

  constructor(fragments: readonly (RecordFragment | FragmentFields)[], varying: readonly VaryingMember[] = ["action", "details"]) {
    const fixed: Record<string, unknown> = {};
    for (const f of fragments) {
      const fields = f instanceof RecordFragment ? f.fields : new RecordFragment(f).fields;
      for (const key of Object.keys(fields)) {
        const value = (fields as Record<string, unknown>)[key];
        if (value === undefined) continue;
        if (key in fixed) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: "${key}" is in two fragments`);
        fixed[key] = value;
      }
    }
    for (const key of varying) {
      if (key !== "action" && key !== "details" && key !== "session") throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: "${key}" cannot vary per record`);
      if (key in fixed) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: "${key}" is both fixed and varying`);
    }
    // Slots 0–2 are the chain fields; the members after them in `varying` order.
    this.#object = new ObjectTemplate(fixed, ["seq", "time", "prev", ...varying]);
    this.#fixed = fixed as FragmentFields;
    this.#varying = varying;
    // The schema check, once: the fixed members as they will read back, placeholders elsewhere.
    const sample: Record<string, unknown> = JSON.parse(this.#object.json([1, "2000-01-01T00:00:00.000Z", ZERO_HASH, ...varying.map((k) => (k === "session" ? "s" : {}))]));
    const problem = unhashedSchemaProblem(sample);
    if (problem !== null) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: ${problem}`);
  }

  /**
   * The canonical JSON of the record without hash: the text that is hashed. `time` is the log's
   * ISO time and `prev` a hex hash, neither of which needs escaping. Throws E_AUDIT_WRITE when a
   * varying member is not a JSON object.
   */
  canonical(seq: number, time: string, prev: string, values: RecordValues): string {
    const v = this.#varying;
    const texts: (string | undefined)[] = [String(seq), '"' + time + '"', '"' + prev + '"'];
    for (let i = 0; i < v.length; i++) texts.push(memberText(v[i]!, values));
    return this.#object.joined(texts);
  }

  /** The plain event this template and these values stand for (for a log without appendSync, and tests). */
  event(values: RecordValues): AuditEventInput {
    const out: Record<string, unknown> = { ...this.#fixed };
    for (const key of this.#varying) {
      const raw = values[key];
      if (raw === undefined) continue;
      out[key] = raw instanceof CanonicalValue ? JSON.parse(raw.json) : raw;
    }
    return out as AuditEventInput;
  }
}

/** A varying member's canonical JSON; it must be an object (the schema's FreeObject), or for session a string. */
function memberText(key: VaryingMember, values: RecordValues): string | undefined {
  const raw = values[key];
  if (raw === undefined) return undefined;
  if (key === "session") {
    if (typeof raw !== "string") throw new GatewayError("E_AUDIT_WRITE", "audit record rejected: /session: Expected string");
    return canonicalJson(raw);
  }
  let json: string | undefined;
  try {
    json = memberJson(raw);
  } catch (e) {
    throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: /${key}: ${(e as Error).message}`, { cause: e });
  }
  if (json === undefined) return undefined;
  if (json.charCodeAt(0) !== 0x7b /* { */) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: /${key}: Expected object`);
  return json;
}

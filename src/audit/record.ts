// The audit record: one JSON line per event, chained to the one before by SHA-256 so that a
// changed, removed or reordered line shows. The schema here is the one definition of its shape.
import { Type, type Static } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { GatewayError } from "../core/errors.ts";
import type { Identity } from "../core/types.ts";

/** The record types the gateway writes. `type` stays an open string so new kinds need no migration. */
export const AUDIT_RECORD_TYPES = [
  "decision",
  "session.start",
  "session.end",
  "request",
  "auth.rejected",
  "policy.loaded",
  "policy.rejected",
  "approval.requested",
  "approval.granted",
  "approval.denied",
  "approval.expired",
  "log.repaired",
  "gateway.start",
  "gateway.stop",
] as const;

export type KnownAuditRecordType = (typeof AUDIT_RECORD_TYPES)[number];

/** `prev` of the very first record. */
export const ZERO_HASH = "0".repeat(64);

const Hex64 = Type.String({ pattern: "^[0-9a-f]{64}$" });
// `object` rather than an index signature so that the interfaces of core/types.ts (RequestFacts …)
// can be passed as they are; TS does not give interfaces an implicit index signature.
const FreeObject = Type.Unsafe<object>(Type.Object({}, { additionalProperties: true }));
const strict = { additionalProperties: false } as const;

export const AuditIdentity = Type.Object(
  { method: Type.String(), subject: Type.String(), issuer: Type.String(), groups: Type.Array(Type.String()) },
  strict,
);

export const AuditDecision = Type.Object(
  {
    effect: Type.Union([Type.Literal("allow"), Type.Literal("deny"), Type.Literal("review")]),
    rule: Type.Union([Type.String(), Type.Null()]),
    message: Type.Optional(Type.String()),
  },
  strict,
);

const eventFields = {
  type: Type.String({ minLength: 1 }),
  session: Type.Optional(Type.String()),
  identity: Type.Optional(AuditIdentity),
  target: Type.Optional(Type.String()),
  /** Free-form protocol facts (core RequestFacts for decisions). */
  action: Type.Optional(FreeObject),
  decision: Type.Optional(AuditDecision),
  /** Hash of the policy that decided. */
  policy: Type.Optional(Type.String()),
  details: Type.Optional(FreeObject),
};

const chainFields = {
  /** 1-based, continues across rotated files. */
  seq: Type.Integer({ minimum: 1 }),
  /** ISO 8601, UTC, with milliseconds. */
  time: Type.String({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$" }),
  prev: Hex64,
};

export const AuditRecord = Type.Object({ ...chainFields, ...eventFields, hash: Hex64 }, strict);
export type AuditRecord = Static<typeof AuditRecord>;

const UnhashedRecord = Type.Object({ ...chainFields, ...eventFields }, strict);
export type UnhashedRecord = Static<typeof UnhashedRecord>;

export const AuditEventInput = Type.Object(eventFields, strict);
/** What callers hand to the log; it assigns seq, time, prev and hash. */
export type AuditEventInput = Static<typeof AuditEventInput>;

const recordChecker = TypeCompiler.Compile(AuditRecord);
const unhashedChecker = TypeCompiler.Compile(UnhashedRecord);

/** The first schema problem of a parsed line, or null when it is a well-formed record. */
export function recordSchemaProblem(value: unknown): string | null {
  if (recordChecker.Check(value)) return null;
  const first = recordChecker.Errors(value).First();
  return first ? `${first.path || "/"}: ${first.message}` : "not an audit record";
}

export function isAuditRecord(value: unknown): value is AuditRecord {
  return recordChecker.Check(value);
}

/** Same check for a record before its hash is added; the writer uses it so it never writes what verify would reject. */
export function unhashedSchemaProblem(value: unknown): string | null {
  if (unhashedChecker.Check(value)) return null;
  const first = unhashedChecker.Errors(value).First();
  return first ? `${first.path || "/"}: ${first.message}` : "not an audit record";
}

/** The four identity fields an audit record keeps (never claims or tokens). */
export function auditIdentity(identity: Identity): Static<typeof AuditIdentity> {
  return { method: identity.method, subject: identity.subject, issuer: identity.issuer, groups: [...identity.groups] };
}

const MAX_DEPTH = 64;

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort does) at every
 * level, no whitespace, undefined members dropped. It follows JSON.stringify for everything
 * else (toJSON, NaN → null, undefined in arrays → null) so that a record hashed in memory
 * hashes the same after a write and JSON.parse.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, 0);
  if (text === undefined) throw new GatewayError("E_INTERNAL", `cannot encode as JSON: a value of type ${typeof value}`);
  return text;
}

function write(value: unknown, depth: number): string | undefined {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      return Number.isFinite(value) ? JSON.stringify(value) : "null";
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
  const keys = Object.keys(rec).sort();
  let out = "{";
  let first = true;
  for (const key of keys) {
    const member = write(rec[key], depth + 1);
    if (member === undefined) continue;
    if (!first) out += ",";
    first = false;
    out += JSON.stringify(key) + ":" + member;
  }
  return out + "}";
}

/** Hex SHA-256 of the canonical form of a record without its `hash`. */
export function hashRecord(record: UnhashedRecord | Omit<AuditRecord, "hash">): string {
  return sha256Hex(canonicalJson(record));
}

export function sha256Hex(text: string): string {
  return Bun.SHA256.hash(text, "hex") as unknown as string;
}

/** The hash of a parsed record, ignoring the `hash` it carries. */
export function computeHash(record: AuditRecord): string {
  const { hash: _ignored, ...rest } = record;
  return hashRecord(rest);
}

/**
 * The line written for a record: its canonical form with `hash` appended last, so the bytes
 * before it are exactly what was hashed. Returns the line (with "\n") and the hash.
 */
export function encodeRecord(canonicalUnhashed: string, hash: string): string {
  return canonicalUnhashed.slice(0, -1) + ',"hash":"' + hash + '"}\n';
}

// The audit record: one JSON line per event, chained to the one before by SHA-256 so that a
// changed, removed or reordered line shows. The schema here is the one definition of its shape.
import { Type, type Static } from "@sinclair/typebox";
import { GatewayError } from "../core/errors.ts";
import type { Identity } from "../core/types.ts";
import { canonicalCopy, canonicalJson, NOT_COPYABLE } from "./canonical-json.ts";
import { schemaChecker } from "./schema-checker.ts";

export { canonicalJson } from "./canonical-json.ts";

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
  "audit.checkpoint",
  "gateway.start",
  "gateway.stop",
  "secret.rotated",
  "secret.unreadable",
  "tls.rotated",
  "key.rotated",
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
  {
    method: Type.String(),
    subject: Type.String(),
    issuer: Type.String(),
    groups: Type.Array(Type.String()),
    /** The issuer's display_name for this caller (github:acme/deploy@refs/heads/main). */
    name: Type.Optional(Type.String()),
    /** The issuer's record_claims, by claim path: scalars or lists of them, never the token. */
    claims: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]))]))),
  },
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
/**
 * What callers hand to the log; it assigns seq, time, prev and hash. A read-only view of the
 * schema's type, so that callers can pass readonly data (Identity.groups) as it is.
 */
export type AuditEventInput = ReadonlyDeep<Static<typeof AuditEventInput>>;

type ReadonlyDeep<T> = T extends readonly (infer U)[]
  ? readonly ReadonlyDeep<U>[]
  : T extends object
    ? object extends T
      ? T
      : { readonly [K in keyof T]: ReadonlyDeep<T[K]> }
    : T;

// Compiled once used enough, not at import: a start writes and reads few records (schema-checker.ts).
const recordChecker = schemaChecker(AuditRecord);
const unhashedChecker = schemaChecker(UnhashedRecord);

/** The first schema problem of a parsed line, or null when it is a well-formed record. */
export function recordSchemaProblem(value: unknown): string | null {
  return recordChecker.check(value) ? null : recordChecker.explain(value, "not an audit record");
}

export function isAuditRecord(value: unknown): value is AuditRecord {
  return recordChecker.check(value);
}

/** Same check for a record before its hash is added; the writer uses it so it never writes what verify would reject. */
export function unhashedSchemaProblem(value: unknown): string | null {
  return unhashedChecker.check(value) ? null : unhashedChecker.explain(value, "not an audit record");
}

/** The identity fields an audit record keeps: never the token, and of its claims only record_claims. */
export function auditIdentity(identity: Identity): Static<typeof AuditIdentity> {
  // A copy of the groups: the record must not change when the caller's array does.
  return {
    method: identity.method,
    subject: identity.subject,
    issuer: identity.issuer,
    groups: [...identity.groups],
    ...(identity.name !== undefined ? { name: identity.name } : {}),
    ...(identity.recordClaims !== undefined ? { claims: Object.fromEntries(Object.entries(identity.recordClaims).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v])) as Record<string, string | number | boolean | (string | number | boolean)[]> } : {}),
  };
}

/** A record's top-level keys in canonical (sorted) order. */
const RECORD_KEYS = ["action", "decision", "details", "identity", "policy", "prev", "seq", "session", "target", "time", "type"] as const;
const EVENT_KEYS: ReadonlySet<string> = new Set(Object.keys(eventFields));

export interface PreparedRecord {
  /** The record without hash: keys in canonical order, nested values copied (so later changes by the caller do not show). */
  readonly record: UnhashedRecord;
  /** Its canonical JSON, the text that is hashed. */
  readonly canonical: string;
}

/**
 * Turns an event plus the chain fields into the record to hash, checked against the schema,
 * so the writer never writes a line that verify would reject. Throws E_AUDIT_WRITE.
 */
export function prepareRecord(event: AuditEventInput, seq: number, time: string, prev: string): PreparedRecord {
  const source = event as Record<string, unknown>;
  for (const key in source) {
    if (!EVENT_KEYS.has(key) && source[key] !== undefined) {
      throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: unknown field "${key}"`);
    }
  }
  const out: Record<string, unknown> = {};
  let copyable = true;
  for (const key of RECORD_KEYS) {
    const raw = key === "seq" ? seq : key === "time" ? time : key === "prev" ? prev : source[key];
    if (raw === undefined) continue;
    let value: unknown;
    try {
      value = canonicalCopy(raw);
    } catch (e) {
      throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: /${key}: ${(e as Error).message}`, { cause: e });
    }
    if (value === NOT_COPYABLE) {
      copyable = false;
      break;
    }
    if (value !== undefined) out[key] = value;
  }
  let record: unknown = out;
  let canonical: string;
  if (copyable) {
    canonical = JSON.stringify(out);
  } else {
    // Rare (integer-like or "__proto__" keys): the plain encoder, and the record as it will read back.
    canonical = canonicalJson({ ...source, seq, time, prev });
    record = JSON.parse(canonical);
  }
  const problem = unhashedSchemaProblem(record);
  if (problem !== null) throw new GatewayError("E_AUDIT_WRITE", `audit record rejected: ${problem}`);
  return { record: record as UnhashedRecord, canonical };
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

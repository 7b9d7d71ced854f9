// Signed checkpoints anchor the head of the hash chain, as a Certificate Transparency signed
// tree head does (RFC 6962 §3.5): the chain alone shows a changed or removed line in the middle,
// but not records cut off the end; a signed (seq, hash) copied off the host shows that too.
//
// A checkpoint is an ordinary record of the chain, type "audit.checkpoint", whose `details` are
// {seq, hash, time, key_id, signature}: `seq` and `hash` are those of the record just before it
// (so seq = own seq - 1 and hash = own prev, which verify checks), `time` is when it was signed.
// The same object is what the admin API serves (GET /audit/checkpoint) and `verify --checkpoint`
// reads. The bytes signed with Ed25519 (RFC 8032, pure, no pre-hash) are ASCII lines:
//
//   "gatehouse audit checkpoint v1\n"   domain separation: never valid as any other signed message
//   key_id "\n"                        16 lowercase hex digits, see signing-key.ts
//   seq "\n"                           decimal, no sign, no leading zeros
//   hash "\n"                          64 lowercase hex digits (SHA-256 of record `seq`)
//   time "\n"                          YYYY-MM-DDTHH:MM:SS.mmmZ
//
// `signature` is the 64-byte signature in base64url without padding.
import { sign, verify } from "node:crypto";
import type { PublicKey, SigningKey } from "./signing-key.ts";

export const CHECKPOINT_TYPE = "audit.checkpoint";
const DOMAIN = "gatehouse audit checkpoint v1\n";

export interface Checkpoint {
  readonly seq: number;
  readonly hash: string;
  readonly time: string;
  readonly key_id: string;
  readonly signature: string;
}

/** The head a checkpoint signs: the seq and hash of one record. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const KEY_ID = /^[0-9a-f]{16}$/;
const TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** The exact bytes that are signed (see the file header). */
export function checkpointMessage(keyId: string, seq: number, hash: string, time: string): Buffer {
  return Buffer.from(`${DOMAIN}${keyId}\n${seq}\n${hash}\n${time}\n`, "ascii");
}

export function signCheckpoint(key: SigningKey, head: ChainHead, time: string): Checkpoint {
  const keyId = key.publicKey.id;
  const signature = sign(null, checkpointMessage(keyId, head.seq, head.hash, time), key.privateKey).toString("base64url");
  return { seq: head.seq, hash: head.hash, time, key_id: keyId, signature };
}

/** A checkpoint read from a record or a file, or the reason it is not one. Extra fields are ignored. */
export function parseCheckpoint(value: unknown): { ok: true; checkpoint: Checkpoint } | { ok: false; problem: string } {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { ok: false, problem: "not a JSON object" };
  const v = value as Record<string, unknown>;
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 0) return { ok: false, problem: "seq: expected a non-negative integer" };
  if (typeof v.hash !== "string" || !HEX64.test(v.hash)) return { ok: false, problem: "hash: expected 64 hex digits" };
  if (typeof v.time !== "string" || !TIME.test(v.time)) return { ok: false, problem: "time: expected an ISO time with milliseconds, in UTC" };
  if (typeof v.key_id !== "string" || !KEY_ID.test(v.key_id)) return { ok: false, problem: "key_id: expected 16 hex digits" };
  if (typeof v.signature !== "string" || !SIGNATURE.test(v.signature)) return { ok: false, problem: "signature: expected 64 bytes in base64url" };
  return { ok: true, checkpoint: { seq: v.seq, hash: v.hash, time: v.time, key_id: v.key_id, signature: v.signature } };
}

/**
 * Checks a checkpoint against the trusted keys: null when a key with its id signed exactly
 * these fields, else what is wrong. A checkpoint by a key that is not trusted fails: anyone
 * can sign with a key of their own.
 */
export function checkpointProblem(cp: Checkpoint, keys: readonly PublicKey[]): string | null {
  const key = keys.find((k) => k.id === cp.key_id);
  if (key === undefined) {
    return `signed by key ${cp.key_id}, not by the trusted key${keys.length === 1 ? "" : "s"} ${keys.map((k) => k.id).join(", ")}`;
  }
  const ok = verify(null, checkpointMessage(cp.key_id, cp.seq, cp.hash, cp.time), key.key, Buffer.from(cp.signature, "base64url"));
  return ok ? null : `bad signature by key ${cp.key_id}: the checkpoint or the head it signs was altered`;
}

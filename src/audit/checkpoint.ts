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
import { Type, type Static } from "@sinclair/typebox";
import { schemaChecker } from "./schema-checker.ts";
import type { PublicKey, SigningKey } from "./signing-key.ts";

export const CHECKPOINT_TYPE = "audit.checkpoint";
const DOMAIN = "gatehouse audit checkpoint v1\n";

/** What a checkpoint record's `details` hold, and what the admin API serves. */
export const Checkpoint = Type.Object(
  {
    seq: Type.Integer({ minimum: 0, description: "seq of the record signed (the one before the checkpoint record)" }),
    hash: Type.String({ pattern: "^[0-9a-f]{64}$", description: "its hash" }),
    time: Type.String({ pattern: "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", description: "when it was signed, UTC" }),
    key_id: Type.String({ pattern: "^[0-9a-f]{16}$", description: "the signing key's id (signing-key.ts)" }),
    signature: Type.String({ pattern: "^[A-Za-z0-9_-]{86}$", description: "Ed25519, 64 bytes in base64url" }),
  },
  // Extra fields are ignored, not refused: a saved copy may carry notes of the tool that saved it.
  { additionalProperties: true },
);
export type Checkpoint = Static<typeof Checkpoint>;
const checker = schemaChecker(Checkpoint);

/** The head a checkpoint signs: the seq and hash of one record. */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** The exact bytes that are signed (see the file header). */
export function checkpointMessage(keyId: string, seq: number, hash: string, time: string): Buffer {
  return Buffer.from(`${DOMAIN}${keyId}\n${seq}\n${hash}\n${time}\n`, "ascii");
}

export function signCheckpoint(key: SigningKey, head: ChainHead, time: string): Checkpoint {
  const keyId = key.publicKey.id;
  const signature = sign(null, checkpointMessage(keyId, head.seq, head.hash, time), key.privateKey).toString("base64url");
  return { seq: head.seq, hash: head.hash, time, key_id: keyId, signature };
}

/** A checkpoint read from a record or a file (only its five fields), or the reason it is not one. */
export function parseCheckpoint(value: unknown): { ok: true; checkpoint: Checkpoint } | { ok: false; problem: string } {
  if (!checker.check(value)) return { ok: false, problem: checker.explain(value, "not a checkpoint") };
  const { seq, hash, time, key_id, signature } = value;
  return { ok: true, checkpoint: { seq, hash, time, key_id, signature } };
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

// The Ed25519 key that signs the audit log's checkpoints: kept in the state folder (created on
// first start, mode 0600) or in a configured PKCS#8 PEM file, and its public half in the one
// text form that `gatehouse audit-key` prints and `gatehouse verify --key` reads.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { errorMessage, GatewayError } from "../core/errors.ts";

/** The public key's text form: this prefix, then the 32 raw key bytes in base64url. */
export const PUBLIC_KEY_PREFIX = "ed25519:";

/** DER header of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow it. */
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface PublicKey {
  /** First 16 hex digits of SHA-256 over the 32 raw key bytes: names the key, proves nothing by itself. */
  readonly id: string;
  /** `ed25519:` + base64url of the raw key. */
  readonly text: string;
  readonly key: KeyObject;
}

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: PublicKey;
  /** Where it was read from. */
  readonly path: string;
}

/** Where the key lives when audit.checkpoints.key_file does not say: `<state_dir>/audit-key/ed25519.pem`. */
export function defaultSigningKeyPath(stateDir: string): string {
  return join(stateDir, "audit-key", "ed25519.pem");
}

function keyError(message: string, cause?: unknown): GatewayError {
  return new GatewayError("E_STATE", message, cause === undefined ? {} : { cause });
}

function publicKeyOf(key: KeyObject): PublicKey {
  const der = key.export({ format: "der", type: "spki" });
  const raw = der.subarray(SPKI_PREFIX.length);
  return Object.freeze({
    id: createHash("sha256").update(raw).digest("hex").slice(0, 16),
    text: PUBLIC_KEY_PREFIX + raw.toString("base64url"),
    key,
  });
}

function fromPem(text: string, path: string): SigningKey {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(text);
  } catch (e) {
    throw keyError(`audit signing key ${path} is not a PEM private key: ${errorMessage(e)}`, e);
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw keyError(`audit signing key ${path} is a ${privateKey.asymmetricKeyType ?? "unknown"} key, not Ed25519`);
  }
  return Object.freeze({ privateKey, publicKey: publicKeyOf(createPublicKey(privateKey)), path });
}

/** The key file's text, or undefined when it does not exist. A key others can read is refused, as ssh does. */
async function readKeyText(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    if ((info.mode & 0o077) !== 0) {
      throw keyError(`audit signing key ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): run chmod 600 on it`);
    }
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (e instanceof GatewayError) throw e;
    throw keyError(`audit signing key ${path} cannot be read: ${errorMessage(e)}`, e);
  }
}

/** Reads an existing key file (a configured one, or the state folder's for `audit-key`). */
export async function readSigningKey(path: string): Promise<SigningKey> {
  const text = await readKeyText(path);
  if (text === undefined) {
    throw keyError(`audit signing key ${path} does not exist: make one with \`openssl genpkey -algorithm ed25519 -out ${path}\` and chmod 600 it, or let the gateway create its own by leaving audit.checkpoints.key_file unset`);
  }
  return fromPem(text, path);
}

/**
 * Loads the key at `path`, creating it if absent: written whole to a temporary file, then linked
 * into place (link fails if the name exists), so two gateways starting at once agree on one key.
 */
export async function loadOrCreateSigningKey(path: string): Promise<SigningKey> {
  const dir = dirname(path);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700); // mkdir's mode does not apply to a folder that already existed
  } catch (e) {
    throw keyError(`audit signing key folder ${dir} cannot be created: ${errorMessage(e)}`, e);
  }
  const existing = await readKeyText(path);
  if (existing !== undefined) return fromPem(existing, path);
  const pem = generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, pem, { mode: 0o600, flag: "wx" });
    await link(tmp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw keyError(`audit signing key ${path} cannot be written: ${errorMessage(e)}`, e);
  } finally {
    await unlink(tmp).catch(() => {});
  }
  // Ours, or the one another process linked first.
  return readSigningKey(path);
}

/**
 * A public key as a person passes it: `ed25519:BASE64URL` (as `gatehouse audit-key` prints it),
 * or the PEM of a public key, or of the private key (the state folder's file) whose public half
 * is meant. Throws E_USAGE saying what it expected.
 */
export function parsePublicKey(text: string, from: string): PublicKey {
  const trimmed = text.trim();
  const first = trimmed.split(/\s+/)[0] ?? "";
  if (first.startsWith(PUBLIC_KEY_PREFIX)) {
    const raw = Buffer.from(first.slice(PUBLIC_KEY_PREFIX.length), "base64url");
    if (raw.length !== 32 || raw.toString("base64url") !== first.slice(PUBLIC_KEY_PREFIX.length)) {
      throw new GatewayError("E_USAGE", `${from}: "${first}" is not an Ed25519 public key (expected ${PUBLIC_KEY_PREFIX} and 43 base64url characters)`);
    }
    return publicKeyOf(createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" }));
  }
  if (trimmed.startsWith("-----BEGIN")) {
    let key: KeyObject;
    try {
      key = createPublicKey(trimmed);
    } catch (e) {
      throw new GatewayError("E_USAGE", `${from}: not a PEM key: ${errorMessage(e)}`, { cause: e });
    }
    if (key.asymmetricKeyType !== "ed25519") throw new GatewayError("E_USAGE", `${from}: a ${key.asymmetricKeyType ?? "unknown"} key, not Ed25519`);
    return publicKeyOf(key);
  }
  throw new GatewayError("E_USAGE", `${from}: not a public key (expected ${PUBLIC_KEY_PREFIX}… as \`gatehouse audit-key\` prints it, or a PEM key)`);
}

/** The gateway's key: the configured file, which must exist, or else the state folder's, created on first use. */
export function loadAuditSigningKey(stateDir: string, keyFile: string | undefined): Promise<SigningKey> {
  return keyFile !== undefined ? readSigningKey(keyFile) : loadOrCreateSigningKey(defaultSigningKeyPath(stateDir));
}

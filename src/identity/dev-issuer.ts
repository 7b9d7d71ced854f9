// A local token issuer for trying the gateway without an IdP: one ES256 key pair in the state
// folder, used by `gatehouse token` to mint and by the gateway (identity.dev_issuer) to verify.
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from "jose";
import { GatewayError, errorMessage } from "../core/errors.ts";
import type { Clock } from "../core/types.ts";

export const DEV_ISSUER = "gatehouse-dev";
export const DEV_AUDIENCE = "gatehouse";
export const DEV_ALGORITHM = "ES256";

export const DEV_ISSUER_WARNING =
  "WARNING: the Gatehouse dev issuer is for development only. Anyone who can read its key file can mint " +
  "tokens with any identity and groups. Never set identity.dev_issuer: true in production.";

export interface DevIssuer {
  readonly issuer: typeof DEV_ISSUER;
  readonly audience: typeof DEV_AUDIENCE;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  /** The public half, as the one key of the dev issuer's JWKS. */
  readonly publicJwk: JWK;
  readonly keyPath: string;
}

export function devIssuerKeyPath(stateDir: string): string {
  return join(stateDir, "dev-issuer", "key.jwk");
}

function stateError(message: string, cause?: unknown): GatewayError {
  return new GatewayError("E_STATE", message, { cause });
}

async function readKeyFile(path: string): Promise<string | undefined> {
  try {
    const info = await stat(path);
    // Like ssh with its keys: a signing key others can read is refused, not used.
    if ((info.mode & 0o077) !== 0) {
      throw stateError(
        `dev issuer key ${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}): run chmod 600 on it`,
      );
    }
    return await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (e instanceof GatewayError) throw e;
    throw stateError(`dev issuer key ${path} cannot be read: ${errorMessage(e)}`, e);
  }
}

/**
 * Creates the key file only if it is absent: written whole to a temporary file, then linked into
 * place (link fails if the name exists), so two processes starting at once agree on one key.
 */
async function createKeyFile(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: "wx" });
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw stateError(`dev issuer key ${path} cannot be written: ${errorMessage(e)}`, e);
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

async function fromJwkText(text: string, path: string): Promise<DevIssuer> {
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch (e) {
    throw stateError(`dev issuer key ${path} is not valid JSON; delete it to make a new one`, e);
  }
  if (jwk === null || typeof jwk !== "object" || jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string") {
    throw stateError(`dev issuer key ${path} is not an ES256 private key; delete it to make a new one`);
  }
  try {
    const privateKey = (await importJWK(jwk, DEV_ALGORITHM)) as CryptoKey;
    const { d: _d, ...publicPart } = jwk;
    const kid = await calculateJwkThumbprint(publicPart);
    const publicJwk: JWK = { kty: publicPart.kty, crv: publicPart.crv, x: publicPart.x, y: publicPart.y, kid, alg: DEV_ALGORITHM, use: "sig" };
    return Object.freeze({ issuer: DEV_ISSUER, audience: DEV_AUDIENCE, kid, privateKey, publicJwk, keyPath: path });
  } catch (e) {
    throw stateError(`dev issuer key ${path} is unusable: ${errorMessage(e)}; delete it to make a new one`, e);
  }
}

/**
 * What would stop loadOrCreateDevIssuer from using the key already in `stateDir` (readable by
 * others, not a key), or null; creates nothing, so `check` can ask without side effects.
 */
export async function devIssuerKeyProblem(stateDir: string): Promise<string | null> {
  const path = devIssuerKeyPath(stateDir);
  try {
    const text = await readKeyFile(path);
    if (text !== undefined) await fromJwkText(text, path);
    return null;
  } catch (e) {
    return errorMessage(e);
  }
}

/** Loads the dev issuer's key from `<stateDir>/dev-issuer/key.jwk`, creating it on first use. */
export async function loadOrCreateDevIssuer(stateDir: string): Promise<DevIssuer> {
  const dir = join(stateDir, "dev-issuer");
  const path = devIssuerKeyPath(stateDir);
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode does not apply to a folder that already existed.
    await chmod(dir, 0o700);
  } catch (e) {
    throw stateError(`dev issuer folder ${dir} cannot be created: ${errorMessage(e)}`, e);
  }
  const existing = await readKeyFile(path);
  if (existing !== undefined) return fromJwkText(existing, path);

  const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const created = await createKeyFile(path, JSON.stringify({ ...jwk, alg: DEV_ALGORITHM }) + "\n");
  // Lost the race to another process: use the key it wrote.
  const text = created ? JSON.stringify(jwk) : await readKeyFile(path);
  if (text === undefined) throw stateError(`dev issuer key ${path} vanished while being created`);
  return fromJwkText(text, path);
}

export interface DevTokenRequest {
  readonly sub: string;
  readonly groups: readonly string[];
  readonly ttlMs: number;
}

export async function mintDevToken(request: DevTokenRequest, issuer: DevIssuer, clock: Clock): Promise<string> {
  const { sub, groups, ttlMs } = request;
  if (typeof sub !== "string" || sub.length === 0) throw new GatewayError("E_USAGE", "dev token: subject must not be empty");
  if (!Array.isArray(groups) || !groups.every((g) => typeof g === "string" && g.length > 0)) {
    throw new GatewayError("E_USAGE", "dev token: groups must be non-empty strings");
  }
  if (!Number.isFinite(ttlMs) || ttlMs < 1000) throw new GatewayError("E_USAGE", "dev token: ttl must be at least 1s");
  const now = Math.floor(clock.now() / 1000);
  return new SignJWT({ groups: [...groups] })
    .setProtectedHeader({ alg: DEV_ALGORITHM, kid: issuer.kid, typ: "JWT" })
    .setIssuer(issuer.issuer)
    .setAudience(issuer.audience)
    .setSubject(sub)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + Math.floor(ttlMs / 1000))
    .setJti(randomBytes(12).toString("base64url"))
    .sign(issuer.privateKey);
}

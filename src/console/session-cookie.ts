// The console's login session as a signed cookie: who logged in (as the token said), until when
// (never past the token's expiry), and the CSRF token of that login. HMAC-SHA256 with a key kept
// in the state folder, so a restart keeps people logged in and deleting the key logs everyone out.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmod, link, mkdir, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { GatewayError, errorMessage } from "../core/errors.ts";
import type { Identity } from "../core/types.ts";

export const SESSION_COOKIE = "gatehouse_console";
/** The short-lived cookie that carries a login in progress (state, PKCE verifier, nonce, return path). */
export const LOGIN_COOKIE = "gatehouse_login";

export interface ConsoleSession {
  readonly identity: Pick<Identity, "method" | "subject" | "issuer" | "groups" | "name">;
  /** ms since epoch; the cookie is refused from then on. */
  readonly expiresAt: number;
  readonly csrf: string;
}

export interface CookieSigner {
  sign(value: unknown): string;
  /** The value signed by `sign`, or null for anything forged, altered or malformed. */
  verify(cookie: string | undefined): unknown;
}

export function createCookieSigner(key: Buffer): CookieSigner {
  const mac = (body: string) => createHmac("sha256", key).update(body).digest();
  return {
    sign(value) {
      const body = Buffer.from(JSON.stringify(value)).toString("base64url");
      return `${body}.${mac(body).toString("base64url")}`;
    },
    verify(cookie) {
      if (cookie === undefined || cookie.length > 8192) return null;
      const dot = cookie.indexOf(".");
      if (dot <= 0) return null;
      const body = cookie.slice(0, dot);
      const given = Buffer.from(cookie.slice(dot + 1), "base64url");
      const want = mac(body);
      if (given.length !== want.length || !timingSafeEqual(given, want)) return null;
      try {
        return JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as unknown;
      } catch {
        return null;
      }
    },
  };
}

/** A session as a cookie value. */
export function sessionCookie(signer: CookieSigner, s: ConsoleSession): string {
  const i = s.identity;
  return signer.sign({ v: 1, m: i.method, s: i.subject, i: i.issuer, g: i.groups, ...(i.name !== undefined ? { n: i.name } : {}), e: s.expiresAt, c: s.csrf });
}

/** The session a cookie holds, or null when it is forged, malformed or expired at `now`. */
export function readSession(signer: CookieSigner, cookie: string | undefined, now: number): ConsoleSession | null {
  const v = signer.verify(cookie) as Record<string, unknown> | null;
  if (v === null || typeof v !== "object" || v.v !== 1) return null;
  const { m, s, i, g, n, e, c } = v;
  if ((m !== "oidc" && m !== "dev") || typeof s !== "string" || typeof i !== "string" || !Array.isArray(g) || !g.every((x) => typeof x === "string")) return null;
  if (typeof e !== "number" || e <= now || typeof c !== "string" || c.length < 16) return null;
  return { identity: { method: m, subject: s, issuer: i, groups: g as string[], ...(typeof n === "string" ? { name: n } : {}) }, expiresAt: e, csrf: c };
}

export function newCsrfToken(): string {
  return randomBytes(24).toString("base64url");
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `<stateDir>/console/cookie-key`: 32 random bytes, made on first start, mode 0600. */
export async function loadOrCreateCookieKey(stateDir: string): Promise<Buffer> {
  const dir = join(stateDir, "console");
  const path = join(dir, "cookie-key");
  // A key file shorter than a key (emptied or cut) must never be used: with a key anyone can
  // guess (the empty one), anyone could sign a session cookie. Refused, with what to do.
  const usable = (key: Buffer): Buffer => {
    if (key.length >= 32) return key;
    throw new GatewayError("E_STATE", `console cookie key ${path} holds ${key.length} bytes, fewer than a key's 32: delete the file and a new key is made at the next start (every console login then ends)`);
  };
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    try {
      return usable(await readFile(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    }
    // Written whole under another name, then linked into place: the key file never exists
    // partly written (a crash in between leaves only the temporary file).
    const key = randomBytes(32);
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
    await writeFile(tmp, key, { mode: 0o600, flag: "wx" });
    try {
      await link(tmp, path);
      return key;
    } catch (e) {
      // Another process made it first: use theirs.
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return usable(await readFile(path));
      throw e;
    } finally {
      await unlink(tmp).catch(() => {});
    }
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    throw new GatewayError("E_STATE", `console cookie key ${path} cannot be read or made: ${errorMessage(e)}`, { cause: e });
  }
}

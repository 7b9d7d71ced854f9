// The gateway's side of authenticating to an upstream PostgreSQL: SCRAM-SHA-256 as a client
// (RFC 5802, RFC 7677, without channel binding) and the legacy MD5 password hash.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { GatewayError } from "../../../core/errors.ts";
import { protocolError } from "./protocol-error.ts";
import { saslprep } from "./saslprep.ts";

export const SCRAM_SHA_256 = "SCRAM-SHA-256";

/** Iteration counts above this would block the event loop for many seconds per login. */
export const MAX_SCRAM_ITERATIONS = 10_000_000;

/** "n,,": no channel binding, no authzid. */
const GS2_HEADER = "n,,";

export interface ScramClientOptions {
  readonly password: string;
  /** PostgreSQL ignores it (the startup packet names the user) and libpq sends ""; RFC tests use "user". */
  readonly username?: string;
  /** Fixed client nonce, for tests only; by default 18 random bytes in base64. */
  readonly nonce?: string;
}

export interface ScramClient {
  /** The SASLInitialResponse data. */
  clientFirstMessage(): string;
  /** Takes the SASLContinue data (server-first-message), returns the SASLResponse data. */
  clientFinalMessage(serverFirst: string): string;
  /** Takes the SASLFinal data; throws unless the server proved it knows the password. */
  verifyServerFinal(serverFinal: string): void;
  /**
   * True only after verifyServerFinal succeeded. An AuthenticationOk that arrives before that
   * must be refused: a server that skips SASLFinal has proved nothing.
   */
  readonly verified: boolean;
}

function hmac(key: Uint8Array, data: string): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** RFC 5802 saslname: "=" and "," are escaped. */
function saslName(name: string): string {
  return name.replace(/=/g, "=3D").replace(/,/g, "=2C");
}

function attributes(message: string, what: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(",")) {
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (!m) throw protocolError("bad-value", `SCRAM ${what}: malformed attribute "${part.slice(0, 40)}"`);
    if (!attrs.has(m[1]!)) attrs.set(m[1]!, m[2]!);
  }
  return attrs;
}

export function createScramClient(options: ScramClientOptions): ScramClient {
  const clientNonce = options.nonce ?? randomBytes(18).toString("base64");
  if (!/^[\x21-\x2b\x2d-\x7e]+$/.test(clientNonce)) throw protocolError("bad-value", "SCRAM: client nonce must be printable without ','");
  const clientFirstBare = `n=${saslName(options.username ?? "")},r=${clientNonce}`;
  let state: "start" | "first-sent" | "final-sent" | "verified" = "start";
  let expectedServerSignature: Buffer | null = null;

  return {
    clientFirstMessage() {
      if (state !== "start") throw new GatewayError("E_INTERNAL", "SCRAM: client-first-message already sent");
      state = "first-sent";
      return GS2_HEADER + clientFirstBare;
    },

    clientFinalMessage(serverFirst) {
      if (state !== "first-sent") throw new GatewayError("E_INTERNAL", "SCRAM: server-first-message out of order");
      const attrs = attributes(serverFirst, "server-first-message");
      if (serverFirst.startsWith("m=")) throw protocolError("unsupported", "SCRAM: server requires an unsupported extension (m=)");
      const nonce = attrs.get("r");
      const saltText = attrs.get("s");
      const iterText = attrs.get("i");
      if (nonce === undefined || saltText === undefined || iterText === undefined) {
        throw protocolError("bad-value", "SCRAM server-first-message: r, s and i are required");
      }
      if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
        throw new GatewayError("E_UPSTREAM", "SCRAM: the server's nonce does not extend ours (possible replay or impersonation)");
      }
      if (!/^[1-9][0-9]{0,9}$/.test(iterText) || Number(iterText) > MAX_SCRAM_ITERATIONS) {
        throw protocolError("bad-value", `SCRAM server-first-message: iteration count "${iterText.slice(0, 20)}" is not 1..${MAX_SCRAM_ITERATIONS}`);
      }
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(saltText)) throw protocolError("bad-value", "SCRAM server-first-message: salt is not base64");
      const salt = Buffer.from(saltText, "base64");

      const saltedPassword = pbkdf2Sync(saslprep(options.password), salt, Number(iterText), 32, "sha256");
      const clientKey = hmac(saltedPassword, "Client Key");
      const storedKey = createHash("sha256").update(clientKey).digest();
      const withoutProof = `c=${Buffer.from(GS2_HEADER).toString("base64")},r=${nonce}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      const clientSignature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(32);
      for (let i = 0; i < 32; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
      expectedServerSignature = hmac(hmac(saltedPassword, "Server Key"), authMessage);
      state = "final-sent";
      return `${withoutProof},p=${proof.toString("base64")}`;
    },

    verifyServerFinal(serverFinal) {
      if (state !== "final-sent" || expectedServerSignature === null) {
        throw new GatewayError("E_INTERNAL", "SCRAM: server-final-message out of order");
      }
      const attrs = attributes(serverFinal, "server-final-message");
      const error = attrs.get("e");
      if (error !== undefined) throw new GatewayError("E_UPSTREAM", `SCRAM: upstream server refused authentication: ${error}`);
      const v = attrs.get("v");
      if (v === undefined) throw protocolError("bad-value", "SCRAM server-final-message: no verifier (v=)");
      const signature = Buffer.from(v, "base64");
      if (signature.length !== 32 || !timingSafeEqual(signature, expectedServerSignature)) {
        throw new GatewayError("E_UPSTREAM", "SCRAM: the upstream server's signature does not verify (it does not know the password)");
      }
      state = "verified";
    },

    get verified() {
      return state === "verified";
    },
  };
}

/** The PasswordMessage answer to AuthenticationMD5Password: "md5" + md5(md5(password + user) + salt). */
export function md5Password(user: string, password: string, salt: Uint8Array): string {
  if (salt.length !== 4) throw protocolError("bad-value", `MD5 salt must be 4 bytes, not ${salt.length}`);
  const inner = createHash("md5").update(password + user, "utf8").digest("hex");
  return "md5" + createHash("md5").update(inner, "utf8").update(salt).digest("hex");
}

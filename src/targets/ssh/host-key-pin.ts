// The upstream's host key, pinned in the configuration: an OpenSSH known_hosts line or public
// key ("[host]:port ssh-ed25519 AAAA…", "ssh-ed25519 AAAA…") or a fingerprint ("SHA256:…").
// There is no trust on first use: a key that matches no pin refuses the connection.
import { createHash, timingSafeEqual } from "node:crypto";
import { GatewayError } from "../../core/errors.ts";

export interface HostKeyPin {
  /** What the configuration says, for messages. */
  readonly text: string;
  /** True when `key` (the SSH wire blob the server presented) is the pinned one. */
  matches(key: Buffer): boolean;
  /**
   * The host key algorithms to ask the server for, when the pin names its key's type: a server
   * with several host keys shows the one the client prefers, which must be the pinned one.
   */
  readonly algorithms?: readonly string[];
}

/** Host key algorithms (RFC 8332 for RSA) for a key type. */
function algorithmsFor(type: string): readonly string[] {
  if (type === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [type];
}

/** OpenSSH's fingerprint of a public key blob: "SHA256:" and unpadded base64 of its SHA-256. */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/** The key type a wire blob names (its first string), e.g. "ssh-ed25519". */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "?";
  const n = key.readUInt32BE(0);
  return n > 0 && n < 64 && key.length >= 4 + n ? key.subarray(4, 4 + n).toString("latin1") : "?";
}

const FINGERPRINT = /^SHA256:([A-Za-z0-9+/]{43})=?$/;
const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/;

/** Parses a pin; throws E_CONFIG_INVALID saying what was expected. */
export function parseHostKeyPin(text: string): HostKeyPin {
  const trimmed = text.trim();
  const fp = FINGERPRINT.exec(trimmed);
  if (fp) {
    const want = Buffer.from(fp[1]!, "base64");
    return { text: trimmed, matches: (key) => timingSafeEqual(createHash("sha256").update(key).digest(), want) };
  }
  const fields = trimmed.split(/\s+/);
  // known_hosts: [markers] hosts keytype base64 [comment]; a public key line: keytype base64 [comment].
  const at = fields.findIndex((f) => KEY_TYPE.test(f));
  const blob = at >= 0 ? fields[at + 1] : undefined;
  if (at < 0 || blob === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) {
    throw new GatewayError("E_CONFIG_INVALID", `host_key "${trimmed.slice(0, 60)}" is neither "SHA256:…" (43 base64 characters) nor a known_hosts or public key line ("ssh-ed25519 AAAA…"); \`gatehouse ssh-keyscan HOST:PORT\` prints one`);
  }
  if (fields[0] === "@revoked") throw new GatewayError("E_CONFIG_INVALID", `host_key is a @revoked known_hosts line: pin the host's current key`);
  const want = Buffer.from(blob, "base64");
  if (keyTypeOf(want) !== fields[at]) throw new GatewayError("E_CONFIG_INVALID", `host_key: the base64 key is not a ${fields[at]} key (it names "${keyTypeOf(want)}")`);
  return { text: `${fields[at]} ${blob}`, matches: (key) => key.length === want.length && timingSafeEqual(key, want), algorithms: algorithmsFor(fields[at]!) };
}

/** One pin or several (a key rotation): a key matches when it matches any of them. */
export function parseHostKeyPins(value: string | readonly string[]): HostKeyPin {
  const pins = (typeof value === "string" ? [value] : value).map(parseHostKeyPin);
  if (pins.length === 1) return pins[0]!;
  // Ask for the pinned keys' types, in the order given; a fingerprint leaves the choice open.
  const typed = pins.every((p) => p.algorithms !== undefined);
  const algorithms = [...new Set(pins.flatMap((p) => p.algorithms ?? []))];
  return {
    text: pins.map((p) => p.text).join(" | "),
    matches: (key) => pins.some((p) => p.matches(key)),
    ...(typed ? { algorithms } : {}),
  };
}

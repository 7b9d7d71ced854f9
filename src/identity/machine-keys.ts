// Machine keys: long random secrets for services. Config keeps only their SHA-256, so a leaked
// config does not leak a key; presented keys are hashed and compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { GatewayError } from "../core/errors.ts";
import type { Identity } from "../core/types.ts";
import type { MachineKeyConfig } from "../config/schema.ts";
import { authError } from "./auth-failure.ts";

export const MACHINE_KEY_PREFIX = "ghk_";
/** What newMachineKey makes; other strings may still be configured keys (only digests are stored). */
const MACHINE_KEY_SHAPE = /^ghk_[A-Za-z0-9_-]{43}$/;

export function isMachineKeyShaped(credential: string): boolean {
  return MACHINE_KEY_SHAPE.test(credential);
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** A new key: `ghk_` and 32 random bytes as 43 base64url characters, and its digest for the config. */
export function newMachineKey(): { key: string; sha256: string } {
  const key = MACHINE_KEY_PREFIX + randomBytes(32).toString("base64url");
  return { key, sha256: sha256Hex(key) };
}

export interface MachineKeyVerifier {
  /**
   * The key's Identity. When none matches: E_AUTH_UNKNOWN_KEY "unknown machine key" for a
   * string of our key format, else E_AUTH_MALFORMED "not a valid token or machine key", so that
   * `Bearer nonsense` or a typo'd password is not taken for a key that was revoked.
   */
  verify(credential: string): Identity;
}

export function createMachineKeyVerifier(configs: readonly MachineKeyConfig[]): MachineKeyVerifier {
  const names = new Set<string>();
  const digests = new Set<string>();
  const entries = configs.map((c) => {
    if (!/^[0-9a-f]{64}$/.test(c.sha256)) {
      throw new GatewayError("E_CONFIG_INVALID", `identity machine key "${c.name}": sha256 must be 64 lowercase hex digits`);
    }
    if (names.has(c.name)) throw new GatewayError("E_CONFIG_INVALID", `identity machine key "${c.name}" is listed twice`);
    // Two names for one key would make the audit name a guess.
    if (digests.has(c.sha256)) throw new GatewayError("E_CONFIG_INVALID", `identity machine key "${c.name}" has the same sha256 as another key`);
    names.add(c.name);
    digests.add(c.sha256);
    const identity: Identity = Object.freeze({
      method: "machine-key",
      subject: c.name,
      issuer: c.name,
      groups: Object.freeze([...c.groups]),
    });
    return { digest: Buffer.from(c.sha256, "hex"), identity };
  });

  return {
    verify(credential: string): Identity {
      const presented = createHash("sha256").update(credential, "utf8").digest();
      let found: Identity | undefined;
      // Compare with every entry, without stopping early, so timing says nothing about which matched.
      for (const entry of entries) {
        if (timingSafeEqual(presented, entry.digest)) found = entry.identity;
      }
      if (found === undefined) {
        // Shape only picks the message; every string was compared above, whatever its shape.
        if (isMachineKeyShaped(credential)) throw authError("E_AUTH_UNKNOWN_KEY", "unknown_machine_key", "unknown machine key");
        throw authError("E_AUTH_MALFORMED", "malformed", "not a valid token or machine key");
      }
      return found;
    },
  };
}

// Public keys that log callers in as machine identities: identity.machine_keys[].ssh_public_keys.
// A caller who signs with one of them is that machine key's identity (same name, same groups), so
// policy, audit and revocation on reload treat both credentials of a machine alike.
import { utils, type ParsedKey } from "ssh2";
import type { MachineKeyConfig } from "../../config/schema.ts";
import { GatewayError } from "../../core/errors.ts";
import type { Identity } from "../../core/types.ts";

export interface KnownPublicKey {
  readonly identity: Identity;
  /** Whether `signature` over `data` was made with this key. */
  verify(data: Buffer, signature: Buffer, hashAlgo?: string): boolean;
}

/** The identity a public key (its SSH wire blob) logs in as, or null. */
export type PublicKeyLookup = (key: Buffer) => KnownPublicKey | null;

export function publicKeyIndex(machineKeys: readonly MachineKeyConfig[]): PublicKeyLookup {
  const byBlob = new Map<string, KnownPublicKey>();
  for (const k of machineKeys) {
    const identity: Identity = Object.freeze({ method: "machine-key", subject: k.name, issuer: k.name, groups: Object.freeze([...k.groups]) });
    for (const line of k.ssh_public_keys ?? []) {
      const parsed = utils.parseKey(line);
      const key: ParsedKey | Error | undefined = Array.isArray(parsed) ? parsed[0] : parsed;
      if (key === undefined || key instanceof Error) {
        throw new GatewayError("E_CONFIG_INVALID", `identity machine key "${k.name}": ssh_public_keys "${line.slice(0, 40)}…" is not an OpenSSH public key${key instanceof Error ? `: ${key.message}` : ""}`);
      }
      const blob = key.getPublicSSH().toString("base64");
      const other = byBlob.get(blob);
      if (other !== undefined && other.identity.subject !== k.name) {
        throw new GatewayError("E_CONFIG_INVALID", `identity machine key "${k.name}": an SSH public key of it is also one of "${other.identity.subject}"`);
      }
      byBlob.set(blob, { identity, verify: (data, signature, hashAlgo) => key.verify(data, signature, hashAlgo) === true });
    }
  }
  return (key) => byBlob.get(key.toString("base64")) ?? null;
}

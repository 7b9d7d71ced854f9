// Which live identities a configuration reload takes away. A request is authenticated again
// after a reload anyway; a PostgreSQL session or a WebSocket authenticated once, at its start,
// so the targets ask this at reload and end the sessions whose credential is no longer trusted.
import { canonicalJson } from "../audit/canonical-json.ts";
import type { Config } from "../config/schema.ts";
import type { Identity } from "../core/types.ts";

/** True for an identity the new identity section would no longer give (with the same groups). */
export type RevokedCheck = (identity: Pick<Identity, "subject" | "issuer"> & { readonly method: string }) => boolean;

export function revokedByReload(before: Config["identity"], after: Config["identity"]): RevokedCheck {
  // A machine key keeps its sessions only if its name, key, groups and SSH public keys (an SSH
  // session may have logged in with one) are all unchanged.
  const keyOf = (k: { sha256: string; groups: readonly string[]; ssh_public_keys?: readonly string[] }) =>
    `${k.sha256}\0${JSON.stringify([...k.groups])}\0${JSON.stringify([...(k.ssh_public_keys ?? [])])}`;
  const keysAfter = new Map(after.machine_keys.map((k) => [k.name, keyOf(k)]));
  const changedKeys = new Set(before.machine_keys.filter((k) => keysAfter.get(k.name) !== keyOf(k)).map((k) => k.name));
  // An issuer keeps its sessions only if its whole entry is unchanged: a new jwks_uri, audience,
  // algorithm list or groups claim (say, to drop a compromised key) ends them too.
  const issuerEntries = (s: Config["identity"]) => new Map(s.issuers.map((i) => [i.issuer, canonicalJson(i)]));
  const issuersBefore = issuerEntries(before);
  const issuersAfter = issuerEntries(after);
  return (identity) => {
    switch (identity.method) {
      case "machine-key":
        return changedKeys.has(identity.subject) || !keysAfter.has(identity.subject);
      case "oidc":
        return !issuersAfter.has(identity.issuer) || issuersAfter.get(identity.issuer) !== issuersBefore.get(identity.issuer);
      case "dev":
        return !after.dev_issuer;
      default:
        // No other kind of credential exists; one that did would not be trusted blindly.
        return true;
    }
  };
}

/**
 * The revocations a target has applied, so that a session still being set up while a reload ran
 * (logging in upstream, or a WebSocket upgrade held for approval) is checked when it goes live.
 */
export class RevocationLog {
  private gen = 0;
  private readonly entries: { gen: number; check: RevokedCheck }[] = [];

  /** Take it before authenticating; pass it to revokedSince() when the session goes live. */
  get generation(): number {
    return this.gen;
  }

  add(check: RevokedCheck): void {
    this.gen++;
    this.entries.push({ gen: this.gen, check });
    if (this.entries.length > MAX_KEPT) this.entries.shift();
  }

  revokedSince(since: number, identity: Parameters<RevokedCheck>[0]): boolean {
    if (since >= this.gen) return false;
    // More reloads than are kept happened meanwhile: cannot tell, so it does not count (fail closed).
    if (since + 1 < (this.entries[0]?.gen ?? Number.POSITIVE_INFINITY)) return true;
    return this.entries.some((e) => e.gen > since && e.check(identity));
  }
}

const MAX_KEPT = 32;

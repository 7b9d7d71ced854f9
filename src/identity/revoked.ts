// Which live identities a configuration reload takes away. A request is authenticated again
// after a reload anyway; a PostgreSQL session or a WebSocket authenticated once, at its start,
// so the targets ask this at reload and end the sessions whose credential is no longer trusted.
import type { Config } from "../config/schema.ts";
import type { Identity } from "../core/types.ts";

/** True for an identity the new identity section would no longer give (with the same groups). */
export type RevokedCheck = (identity: Pick<Identity, "subject" | "issuer"> & { readonly method: string }) => boolean;

export function revokedByReload(before: Config["identity"], after: Config["identity"]): RevokedCheck {
  // A machine key keeps its sessions only if its name, key and groups are all unchanged.
  const keyOf = (k: { sha256: string; groups: readonly string[] }) => `${k.sha256}\0${JSON.stringify([...k.groups])}`;
  const keysAfter = new Map(after.machine_keys.map((k) => [k.name, keyOf(k)]));
  const changedKeys = new Set(before.machine_keys.filter((k) => keysAfter.get(k.name) !== keyOf(k)).map((k) => k.name));
  const issuersAfter = new Set(after.issuers.map((i) => i.issuer));
  return (identity) => {
    switch (identity.method) {
      case "machine-key":
        return changedKeys.has(identity.subject) || !keysAfter.has(identity.subject);
      case "oidc":
        return !issuersAfter.has(identity.issuer);
      case "dev":
        return !after.dev_issuer;
      default:
        // No other kind of credential exists; one that did would not be trusted blindly.
        return true;
    }
  };
}

// What an approval is bound to: the caller as the policy saw it when the request was held
// (issuer, subject, groups and the values of every claim path a rule named; identity-key.ts, the
// decision cache's key). A grant then covers only callers the policy cannot tell from the
// requester: not another token with the same `sub` and other claims (GitLab's protected and
// unprotected jobs of one ref), which a rule on those claims would tell apart.
import { createHash } from "node:crypto";
import type { Identity } from "../core/types.ts";
import { identityKey } from "../policy/identity-key.ts";

export interface GrantBinding {
  /** The policy's claim paths when the request was held (sorted): the ones the key covers. */
  readonly claimPaths: readonly string[];
  /** sha256 (hex) of identityKey over those paths: the audit log keeps this, never claim values. */
  readonly key: string;
}

type BoundIdentity = Pick<Identity, "subject" | "issuer" | "groups" | "claims">;

function digest(identity: BoundIdentity, claimPaths: readonly string[]): string {
  return createHash("sha256").update(identityKey(identity, claimPaths)).digest("hex");
}

/** The binding of a request held now, under a policy naming these claim paths. */
export function bindingOf(identity: BoundIdentity, claimPaths: readonly string[]): GrantBinding {
  const paths = [...new Set(claimPaths)].sort();
  return Object.freeze({ claimPaths: Object.freeze(paths), key: digest(identity, paths) });
}

/**
 * Whether an approval bound by `binding` covers this caller under a policy naming `claimPaths`
 * now. Only if the policy reads no claim the approval did not see (each of `claimPaths` is one
 * of the binding's; fewer is fine) and the caller agrees with the requester on all that the
 * binding covers. A policy edit that names a new claim path therefore ends the grants made before
 * it: the requester's value of that claim was never kept, so nobody can tell whether a caller
 * shares it, and a claim just added to the rules is most likely there to tell callers apart. No
 * binding (one in a record that could not be read): no cover.
 */
export function bindingCovers(binding: GrantBinding | undefined, identity: BoundIdentity, claimPaths: readonly string[]): boolean {
  if (binding === undefined) return false;
  for (const p of claimPaths) if (!binding.claimPaths.includes(p)) return false;
  return digest(identity, binding.claimPaths) === binding.key;
}

/** The binding as an approval.requested record carries it (snake_case, like every audit key). */
export function bindingRecord(b: GrantBinding): { readonly claim_paths: readonly string[]; readonly key: string } {
  return { claim_paths: b.claimPaths, key: b.key };
}

/** A binding read back from a record; undefined for a missing or malformed one (then nothing is covered). */
export function bindingFromRecord(value: unknown): GrantBinding | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as { claim_paths?: unknown; key?: unknown };
  if (!Array.isArray(v.claim_paths) || !v.claim_paths.every((p) => typeof p === "string") || typeof v.key !== "string" || !/^[0-9a-f]{64}$/.test(v.key)) return undefined;
  return Object.freeze({ claimPaths: Object.freeze([...(v.claim_paths as string[])]), key: v.key });
}

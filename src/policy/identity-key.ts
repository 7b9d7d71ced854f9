// A caller as the policy sees it, as one string: issuer, subject, groups in order, and the values
// of the claim paths the policy's rules name. Two identities with the same key are decided alike
// by every rule, so what is remembered for one (a cached decision, an approval's grant) may serve
// the other, and nothing else may.
import type { Identity } from "../core/types.ts";
import { lookupClaim } from "../identity/claim-path.ts";

/** The values of these claim paths as JSON; "-" for an identity without claims (a machine key). */
export function claimValuesKey(claimPaths: readonly string[], claims: Readonly<Record<string, unknown>> | undefined): string {
  if (claims === undefined) return "-";
  // A missing claim and a null one decide alike (neither matches); JSON writes both as null. An
  // ambiguous one decides unlike both (deny rules hold), so it is "!", which no JSON value writes.
  const parts = claimPaths.map((p) => {
    const r = lookupClaim(claims, p);
    return r.found === "ambiguous" ? "!" : JSON.stringify(r.found === "value" ? (r.value ?? null) : null);
  });
  return `[${parts.join(",")}]`;
}

/**
 * Each part prefixed by its length, so no choice of characters in one part can imitate another.
 * `claimValues`: claimValuesKey of the identity's claims, when the caller keeps it per token.
 */
export function identityKey(id: Pick<Identity, "subject" | "issuer" | "groups" | "claims">, claimPaths: readonly string[], claimValues?: string): string {
  let key = `${id.subject.length}:${id.subject}${id.issuer.length}:${id.issuer}${id.groups.length}`;
  for (const g of id.groups) key += `${g.length}:${g}`;
  // Last: the values of every claim path a rule names (claims:), so two tokens differing in one differ.
  if (claimPaths.length > 0) {
    const c = claimValues ?? claimValuesKey(claimPaths, id.claims);
    key += `${c.length}:${c}`;
  }
  return key;
}

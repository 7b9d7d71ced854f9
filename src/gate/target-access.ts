// "May this caller use this target at all?": some allow or review rule names them (groups,
// identities and claims) and the target, time windows aside. What every target's built-ins ask
// (PostgreSQL's catalog reads and session statements, Kubernetes discovery and can-i, the SSH
// login check); read from the configured rules, so one copy serves them all.
import type { Identity } from "../core/types.ts";
import { identityMeetsClaims, type ClaimsSection } from "../policy/matchers/claims.ts";

/** The parts of a configured rule this needs (RuleConfig from the schema fits). */
export interface RuleFacts {
  readonly name: string;
  readonly effect: "allow" | "deny" | "review";
  readonly groups?: readonly string[];
  readonly identities?: readonly string[];
  readonly claims?: ClaimsSection;
}

/** Whether a rule names a target (its `targets` globs, or none: every target). */
export type TargetMatcher = (rule: string, target: string) => boolean;

function namesIdentity(rule: RuleFacts, identity: Identity): boolean {
  if (rule.groups !== undefined && !rule.groups.some((g) => identity.groups.includes(g))) return false;
  if (rule.identities !== undefined && !rule.identities.some((i) => i === identity.subject || i === `${identity.issuer}:${identity.subject}`)) return false;
  return identityMeetsClaims(rule.claims, identity);
}

/** mayUseTarget: at least one allow or review rule for this identity names this target. */
export function createMayUseTarget(rules: () => readonly RuleFacts[], matchesTarget: TargetMatcher): (identity: Identity, target: string) => boolean {
  return (identity, target) => rules().some((r) => r.effect !== "deny" && namesIdentity(r, identity) && matchesTarget(r.name, target));
}

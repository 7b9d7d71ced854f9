// Facts about the configured rules that the Postgres built-ins need: whether an identity has
// any rule at all for a target (then psql's catalog reads are allowed), and which functions a
// rule names (a dangerous function must be named to be allowed).
import type { Identity } from "../../../core/types.ts";
import { identityMeetsClaims, type ClaimsSection } from "../../../policy/matchers/claims.ts";

/** The parts of a configured rule this needs (RuleConfig from the schema fits). */
export interface RuleFacts {
  readonly name: string;
  readonly effect: "allow" | "deny" | "review";
  readonly groups?: readonly string[];
  readonly identities?: readonly string[];
  readonly claims?: ClaimsSection;
  readonly postgres?: { readonly functions?: readonly string[]; readonly classes?: readonly string[] };
}

/** Whether a rule names a target (its `targets` globs, or none: every target). */
export type TargetMatcher = (rule: string, target: string) => boolean;

function namesIdentity(rule: RuleFacts, identity: Identity): boolean {
  if (rule.groups !== undefined && !rule.groups.some((g) => identity.groups.includes(g))) return false;
  if (rule.identities !== undefined && !rule.identities.some((i) => i === identity.subject || i === `${identity.issuer}:${identity.subject}`)) return false;
  return identityMeetsClaims(rule.claims, identity);
}

/** mayUseTarget: at least one allow or review rule for this identity names this target (time windows aside). */
export function createMayUseTarget(rules: () => readonly RuleFacts[], matchesTarget: TargetMatcher): (identity: Identity, target: string) => boolean {
  return (identity, target) => rules().some((r) => r.effect !== "deny" && namesIdentity(r, identity) && matchesTarget(r.name, target));
}

/** ruleFunctions: the postgres.functions patterns of the rule with this name. */
export function createRuleFunctions(rules: () => readonly RuleFacts[]): (rule: string) => readonly string[] | undefined {
  return (name) => rules().find((r) => r.name === name)?.postgres?.functions;
}

/** ruleClasses: the postgres.classes patterns of the rule with this name. */
export function createRuleClasses(rules: () => readonly RuleFacts[]): (rule: string) => readonly string[] | undefined {
  return (name) => rules().find((r) => r.name === name)?.postgres?.classes;
}

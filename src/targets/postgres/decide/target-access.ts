// Facts about the configured rules that the Postgres built-ins need: which functions and classes
// a rule names (a dangerous function must be named to be allowed). Whether a caller may use the
// target at all is src/gate/target-access.ts.

/** The parts of a configured rule this needs (RuleConfig from the schema fits). */
export interface RuleFacts {
  readonly name: string;
  readonly postgres?: { readonly functions?: readonly string[]; readonly classes?: readonly string[] };
}

/** ruleFunctions: the postgres.functions patterns of the rule with this name. */
export function createRuleFunctions(rules: () => readonly RuleFacts[]): (rule: string) => readonly string[] | undefined {
  return (name) => rules().find((r) => r.name === name)?.postgres?.functions;
}

/** ruleClasses: the postgres.classes patterns of the rule with this name. */
export function createRuleClasses(rules: () => readonly RuleFacts[]): (rule: string) => readonly string[] | undefined {
  return (name) => rules().find((r) => r.name === name)?.postgres?.classes;
}

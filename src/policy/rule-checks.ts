// Each condition of a rule on its own, with the reason it holds or fails, for `gatehouse explain`
// and the denial detail. Built from the very predicates the rule's own test is made of
// (compile.ts passes them in), so it cannot read a rule differently from decide(); it is never
// called on decide()'s path.
import type { Action, TargetKind } from "../core/types.ts";
import type { WhenConfig } from "../config/schema.ts";
import type { RequestView } from "./compile.ts";
import type { StringPredicate } from "./glob.ts";
import type { HttpParts } from "./matchers/http.ts";
import { OBJECT_FREE_CLASSES, type PostgresParts } from "./matchers/postgres.ts";
import { describeWhen } from "./matchers/when.ts";
import { kubeView, type KubernetesCondition } from "./matchers/kubernetes.ts";
import { sshView, type SshCondition } from "./matchers/ssh.ts";
import type { ClaimCondition } from "./matchers/claims.ts";
import type { McpCondition } from "./matchers/mcp.ts";

export type ConditionName =
  | "target"
  | "kind"
  | "groups"
  | "identities"
  | "claims"
  | "classes"
  | "tables"
  | "functions"
  | "methods"
  | "paths"
  | "actions"
  | "users"
  | "commands"
  | "operations"
  | "destinations"
  | "lines"
  | "verbs"
  | "apiGroups"
  | "resources"
  | "namespaces"
  | "names"
  | "servers"
  | "tools"
  | "prompts"
  | "arguments"
  | "sql"
  | "when";

export interface ConditionResult {
  readonly condition: ConditionName;
  readonly holds: boolean;
  /** For people, e.g. "group analysts" or "class delete is not in its classes [read]". */
  readonly why: string;
  /** The "when" condition's window as written, e.g. "mon-fri 09:00-17:00 UTC". */
  readonly window?: string;
}

/** Every condition the rule states (a rule with no `when` has no "when" entry), in a fixed order. */
export type RuleChecks = (action: Action, view: RequestView) => ConditionResult[];

/** The compiled pieces of one rule, exactly those its test in compile.ts uses. */
export interface RulePieces {
  readonly effect: "allow" | "deny" | "review";
  readonly targetGlobs: readonly string[] | null;
  readonly targets: StringPredicate;
  /** Kinds the rule has a section for; null: every kind. */
  readonly kinds: readonly TargetKind[] | null;
  readonly groups: readonly string[] | null;
  readonly identities: ReadonlySet<string> | null;
  readonly claims: readonly ClaimCondition[] | null;
  readonly http: { readonly section: { methods?: readonly string[]; paths?: readonly string[] }; readonly parts: HttpParts } | null;
  readonly postgres: { readonly section: { classes?: readonly string[]; tables?: readonly string[]; functions?: readonly string[] }; readonly parts: PostgresParts } | null;
  readonly ssh: readonly SshCondition[] | null;
  readonly kubernetes: readonly KubernetesCondition[] | null;
  readonly mcp: readonly McpCondition[] | null;
  readonly whenConfig: WhenConfig | null;
  readonly when: ((time: number) => boolean) | null;
}

const LIST_CAP = 8;

/** "a, b, c" with at most LIST_CAP items, then "and N more". */
export function listText(items: readonly string[]): string {
  if (items.length <= LIST_CAP) return items.join(", ");
  return `${items.slice(0, LIST_CAP).join(", ")} and ${items.length - LIST_CAP} more`;
}

const bracket = (items: readonly string[]) => `[${items.join(", ")}]`;

function result(condition: ConditionName, holds: boolean, why: string): ConditionResult {
  return { condition, holds, why };
}

export function compileRuleChecks(p: RulePieces): RuleChecks {
  const restricting = p.effect !== "allow";
  return (action, view) => {
    const out: ConditionResult[] = [];
    const targetHolds = p.targets(action.target);
    out.push(
      result(
        "target",
        targetHolds,
        p.targetGlobs === null ? "any target" : targetHolds ? `target ${action.target}` : `its targets ${bracket(p.targetGlobs)} do not name ${action.target}`,
      ),
    );
    const kind = action.request.kind;
    const kindHolds = p.kinds === null || p.kinds.includes(kind);
    out.push(result("kind", kindHolds, kindHolds ? (p.kinds === null ? "any kind of request" : `a ${kind} section`) : `it has no ${kind} section (only ${p.kinds!.join(", ")})`));
    if (p.groups !== null) {
      const mine = action.identity.groups.filter((g) => p.groups!.includes(g));
      out.push(result("groups", mine.length > 0, mine.length > 0 ? `group ${mine.join(", ")}` : `you are in none of its groups ${bracket(p.groups)}`));
    }
    if (p.identities !== null) {
      const id = action.identity;
      const holds = p.identities.has(id.subject) || p.identities.has(`${id.issuer}:${id.subject}`);
      out.push(result("identities", holds, holds ? `identity ${id.subject}` : `its identities ${bracket([...p.identities])} do not name ${id.subject}`));
    }
    for (const c of p.claims ?? []) {
      const holds = c.test(action.identity);
      out.push(result("claims", holds, c.why(action.identity, holds)));
    }
    if (kindHolds) {
      const r = action.request;
      if (r.kind === "http" && p.http !== null) httpChecks(p.http, view, out);
      else if (r.kind === "postgres" && p.postgres !== null) postgresChecks(p.postgres, r, restricting, out);
      else if (r.kind === "ssh" && p.ssh !== null) {
        const v = view.ssh ?? sshView(r);
        for (const c of p.ssh) {
          const holds = c.test(r, v);
          out.push(result(c.name, holds, c.why(r, v, holds)));
        }
      } else if (r.kind === "kubernetes" && p.kubernetes !== null) {
        const v = view.kube ?? kubeView(r);
        for (const c of p.kubernetes) {
          const holds = c.test(r, v);
          // The implicit "resource requests only" condition is shown only when it fails.
          if (c.name === "paths" && holds && !v.nonResource) continue;
          out.push(result(c.name, holds, c.why(r, v, holds)));
        }
      } else if (r.kind === "mcp" && p.mcp !== null) {
        for (const c of p.mcp) {
          const holds = c.test(r);
          out.push(result(c.name, holds, c.why(r, holds)));
        }
      }
    }
    if (p.when !== null && p.whenConfig !== null) {
      const holds = p.when(action.time);
      const window = describeWhen(p.whenConfig);
      out.push({ condition: "when", holds, why: holds ? `within ${window}` : `outside its hours: only ${window}`, window });
    }
    return out;
  };
}

function httpChecks(http: NonNullable<RulePieces["http"]>, view: RequestView, out: ConditionResult[]): void {
  const { methods, paths } = http.parts;
  if (methods !== null) {
    const holds = methods.has(view.method);
    out.push(result("methods", holds, holds ? `method ${view.method}` : `method ${view.method} is not in its methods ${bracket([...methods])}`));
  }
  if (paths !== null) {
    const holds = paths(view.path);
    const globs = bracket(http.section.paths ?? []);
    out.push(result("paths", holds, holds ? `path ${view.path} matches ${globs}` : `path ${view.path} is not matched by its paths ${globs}`));
  }
}

function postgresChecks(
  pg: NonNullable<RulePieces["postgres"]>,
  facts: Extract<Action["request"], { kind: "postgres" }>,
  restricting: boolean,
  out: ConditionResult[],
): void {
  const s = pg.section;
  const lists: [ConditionName, PostgresParts[keyof PostgresParts], readonly string[], readonly string[] | undefined, string, string][] = [
    ["classes", pg.parts.classes, facts.classes, s.classes, "class", "classes"],
    ["tables", pg.parts.tables, facts.relations, s.tables, "table", "tables"],
    ["functions", pg.parts.functions, facts.functions, s.functions, "function", "functions"],
  ];
  for (const [name, part, items, patterns, one, many] of lists) {
    if (part === null || patterns === undefined) continue;
    const holds = part.holds(facts);
    const listed = part.listed(facts);
    const theirs = `its ${name} ${bracket(patterns)}`;
    let why: string;
    if (name === "tables" && items.length === 0) {
      // See compilePostgresParts: a statement without relations is within an allow rule's tables
      // only when it acts on no object.
      const objectFree = facts.classes.length > 0 && facts.classes.every((c) => OBJECT_FREE_CLASSES.has(restricting ? c.toLowerCase() : c));
      why = objectFree
        ? "the statement acts on no table"
        : holds
          ? `the statement names no table but acts on objects (${listText(facts.classes)}), which ${theirs} may hold`
          : `the statement names no table but acts on objects (${listText(facts.classes)}) that ${theirs} cannot vouch for`;
    } else if (restricting) {
      why = holds ? `${one} ${listText(listed)} in ${theirs}` : `no ${one} of the statement (${listText(items) || "none"}) is in ${theirs}`;
    } else {
      const missing = items.filter((x) => !listed.includes(x));
      why = holds ? `every ${one} (${listText(items) || "none"}) is in ${theirs}` : `${missing.length === 1 ? one : many} ${listText(missing)} ${missing.length === 1 ? "is" : "are"} not in ${theirs}`;
    }
    out.push(result(name, holds, why));
  }
}

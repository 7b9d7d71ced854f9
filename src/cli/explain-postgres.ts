// SQL for `gatehouse explain`, read exactly as the PostgreSQL target reads it: the same parser
// and analysis (targets/postgres/sql), the same facts (factsOf), the same built-ins and marker
// guards after decide(). What the target learns only from a live session or the database's
// catalog is not guessed: it is said in `notes`.
import type { Action, Decision, Identity, PostgresRequestFacts } from "../core/types.ts";
import type { Config } from "../config/schema.ts";
import type { Policy } from "../policy/compile.ts";
import type { PolicyExplanation } from "../policy/explain.ts";
import { postgresBuiltins } from "../targets/postgres/decide/builtins.ts";
import { NO_OBJECTS } from "../targets/postgres/catalog/catalog.ts";
import { guardMarkers } from "../targets/postgres/decide/marker-guards.ts";
import type { AnalysisContext, StatementInfo } from "../targets/postgres/sql/analysis.ts";
import { splitMarkers } from "../targets/postgres/sql/markers.ts";
import { loadSqlParser } from "../targets/postgres/sql/sql-parser.ts";
import { factsOf } from "../targets/postgres/decide/statement-gate.ts";
import { createMayUseTarget } from "../gate/target-access.ts";
import { createRuleClasses, createRuleFunctions } from "../targets/postgres/decide/target-access.ts";

/** One statement of the input as the gateway decides it. */
export interface ExplainedStatement {
  readonly text: string;
  /** What the policy matches on (classes, relations, functions), as the gateway builds it. */
  readonly facts: PostgresRequestFacts;
  readonly explanation: PolicyExplanation;
  readonly notes: readonly string[];
}

export type ExplainedSql =
  | { readonly ok: true; readonly statements: readonly ExplainedStatement[] }
  /** The parser refuses the text: the gateway denies it with SQLSTATE 42601 and this message. */
  | { readonly ok: false; readonly error: string; readonly position?: number };

export interface SqlRequest {
  readonly sql: string;
  readonly identity: Identity;
  readonly target: string;
  readonly time: number;
  readonly context: AnalysisContext;
}

const CATALOG_NOTE =
  "the gateway also looks these names up in the database's catalog, which explain does not: a view adds the tables it reads, a partitioned or inherited table its children, and a function that is not built in counts as user-defined code that only a rule naming it in postgres.functions allows";

/** The built-ins the Postgres target applies after decide(), with the same facts about the rules (see gate/gateway.ts). */
export function postgresAdjust(config: Config, policy: Policy): (decision: Decision, action: Action) => Decision {
  return postgresBuiltins({
    mayUseTarget: createMayUseTarget(
      () => config.rules,
      (rule, target) => policy.rules.find((r) => r.name === rule)?.matchesTarget(target) ?? false,
    ),
    ruleFunctions: createRuleFunctions(() => config.rules),
    ruleClasses: createRuleClasses(() => config.rules),
  });
}

function union(a: readonly string[], b: readonly string[]): string[] {
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

/** Analyses `sql` as one simple Query (as psql -c sends it) and decides each statement. */
export async function explainSql(req: SqlRequest, config: Config, policy: Policy): Promise<ExplainedSql> {
  const parser = await loadSqlParser();
  const analysis = parser.analyze(req.sql, req.context);
  if (!analysis.ok) return { ok: false, error: analysis.error, ...(analysis.position !== undefined ? { position: analysis.position } : {}) };
  const builtins = postgresAdjust(config, policy);
  const prepared = new Map<string, StatementInfo>();
  const statements: ExplainedStatement[] = [];
  for (const info of analysis.statements) {
    const notes: string[] = [];
    let effective = info;
    // As the statement checker does: EXECUTE counts as what was prepared under that name.
    if (info.executes !== undefined) {
      const inner = prepared.get(info.executes);
      if (inner === undefined) {
        notes.push(
          `EXECUTE ${info.executes}: the gateway decides it as what was prepared under that name earlier in the session, and denies it if it knows no such statement; explain knows only PREPAREs in the same input`,
        );
      } else {
        effective = {
          ...info,
          classes: union(info.classes.filter((c) => c !== "execute"), inner.classes),
          relations: union(info.relations, inner.relations),
          functions: union(info.functions, inner.functions),
        };
      }
    }
    const { markers } = splitMarkers(effective.functions);
    const facts = factsOf(effective);
    const action: Action = { identity: req.identity, target: req.target, request: facts, time: req.time };
    // The order of the statement gate: the built-ins, then the markers' guards (no catalog: nothing looked through).
    const adjust = (d: Decision, a: Action) => guardMarkers(builtins(d, a), markers, a, NO_OBJECTS, null);
    const explanation = policy.explain(action, adjust);
    if (facts.relations.length > 0 || facts.functions.length > 0) notes.push(CATALOG_NOTE);
    if (info.prepares !== undefined) prepared.set(info.prepares.name, info.prepares.inner);
    statements.push({ text: info.text, facts, explanation, notes });
  }
  return { ok: true, statements };
}

let sharedParser: ReturnType<typeof loadSqlParser> | null = null;

/**
 * For `gatehouse test` cases written as `postgres: { sql: … }`: the facts the gateway's analysis
 * finds, with the server's default search_path ("$user" naming no schema). One statement per case.
 */
export async function analyzeSqlFacts(sql: string): Promise<{ classes: readonly string[]; relations: readonly string[]; functions: readonly string[] }> {
  sharedParser ??= loadSqlParser();
  const analysis = (await sharedParser).analyze(sql, { searchPath: ["$user", "public"] });
  if (!analysis.ok) throw new Error(analysis.error);
  if (analysis.statements.length !== 1) throw new Error(`a test case's sql must be one statement (found ${analysis.statements.length}); write one case per statement`);
  const facts = factsOf(analysis.statements[0]!);
  return { classes: facts.classes, relations: facts.relations, functions: facts.functions };
}

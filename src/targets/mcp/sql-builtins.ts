// The postgres target's built-in denials for SQL over MCP (sql-argument.ts says what an MCP SQL
// tool cannot know, and why possible user functions are read as they are here). Apart from the
// classifier so that the policy test runner can apply them without loading the SQL parser.
import type { Action, Decision, PostgresRequestFacts } from "../../core/types.ts";
import { postgresBuiltins } from "../postgres/decide/builtins.ts";
import { isBuiltinFunctionName } from "./pg-builtin-functions.ts";

/** Functions that may be user-defined code: called with a schema other than pg_catalog, or unqualified and not a built-in name. */
export function userFunctionsOf(functions: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of functions) {
    if (f.startsWith("pg_catalog.")) {
      const name = f.slice("pg_catalog.".length);
      // Pseudo functions (set_config(x), do(lang)) and built-in names are the analysis's own.
      if (name.includes("(") || isBuiltinFunctionName(name)) continue;
      out.push(f);
      continue;
    }
    const dot = f.lastIndexOf(".");
    const bare = f.slice(dot + 1);
    // An unqualified call is reported as pg_catalog.f and f in every schema of the path: a
    // built-in name resolves to pg_catalog (searched first), any other to some schema's code.
    if (functions.includes(`pg_catalog.${bare}`) && isBuiltinFunctionName(bare)) continue;
    out.push(f);
  }
  return out;
}

export interface McpSqlBuiltinDeps {
  /** The deciding rule's mcp.sql section, by rule name (absent: the rule has none). */
  readonly ruleSql: (rule: string) => { readonly classes?: readonly string[]; readonly functions?: readonly string[] } | undefined;
}

/**
 * The postgres target's built-in denials for SQL over MCP, applied to decide()'s decision (the
 * runtime's `adjust`): a dangerous function (pg_read_file …), COPY … PROGRAM or of a server file,
 * a change of how the server reads SQL text, and a possible user function are denied unless the
 * deciding rule names them in mcp.sql.functions or mcp.sql.classes. The very code of the postgres
 * target decides, on the statement's facts, so the two cannot drift apart. It never allows what
 * decide() denied.
 */
export function mcpSqlBuiltins(deps: McpSqlBuiltinDeps): (decision: Decision, action: Action) => Decision {
  const postgres = postgresBuiltins({
    // catalog-read and session allowances are for a database session's client; an MCP SQL tool gets none.
    mayUseTarget: () => false,
    ruleFunctions: (rule) => deps.ruleSql(rule)?.functions,
    ruleClasses: (rule) => deps.ruleSql(rule)?.classes,
  });
  return (decision, action) => {
    const r = action.request;
    if (r.kind !== "mcp" || r.sql === undefined) return decision;
    const facts: PostgresRequestFacts = { kind: "postgres", classes: r.sql.classes, relations: r.sql.relations, functions: r.sql.functions, userFunctions: r.sql.userFunctions ?? userFunctionsOf(r.sql.functions) };
    const adjusted = postgres(decision, { ...action, request: facts });
    if (adjusted === decision || adjusted.effect !== "deny") return decision;
    return adjusted;
  };
}

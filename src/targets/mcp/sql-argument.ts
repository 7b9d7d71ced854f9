// The SQL argument of an MCP database tool (a server's `sql: { tool, argument }` in the target),
// read by the same PostgreSQL parser and analysis the postgres target uses, so that a rule's
// `mcp.sql` means what a `postgres` section means: "analysts read sales.*" over MCP is the same
// promise as over the wire protocol. What the MCP path cannot know, it refuses rather than guess:
// - every statement of the text counts (`COMMIT; DROP …` is transaction and ddl.drop.table, and
//   an allow rule needs every class listed), never only the first;
// - text that does not parse, holds no statement, or is not a string: refused;
// - EXECUTE, FETCH or MOVE of a name the same text did not PREPARE or DECLARE: refused (a
//   server's pooled connection may hold anything under that name, from another caller's call);
// - a change of a setting (SET, RESET, set_config, DISCARD), or a temporary object made or used:
//   refused. The postgres target follows a session's settings and temporary objects; an MCP
//   server's connections are shared and not ours to follow (SET search_path would change what
//   later calls' unqualified names mean, a temporary view what a later call's name reads);
// - a function called with a schema other than pg_catalog, or unqualified and not a PostgreSQL
//   built-in name, counts as user-defined code (allowed only where the deciding rule names it in
//   mcp.sql.functions), as the postgres target's catalog check would have it.
// The text alone does not show what views are built on, a parent table's children, or the user
// code that triggers, defaults, domains, casts and operators run (nor a user function that
// overloads a built-in's name on the path): a server whose sql: names a catalog connection has
// its SQL read with the catalog behind it (sql-catalog.ts), as the postgres target does.
// Unqualified relations resolve over the search path ["$user", "public"] with the database user
// unknown (options can say): "$user.orders" is then a candidate, which an allow rule must also
// cover (`*.orders`), so a table in the user's own schema cannot pass as public.orders.
import type { McpSqlFacts } from "../../core/types.ts";
import type { AnalysisContext, StatementInfo } from "../postgres/sql/analysis.ts";
import { loadSqlParser, type SqlParser } from "../postgres/sql/sql-parser.ts";
import { GatewayError } from "../../core/errors.ts";
import { foldName } from "../../policy/matchers/mcp-names.ts";
import { splitMarkers } from "../postgres/sql/markers.ts";
import { declaredCursorName } from "../postgres/decide/cursor-name.ts";
export { mcpSqlBuiltins, userFunctionsOf, type McpSqlBuiltinDeps } from "./sql-builtins.ts";

export type SqlArgumentResult = { readonly ok: true; readonly sql: McpSqlFacts } | { readonly ok: false; readonly reason: string };

export interface SqlArgumentOptions {
  /** The server's search_path, as PostgreSQL stores it; default ["$user", "public"]. */
  readonly searchPath?: readonly string[];
  /** The database user the server connects as, for "$user"; default unknown (the literal "$user" stands in). */
  readonly user?: string;
}

/** Longer SQL is refused: the parser works on it in one piece, and no tool call needs more. */
export const MAX_SQL_LENGTH = 256 * 1024;

function refuse(reason: string): SqlArgumentResult {
  return { ok: false, reason };
}

function pushAll(into: string[], seen: Set<string>, items: readonly string[]): void {
  for (const x of items) {
    if (seen.has(x)) continue;
    seen.add(x);
    into.push(x);
  }
}

/** The statements of the SQL argument, each checked for what an MCP SQL tool refuses; or why it is refused. */
export function readStatements(parser: SqlParser, text: unknown, options: SqlArgumentOptions = {}): { readonly ok: true; readonly text: string; readonly statements: readonly StatementInfo[] } | { readonly ok: false; readonly reason: string } {
  if (typeof text !== "string") return { ok: false, reason: `the SQL argument is ${text === null ? "null" : Array.isArray(text) ? "a list" : typeof text}, not text` };
  if (text.length > MAX_SQL_LENGTH) return { ok: false, reason: `the SQL argument is longer than ${MAX_SQL_LENGTH} characters` };
  const ctx: AnalysisContext = { searchPath: options.searchPath ?? ["$user", "public"], user: options.user ?? "$user" };
  const analysis = parser.analyze(text, ctx);
  if (!analysis.ok) return { ok: false, reason: `the SQL cannot be parsed: ${analysis.error}${analysis.position !== undefined ? ` (at character ${analysis.position})` : ""}` };
  if (analysis.statements.length === 0) return { ok: false, reason: "the SQL argument holds no statement" };
  const prepared = new Set<string>();
  const declared = new Set<string>();
  for (const s of analysis.statements) {
    const problem = statementProblem(s, prepared, declared);
    if (problem !== null) return { ok: false, reason: problem };
  }
  return { ok: true, text, statements: analysis.statements };
}

/** The union of the statements' classes, relations and functions (the analysis's markers left out), in order of first sight. */
export function unionFacts(statements: readonly { readonly classes: readonly string[]; readonly relations: readonly string[]; readonly functions: readonly string[] }[], text: string, userFunctions?: readonly string[]): McpSqlFacts {
  const classes: string[] = [];
  const relations: string[] = [];
  const functions: string[] = [];
  const seen = [new Set<string>(), new Set<string>(), new Set<string>()] as const;
  for (const s of statements) {
    pushAll(classes, seen[0], s.classes);
    pushAll(relations, seen[1], s.relations);
    pushAll(functions, seen[2], splitMarkers(s.functions).functions);
  }
  return Object.freeze({
    classes: Object.freeze(classes),
    relations: Object.freeze(relations),
    functions: Object.freeze(functions),
    ...(userFunctions !== undefined ? { userFunctions: Object.freeze([...new Set(userFunctions)].sort()) } : {}),
    text,
  });
}

/** Classifies the SQL argument of one call: the union of what every statement of it is, or why it is refused. */
export function classifySqlArgument(parser: SqlParser, text: unknown, options: SqlArgumentOptions = {}): SqlArgumentResult {
  const r = readStatements(parser, text, options);
  return r.ok ? { ok: true, sql: unionFacts(r.statements, r.text) } : refuse(r.reason);
}

/**
 * The SQL text of a call of a server's SQL tool, from the argument the target names
 * (servers[].sql.argument); a refusal when it is missing or not text, or when another spelling of
 * it (other case, Unicode form, invisible characters: `SQL` beside `sql`) is there too: the
 * server might run that one.
 */
export function sqlArgumentOf(args: Readonly<Record<string, unknown>> | undefined, argument: string): { readonly ok: true; readonly text: string } | { readonly ok: false; readonly reason: string } {
  if (args === undefined || !Object.hasOwn(args, argument)) return { ok: false, reason: `the call has no argument ${JSON.stringify(argument)} holding its SQL` };
  const folded = foldName(argument);
  const twin = Object.keys(args).find((k) => k !== argument && foldName(k) === folded);
  if (twin !== undefined) return { ok: false, reason: `the call has both ${JSON.stringify(argument)} and ${JSON.stringify(twin)}; the server might run either` };
  const text = args[argument];
  if (typeof text !== "string") return { ok: false, reason: `the SQL argument ${JSON.stringify(argument)} is ${text === null ? "null" : Array.isArray(text) ? "a list" : typeof text}, not text` };
  return { ok: true, text };
}

/** For the runtime: the SQL facts of a tools/call of a server's SQL tool (sqlArgumentOf, then classifySqlArgument). */
export function classifySqlCall(parser: SqlParser, args: Readonly<Record<string, unknown>> | undefined, argument: string, options: SqlArgumentOptions = {}): SqlArgumentResult {
  const a = sqlArgumentOf(args, argument);
  return a.ok ? classifySqlArgument(parser, a.text, options) : refuse(a.reason);
}

function statementProblem(s: StatementInfo, prepared: Set<string>, declared: Set<string>): string | null {
  if (s.prepares !== undefined) prepared.add(s.prepares.name);
  if (s.classes.includes("declare_cursor")) {
    // A name that cannot be read plainly is not remembered: a FETCH of it is then refused.
    const name = declaredCursorName(s.text);
    if (name !== null) declared.add(name);
  }
  if (s.executes !== undefined && !prepared.has(s.executes)) return `EXECUTE ${s.executes} runs a prepared statement this SQL does not define; the gateway cannot see what it is`;
  if (s.fetches !== undefined && !declared.has(s.fetches)) return `FETCH or MOVE of cursor ${s.fetches}, which this SQL does not declare; the gateway cannot see what it reads`;
  if (s.sets !== undefined && s.sets.length > 0) return `the SQL changes the setting ${s.sets.map((x) => x.name).join(", ")}; an MCP server's connections are shared, so settings are not changed through it`;
  if (s.classes.includes("discard")) return "DISCARD changes the state of a shared connection";
  // Temporary objects live in the connection's session, which an MCP server shares between calls
  // (and callers): what one made, another would read without the gateway knowing what it is.
  const temp = [...s.relations, ...(s.defines?.relations ?? [])].find((r) => r.startsWith("pg_temp.") || r.startsWith("pg_temp_"));
  if (temp !== undefined) return `the SQL uses the temporary object ${temp}; temporary objects are not made or used through an MCP server's shared connections`;
  return null;
}

/** What the runtime's session takes (session.ts SqlClassifier): the facts, or a GatewayError saying why the SQL is refused. */
export type SqlClassifier = (text: string) => McpSqlFacts;

/** classifySqlArgument as the runtime calls it: throws E_PROTOCOL with the refusal's reason. */
export function createSqlClassifier(parser: SqlParser, options: SqlArgumentOptions = {}): SqlClassifier {
  return (text) => {
    const r = classifySqlArgument(parser, text, options);
    if (!r.ok) throw new GatewayError("E_PROTOCOL", r.reason);
    return r.sql;
  };
}

/** Loads the parser (WASM, once) and returns the runtime's classifier. */
export async function loadSqlClassifier(options: SqlArgumentOptions = {}): Promise<SqlClassifier> {
  return createSqlClassifier(await loadSqlParser(), options);
}

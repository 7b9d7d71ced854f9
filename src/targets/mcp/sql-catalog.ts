// The SQL argument of an MCP SQL tool with the database's catalog behind it, as the postgres
// target reads a statement: a view counts as the tables it is built on, a parent table as its
// inheritance children and partitions, and the user code that triggers, defaults, domains,
// casts, operators and indexes run counts as called (user functions a rule must name). Without
// it (sql-argument.ts alone) an MCP SQL tool cannot mean "sales.*" what the wire protocol means.
// The catalog is read on a connection of the gateway's own (servers[].sql.catalog); when it
// cannot be read, the call is refused.
import { errorMessage } from "../../core/errors.ts";
import type { StatementObjects } from "../postgres/catalog/catalog.ts";
import type { ObjectsExtra } from "../postgres/catalog/catalog-objects.ts";
import { FIRES_TRIGGERS, namesOnly } from "../postgres/decide/statement-gate.ts";
import { splitMarkers } from "../postgres/sql/markers.ts";
import type { SqlParser } from "../postgres/sql/sql-parser.ts";
import { readStatements, unionFacts, type SqlArgumentOptions, type SqlArgumentResult } from "./sql-argument.ts";
import { userFunctionsOf } from "./sql-builtins.ts";

/** What the classifier asks of the catalog (the postgres target's Catalog has it). */
export interface CatalogObjects {
  objectsOf(relations: readonly string[], calls: readonly string[], extra?: ObjectsExtra): StatementObjects | Promise<StatementObjects>;
  /** Drops what it has cached: each call is classified on the catalog as it is now. */
  invalidate?(): void;
}

/**
 * Classifies the SQL argument as classifySqlArgument does, then adds what the catalog finds
 * behind each statement's names. Every statement of the text counts. What an earlier statement of
 * the same text defines, the catalog cannot show yet: a relation it makes (a view) carries that
 * statement's relations and functions to later statements naming it, and a function it makes is
 * user code. Besides what the catalog reports as user-defined, every function that is not a PostgreSQL
 * built-in name (sql-builtins.ts userFunctionsOf) counts as user code: a function made by an
 * earlier call that the catalog has not seen yet is then still code a rule must name.
 */
export async function classifySqlWithCatalog(parser: SqlParser, catalog: CatalogObjects, text: unknown, options: SqlArgumentOptions = {}): Promise<SqlArgumentResult> {
  const read = readStatements(parser, text, options);
  if (!read.ok) return read;
  const facts: { classes: readonly string[]; relations: readonly string[]; functions: readonly string[] }[] = [];
  const user: string[] = [];
  const definedFunctions = new Set<string>();
  const definedRelations = new Map<string, { relations: readonly string[]; functions: readonly string[] }>();
  try {
    for (const s of read.statements) {
      const { functions, markers } = splitMarkers(s.functions);
      const named = s.functionObjects;
      let calls = named === undefined ? functions : functions.filter((f) => !named.includes(f));
      // A relation an earlier statement of this text made runs what that statement named.
      const carried = s.relations.flatMap((r) => {
        const d = definedRelations.get(r);
        return d === undefined ? [] : [d];
      });
      const carriedRelations = carried.flatMap((d) => d.relations).filter((r) => !s.relations.includes(r));
      const carriedFunctions = carried.flatMap((d) => d.functions).filter((f) => !calls.includes(f));
      if (carriedFunctions.length > 0) calls = [...calls, ...carriedFunctions];
      const extra: ObjectsExtra = {
        ...(s.only !== undefined ? { only: s.only } : {}),
        ...(markers.operators.length > 0 ? { operators: markers.operators } : {}),
        ...(markers.types.length > 0 ? { types: markers.types } : {}),
        ...(s.classes.some((c) => FIRES_TRIGGERS.has(c)) ? { writes: true } : {}),
      };
      let o = await catalog.objectsOf([...s.relations, ...carriedRelations], calls, extra);
      // DDL on a view (DROP VIEW v, GRANT, COMMENT) does not run what the view runs.
      if (s.classes.every(namesOnly)) o = { ...o, functions: [], userFunctions: o.userFunctions.filter((f) => calls.includes(f)) };
      // Code a new or altered table takes on (LIKE, INHERITS, PARTITION OF, its column types) runs on its writes.
      if (markers.codeRelations.length > 0 || markers.codeTypes.length > 0) {
        const later = await catalog.objectsOf(markers.codeRelations, [], { types: markers.codeTypes, writes: true });
        o = { ...o, functions: [...o.functions, ...later.functions], userFunctions: [...o.userFunctions, ...later.userFunctions] };
      }
      const relations = [...s.relations, ...carriedRelations, ...o.bases];
      const all = [...functions, ...carriedFunctions, ...o.functions];
      facts.push({ classes: s.classes, relations, functions: all });
      user.push(...o.userFunctions, ...userFunctionsOf(calls), ...calls.filter((f) => definedFunctions.has(f)));
      for (const f of s.defines?.functions ?? []) definedFunctions.add(f);
      for (const r of s.defines?.relations ?? []) {
        const before = definedRelations.get(r);
        definedRelations.set(r, {
          relations: [...new Set([...(before?.relations ?? []), ...relations.filter((x) => x !== r)])],
          functions: [...new Set([...(before?.functions ?? []), ...functions])],
        });
      }
    }
  } catch (e) {
    return { ok: false, reason: `the gateway cannot read the database catalog to look through views and functions: ${errorMessage(e)}` };
  }
  return { ok: true, sql: unionFacts(facts, read.text, user) };
}

export interface CatalogClassifierOptions extends SqlArgumentOptions {
  /**
   * How long after a call that may change the catalog (DDL, procedural code, a user function)
   * every call reads the catalog afresh: that call may run upstream at any time until its time
   * budget is spent. Default 60 s (the target's default call_timeout); 0: never (a catalog no
   * call changes, as in tests that only classify).
   */
  readonly freshForMs?: number;
  readonly now?: () => number;
}

/** Whether a classified call may change what the catalog says of names. */
function mayChangeCatalog(r: SqlArgumentResult): boolean {
  if (!r.ok) return false;
  return r.sql.classes.some((c) => c.startsWith("ddl.") || c === "procedural") || (r.sql.userFunctions?.length ?? 0) > 0;
}

/**
 * classifySqlWithCatalog one call at a time (Catalog refuses a lookup the catalog changed under
 * three times, so concurrent fresh reads would refuse each other), reading the catalog afresh
 * while a call that may change it could still be running. The catalog's own cache otherwise
 * lasts up to a minute, as it does for the postgres target's view of other clients' DDL.
 */
export function createCatalogSqlClassifier(parser: SqlParser, catalog: CatalogObjects, options: CatalogClassifierOptions = {}): (text: unknown) => Promise<SqlArgumentResult> {
  const freshFor = options.freshForMs ?? 60_000;
  const now = options.now ?? Date.now;
  let changedAt = -Infinity;
  let last: Promise<unknown> = Promise.resolve();
  return (text) => {
    const run = last.then(async () => {
      if (now() - changedAt < freshFor) catalog.invalidate?.();
      const r = await classifySqlWithCatalog(parser, catalog, text, options);
      if (mayChangeCatalog(r)) {
        changedAt = now();
        catalog.invalidate?.();
      }
      return r;
    });
    last = run.catch(() => {});
    return run;
  };
}

// What views and user-defined functions hide, as the catalog tells it: the queries that find
// the relations and functions behind a relation's rewrite rules and which function names are
// user-defined, and how per-name answers combine into a statement's objects. Catalog runs them.
import { sqlLiteral } from "./upstream.ts";

/**
 * What a statement's names hide, found in the catalog: the relations views are built on and the
 * functions they run (recursively), and which called names may be user-defined code.
 */
export interface StatementObjects {
  /** Relations read or written through the rewrite rules of the named ones (a view: what it is built on), recursively; not among the names. */
  readonly bases: readonly string[];
  /** Functions those rules run (PostgreSQL records every one that is not a pinned built-in); not among the called names. */
  readonly functions: readonly string[];
  /** Called names and rule functions that may resolve to a function that is not a built-in. */
  readonly userFunctions: readonly string[];
}

/** The cached objects of one relation name. */
export interface RelationObjects {
  readonly bases: readonly string[];
  readonly functions: readonly string[];
  readonly userFunctions: readonly string[];
}

export const NO_OBJECTS: StatementObjects = Object.freeze({ bases: [], functions: [], userFunctions: [] });
export const NOTHING: RelationObjects = NO_OBJECTS;

/** OIDs below this are the system's own (initdb); user objects get FirstNormalObjectId and up. */
export const FIRST_USER_OID = 16384;

/**
 * pg_catalog's relations are the system's own (PostgreSQL refuses new ones there) and its
 * views are taken for what they are named: the sensitive ones are listed by name
 * (SENSITIVE_CATALOGS), and looking through pg_roles would find pg_authid behind psql's \du.
 */
export function skipRelation(name: string): boolean {
  return name.startsWith("pg_catalog.");
}

/** A temporary schema: each session has its own, which the gateway's connection cannot see. */
function isTempSchema(schema: string): boolean {
  return schema === "pg_temp" || /^pg_temp_[0-9]+$/.test(schema);
}

/** Pseudo functions of the analysis (do(…), set_config(…)) and temporary functions need no lookup. */
export function needsFunctionLookup(name: string): boolean {
  const parts = splitQualified(name);
  return parts !== null && !isTempSchema(parts[0]) && !parts[1].includes("(");
}

function values(rows: readonly (readonly [string, string, string])[]): string {
  return rows.map((r) => `(${r.map(sqlLiteral).join(", ")})`).join(", ");
}

/**
 * For each named relation: every relation and function its rewrite rules depend on (a view's
 * _RETURN rule names what the view reads; a rule on a table, what it also does), recursively
 * through user relations, never into the system's own (OID below FIRST_USER_OID). Rows:
 * ('r', name, nspname, relname, is-the-named-one, oid) and ('f', name, nspname, proname, '', oid);
 * an operator counts as the function it runs.
 */
export function relationObjectsQuery(rows: readonly (readonly [string, string, string])[]): string {
  const rewrite = "'pg_catalog.pg_rewrite'::pg_catalog.regclass";
  return (
    `WITH RECURSIVE named(name, root) AS (SELECT v.name, c.oid FROM (VALUES ${values(rows)}) v(name, nsp, rel) ` +
    `JOIN pg_catalog.pg_namespace n ON n.nspname = v.nsp JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = v.rel), ` +
    `reach(name, root, oid) AS (SELECT name, root, root FROM named UNION ` +
    `SELECT r.name, r.root, d.refobjid FROM reach r JOIN pg_catalog.pg_rewrite w ON w.ev_class = r.oid ` +
    `JOIN pg_catalog.pg_depend d ON d.classid = ${rewrite} AND d.objid = w.oid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass ` +
    `WHERE r.oid >= ${FIRST_USER_OID}), ` +
    `rules(name, oid) AS (SELECT r.name, w.oid FROM reach r JOIN pg_catalog.pg_rewrite w ON w.ev_class = r.oid WHERE r.oid >= ${FIRST_USER_OID}) ` +
    `SELECT 'r', r.name, n.nspname, c.relname, CASE WHEN r.oid = r.root THEN 't' ELSE 'f' END, c.oid::pg_catalog.text FROM reach r ` +
    `JOIN pg_catalog.pg_class c ON c.oid = r.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
    `UNION SELECT 'f', r.name, n.nspname, p.proname, '', p.oid::pg_catalog.text FROM rules r ` +
    `JOIN pg_catalog.pg_depend d ON d.classid = ${rewrite} AND d.objid = r.oid ` +
    `LEFT JOIN pg_catalog.pg_operator o ON d.refclassid = 'pg_catalog.pg_operator'::pg_catalog.regclass AND o.oid = d.refobjid ` +
    `JOIN pg_catalog.pg_proc p ON p.oid = CASE WHEN d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN d.refobjid ELSE o.oprcode::pg_catalog.oid END ` +
    `JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace`
  );
}

/** ('u', name, 't' | 'f') for each name that some function has: 't' when one of them is user-defined. */
export function userFunctionsQuery(rows: readonly (readonly [string, string, string])[]): string {
  return (
    `SELECT 'u', v.name, CASE WHEN pg_catalog.bool_or(p.oid >= ${FIRST_USER_OID}) THEN 't' ELSE 'f' END ` +
    `FROM (VALUES ${values(rows)}) v(name, nsp, fn) JOIN pg_catalog.pg_namespace n ON n.nspname = v.nsp ` +
    `JOIN pg_catalog.pg_proc p ON p.pronamespace = n.oid AND p.proname = v.fn GROUP BY v.name`
  );
}

/** The objects of a statement from per-name lookups (undefined: no relation / function of that name). */
export function combine(
  relations: readonly string[],
  calls: readonly string[],
  rel: (name: string) => RelationObjects | undefined,
  isUser: (name: string) => boolean | undefined,
): StatementObjects {
  let bases: Set<string> | null = null;
  let functions: Set<string> | null = null;
  let user: Set<string> | null = null;
  for (const r of relations) {
    const o = rel(r);
    if (o === undefined || o === NOTHING) continue;
    for (const b of o.bases) if (!relations.includes(b)) (bases ??= new Set()).add(b);
    for (const f of o.functions) if (!calls.includes(f)) (functions ??= new Set()).add(f);
    for (const f of o.userFunctions) (user ??= new Set()).add(f);
  }
  for (const f of calls) {
    if (isUser(f) === true || (f.startsWith("pg_temp") && isTempSchema(splitQualified(f)?.[0] ?? "pg_temp"))) (user ??= new Set()).add(f);
  }
  if (bases === null && functions === null && user === null) return NO_OBJECTS;
  return { bases: bases === null ? [] : [...bases].sort(), functions: functions === null ? [] : [...functions].sort(), userFunctions: user === null ? [] : [...user].sort() };
}

/**
 * Splits "schema.name" as the SQL analysis writes it: a part holding a dot or a quote is
 * double-quoted with "" for a quote; others are bare. null when it is not two parts.
 */
export function splitQualified(q: string): [string, string] | null {
  const parts: string[] = [];
  let i = 0;
  while (i <= q.length) {
    if (q[i] === '"') {
      let s = "";
      i++;
      for (;;) {
        if (i >= q.length) return null;
        if (q[i] === '"') {
          if (q[i + 1] === '"') {
            s += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += q[i];
        i++;
      }
      parts.push(s);
    } else {
      const dot = q.indexOf(".", i);
      const end = dot < 0 ? q.length : dot;
      parts.push(q.slice(i, end));
      i = end;
    }
    if (i >= q.length) break;
    if (q[i] !== ".") return null;
    i++;
  }
  return parts.length === 2 ? [parts[0]!, parts[1]!] : null;
}

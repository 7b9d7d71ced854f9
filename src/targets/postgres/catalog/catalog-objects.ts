// What a statement's names hide, as the catalog tells it: the queries that find the relations
// and functions behind a relation's rewrite rules, its inheritance children and partitions, the
// user code its writes fire (triggers, defaults, constraints), which function names are
// user-defined, and which user functions its operators and type conversions run; and how the
// per-name answers combine into a statement's objects. Catalog runs them and caches the answers.
import { sqlLiteral } from "../session/upstream.ts";

/**
 * What a statement's names hide, found in the catalog: the relations views are built on and the
 * functions they run (recursively), and which called names may be user-defined code.
 */
export interface StatementObjects {
  /** Relations read or written through the rewrite rules of the named ones (a view: what it is built on), recursively; not among the names. */
  readonly bases: readonly string[];
  /** Functions those rules run (PostgreSQL records every one that is not a pinned built-in); not among the called names. */
  readonly functions: readonly string[];
  /**
   * Called names and rule functions that may resolve to a function that is not a built-in; also
   * the user functions behind the statement's operators and type conversions, and, for a write,
   * those its tables' triggers, defaults and constraints run.
   */
  readonly userFunctions: readonly string[];
  /** Those of `bases` reached as inheritance children or partitions (their rows are read as the parent's columns). */
  readonly inherited?: readonly string[];
  /** Some of `bases` are reached through rewrite rules (a view): columns of unknown make. */
  readonly viaRules?: true;
}

/** The cached objects of one relation name. */
export interface RelationObjects {
  readonly bases: readonly string[];
  readonly functions: readonly string[];
  readonly userFunctions: readonly string[];
  readonly inherited?: readonly string[];
  readonly viaRules?: true;
  /** User functions that writes to it run: triggers (and their WHEN), column defaults, CHECKs and DEFAULTs of its columns' domains and its own CHECKs, index and partition key expressions. */
  readonly writeFunctions?: readonly string[];
}

/** What else a statement's objects depend on besides its relation names and calls. */
export interface ObjectsExtra {
  /** Relations named only with ONLY: their children are not reached through them. */
  readonly only?: readonly string[];
  /** Operator candidates ("schema.op") and type candidates ("schema.type") the statement uses. */
  readonly operators?: readonly string[];
  readonly types?: readonly string[];
  /** Types by OID (a protocol Parse's declared parameter types): converted to when Bind gives values. */
  readonly typeOids?: readonly number[];
  /** The statement writes rows: the write functions of its relations run. */
  readonly writes?: boolean;
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

/**
 * Temporary functions need no lookup. Every other name is looked up, the analysis's pseudo
 * functions (set_config(search_path), nextval(computed) …) included: a DBA's function may have
 * exactly that name, and then it is user code.
 */
export function needsFunctionLookup(name: string): boolean {
  const parts = splitQualified(name);
  return parts !== null && !isTempSchema(parts[0]);
}

function values(rows: readonly (readonly [string, string, string])[]): string {
  return rows.map((r) => `(${r.map(sqlLiteral).join(", ")})`).join(", ");
}

/**
 * The cache key of a relation name named with ONLY: a NUL, which no SQL name can hold. (The
 * catalog query names relations by their position, never by this key.)
 */
export function onlyKey(name: string): string {
  return `${name}\u0000only`;
}

const REG = (c: string) => `'pg_catalog.${c}'::pg_catalog.regclass`;

/**
 * For each named relation: every relation reached through its rewrite rules (a view's _RETURN
 * rule names what the view reads; a rule on a table, what it also does) and its inheritance
 * children and partitions (unless named with ONLY; those of relations reached further on always),
 * recursively through user relations, never into the system's own (OID below FIRST_USER_OID);
 * the functions its rules and row-level security policies run; and the functions writes to any
 * of them run (triggers and their WHEN, column defaults, CHECK constraints of the table, index
 * expressions and predicates, partition key expressions of it and its ancestors, and the CHECKs,
 * DEFAULTs and I/O functions of its columns' types, through domains, arrays, composites and
 * ranges); and the user functions any statement on it may run: the support functions and
 * operators of its indexes' and partition keys' operator families and of its user column types'
 * default operator classes, user column types' output functions, and user casts from its column
 * types (to a built-in type: implicit, in to_json, in format) or to its user column types.
 * Rows: ('r', key, nspname, relname, is-the-named-one, oid, via: n|w|i),
 * ('f' | 'w' | 'x', key, nspname, proname, '', oid, ''); an operator counts as the function it runs.
 * PostgreSQL records no dependency on its pinned built-ins, so those a rule or policy calls are
 * read from their expression trees instead: ('g', key, nspname, proname, '', oid, ''), for the
 * caller to keep the ones that matter (the dangerous ones, set_config).
 * A row of VALUES is (key, schema, relation, inh).
 */
export function relationObjectsQuery(rows: readonly (readonly [string, string, string, boolean])[]): string {
  const vals = rows.map(([k, n, r, inh]) => `(${sqlLiteral(k)}, ${sqlLiteral(n)}, ${sqlLiteral(r)}, ${inh ? "true" : "false"})`).join(", ");
  return (
    `WITH RECURSIVE named(name, root, inh) AS (SELECT v.name, c.oid, v.inh FROM (VALUES ${vals}) v(name, nsp, rel, inh) ` +
    `JOIN pg_catalog.pg_namespace n ON n.nspname = v.nsp JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = v.rel), ` +
    // Each step looks up only the edges of the relations just reached (index scans), never all of pg_depend.
    `reach(name, root, inh, oid, via) AS (SELECT name, root, inh, root, 'n' FROM named UNION ` +
    `SELECT r.name, r.root, r.inh, e.child, e.kind FROM reach r CROSS JOIN LATERAL (` +
    `SELECT d.refobjid, 'w' FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_depend d ON d.classid = ${REG("pg_rewrite")} AND d.objid = w.oid ` +
    `AND d.refclassid = ${REG("pg_class")} WHERE w.ev_class = r.oid ` +
    `UNION ALL SELECT i.inhrelid, 'i' FROM pg_catalog.pg_inherits i WHERE i.inhparent = r.oid AND (r.inh OR r.oid <> r.root)) e(child, kind) ` +
    `WHERE r.oid >= ${FIRST_USER_OID}), ` +
    // The types of their columns, and the types those are made of (a domain's base type, an
    // array's element type, a composite's attribute types, a range's subtype), recursively.
    `ctype(name, oid) AS (SELECT DISTINCT r.name, a.atttypid FROM reach r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
    `UNION SELECT c.name, e.t FROM ctype c JOIN pg_catalog.pg_type t ON t.oid = c.oid CROSS JOIN LATERAL (` +
    `SELECT t.typbasetype WHERE t.typbasetype <> 0 UNION ALL SELECT t.typelem WHERE t.typelem <> 0 ` +
    `UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ` +
    `UNION ALL SELECT g.rngsubtype FROM pg_catalog.pg_range g WHERE g.rngtypid = t.oid ` +
    `UNION ALL SELECT g.rngtypid FROM pg_catalog.pg_range g WHERE g.rngmultitypid = t.oid) e(t)), ` +
    `objs(name, kind, classid, objid) AS (` +
    `SELECT r.name, 'f', ${REG("pg_rewrite")}, w.oid FROM reach r JOIN pg_catalog.pg_rewrite w ON w.ev_class = r.oid WHERE r.oid >= ${FIRST_USER_OID} ` +
    `UNION ALL SELECT r.name, 'f', ${REG("pg_policy")}, p.oid FROM reach r JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid ` +
    `UNION ALL SELECT r.name, 'w', ${REG("pg_trigger")}, t.oid FROM reach r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D' ` +
    `UNION ALL SELECT r.name, 'w', ${REG("pg_attrdef")}, a.oid FROM reach r JOIN pg_catalog.pg_attrdef a ON a.adrelid = r.oid ` +
    `UNION ALL SELECT r.name, 'w', ${REG("pg_constraint")}, k.oid FROM reach r JOIN pg_catalog.pg_constraint k ON k.conrelid = r.oid AND k.contype = 'c' ` +
    `UNION ALL SELECT r.name, 'w', ${REG("pg_constraint")}, k.oid FROM reach r JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped ` +
    `JOIN pg_catalog.pg_constraint k ON k.contypid = a.atttypid ` +
    // Expressions and predicates of its indexes (computed for each new entry), the partition key
    // expressions of it and its ancestors (its partition constraint), as PostgreSQL records them.
    `UNION ALL SELECT r.name, 'w', ${REG("pg_class")}, x.indexrelid FROM reach r JOIN pg_catalog.pg_index x ON x.indrelid = r.oid ` +
    `UNION ALL SELECT r.name, 'w', ${REG("pg_class")}, a.relid FROM reach r CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(r.oid) a(relid) ` +
    `UNION ALL SELECT r.name, 'w', ${REG("pg_class")}, r.oid FROM reach r ` +
    // Its columns' user types: their domains' CHECKs and DEFAULTs, their I/O functions.
    `UNION ALL SELECT c.name, 'w', ${REG("pg_constraint")}, k.oid FROM ctype c JOIN pg_catalog.pg_constraint k ON k.contypid = c.oid ` +
    `UNION ALL SELECT c.name, 'w', ${REG("pg_type")}, c.oid FROM ctype c WHERE c.oid >= ${FIRST_USER_OID}), ` +
    // The operator families of its indexes and partition keys: their support functions and
    // operators run wherever the planner uses them, a plain WHERE included.
    `fam(name, family) AS (SELECT r.name, oc.opcfamily FROM reach r JOIN pg_catalog.pg_index x ON x.indrelid = r.oid ` +
    `JOIN pg_catalog.pg_opclass oc ON oc.oid = ANY (x.indclass::pg_catalog.oid[]) ` +
    `UNION SELECT r.name, oc.opcfamily FROM reach r JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = r.oid ` +
    `JOIN pg_catalog.pg_opclass oc ON oc.oid = ANY (pt.partclass::pg_catalog.oid[]) ` +
    // A user column type's default operator classes: ORDER BY, GROUP BY, DISTINCT and = on it.
    `UNION SELECT c.name, oc.opcfamily FROM ctype c JOIN pg_catalog.pg_opclass oc ON oc.opcintype = c.oid AND oc.opcdefault ` +
    `WHERE c.oid >= ${FIRST_USER_OID}), ` +
    // User code any statement on it may run: those families' code, and casts of its columns'
    // types (a user type's cast to a built-in one runs implicitly, in to_json, in format …).
    `rx(name, fn) AS (SELECT f.name, ap.amproc::pg_catalog.oid FROM fam f JOIN pg_catalog.pg_amproc ap ON ap.amprocfamily = f.family ` +
    `UNION ALL SELECT f.name, o.oprcode::pg_catalog.oid FROM fam f JOIN pg_catalog.pg_amop ao ON ao.amopfamily = f.family ` +
    `JOIN pg_catalog.pg_operator o ON o.oid = ao.amopopr ` +
    // A user column type's output functions, which every read of it runs.
    `UNION ALL SELECT c.name, t.typoutput::pg_catalog.oid FROM ctype c JOIN pg_catalog.pg_type t ON t.oid = c.oid WHERE c.oid >= ${FIRST_USER_OID} ` +
    `UNION ALL SELECT c.name, t.typsend::pg_catalog.oid FROM ctype c JOIN pg_catalog.pg_type t ON t.oid = c.oid WHERE c.oid >= ${FIRST_USER_OID} ` +
    `UNION ALL SELECT c.name, k.castfunc FROM ctype c JOIN pg_catalog.pg_cast k ON k.castfunc >= ${FIRST_USER_OID} AND (` +
    `(k.castsource = c.oid AND (c.oid >= ${FIRST_USER_OID} OR k.casttarget < ${FIRST_USER_OID})) OR (k.casttarget = c.oid AND c.oid >= ${FIRST_USER_OID}))) ` +
    `SELECT 'r', r.name, n.nspname, c.relname, CASE WHEN r.oid = r.root THEN 't' ELSE 'f' END, c.oid::pg_catalog.text, r.via FROM reach r ` +
    `JOIN pg_catalog.pg_class c ON c.oid = r.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ` +
    `UNION SELECT x.kind, x.name, n.nspname, p.proname, '', p.oid::pg_catalog.text, '' FROM objs x ` +
    `JOIN pg_catalog.pg_depend d ON d.classid = x.classid AND d.objid = x.objid ` +
    `LEFT JOIN pg_catalog.pg_operator o ON d.refclassid = ${REG("pg_operator")} AND o.oid = d.refobjid ` +
    `JOIN pg_catalog.pg_proc p ON p.oid = CASE WHEN d.refclassid = ${REG("pg_proc")} THEN d.refobjid ELSE o.oprcode::pg_catalog.oid END ` +
    // An extension's types, and its functions in index or partition expressions, are not a user's code (see userOperatorsQuery).
    `AND (x.classid NOT IN (${REG("pg_type")}, ${REG("pg_class")}) OR ${NOT_EXTENSION_MEMBER("p.oid")}) ` +
    `JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace ` +
    `UNION SELECT 'g', t.name, n.nspname, p.proname, '', p.oid::pg_catalog.text, '' FROM (` +
    `SELECT r.name, w.ev_action::pg_catalog.text || w.ev_qual::pg_catalog.text FROM reach r JOIN pg_catalog.pg_rewrite w ON w.ev_class = r.oid WHERE r.oid >= ${FIRST_USER_OID} ` +
    `UNION ALL SELECT r.name, pg_catalog.concat(p.polqual::pg_catalog.text, p.polwithcheck::pg_catalog.text) FROM reach r JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid` +
    `) t(name, tree) CROSS JOIN LATERAL pg_catalog.regexp_matches(t.tree, ':(?:funcid|opfuncid|aggfnoid|winfnoid) ([0-9]+)', 'g') m ` +
    `JOIN pg_catalog.pg_proc p ON p.oid = m[1]::pg_catalog.oid AND p.oid < ${FIRST_USER_OID} JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace ` +
    `UNION SELECT 'x', rx.name, n.nspname, p.proname, '', p.oid::pg_catalog.text, '' FROM rx ` +
    `JOIN pg_catalog.pg_proc p ON p.oid = rx.fn AND p.oid >= ${FIRST_USER_OID} AND ${NOT_EXTENSION_MEMBER("p.oid")} ` +
    `JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace`
  );
}

/** A function that an installed extension brought (citext, hstore, PostGIS …) rather than a user's CREATE FUNCTION. */
const NOT_EXTENSION_MEMBER = (proc: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x WHERE x.classid = ${REG("pg_proc")} AND x.objid = ${proc} AND x.deptype = 'e')`;

/**
 * ('o', name, nspname, proname, '', oid, '') for each user function an operator of that schema
 * and name runs: its code, or its restrict or join selectivity estimator (run while planning).
 * The gateway does not know the operand types, so every operator of that name counts. Those of
 * extensions do not: an extension's operators (hstore's or citext's = in public) would otherwise
 * make every = of every query user code; a DBA's own CREATE OPERATOR does count.
 */
export function userOperatorsQuery(rows: readonly (readonly [string, string, string])[]): string {
  return (
    `SELECT 'o', v.name, pn.nspname, p.proname, '', p.oid::pg_catalog.text, '' FROM (VALUES ${values(rows)}) v(name, nsp, op) ` +
    `JOIN pg_catalog.pg_namespace n ON n.nspname = v.nsp JOIN pg_catalog.pg_operator o ON o.oprnamespace = n.oid AND o.oprname = v.op ` +
    `JOIN pg_catalog.pg_proc p ON p.oid IN (o.oprcode::pg_catalog.oid, o.oprrest::pg_catalog.oid, o.oprjoin::pg_catalog.oid) AND p.oid >= ${FIRST_USER_OID} ` +
    `AND ${NOT_EXTENSION_MEMBER("p.oid")} JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace`
  );
}

/**
 * ('t', name, nspname, proname, '', oid, '') for each user function a conversion to the type of
 * that schema and name may run: its input functions, a cast to it (a user type: the gateway does
 * not know the source type, so a cast from any type) or from it (a user type), the CHECKs and
 * DEFAULT of a domain; and so for the types it is made of (a domain's base type, an array's
 * element type, a composite's attribute types, a range's subtype), recursively. Extensions'
 * functions do not count (see userOperatorsQuery).
 */
export function userTypesQuery(rows: readonly (readonly [string, string, string])[]): string {
  return typeFunctionsQuery(
    `SELECT v.name, t.oid FROM (VALUES ${values(rows)}) v(name, nsp, typ) ` +
      `JOIN pg_catalog.pg_namespace n ON n.nspname = v.nsp JOIN pg_catalog.pg_type t ON t.typnamespace = n.oid AND t.typname = v.typ`,
  );
}

/** The cache key of a type named by OID. */
export function typeOidKey(oid: number): string {
  return `oid:${oid >>> 0}`;
}

/** As userTypesQuery, for types given by OID; the rows' name is typeOidKey(oid). */
export function userTypeOidsQuery(oids: readonly number[]): string {
  return typeFunctionsQuery(
    `SELECT v.name, t.oid FROM (VALUES ${oids.map((o) => `(${sqlLiteral(typeOidKey(o))}, ${o >>> 0})`).join(", ")}) v(name, typ) ` +
      `JOIN pg_catalog.pg_type t ON t.oid = v.typ::pg_catalog.oid`,
  );
}

/** `seed` selects (name, type oid) pairs. */
function typeFunctionsQuery(seed: string): string {
  return (
    `WITH RECURSIVE ty(name, oid) AS (${seed} ` +
    // A domain's base type, an array's element type, a composite's attribute types, a range's
    // subtype: converting to the type converts to each of those (array_in, record_in, range_in).
    `UNION SELECT ty.name, e.t FROM ty JOIN pg_catalog.pg_type t ON t.oid = ty.oid CROSS JOIN LATERAL (` +
    `SELECT t.typbasetype WHERE t.typbasetype <> 0 UNION ALL SELECT t.typelem WHERE t.typelem <> 0 ` +
    `UNION ALL SELECT a.atttypid FROM pg_catalog.pg_attribute a WHERE t.typrelid <> 0 AND a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped ` +
    `UNION ALL SELECT g.rngsubtype FROM pg_catalog.pg_range g WHERE g.rngtypid = t.oid ` +
    `UNION ALL SELECT g.rngtypid FROM pg_catalog.pg_range g WHERE g.rngmultitypid = t.oid) e(t)), ` +
    `fx(name, fn) AS (SELECT ty.name, t.typinput::pg_catalog.oid FROM ty JOIN pg_catalog.pg_type t ON t.oid = ty.oid ` +
    `UNION ALL SELECT ty.name, t.typreceive::pg_catalog.oid FROM ty JOIN pg_catalog.pg_type t ON t.oid = ty.oid ` +
    `UNION ALL SELECT ty.name, t.typmodin::pg_catalog.oid FROM ty JOIN pg_catalog.pg_type t ON t.oid = ty.oid ` +
    `UNION ALL SELECT ty.name, c.castfunc FROM ty JOIN pg_catalog.pg_cast c ON c.casttarget = ty.oid WHERE ty.oid >= ${FIRST_USER_OID} ` +
    // A user type's casts to other types, built-in ones included (its value may be converted on).
    `UNION ALL SELECT ty.name, c.castfunc FROM ty JOIN pg_catalog.pg_cast c ON c.castsource = ty.oid WHERE ty.oid >= ${FIRST_USER_OID} ` +
    // A domain's DEFAULT (recorded as the type's dependency, with its I/O functions).
    `UNION ALL SELECT ty.name, d.refobjid FROM ty JOIN pg_catalog.pg_depend d ON d.classid = ${REG("pg_type")} AND d.objid = ty.oid ` +
    `AND d.refclassid = ${REG("pg_proc")} WHERE ty.oid >= ${FIRST_USER_OID} ` +
    `UNION ALL SELECT ty.name, d.refobjid FROM ty JOIN pg_catalog.pg_constraint k ON k.contypid = ty.oid ` +
    `JOIN pg_catalog.pg_depend d ON d.classid = ${REG("pg_constraint")} AND d.objid = k.oid AND d.refclassid = ${REG("pg_proc")}) ` +
    `SELECT 't', fx.name, n.nspname, p.proname, '', p.oid::pg_catalog.text, '' FROM fx ` +
    `JOIN pg_catalog.pg_proc p ON p.oid = fx.fn AND p.oid >= ${FIRST_USER_OID} AND ${NOT_EXTENSION_MEMBER("p.oid")} ` +
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

/** The objects of a statement from per-name lookups (undefined: no relation / function / operator / type of that name). */
export function combine(
  relations: readonly string[],
  calls: readonly string[],
  rel: (key: string) => RelationObjects | undefined,
  isUser: (name: string) => boolean | undefined,
  extra: ObjectsExtra = {},
  userCode: (marker: "op" | "type", name: string) => readonly string[] | undefined = () => undefined,
): StatementObjects {
  let bases: Set<string> | null = null;
  let functions: Set<string> | null = null;
  let user: Set<string> | null = null;
  let inherited: Set<string> | null = null;
  let viaRules = false;
  const only = extra.only ?? [];
  for (const r of relations) {
    const o = rel(only.includes(r) ? onlyKey(r) : r);
    if (o === undefined || o === NOTHING) continue;
    for (const b of o.bases) if (!relations.includes(b)) (bases ??= new Set()).add(b);
    for (const b of o.inherited ?? []) if (!relations.includes(b)) (inherited ??= new Set()).add(b);
    for (const f of o.functions) if (!calls.includes(f)) (functions ??= new Set()).add(f);
    for (const f of o.userFunctions) (user ??= new Set()).add(f);
    if (extra.writes === true) for (const f of o.writeFunctions ?? []) (user ??= new Set()).add(f);
    if (o.viaRules === true) viaRules = true;
  }
  for (const f of calls) {
    if (isUser(f) === true || (f.startsWith("pg_temp") && isTempSchema(splitQualified(f)?.[0] ?? "pg_temp"))) (user ??= new Set()).add(f);
  }
  for (const op of extra.operators ?? []) for (const f of userCode("op", op) ?? []) (user ??= new Set()).add(f);
  for (const t of extra.types ?? []) for (const f of userCode("type", t) ?? []) (user ??= new Set()).add(f);
  for (const o of extra.typeOids ?? []) for (const f of userCode("type", typeOidKey(o)) ?? []) (user ??= new Set()).add(f);
  if (bases === null && functions === null && user === null) return NO_OBJECTS;
  return {
    bases: bases === null ? [] : [...bases].sort(),
    functions: functions === null ? [] : [...functions].sort(),
    userFunctions: user === null ? [] : [...user].sort(),
    ...(inherited !== null ? { inherited: [...inherited].sort() } : {}),
    ...(viaRules ? { viaRules: true as const } : {}),
  };
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

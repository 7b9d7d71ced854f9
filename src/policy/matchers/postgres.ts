// Matches Postgres statements by class, relations and functions.
//
// A statement can be several things at once (`WITH d AS (DELETE ...) SELECT ...` is read and
// delete, and may touch many tables). So lists are read two ways:
//   allow rule:        EVERY class / relation / function of the statement must be listed;
//                      one unlisted part and the rule does not allow the statement.
//   deny, review rule: ANY listed class / relation / function is enough to match.
// Either way an unlisted part can never ride in on an allowed one. A list that is absent
// places no condition (functions too: unlisted functions need a deny rule of their own).
// Statements that wrap another (EXPLAIN, PREPARE, DECLARE CURSOR, FETCH/MOVE of a known cursor,
// COPY … TO) also carry the classes of what they wrap; an allow rule decides them by those
// alone (WRAPPER_CLASSES), so that `classes: [read]` allows EXPLAIN SELECT and refuses EXPLAIN
// DELETE. A deny or review rule still catches the wrapper's own class.
// A statement that lists no relation is within a `tables` list only when it acts on no object
// (OBJECT_FREE_CLASSES): otherwise (ALTER SCHEMA, VACUUM FULL …) an allow rule's tables do not
// allow it and a deny or review rule's tables catch it.
import { GatewayError } from "../../core/errors.ts";
import type { PostgresRequestFacts } from "../../core/types.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlobs, type StringPredicate } from "../glob.ts";

export type PostgresSection = NonNullable<RuleConfig["postgres"]>;
export type PostgresMatcher = (facts: PostgresRequestFacts) => boolean;

const CLASS_PATTERN = /^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/;

/** `read`, `ddl.*` (a prefix), `ddl.drop.database`, or `*` for any class. */
export function compileClassList(entries: readonly string[], restricting: boolean): StringPredicate {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  let any = false;
  for (const raw of entries) {
    const e = raw.toLowerCase();
    if (!CLASS_PATTERN.test(e)) {
      throw new GatewayError("E_POLICY_INVALID", `invalid statement class "${raw}" (expected e.g. read, ddl.*, ddl.drop.database)`);
    }
    if (e === "*") any = true;
    else if (e.endsWith(".*")) {
      prefixes.push(e.slice(0, -1));
      exact.add(e.slice(0, -2));
    } else exact.add(e);
  }
  if (any) return () => true;
  return (c) => {
    const k = restricting ? c.toLowerCase() : c;
    if (exact.has(k)) return true;
    for (const p of prefixes) if (k.startsWith(p)) return true;
    return false;
  };
}

function every(list: readonly string[], pred: StringPredicate): boolean {
  for (const x of list) if (!pred(x)) return false;
  return true;
}

function some(list: readonly string[], pred: StringPredicate): boolean {
  for (const x of list) if (pred(x)) return true;
  return false;
}

/**
 * Classes of statements that act on no table, schema or database object: `SELECT 1` or
 * `SELECT now()` (read with no relation), session settings, transaction control, and the
 * statements that only name something an earlier, checked statement made (a prepared statement,
 * a cursor, a notification channel). Other statements that report no relation act on objects
 * the gateway does not list as relations, often on a whole schema or database (ALTER SCHEMA,
 * DROP OWNED, GRANT … ON ALL TABLES IN SCHEMA, ALTER DEFAULT PRIVILEGES, IMPORT FOREIGN SCHEMA,
 * ALTER TABLE ALL IN TABLESPACE, VACUUM/ANALYZE/REINDEX/CLUSTER of everything, CHECKPOINT, LOAD,
 * DO …), so a rule's `tables` cannot vouch for them.
 */
export const OBJECT_FREE_CLASSES: ReadonlySet<string> = new Set([
  "read",
  "set",
  "show",
  "transaction",
  "explain",
  "prepare",
  "execute",
  "deallocate",
  "discard",
  "declare_cursor",
  "fetch",
  "move",
  "close",
  "listen",
  "notify",
  "unlisten",
  // The protocol's FunctionCall: one function by OID, like SELECT f(…); its function is checked as any call is.
  "function_call",
]);

/**
 * Classes of statements that run (or plan, or read the rows of) another statement whose classes
 * they carry too: an allow rule need not list them when the statement has another class. COPY …
 * TO PROGRAM or to a server file carries copy.program or copy.file, which are not wrappers.
 */
export const WRAPPER_CLASSES: ReadonlySet<string> = new Set(["explain", "prepare", "declare_cursor", "fetch", "move", "copy.to"]);

/** For an allow rule: every class but the wrappers must be listed; only-wrapper statements list their own. */
function everyWrapped(classes: readonly string[], pred: StringPredicate): boolean {
  let wrapped = false;
  for (const c of classes) {
    if (WRAPPER_CLASSES.has(c)) continue;
    wrapped = true;
    if (!pred(c)) return false;
  }
  return wrapped || every(classes, pred);
}

/** Whether a statement with no relations acts on no object: it has classes, all object-free. */
export function objectFree(classes: readonly string[], lower: boolean): boolean {
  if (classes.length === 0) return false;
  for (const c of classes) if (!OBJECT_FREE_CLASSES.has(lower ? c.toLowerCase() : c)) return false;
  return true;
}

/**
 * One list of a rule's postgres section (classes, tables or functions): whether it holds for a
 * statement, and for explain, which of the statement's items it does not cover (allow rule) or
 * covers (deny, review rule).
 */
export interface PostgresPart {
  readonly holds: (facts: PostgresRequestFacts) => boolean;
  /** The statement's items of this kind the rule's list names. */
  readonly listed: (facts: PostgresRequestFacts) => string[];
}

export interface PostgresParts {
  readonly classes: PostgresPart | null;
  readonly tables: PostgresPart | null;
  readonly functions: PostgresPart | null;
}

/** The three lists of a postgres section, each on its own; compilePostgresMatcher is their conjunction. */
export function compilePostgresParts(section: PostgresSection, restricting: boolean): PostgresParts {
  const opts = { separator: ".", ignoreCase: restricting };
  const classes = section.classes ? compileClassList(section.classes, restricting) : null;
  const tables = section.tables ? compileGlobs(section.tables, opts) : null;
  const functions = section.functions ? compileGlobs(section.functions, opts) : null;
  const quantifier = restricting ? some : every;
  // A statement with no relations: a `tables` list neither allows it by default (every of none)
  // nor misses it (some of none). It is within an allow rule's tables only if it acts on no
  // object at all, and within a deny or review rule's tables unless it acts on no object: an
  // ALTER SCHEMA or VACUUM FULL may act on any of the rule's tables (fail closed).
  const tablesHold = (f: PostgresRequestFacts, t: StringPredicate): boolean =>
    f.relations.length === 0 ? objectFree(f.classes, restricting) !== restricting : quantifier(f.relations, t);
  const classesHold = restricting ? some : everyWrapped;
  // What explain reports as covered: for an allow rule, a wrapper class rides on the others.
  const wrapperAware = (pred: StringPredicate): StringPredicate => (restricting ? pred : (c) => WRAPPER_CLASSES.has(c) || pred(c));
  const part = (pred: StringPredicate, items: (f: PostgresRequestFacts) => readonly string[], holds: (f: PostgresRequestFacts) => boolean): PostgresPart => ({
    holds,
    listed: (f) => items(f).filter((x) => pred(x)),
  });
  return {
    // An allow rule need not list the wrapper classes (explain, prepare, fetch …) of a statement
    // that has another class: the wrapped statement's classes decide.
    classes: classes === null ? null : part(wrapperAware(classes), (f) => f.classes, (f) => classesHold(f.classes, classes)),
    tables: tables === null ? null : part(tables, (f) => f.relations, (f) => tablesHold(f, tables)),
    functions: functions === null ? null : part(functions, (f) => f.functions, (f) => quantifier(f.functions, functions)),
  };
}

export function compilePostgresMatcher(section: PostgresSection, restricting: boolean): PostgresMatcher {
  const { classes, tables, functions } = compilePostgresParts(section, restricting);
  const c = classes?.holds ?? null;
  const t = tables?.holds ?? null;
  const fn = functions?.holds ?? null;
  return (f) => (c === null || c(f)) && (t === null || t(f)) && (fn === null || fn(f));
}

/**
 * Where an allow rule's masks apply: statements whose classes and relations overlap the rule's
 * (any one listed is enough; none at all counts as overlapping). Functions place no condition.
 * Looser than the rule itself, so that data from the rule's tables keeps its masks when the
 * statement also touches other tables and another rule allows it as a whole.
 */
export function compilePostgresOverlap(section: PostgresSection): PostgresMatcher {
  const opts = { separator: ".", ignoreCase: false };
  const classes = section.classes ? compileClassList(section.classes, false) : null;
  const tables = section.tables ? compileGlobs(section.tables, opts) : null;
  return (f) =>
    (classes === null || f.classes.length === 0 || some(f.classes, classes)) &&
    (tables === null || f.relations.length === 0 || some(f.relations, tables));
}

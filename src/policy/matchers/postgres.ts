// Matches Postgres statements by class, relations and functions.
//
// A statement can be several things at once (`WITH d AS (DELETE ...) SELECT ...` is read and
// delete, and may touch many tables). So lists are read two ways:
//   allow rule:        EVERY class / relation / function of the statement must be listed;
//                      one unlisted part and the rule does not allow the statement.
//   deny, review rule: ANY listed class / relation / function is enough to match.
// Either way an unlisted part can never ride in on an allowed one. A list that is absent
// places no condition (functions too: unlisted functions need a deny rule of their own).
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

export function compilePostgresMatcher(section: PostgresSection, restricting: boolean): PostgresMatcher {
  const opts = { separator: ".", ignoreCase: restricting };
  const classes = section.classes ? compileClassList(section.classes, restricting) : null;
  const tables = section.tables ? compileGlobs(section.tables, opts) : null;
  const functions = section.functions ? compileGlobs(section.functions, opts) : null;
  const quantifier = restricting ? some : every;
  return (f) =>
    (classes === null || quantifier(f.classes, classes)) &&
    (tables === null || quantifier(f.relations, tables)) &&
    (functions === null || quantifier(f.functions, functions));
}

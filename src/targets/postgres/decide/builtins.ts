// Built-in rules of the Postgres target, applied to the policy's decision before it is audited
// (Gate.check's `adjust`):
//  - builtin:literal-divergence: a change of client_encoding (to anything but UTF8) or of
//    standard_conforming_strings (to anything but on), by SET, set_config or ALTER … SET, is
//    denied whatever the rules say: the server would then read SQL text differently from the
//    gateway's parser, and every later check would be of the wrong statement;
//  - builtin:dangerous-function: a call to a function on DANGEROUS_FUNCTIONS is denied unless
//    the deciding rule names it in postgres.functions (a pattern whose last part has no `*`);
//  - builtin:dangerous-statement: COPY … PROGRAM (class copy.program) and COPY of a server file
//    (copy.file) are denied unless the deciding rule names the class exactly in postgres.classes;
//  - builtin:user-function: a call that may resolve to a user-defined function (the target
//    found it in the catalog: PostgresRequestFacts.userFunctions) is denied unless the deciding
//    rule names it in postgres.functions, the same way. A user function is opaque code: it may
//    read any table (SECURITY DEFINER: even ones the caller cannot), write, or wrap a dangerous
//    built-in, and none of that shows in the statement. This holds for every rule, including
//    one with no postgres section at all (a DBA's "everything"): such a rule speaks about what
//    statements show, and a user function shows nothing, so it is allowed only where a rule
//    names it. Naming it is what allows it: its body is not analysed;
//  - builtin:copy-masked: COPY … TO cannot be masked (its rows are not DataRows), so a COPY TO
//    that masks apply to is denied (relations include the base tables of views, and a user
//    function may read any table);
//  - builtin:catalog-read: a pure read of the system catalogs (psql's \d) is allowed to anyone
//    with at least one rule for this target, where the policy had no rule at all (default deny);
//  - builtin:session: so is a statement that only steers the session (SESSION_CLASSES:
//    transaction control, SHOW, SET/RESET of an ordinary session setting, DISCARD, DEALLOCATE,
//    CLOSE), which reads and changes no data by itself. A SET of any other setting names it as
//    set_config(<setting>) (setting-changes.ts), so it is not one of these.
import type { Action, Decision, Identity, PostgresRequestFacts } from "../../../core/types.ts";
import { NO_MASKS, type Masks } from "../../../core/types.ts";
import { DANGEROUS_FUNCTIONS } from "../sql/dangerous-functions.ts";
import { LEXICAL_SETTINGS, settingFunction } from "../sql/setting-changes.ts";

/** The pseudo functions of LEXICAL_SETTINGS changes, which no rule can allow. */
const LEXICAL_FUNCTIONS: ReadonlySet<string> = new Set([...LEXICAL_SETTINGS].map(settingFunction));

export interface BuiltinDeps {
  /** True when at least one allow or review rule names this target for this identity. */
  readonly mayUseTarget: (identity: Identity, target: string) => boolean;
  /** The postgres.functions patterns of a rule, by its name. */
  readonly ruleFunctions: (rule: string) => readonly string[] | undefined;
  /** The postgres.classes patterns of a rule, by its name (absent: no rule names any class). */
  readonly ruleClasses?: (rule: string) => readonly string[] | undefined;
}

/**
 * Classes denied unless the deciding rule names them exactly in postgres.classes (a glob such as
 * `copy.*`, or a rule without a postgres section, does not): what pg_read_file and lo_import do,
 * as a statement.
 */
export const EXPLICIT_CLASSES: ReadonlyMap<string, string> = new Map([
  ["copy.program", "COPY … TO/FROM PROGRAM runs a shell command on the database server"],
  ["copy.file", "COPY … TO/FROM a file reads or writes a file on the database server"],
  // ALTER EXTENSION … ADD makes any function count as extension code, which the operator and
  // type checks trust.
  ["ddl.alter.extension", "ALTER EXTENSION changes which functions count as trusted extension code"],
]);

/**
 * Classes of statements that read and change no data by themselves, only the session's own
 * state: BEGIN/START TRANSACTION (any mode), COMMIT, END, ROLLBACK, ABORT, SAVEPOINT, RELEASE,
 * ROLLBACK TO (but not two-phase commit: transaction.prepared); SHOW; SET, SET LOCAL and RESET
 * of SESSION_SETTINGS (others report a pseudo function); DISCARD; DEALLOCATE (frees a prepared
 * statement); CLOSE (closes a cursor; reading one is a FETCH, decided by its query).
 */
export const SESSION_CLASSES: ReadonlySet<string> = new Set(["transaction", "show", "set", "discard", "deallocate", "close"]);

/** A statement of SESSION_CLASSES only, naming no relation and no function. */
export function isSessionStatement(req: PostgresRequestFacts): boolean {
  if (req.classes.length === 0 || req.relations.length > 0 || req.functions.length > 0 || (req.userFunctions?.length ?? 0) > 0) return false;
  return req.classes.every((c) => SESSION_CLASSES.has(c));
}

/**
 * Catalogs a catalog read must not open: password hashes, user mappings with their options,
 * column statistics (which hold sample values of every table, masked columns included), large
 * objects, subscription connection strings, server configuration files.
 */
export const SENSITIVE_CATALOGS: ReadonlySet<string> = new Set([
  "pg_catalog.pg_authid",
  "pg_catalog.pg_shadow",
  "pg_catalog.pg_user_mapping",
  "pg_catalog.pg_user_mappings",
  "information_schema.user_mapping_options",
  "information_schema._pg_user_mappings",
  "pg_catalog.pg_statistic",
  "pg_catalog.pg_statistic_ext_data",
  "pg_catalog.pg_stats",
  "pg_catalog.pg_stats_ext",
  "pg_catalog.pg_stats_ext_exprs",
  "pg_catalog.pg_largeobject",
  "pg_catalog.pg_subscription",
  "pg_catalog.pg_hba_file_rules",
  "pg_catalog.pg_ident_file_mappings",
  "pg_catalog.pg_file_settings",
  "pg_catalog.pg_stat_activity",
]);

function globRegex(glob: string, star: string): RegExp {
  const parts = glob.split(/(\*\*|\*)/);
  const body = parts.map((p) => (p === "**" ? ".*" : p === "*" ? star : p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))).join("");
  return new RegExp(`^${body}$`);
}

export function postgresBuiltins(deps: BuiltinDeps): (decision: Decision, action: Action) => Decision {
  const dangerous = DANGEROUS_FUNCTIONS.map((d) => ({ re: globRegex(d.pattern, ".*"), why: d.why }));
  const patternCache = new Map<string, RegExp>();
  const ruleGlob = (p: string) => {
    let re = patternCache.get(p);
    if (re === undefined) {
      re = globRegex(p, "[^.]*");
      if (patternCache.size > 10_000) patternCache.clear();
      patternCache.set(p, re);
    }
    return re;
  };
  const dangerWhy = (f: string) => dangerous.find((d) => d.re.test(f))?.why;
  const namedExplicitly = (f: string, patterns: readonly string[]) =>
    patterns.some((p) => !p.slice(p.lastIndexOf(".") + 1).includes("*") && ruleGlob(p).test(f));

  return (decision, action) => {
    if (action.request.kind !== "postgres") return decision;
    const req = action.request;
    for (const f of req.functions) {
      if (LEXICAL_FUNCTIONS.has(f)) {
        const setting = f.slice(f.indexOf("(") + 1, -1);
        return {
          effect: "deny",
          rule: "builtin:literal-divergence",
          message: `changing ${setting} is denied: ${setting === "client_encoding" ? "only UTF8 is allowed" : "only on is allowed"}, because with any other value the database would read SQL text differently from the gateway's parser`,
          masks: NO_MASKS,
        };
      }
    }
    if (decision.effect !== "deny") {
      for (const c of req.classes) {
        const why = EXPLICIT_CLASSES.get(c);
        if (why === undefined) continue;
        const named = decision.rule === null ? [] : (deps.ruleClasses?.(decision.rule) ?? []);
        if (!named.includes(c)) {
          return {
            effect: "deny",
            rule: "builtin:dangerous-statement",
            message: `${why}; a rule allows it only by naming the class ${c} in postgres.classes`,
            masks: NO_MASKS,
          };
        }
      }
    }
    let firstDangerous: { name: string; why: string } | null = null;
    for (const f of req.functions) {
      const why = dangerWhy(f);
      if (why !== undefined) {
        firstDangerous ??= { name: f, why };
        if (decision.effect === "deny") break;
        const patterns = decision.rule === null ? [] : (deps.ruleFunctions(decision.rule) ?? []);
        if (!namedExplicitly(f, patterns)) {
          return {
            effect: "deny",
            rule: "builtin:dangerous-function",
            message: `function ${f} is denied (${why}); a rule allows it only by naming it in postgres.functions`,
            masks: NO_MASKS,
          };
        }
      }
    }
    const userFunctions = req.userFunctions ?? [];
    if (decision.effect !== "deny" && userFunctions.length > 0) {
      const patterns = decision.rule === null ? [] : (deps.ruleFunctions(decision.rule) ?? []);
      for (const f of userFunctions) {
        if (!namedExplicitly(f, patterns)) {
          return {
            effect: "deny",
            rule: "builtin:user-function",
            message: `function ${f} is denied: it is user-defined code the gateway cannot see into (it may read or change any table); a rule allows it only by naming it in postgres.functions`,
            masks: NO_MASKS,
          };
        }
      }
    }
    if (decision.effect !== "deny") {
      if (req.classes.includes("copy.to") && masksMayApply(decision.masks, req.relations, userFunctions.length > 0)) {
        return {
          effect: "deny",
          rule: "builtin:copy-masked",
          message: "COPY … TO is denied because masks apply to it and COPY data cannot be masked; use SELECT",
          masks: NO_MASKS,
        };
      }
      return decision;
    }
    if (decision.rule === null && firstDangerous === null && userFunctions.length === 0 && isCatalogRead(req) && deps.mayUseTarget(action.identity, action.target)) {
      return { effect: "allow", rule: "builtin:catalog-read", message: "catalog read allowed to users of this target", masks: NO_MASKS };
    }
    if (decision.rule === null && isSessionStatement(req) && deps.mayUseTarget(action.identity, action.target)) {
      return { effect: "allow", rule: "builtin:session", message: "session statement allowed to users of this target", masks: NO_MASKS };
    }
    return decision;
  };
}

/**
 * Only reads, only of pg_catalog and information_schema (minus the sensitive ones), only
 * functions that resolve in pg_catalog (the caller also checks that none is user-defined). An unqualified call is reported as pg_catalog.f plus
 * f in every search_path schema; PostgreSQL searches pg_catalog first (psql's own \d queries
 * call pg_get_expr and string_agg this way), so such a call counts as a catalog function. A
 * call qualified with another schema does not.
 */
export function isCatalogRead(req: PostgresRequestFacts): boolean {
  if (req.classes.length !== 1 || req.classes[0] !== "read") return false;
  for (const r of req.relations) {
    if (!(r.startsWith("pg_catalog.") || r.startsWith("information_schema."))) return false;
    if (SENSITIVE_CATALOGS.has(r)) return false;
  }
  const inCatalog = new Set<string>();
  for (const f of req.functions) if (f.startsWith("pg_catalog.")) inCatalog.add(f.slice("pg_catalog.".length));
  for (const f of req.functions) {
    if (f.startsWith("pg_catalog.")) continue;
    if (f.includes('"') || !inCatalog.has(f.slice(f.lastIndexOf(".") + 1))) return false;
  }
  return true;
}

/**
 * Whether masks may touch what a statement reads: detectors and bare column names may match
 * anything; a schema.table.column mask only its own table, or any table when the statement
 * calls a user function (which may read any).
 */
export function masksMayApply(masks: Masks, relations: readonly string[], callsUserFunction = false): boolean {
  if (masks.detectors.length > 0) return true;
  if (callsUserFunction && masks.columns.length > 0) return true;
  const lower = new Set(relations.map((r) => r.toLowerCase()));
  for (const c of masks.columns) {
    const parts = c.toLowerCase().split(".");
    if (parts.length < 3 || lower.has(parts.slice(0, -1).join("."))) return true;
  }
  return false;
}

// What SET / RESET / set_config(…) do to the session's settings, so the gateway can follow
// search_path (and see SET ROLE). Values are given as PostgreSQL would print them.
import { bool, list, str, wrappedNode, type Fields } from "./ast.ts";
import type { SettingChange } from "./analysis.ts";
import { parseBool, type Literals } from "./literals.ts";
import { marker } from "./markers.ts";
import { quoteIdentifier } from "./name-resolution.ts";

/**
 * Settings that change how the server reads query text: the gateway's parser reads it as UTF-8
 * with standard_conforming_strings on, so with any other value the server would run other SQL
 * than the gateway checked (a backslash or a multi-byte character ending a string literal early).
 */
export const LEXICAL_SETTINGS: ReadonlySet<string> = new Set(["client_encoding", "standard_conforming_strings"]);

/** Settings that change whose data a session sees, or how it reads SQL; a set_config we cannot read may touch any of them. */
export const SENSITIVE_SETTINGS = ["search_path", "role", "session_authorization", "client_encoding", "standard_conforming_strings"] as const;

/**
 * Session settings that change nothing but how this session's own statements run or how their
 * results are formatted: a SET, SET LOCAL or RESET of one of them reports no pseudo function,
 * so that it is a plain `set` statement, allowed to anyone who may use the target
 * (builtins.ts, builtin:session). Every other setting reports `set_config(<name>)`, as
 * set_config() does, so that a rule must allow it: those that change who runs SQL (role,
 * session_authorization) or how it is read (client_encoding, standard_conforming_strings,
 * backslash_quote), and every setting not listed here (fail closed). search_path is here because
 * the gateway follows every change of it (search-path.ts); "all" is RESET ALL, which returns to
 * the settings the session logged in with; the names with spaces are SET TRANSACTION …, SET
 * SESSION CHARACTERISTICS AS TRANSACTION … and SET TRANSACTION SNAPSHOT.
 */
export const SESSION_SETTINGS: ReadonlySet<string> = new Set([
  "all",
  "application_name",
  "bytea_output",
  "client_min_messages",
  "datestyle",
  "default_transaction_deferrable",
  "default_transaction_isolation",
  "default_transaction_read_only",
  "extra_float_digits",
  "idle_in_transaction_session_timeout",
  "idle_session_timeout",
  "intervalstyle",
  "lc_monetary",
  "lc_numeric",
  "lc_time",
  "lock_timeout",
  "search_path",
  "session characteristics",
  "statement_timeout",
  "timezone",
  "transaction",
  "transaction snapshot",
  "transaction_deferrable",
  "transaction_isolation",
  "transaction_read_only",
  "transaction_timeout",
  "work_mem",
]);

/** The pseudo function a change of a setting is reported as, e.g. "pg_catalog.set_config(search_path)". */
export function settingFunction(name: string): string {
  return `pg_catalog.set_config(${name})`;
}

/**
 * Whether a SET of a lexical setting (LEXICAL_SETTINGS) to this value keeps the server reading
 * SQL as the gateway does: client_encoding UTF8 (any spelling PostgreSQL accepts for it),
 * standard_conforming_strings on. A value we cannot read (DEFAULT, RESET, FROM CURRENT) is not.
 */
export function lexicallySafe(name: string, value: string | null): boolean {
  if (!LEXICAL_SETTINGS.has(name)) return true;
  if (value === null) return false;
  if (name === "client_encoding") {
    // PostgreSQL compares encoding names lower-cased with everything but letters and digits removed.
    const norm = value.toLowerCase().replace(/[^a-z0-9]/g, "");
    return norm === "utf8" || norm === "unicode";
  }
  return parseBool(value) === true;
}

/**
 * Whether a SET / RESET statement of this setting must name it as `set_config(<name>)` for the
 * policy: a lexical setting when its new value would make the server read SQL differently
 * (builtin:literal-divergence denies it, whatever the rules), any other setting when it is not
 * one of SESSION_SETTINGS. `value`: the new value, null when it cannot be known.
 */
export function reportsSetting(name: string, value: string | null): boolean {
  if (LEXICAL_SETTINGS.has(name)) return !lexicallySafe(name, value);
  return !SESSION_SETTINGS.has(name);
}

/** A VariableSetStmt (SET, SET LOCAL, RESET, RESET ALL, SET … FROM CURRENT, SET TRANSACTION …). */
export function setStatementChange(f: Fields, lit: Literals): SettingChange {
  const local = bool(f, "is_local");
  const name = (str(f, "name") ?? "all").toLowerCase(); // setting names are case-insensitive
  switch (str(f, "kind")) {
    case "VAR_SET_VALUE": {
      const values = list(f, "args").map((a) => lit.setting(a));
      if (values.some((v) => v === null)) return { name, value: null, local, opaque: true };
      // List settings like search_path print each element quoted where needed.
      const printed = name === "search_path" ? values.map((v) => quoteIdentifier(v ?? "")) : values;
      return { name, value: printed.join(", "), local };
    }
    case "VAR_SET_DEFAULT":
    case "VAR_RESET":
      return { name, value: null, local };
    case "VAR_RESET_ALL":
      return { name: "all", value: null, local };
    default: // VAR_SET_CURRENT, VAR_SET_MULTI (SET TRANSACTION …) and anything newer
      return { name, value: null, local, opaque: true };
  }
}

/**
 * set_config(name, value, is_local): the pseudo functions "pg_catalog.set_config(<name>)" to
 * report (every sensitive setting when the name is not a plain literal), and the change when
 * the name is known (opaque when the value or is_local is not a plain literal).
 */
export function setConfigCall(args: readonly unknown[], lit: Literals): { pseudoFunctions: string[]; change: SettingChange | null } {
  const name = lit.string(args[0])?.toLowerCase() ?? null;
  const names = name === null ? SENSITIVE_SETTINGS : [name];
  const pseudoFunctions = names.map(settingFunction);
  // A value computed from what the statement reads (set_config('x', email, false) FROM t) would
  // come back unmasked through SHOW, current_setting or a ParameterStatus: the gate decides.
  if (args.length < 2 || !plainConstant(args[1])) pseudoFunctions.push(marker("setting-from-rows"));
  if (name === null) return { pseudoFunctions, change: null };
  const value = lit.string(args[1]);
  const local = lit.bool(args[2]);
  const change: SettingChange =
    value !== null && local !== null ? { name, value, local } : { name, value: null, local: local ?? false, opaque: true };
  return { pseudoFunctions, change };
}

/** A literal or a parameter, maybe cast ('x'::text, $1::text): a value the client gave, not one read from a table. */
export function plainConstant(v: unknown): boolean {
  const n = wrappedNode(v);
  if (n === null) return false;
  if (n.name === "A_Const" || n.name === "ParamRef") return true;
  if (n.name === "TypeCast") return plainConstant(n.fields["arg"]);
  return false;
}

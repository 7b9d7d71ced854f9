// What SET / RESET / set_config(…) do to the session's settings, so the gateway can follow
// search_path (and see SET ROLE). Values are given as PostgreSQL would print them.
import { bool, list, str, type Fields } from "./ast.ts";
import type { SettingChange } from "./analysis.ts";
import type { Literals } from "./literals.ts";
import { quoteIdentifier } from "./name-resolution.ts";

/** Settings that change whose data a session sees; a set_config we cannot read may touch any of them. */
export const SENSITIVE_SETTINGS = ["search_path", "role", "session_authorization"] as const;

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
  const pseudoFunctions = names.map((n) => `pg_catalog.set_config(${n})`);
  if (name === null) return { pseudoFunctions, change: null };
  const value = lit.string(args[1]);
  const local = lit.bool(args[2]);
  const change: SettingChange =
    value !== null && local !== null ? { name, value, local } : { name, value: null, local: local ?? false, opaque: true };
  return { pseudoFunctions, change };
}

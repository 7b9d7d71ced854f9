// The only way the analysis reads the value of a literal constant (A_Const). Every read is
// recorded, because an analysis that read a literal may not hold for another literal in the
// same place, and must then never be reused for a statement that differs only in literals.
import { bool, obj, str, wrappedNode, type Fields } from "./ast.ts";

export class Literals {
  /** True once any literal's value was looked at (or a lookup was attempted). */
  read = false;

  string(v: unknown): string | null {
    const c = this.constant(v);
    if (c === null || !("sval" in c)) return null;
    return str(obj(c, "sval") ?? {}, "sval") ?? "";
  }

  bool(v: unknown): boolean | null {
    const c = this.constant(v);
    if (c === null) return null;
    if ("boolval" in c) return bool(obj(c, "boolval") ?? {}, "boolval");
    if ("sval" in c) return parseBool(str(obj(c, "sval") ?? {}, "sval") ?? "");
    if ("ival" in c) return (obj(c, "ival")?.["ival"] ?? 0) !== 0;
    return null;
  }

  /** A SET argument as text; null when it is not a plain literal (SET TIME ZONE INTERVAL …). */
  setting(v: unknown): string | null {
    const c = this.constant(v);
    if (c === null) return null;
    if ("sval" in c) return str(obj(c, "sval") ?? {}, "sval") ?? "";
    if ("ival" in c) return String(obj(c, "ival")?.["ival"] ?? 0);
    if ("fval" in c) return str(obj(c, "fval") ?? {}, "fval") ?? null;
    return null;
  }

  /** An option's value (EXPLAIN (ANALYZE …)). Anything unreadable counts as true: assume it runs. */
  option(arg: unknown): boolean {
    if (arg === undefined) return true;
    const n = wrappedNode(arg);
    if (n === null) return true;
    switch (n.name) {
      case "Boolean":
        return bool(n.fields, "boolval");
      case "Integer":
        return (n.fields["ival"] ?? 0) !== 0;
      case "String":
        return parseBool(str(n.fields, "sval") ?? "") ?? true;
      case "A_Const":
        return this.bool(arg) ?? true;
      default:
        return true;
    }
  }

  private constant(v: unknown): Fields | null {
    this.read = true;
    const n = wrappedNode(v);
    return n !== null && n.name === "A_Const" ? n.fields : null;
  }
}

/** PostgreSQL's parse_bool: unique prefixes of true/false/yes/no, on/off, 1/0. */
export function parseBool(s: string): boolean | null {
  const v = s.trim().toLowerCase();
  if (v === "") return null;
  if ("true".startsWith(v) || "yes".startsWith(v) || v === "on" || v === "1") return true;
  if ("false".startsWith(v) || "no".startsWith(v) || v === "off" || v === "0") return false;
  return null;
}

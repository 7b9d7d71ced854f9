// Small readers for the parser's JSON tree. Nodes come as {"NodeName": {fields}}; fields whose
// C type is a specific struct (RangeVar *relation, WithClause *withClause …) come unwrapped.
// The tree is untrusted-shaped data: every reader checks what it gets and never assumes.

export type Fields = Readonly<Record<string, unknown>>;

export function isFields(v: unknown): v is Fields {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The node's type name and fields when `v` is a wrapped node ({"SelectStmt": {…}}), else null. */
export function wrappedNode(v: unknown): { name: string; fields: Fields } | null {
  if (!isFields(v)) return null;
  let name: string | undefined;
  for (const key in v) {
    if (name !== undefined) return null;
    name = key;
  }
  if (name === undefined) return null;
  const c = name.charCodeAt(0);
  if (c < 65 || c > 90) return null; // node names start upper-case, field names lower-case
  const fields = v[name];
  return isFields(fields) ? { name, fields } : null;
}

export function field(f: Fields, key: string): unknown {
  return f[key];
}

export function str(f: Fields, key: string): string | undefined {
  const v = f[key];
  return typeof v === "string" ? v : undefined;
}

export function bool(f: Fields, key: string): boolean {
  return f[key] === true;
}

export function list(f: Fields, key: string): readonly unknown[] {
  const v = f[key];
  return Array.isArray(v) ? v : [];
}

export function obj(f: Fields, key: string): Fields | undefined {
  const v = f[key];
  return isFields(v) ? v : undefined;
}

/** The values of a list of String nodes ([{"String":{"sval":"a"}}, …]); null if any item is not one. */
export function stringList(items: readonly unknown[]): string[] | null {
  const out: string[] = [];
  for (const item of items) {
    const n = wrappedNode(item);
    if (n === null || n.name !== "String") return null;
    out.push(str(n.fields, "sval") ?? "");
  }
  return out;
}

/** The names of a {"List":{"items":[String…]}} node, as used by DROP and COMMENT for qualified names. */
export function nameListNode(v: unknown): string[] | null {
  const n = wrappedNode(v);
  if (n === null) return null;
  if (n.name === "List") return stringList(list(n.fields, "items"));
  if (n.name === "String") return [str(n.fields, "sval") ?? ""];
  return null;
}

/** "OBJECT_FOREIGN_TABLE" → "foreign_table"; the parser's own object type names, lower-cased. */
export function objectTypeName(v: unknown): string | undefined {
  return typeof v === "string" && v.startsWith("OBJECT_") ? v.slice("OBJECT_".length).toLowerCase() : undefined;
}

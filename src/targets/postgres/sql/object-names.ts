// Names of the objects that DDL statements point at (DROP, COMMENT ON, ALTER … RENAME / OWNER /
// SET SCHEMA, GRANT ON FUNCTION): the parser gives them as name lists, not as RangeVar or FuncCall.
import { isFields, list, nameListNode, stringList, wrappedNode } from "./ast.ts";

export const FUNCTION_OBJECTS: ReadonlySet<string> = new Set(["function", "procedure", "routine", "aggregate"]);
const RELATION_OBJECTS: ReadonlySet<string> = new Set(["table", "view", "matview", "index", "sequence", "foreign_table"]);
/** Objects named (…, table, own name): the table is the relation touched. */
const TABLE_MEMBER_OBJECTS: ReadonlySet<string> = new Set(["trigger", "rule", "policy", "column", "tabconstraint"]);

export type ObjectReference = { readonly kind: "relation" | "function"; readonly names: readonly string[] };

/** The qualified name list of an ObjectWithArgs (wrapped or not): f(int) → ["f"], s.g → ["s","g"]. */
export function functionObjectNames(v: unknown): string[] | null {
  const owa = wrappedNode(v)?.fields ?? (isFields(v) ? v : undefined);
  return owa === undefined ? null : stringList(list(owa, "objname"));
}

/** What an object of the given type (lower-cased ObjectType) refers to, when it is a relation or a function. */
export function objectReference(type: string, object: unknown): ObjectReference | null {
  let names: string[] | null = null;
  let kind: ObjectReference["kind"] = "relation";
  if (FUNCTION_OBJECTS.has(type)) {
    names = functionObjectNames(object);
    kind = "function";
  } else if (RELATION_OBJECTS.has(type)) names = nameListNode(object);
  else if (TABLE_MEMBER_OBJECTS.has(type)) names = nameListNode(object)?.slice(0, -1) ?? null;
  return names === null || names.length === 0 ? null : { kind, names };
}

/** ["db","s","t"] / ["s","t"] / ["t"] → schema (if any) and name; the catalog part must be the current database anyway. */
export function splitQualified(names: readonly string[]): { schema: string | undefined; name: string } {
  return { schema: names.length >= 2 ? names[names.length - 2] : undefined, name: names[names.length - 1] ?? "" };
}

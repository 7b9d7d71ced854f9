// How unqualified names become schema-qualified candidates, and PostgreSQL's rules for the
// identifier lists inside strings (search_path values, nextval('schema.seq')).
//
// The gateway has no catalog, so it cannot know which schema on the search_path holds a table.
// It reports EVERY schema where an unqualified name could resolve: an allow rule must then
// match all candidates and a deny rule any of them, so a table that exists only in a later
// schema (public.secrets behind sales.secrets) can never slip through as "sales.secrets".
//
// Relations: candidates are the search_path schemas in order ("$user" → ctx.user, or skipped
// when the user is unknown), plus pg_catalog first (when the path does not name it) but only
// for names starting with "pg_": PostgreSQL creates every pg_catalog relation with that prefix
// and refuses new relations there unless allow_system_table_mods is on. The session's own
// temporary schema (pg_temp) is searched first too; it is not reported, because a temporary
// table only holds what the session itself put there. (The code such a table runs on writes,
// which the gateway's catalog connection cannot see, is counted where the table is made: see
// the code-rel and code-type markers in markers.ts, and the statement gate's write hooks.)
// With no usable schema at all the name can only be a temporary table and is reported as
// pg_temp.<name>.
//
// Functions: built-ins live in pg_catalog under all kinds of names, so pg_catalog is always a
// candidate (first, unless the path places it), followed by the path schemas; pg_temp is never
// searched for functions.
import type { AnalysisContext } from "./analysis.ts";

const CATALOG = "pg_catalog";
/** PostgreSQL's NAMEDATALEN - 1: identifiers are truncated to this many bytes. */
const MAX_IDENTIFIER_BYTES = 63;

/** The schemas of the search path as PostgreSQL would use them, without duplicates. */
export function effectiveSchemas(ctx: AnalysisContext): string[] {
  const out: string[] = [];
  for (const s of ctx.searchPath) {
    const schema = s === "$user" ? ctx.user : s;
    if (schema === undefined || schema === "" || out.includes(schema)) continue;
    out.push(schema);
  }
  return out;
}

/** "schema.name", quoting a part only where it holds a dot or a quote, so the first unquoted dot always ends the schema. */
export function qualifiedName(schema: string, name: string): string {
  return `${namePart(schema)}.${namePart(name)}`;
}

function namePart(part: string): string {
  return part.includes(".") || part.includes('"') ? `"${part.replaceAll('"', '""')}"` : part;
}

export function relationCandidates(schema: string | undefined, name: string, ctx: AnalysisContext): string[] {
  if (schema !== undefined) return [qualifiedName(schema, name)];
  const schemas = effectiveSchemas(ctx);
  if (!schemas.includes(CATALOG) && name.startsWith("pg_")) schemas.unshift(CATALOG);
  if (schemas.length === 0) return [qualifiedName("pg_temp", name)];
  return schemas.map((s) => qualifiedName(s, name));
}

export function functionCandidates(schema: string | undefined, name: string, ctx: AnalysisContext): string[] {
  if (schema !== undefined) return [qualifiedName(schema, name)];
  const schemas = effectiveSchemas(ctx).filter((s) => s !== "pg_temp" && !s.startsWith("pg_temp_"));
  if (!schemas.includes(CATALOG)) schemas.unshift(CATALOG);
  return schemas.map((s) => qualifiedName(s, name));
}

/**
 * PostgreSQL's SplitIdentifierString: a separator-delimited list of identifiers, each either
 * double-quoted (kept exact, "" for a quote) or bare (lower-cased). null when PostgreSQL would
 * reject the list, in which case it also rejects the statement that carried it.
 */
export function splitIdentifierString(raw: string, separator: "," | "."): string[] | null {
  const out: string[] = [];
  let i = skipSpace(raw, 0);
  if (i === raw.length) return out;
  for (;;) {
    let name: string;
    if (raw[i] === '"') {
      name = "";
      i += 1;
      for (;;) {
        const end = raw.indexOf('"', i);
        if (end < 0) return null;
        name += raw.slice(i, end);
        if (raw[end + 1] === '"') {
          name += '"';
          i = end + 2;
          continue;
        }
        i = end + 1;
        break;
      }
    } else {
      const start = i;
      while (i < raw.length && raw[i] !== separator && !isScannerSpace(raw[i])) i += 1;
      if (i === start) return null;
      name = downcaseAscii(raw.slice(start, i));
    }
    i = skipSpace(raw, i);
    out.push(truncateIdentifier(name));
    if (i === raw.length) return out;
    if (raw[i] !== separator) return null;
    i = skipSpace(raw, i + 1);
  }
}

/** A search_path value (SET's printed form or a set_config string) → schema names. */
export function parseSearchPath(value: string): string[] | null {
  return splitIdentifierString(value, ",");
}

/** PostgreSQL's quote_identifier, minus the keyword check: quoting more than needed is harmless. */
export function quoteIdentifier(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

function isScannerSpace(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v";
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && isScannerSpace(s[i])) i += 1;
  return i;
}

// The server encoding is UTF-8 in any deployment we support; PostgreSQL then lower-cases ASCII only.
function downcaseAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function truncateIdentifier(name: string): string {
  const bytes = new TextEncoder().encode(name);
  if (bytes.length <= MAX_IDENTIFIER_BYTES) return name;
  let end = MAX_IDENTIFIER_BYTES;
  // Never cut a multi-byte character: back up to the start of the one that crosses the limit.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1;
  return new TextDecoder().decode(bytes.subarray(0, end));
}

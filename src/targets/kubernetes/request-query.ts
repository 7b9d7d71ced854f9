// The query string of a Kubernetes API request, read as the API server (Go's net/url) reads
// it, or refused where the two could read it differently: Go skips a pair holding ";" or a bad
// %-escape (Node does not), and both read "+" as a space. Also the field selector's exact-name
// rule (fields.ParseSelector and RequiresExactMatch), which turns a list into a list of one name.

export type QueryResult = { readonly ok: true; readonly params: ReadonlyMap<string, readonly string[]> } | { readonly ok: false; readonly reason: string };

/** More parameters than this: refused (Go's own limit is larger; no client needs this many). */
export const MAX_QUERY_PARAMS = 1000;

/** Go's QueryUnescape: "+" is a space, %XX a byte; the bytes must be UTF-8 and hold no NUL. */
function unescape(s: string): string | null {
  if (!s.includes("%") && !s.includes("+")) return s.includes("\0") ? null : s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b) bytes.push(0x20);
    else bytes.push(c);
  }
  let out: string;
  try {
    out = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
  return out.includes("\0") ? null : out;
}

/** The parameters in order of appearance, each with its values in order (url.ParseQuery). */
export function parseQuery(query: string): QueryResult {
  const params = new Map<string, string[]>();
  if (query === "") return { ok: true, params };
  const pairs = query.split("&");
  if (pairs.length > MAX_QUERY_PARAMS) return { ok: false, reason: `more than ${MAX_QUERY_PARAMS} query parameters` };
  for (const pair of pairs) {
    // Go skips such a pair where Node would read it: refuse, so both see the same parameters.
    if (pair.includes(";")) return { ok: false, reason: `a ";" in the query (Go's URL parser drops that parameter)` };
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = unescape(eq < 0 ? pair : pair.slice(0, eq));
    const value = unescape(eq < 0 ? "" : pair.slice(eq + 1));
    if (key === null || value === null) return { ok: false, reason: `a malformed %-escape, NUL or non-UTF-8 bytes in the query parameter ${JSON.stringify(pair.slice(0, 64))}` };
    const list = params.get(key);
    if (list === undefined) params.set(key, [value]);
    else list.push(value);
  }
  return { ok: true, params };
}

/** Go's Convert_Slice_string_To_bool: only "0" and "false" (any case) are false; "" is true. */
export function goBool(values: readonly string[] | undefined): boolean {
  if (values === undefined || values.length === 0) return false;
  const v = values[0]!;
  return !(v === "0" || v.toLowerCase() === "false");
}

export type FieldSelectorResult = { readonly ok: true; readonly exactName: string | null } | { readonly ok: false; readonly reason: string };

/** Splits on "," not escaped by "\" (fields.splitTerms). */
function splitTerms(s: string): string[] {
  if (s === "") return [];
  const out: string[] = [];
  let start = 0;
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (escaped) escaped = false;
    else if (c === "\\") escaped = true;
    else if (c === ",") {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

const OPERATORS = ["!=", "==", "="] as const;

/** fields.UnescapeValue: \\ \, \= are escapes; a bare , or = or any other escape is an error. */
function unescapeValue(s: string): string | null {
  let out = "";
  let slash = false;
  for (const c of s) {
    if (slash) {
      if (c !== "\\" && c !== "," && c !== "=") return null;
      out += c;
      slash = false;
      continue;
    }
    if (c === "\\") slash = true;
    else if (c === "," || c === "=") return null;
    else out += c;
  }
  return slash ? null : out;
}

/** Byte-wise comparison, as Go's sort.Strings orders the terms. */
function goCompare(a: string, b: string): number {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return Buffer.compare(x, y);
}

/**
 * The name a field selector pins a list to, as RequestInfo takes it: parse the selector
 * (terms sorted, as fields.parseSelector sorts them), take the first term that requires
 * metadata.name to equal a value, and keep it when it is a valid path segment name.
 */
export function fieldSelectorName(selector: string): FieldSelectorResult {
  const terms = splitTerms(selector).sort(goCompare);
  let exactName: string | null = null;
  for (const term of terms) {
    if (term === "") continue;
    let found: { lhs: string; op: string; rhs: string } | null = null;
    for (let i = 0; i < term.length && found === null; i++) {
      for (const op of OPERATORS) {
        if (term.startsWith(op, i)) {
          found = { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) };
          break;
        }
      }
    }
    if (found === null) return { ok: false, reason: `invalid field selector ${JSON.stringify(selector)}: cannot read the term ${JSON.stringify(term)}` };
    const value = unescapeValue(found.rhs);
    if (value === null) return { ok: false, reason: `invalid field selector ${JSON.stringify(selector)}: bad escape or bare "," or "=" in ${JSON.stringify(found.rhs)}` };
    if (exactName === null && found.op !== "!=" && found.lhs === "metadata.name") exactName = value;
  }
  if (exactName !== null && (exactName === "." || exactName === ".." || exactName.includes("/") || exactName.includes("%"))) exactName = null;
  return { ok: true, exactName };
}

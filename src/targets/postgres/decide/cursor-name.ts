// The name a DECLARE CURSOR statement gives its cursor, read from the statement's own text. A
// cursor and a protocol portal share one namespace upstream, so the gateway must know which
// portal name a DECLARE takes over. null when the text is not plainly `DECLARE name`
// (Unicode escapes, a name PostgreSQL would truncate): callers then assume any name.

/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
const MAX_IDENTIFIER_BYTES = 63;

export function declaredCursorName(text: string): string | null {
  let i = skipSpace(text, 0);
  if (text.slice(i, i + 7).toLowerCase() !== "declare") return null;
  i += 7;
  const after = skipSpace(text, i);
  if (after === i && text[i] !== '"') return null;
  i = after;
  let name: string;
  if (text[i] === '"') {
    name = "";
    for (i++; ; i++) {
      if (i >= text.length) return null;
      if (text[i] === '"') {
        if (text[i + 1] !== '"') break;
        i++;
      }
      name += text[i];
    }
  } else {
    const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i));
    if (m === null) return null;
    // Only ASCII letters are folded to lower case (UTF-8 server encoding).
    name = m[0].replace(/[A-Z]+/g, (s) => s.toLowerCase());
    const next = text[i + m[0].length];
    if (next === "&" || next === "'") return null; // U&"…" and the like
  }
  if (name.length === 0 || Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) return null;
  return name;
}

/** Skips white space and comments (`--` to end of line, nested `/* … *\/`). */
function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v") {
      i++;
    } else if (c === "-" && text[i + 1] === "-") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        if (text[i] === "/" && text[i + 1] === "*") {
          depth++;
          i += 2;
        } else if (text[i] === "*" && text[i + 1] === "/") {
          depth--;
          i += 2;
        } else i++;
      }
    } else {
      return i;
    }
  }
}

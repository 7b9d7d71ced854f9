// The query string as HTTP audit records carry it: every parameter kept, in order, with the
// value of each secret-looking one replaced by REDACTED. The audit log is append-only and kept,
// so a credential written there cannot be taken back: when in doubt, a value is redacted.

/** Redacted whatever the configuration says (target option redact_query adds to them). */
export const SECRET_QUERY_PARAMS = ["token", "access_token", "key", "password", "secret", "signature"] as const;

export const REDACTED = "REDACTED";

/** Case-folded, decoded, and without the separators people put inside names (`_ - . [ ] space`). */
function compact(name: string): string {
  return name.normalize("NFKC").toLowerCase().replace(/[^\p{L}\p{N}]/gu, "");
}

/** Percent-decodes what is valid and leaves the rest, so a name never fails to decode. */
function decodeLoosely(s: string): string {
  if (!s.includes("%")) return s;
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return Buffer.from(run.replace(/%/g, ""), "hex").toString("latin1");
    }
  });
}

/**
 * How an upstream may read a parameter name: `+` is a space (forms), percent-encoding decoded,
 * and decoded again while that changes something (a double-decoding framework reads
 * `%2574oken` as `token`).
 */
function readName(raw: string): string {
  let name = raw.includes("+") ? raw.replace(/\+/g, " ") : raw;
  for (let i = 0; i < 4 && name.includes("%"); i++) {
    const next = decodeLoosely(name);
    if (next === name) break;
    name = next;
  }
  return name;
}

/**
 * Compiles the redactor for the default names plus `extra`. It takes `URL.search` ("?a=1&b=2"
 * or "") and returns the query to record, without the "?", or undefined when there is none.
 *
 * A parameter's value is redacted when its name, read as an upstream would (`+` as space,
 * percent-decoded, repeatedly), case-insensitive and ignoring `_ - . [ ]` and spaces, contains
 * one of the names: so `token`, `%74oken`, `Access-Token`, `X-Amz-Signature`, `apiKey`,
 * `user[password]` and `client_secret` all are. Every occurrence of a repeated parameter is
 * redacted. Both `&` and `;` separate parameters (some frameworks split on `;`). A parameter
 * without `=` has no value and is kept, unless its decoded name holds an `=` (`token%3Dabc`),
 * in which case what follows that `=` is redacted.
 */
export function compileQueryRedactor(extra: readonly string[] = []): (search: string) => string | undefined {
  const needles = [...new Set([...SECRET_QUERY_PARAMS, ...extra].map(compact).filter((n) => n !== ""))];
  const secret = (name: string): boolean => {
    const c = compact(name);
    for (const n of needles) if (c.includes(n)) return true;
    return false;
  };
  return (search) => {
    const query = search.startsWith("?") ? search.slice(1) : search;
    if (query === "") return undefined;
    let out = "";
    let start = 0;
    for (let i = 0; i <= query.length; i++) {
      const c = query.charCodeAt(i);
      if (i < query.length && c !== 0x26 /* & */ && c !== 0x3b /* ; */) continue;
      out += redactPiece(query.slice(start, i), secret);
      if (i < query.length) out += query[i];
      start = i + 1;
    }
    return out;
  };
}

function redactPiece(piece: string, secret: (name: string) => boolean): string {
  const eq = piece.indexOf("=");
  const rawName = eq < 0 ? piece : piece.slice(0, eq);
  const name = readName(rawName);
  if (eq >= 0) return secret(name) ? `${rawName}=${REDACTED}` : piece;
  // No value, unless one hides in the name behind an encoded "=".
  const hidden = name.indexOf("=");
  if (hidden < 0 || !secret(name)) return piece;
  return `${encodeURIComponent(name.slice(0, hidden))}=${REDACTED}`;
}

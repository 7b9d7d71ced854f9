// Reading argument values the way an MCP server would act on them, or refusing to: a path that
// must stay under a root, a URL whose host must be on a list. null means "cannot be read
// safely": the caller (mcp-arguments.ts) then fails closed (allow rules refuse, deny and review
// rules match).

/** Characters no path or URL we vouch for may hold: NUL and other controls, DEL. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const PERCENT_ESCAPE = /%[0-9a-fA-F]{2}/;

/**
 * An absolute POSIX path with "." and ".." resolved and repeated slashes collapsed; null when it
 * cannot be read safely: not a string, relative (relative to what? the server's working folder
 * is not ours to know), starting with ~ (server-filesystem expands it to a home folder), holding
 * a NUL or control character, a backslash (a separator on Windows servers), or a percent-escape
 * (a server that decodes it would see another path than we checked). Symbolic links cannot be
 * resolved here: the server (or its filesystem) must still confine them.
 */
export function normalisedPath(value: unknown): string | null {
  if (typeof value !== "string") return null;
  if (!value.startsWith("/") || CONTROL.test(value) || value.includes("\\") || PERCENT_ESCAPE.test(value)) return null;
  const out: string[] = [];
  for (const seg of value.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return `/${out.join("/")}`;
}

/**
 * The path forms a server might act on: as given, and its Unicode compatibility form (NFKC
 * turns a fullwidth "．．" into ".."; a server or filesystem that normalises would see that).
 * null when either cannot be read.
 */
export function pathForms(value: unknown): string[] | null {
  const a = normalisedPath(value);
  if (a === null) return null;
  const nfkc = (value as string).normalize("NFKC");
  if (nfkc === value) return [a];
  const b = normalisedPath(nfkc);
  return b === null ? null : a === b ? [a] : [a, b];
}

/** Whether a normalised path is the root or below it (roots normalised, no trailing slash but "/"). */
export function isUnder(path: string, root: string, ignoreCase: boolean): boolean {
  const p = ignoreCase ? path.toLowerCase() : path;
  const r = ignoreCase ? root.toLowerCase() : root;
  if (r === "/") return true;
  return p === r || p.startsWith(`${r}/`);
}

const URL_SCHEMES = new Set(["http:", "https:", "ws:", "wss:"]);
const AUTHORITY = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)/;

/**
 * The host of an http(s) or ws(s) URL as the WHATWG URL parser reads it (IDN to punycode, lower
 * case, IPv4 shorthand to dotted quad, no trailing dot, IPv6 without brackets); null when it
 * cannot be read safely: no such URL, user info (`https://good.com@evil.com`), a backslash,
 * percent-escape, whitespace or control character anywhere in it (parsers disagree on each: the
 * WHATWG parser drops tabs and newlines and reads a backslash as a slash, others do not).
 */
export function urlHost(value: unknown): string | null {
  if (typeof value !== "string") return null;
  if (CONTROL.test(value) || /\s/u.test(value) || value.includes("\\")) return null;
  const m = AUTHORITY.exec(value);
  if (m === null) return null;
  const authority = m[2]!;
  if (authority === "" || authority.includes("@") || PERCENT_ESCAPE.test(authority) || authority.includes("%")) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (!URL_SCHEMES.has(url.protocol) || url.username !== "" || url.password !== "") return null;
  return canonicalHost(url.hostname);
}

function canonicalHost(hostname: string): string | null {
  let h = hostname.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h === "" ? null : h;
}

/** A host pattern ("example.com", "*.example.com", "10.0.0.5", "[::1]") in the form urlHost gives; null when it is not one. */
export function canonicalHostPattern(pattern: string): { readonly host: string; readonly subdomains: boolean } | null {
  const subdomains = pattern.startsWith("*.");
  const rest = subdomains ? pattern.slice(2) : pattern;
  if (rest === "" || /[*?@/\\%\s]/.test(rest)) return null;
  try {
    const h = canonicalHost(new URL(`http://${rest}/`).hostname);
    return h === null ? null : { host: h, subdomains };
  } catch {
    return null;
  }
}

// Canonical form of an HTTP request path, so that a rule about /admin cannot be dodged with
// /api/../admin, //admin or %61dmin. Anything we cannot put in canonical form is refused.

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** True when the path holds nothing to decode, resolve or refuse: the common case, kept cheap. */
function isCanonical(path: string): boolean {
  let prev = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    // % \ ; controls and space; "//" and "/." (which covers "/./" and "/../").
    if (c === 0x25 || c === 0x5c || c === 0x3b || c <= 0x20 || c === 0x7f) return false;
    if (prev === 0x2f && (c === 0x2f || c === 0x2e)) return false;
    prev = c;
  }
  return true;
}

/**
 * Normalises the path of a request target: drops query and fragment, decodes percent-encoded
 * unreserved characters (and upper-cases the hex of the rest), collapses `//`, resolves `.`
 * and `..`. A trailing slash is kept. Returns null, meaning "deny", for a path that does not
 * start with "/", carries an encoded "/" or "\", a ";", control characters or spaces, invalid
 * percent-encoding, a raw backslash, or `..` that climbs above the root.
 */
export function normalizeHttpPath(target: string): string | null {
  let end = target.length;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  const path = end === target.length ? target : target.slice(0, end);
  if (path.charCodeAt(0) !== 0x2f) return null;
  if (isCanonical(path)) return path;

  let decoded = "";
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    const code = ch.charCodeAt(0);
    // Some servers read "\" as "/", and controls or spaces have no business in a path. Some
    // (Tomcat, Spring, Jetty) drop ";params" from each segment: /admin;x/ is /admin/ to them.
    if (ch === "\\" || ch === ";" || code <= 0x20 || code === 0x7f) return null;
    if (ch !== "%") {
      decoded += ch;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return null;
    const byte = parseInt(hex, 16);
    // An encoded separator would be one segment to us and two to some upstreams.
    if (byte === 0x2f || byte === 0x5c || byte <= 0x20 || byte === 0x7f) return null;
    const c = String.fromCharCode(byte);
    decoded += UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
    i += 2;
  }

  const parts = decoded.split("/");
  const out: string[] = [];
  let trailing = false;
  for (let i = 1; i < parts.length; i++) {
    const seg = parts[i]!;
    const last = i === parts.length - 1;
    trailing = false;
    if (seg === "" || seg === ".") {
      trailing = last;
      continue;
    }
    if (seg === "..") {
      if (out.length === 0) return null;
      out.pop();
      trailing = last;
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return "/";
  return `/${out.join("/")}${trailing ? "/" : ""}`;
}

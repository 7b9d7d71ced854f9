// Canonical form of an HTTP request path, so that a rule about /admin cannot be dodged with
// /api/../admin, //admin or %61dmin. Anything we cannot put in canonical form is refused, with
// the reason, because some upstream could read it differently from us.

const HEX = /^[0-9A-Fa-f]{2}$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Why a path was refused, for the caller's 400 and the audit record. */
export class PathRefusal {
  constructor(readonly reason: string) {}
}

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
 * The bytes a UTF-8 lead byte may be followed by (Unicode Table 3-7, well-formed byte
 * sequences): how many continuation bytes, and the range of the first one. The narrower first
 * ranges exclude overlong forms (E0 80..9F, F0 80..8F), surrogates (ED A0..BF) and code points
 * above U+10FFFF (F4 90..BF). C0, C1 and F5..FF never start a sequence: a lenient decoder reads
 * %C0%AF as "/" and %C1%9C as "\", which is what makes them dangerous.
 */
function utf8Lead(b: number): { need: number; lo: number; hi: number } | null {
  if (b >= 0xc2 && b <= 0xdf) return { need: 1, lo: 0x80, hi: 0xbf };
  if (b === 0xe0) return { need: 2, lo: 0xa0, hi: 0xbf };
  if ((b >= 0xe1 && b <= 0xec) || b === 0xee || b === 0xef) return { need: 2, lo: 0x80, hi: 0xbf };
  if (b === 0xed) return { need: 2, lo: 0x80, hi: 0x9f };
  if (b === 0xf0) return { need: 3, lo: 0x90, hi: 0xbf };
  if (b >= 0xf1 && b <= 0xf3) return { need: 3, lo: 0x80, hi: 0xbf };
  if (b === 0xf4) return { need: 3, lo: 0x80, hi: 0x8f };
  return null;
}

/**
 * Normalises the path of a request target: drops query and fragment, decodes percent-encoded
 * unreserved characters (and upper-cases the hex of the rest), collapses `//`, resolves `.`
 * and `..`. A trailing slash is kept. Returns a PathRefusal, meaning "deny", for a path that
 * does not start with "/", carries an encoded "/" or "\", a ";", control characters or spaces,
 * invalid percent-encoding, percent-encoded bytes that are not well-formed UTF-8 (overlong
 * forms, surrogates, lone continuation bytes, truncated sequences), a raw backslash, or `..`
 * that climbs above the root.
 */
export function canonicalHttpPath(target: string): string | PathRefusal {
  let end = target.length;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  const path = end === target.length ? target : target.slice(0, end);
  if (path.charCodeAt(0) !== 0x2f) return new PathRefusal("the path does not start with \"/\"");
  if (isCanonical(path)) return path;

  let decoded = "";
  // Continuation bytes still owed by the UTF-8 sequence being read, and the range of the next.
  let need = 0;
  let lo = 0x80;
  let hi = 0xbf;
  let sequenceAt = 0;
  const notUtf8 = (at: number, what: string) =>
    new PathRefusal(`percent-encoded bytes at offset ${at} (${JSON.stringify(path.slice(at, at + 12))}) are not well-formed UTF-8: ${what}; an upstream could decode them to a different path`);
  for (let i = 0; i < path.length; i++) {
    const ch = path[i]!;
    const code = ch.charCodeAt(0);
    // Some servers read "\" as "/", and controls or spaces have no business in a path. Some
    // (Tomcat, Spring, Jetty) drop ";params" from each segment: /admin;x/ is /admin/ to them.
    if (ch === "\\") return new PathRefusal("the path holds a backslash, which some servers read as \"/\"");
    if (ch === ";") return new PathRefusal("the path holds \";\" (path parameters), which some servers strip from a segment");
    if (code <= 0x20 || code === 0x7f) return new PathRefusal("the path holds a space or a control character");
    if (ch !== "%") {
      if (need > 0) return notUtf8(sequenceAt, "a sequence is cut short");
      decoded += ch;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return new PathRefusal(`invalid percent-encoding at offset ${i} (${JSON.stringify(path.slice(i, i + 3))})`);
    const byte = parseInt(hex, 16);
    if (need > 0) {
      if (byte < lo || byte > hi) return notUtf8(sequenceAt, byte >= 0x80 && byte <= 0xbf ? "an overlong form, a surrogate or a code point above U+10FFFF" : "a sequence is cut short");
      need--;
      lo = 0x80;
      hi = 0xbf;
    } else if (byte >= 0x80) {
      const lead = utf8Lead(byte);
      if (lead === null) return notUtf8(i, byte <= 0xbf ? "a continuation byte without a lead byte" : byte <= 0xc1 ? "an overlong form" : "a byte that never occurs in UTF-8");
      ({ need, lo, hi } = lead);
      sequenceAt = i;
    }
    // An encoded separator would be one segment to us and two to some upstreams.
    if (byte === 0x2f || byte === 0x5c) return new PathRefusal(`the path holds an encoded "${byte === 0x2f ? "/" : "\\"}" (${JSON.stringify(path.slice(i, i + 3))}), one segment to us and two to some upstreams`);
    if (byte <= 0x20 || byte === 0x7f) return new PathRefusal(`the path holds an encoded space or control character (${JSON.stringify(path.slice(i, i + 3))})`);
    const c = String.fromCharCode(byte);
    decoded += UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
    i += 2;
  }
  if (need > 0) return notUtf8(sequenceAt, "a sequence is cut short");

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
      if (out.length === 0) return new PathRefusal("\"..\" climbs above the root");
      out.pop();
      trailing = last;
      continue;
    }
    out.push(seg);
  }
  if (out.length === 0) return "/";
  return `/${out.join("/")}${trailing ? "/" : ""}`;
}

/** canonicalHttpPath without the reason: null means "deny". */
export function normalizeHttpPath(target: string): string | null {
  const p = canonicalHttpPath(target);
  return typeof p === "string" ? p : null;
}

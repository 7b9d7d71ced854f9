// Globs compiled once into predicates: `*` and `?` stay within one segment, `**` spans
// segments. The segment separator depends on what is matched ("/" for paths, "." for tables).
import { GatewayError } from "../core/errors.ts";

export interface GlobOptions {
  /** One character that `*` does not cross; none means `*` matches anything. */
  readonly separator?: string;
  /** Restricting rules (deny, review) match case-insensitively so that case tricks cannot dodge them. */
  readonly ignoreCase?: boolean;
}

export type StringPredicate = (s: string) => boolean;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

function invalid(pattern: string, why: string): GatewayError {
  return new GatewayError("E_POLICY_INVALID", `invalid glob "${pattern}": ${why}`);
}

function segmentSource(seg: string, pattern: string, notSep: string): string {
  if (seg.includes("**")) throw invalid(pattern, "** must be a whole segment");
  let out = "";
  for (const ch of seg) {
    if (ch === "*") out += `${notSep}*`;
    else if (ch === "?") out += notSep;
    else out += escapeRegExp(ch);
  }
  return out;
}

/** The regular expression source of a glob, anchored at both ends. */
export function globSource(pattern: string, options: GlobOptions = {}): string {
  if (pattern === "") throw invalid(pattern, "empty");
  // Brackets and braces mean something in other glob dialects; refuse rather than surprise.
  if (/[[\]{}]/.test(pattern)) throw invalid(pattern, "character classes and braces are not supported");
  if (pattern.includes("***")) throw invalid(pattern, "*** is not a glob; use * or **");
  const sep = options.separator;
  if (sep === undefined) {
    let out = "";
    for (const ch of pattern) out += ch === "*" ? (out.endsWith(".*") ? "" : ".*") : ch === "?" ? "." : escapeRegExp(ch);
    return `^${out}$`;
  }
  const SEP = escapeRegExp(sep);
  const notSep = `[^${SEP}]`;
  const segs = pattern.split(sep);
  let out = "";
  let skipSep = false;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const last = i === segs.length - 1;
    if (seg === "**") {
      if (segs.length === 1) out += ".*";
      else if (i === 0) {
        out += `(?:.*${SEP})?`;
        skipSep = true;
      } else out += `(?:${SEP}.*)?`;
      if (last) break;
      continue;
    }
    // A leading `**` already ends in the separator; elsewhere segments are joined by one.
    if (i > 0 && !skipSep) out += SEP;
    skipSep = false;
    out += segmentSource(seg, pattern, notSep);
  }
  return `^${out}$`;
}

/** Compiles a glob; literal globs become a plain comparison. */
export function compileGlob(pattern: string, options: GlobOptions = {}): StringPredicate {
  const source = globSource(pattern, options);
  const literal = !/[*?]/.test(pattern);
  if (literal) {
    if (!options.ignoreCase) return (s) => s === pattern;
    const lower = pattern.toLowerCase();
    return (s) => s.length === lower.length && s.toLowerCase() === lower;
  }
  const re = new RegExp(source, options.ignoreCase ? "is" : "s");
  return (s) => re.test(s);
}

/** One predicate for a list of globs: true when any glob matches. */
export function compileGlobs(patterns: readonly string[], options: GlobOptions = {}): StringPredicate {
  const literals = new Set<string>();
  const sources: string[] = [];
  for (const p of patterns) {
    const source = globSource(p, options);
    if (!/[*?]/.test(p)) literals.add(options.ignoreCase ? p.toLowerCase() : p);
    else sources.push(source);
  }
  const re = sources.length > 0 ? new RegExp(sources.map((s) => `(?:${s})`).join("|"), options.ignoreCase ? "is" : "s") : null;
  if (options.ignoreCase) return (s) => literals.has(s.toLowerCase()) || (re !== null && re.test(s));
  if (re === null) return (s) => literals.has(s);
  return (s) => literals.has(s) || re.test(s);
}

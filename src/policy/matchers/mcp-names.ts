// Name and text folding for MCP rules. A tool, prompt or method name is matched exactly by allow
// rules (the server knows one spelling); deny and review rules also match the names a server or
// a person might take for the same one: other case, Unicode compatibility forms (fullwidth
// letters, ligatures) and invisible characters. Confusables across scripts (Cyrillic "е" for
// Latin "e") are not folded here: no such name exists upstream unless the server lists it, and
// the runtime calls only names in the reviewed pin file (src/targets/mcp/pins.ts), whose CLI
// flags names that are not plain ASCII or that fold together.
import { compileGlobs, type StringPredicate } from "../glob.ts";

/** Default-ignorable characters that render as nothing (soft hyphen, zero-width, joiners, BOM …). */
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]/gu;

/** The folded form deny and review rules compare: NFKC, invisible characters removed, lower case. */
export function foldName(s: string): string {
  return s.normalize("NFKC").replace(INVISIBLE, "").toLowerCase();
}

/** Whether a name is something other than printable ASCII (worth a reviewer's second look). */
export function unusualName(s: string): boolean {
  return !/^[\x21-\x7e]*$/.test(s);
}

/**
 * Globs over names. Allow rules: as written, exact case. Deny and review rules: the folded
 * pattern against the raw name and its folded form, so no spelling of a denied name slips by.
 */
export function compileNameGlobs(patterns: readonly string[], restricting: boolean, separator?: string): StringPredicate {
  const opts = separator === undefined ? {} : { separator };
  if (!restricting) return compileGlobs(patterns, opts);
  const folded = compileGlobs(patterns.map(foldName), { ...opts, ignoreCase: true });
  return (s) => folded(s) || folded(foldName(s));
}

// Command patterns of an ssh rule (`commands`, `lines`), compiled once. A pattern is either
// - a glob over argv, written as words: `systemctl status *`. Each word matches one argument;
//   in a word `*` is any run of characters and `?` one character (within that argument, spaces
//   and slashes included); a word that is exactly `**` matches any number of arguments, none
//   included. Words may be quoted like shell words ('*' is a literal star, "a b" one argument
//   with a space); or
// - a regular expression written `re:...` (JavaScript syntax), matched against the whole of
//   argv joined by single spaces, anchored at both ends: `re:journalctl( -u [a-z.-]+)?`.
// An allow pattern matches a command when it matches its whole argv, the program word exactly as
// written (`systemctl` does not match `/usr/bin/systemctl`, nor `/tmp/systemctl`). A deny or review
// pattern matches when it matches argv from any word on (so `rm **` finds `watch rm -rf /`
// whatever `watch` is), comparing the program word also by its file name (`/bin/rm` is `rm`)
// and ignoring case.
import { GatewayError } from "../../core/errors.ts";
import { basename } from "./ssh-wrappers.ts";

/** One word of a glob pattern: any number of arguments (`**`), or a test of one argument. */
type WordTest = null | ((arg: string) => boolean);

interface GlobPattern {
  readonly kind: "glob";
  readonly text: string;
  readonly words: readonly WordTest[];
}

interface RegexPattern {
  readonly kind: "regex";
  readonly text: string;
  readonly re: RegExp;
}

type Pattern = GlobPattern | RegexPattern;

export interface CommandPatterns {
  /** The list holds the catch-all `**`: the rule is about any command at all. */
  readonly any: boolean;
  /** The patterns as written, for messages. */
  readonly texts: readonly string[];
  /** Allow: some pattern matches the whole argv. */
  whole(argv: readonly string[]): boolean;
  /** Deny, review: some pattern matches argv from some word on. */
  within(argv: readonly string[]): boolean;
  /** The first word from which some pattern matches, or -1 (for messages). */
  withinAt(argv: readonly string[]): number;
}

function invalid(pattern: string, why: string): GatewayError {
  return new GatewayError("E_POLICY_INVALID", `invalid command pattern "${pattern}": ${why}`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** Splits a glob pattern into words; each word is regex source, or null for `**`. */
function patternWords(pattern: string): (string | null)[] {
  const words: (string | null)[] = [];
  let src = "";
  let raw = "";
  let inWord = false;
  let quotedStar = false;
  const end = () => {
    if (!inWord) return;
    if (raw === "**" && !quotedStar) words.push(null);
    else if (raw.includes("**") && !quotedStar) throw invalid(pattern, "** must be a whole word (any number of arguments); use * within a word");
    else words.push(src);
    src = "";
    raw = "";
    inWord = false;
    quotedStar = false;
  };
  const chars = Array.from(pattern);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i]!;
    if (ch === " " || ch === "\t") {
      end();
      continue;
    }
    inWord = true;
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      for (; j < chars.length && chars[j] !== ch; j++) {
        src += escapeRegExp(chars[j]!);
        raw += "\u0000";
        quotedStar = true;
      }
      if (j >= chars.length) throw invalid(pattern, "an unterminated quote");
      if (j === i + 1) quotedStar = true; // '' is an empty argument, not nothing
      i = j;
      continue;
    }
    if (ch === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw invalid(pattern, "a backslash at the end");
      src += escapeRegExp(next);
      raw += "\u0000";
      i++;
      continue;
    }
    if (ch === "[" || ch === "]" || ch === "{" || ch === "}") throw invalid(pattern, "character classes and braces are not supported; quote them to match them literally");
    raw += ch;
    if (ch === "*") src += ".*";
    else if (ch === "?") src += ".";
    else src += escapeRegExp(ch);
  }
  end();
  if (words.length === 0) throw invalid(pattern, "empty");
  return words;
}

function compilePattern(text: string, ignoreCase: boolean): Pattern {
  const flags = ignoreCase ? "si" : "s";
  if (text.startsWith("re:")) {
    const body = text.slice(3);
    if (body === "") throw invalid(text, "an empty regular expression");
    try {
      return { kind: "regex", text, re: new RegExp(`^(?:${body})$`, flags) };
    } catch (e) {
      throw invalid(text, e instanceof Error ? e.message : String(e));
    }
  }
  const words = patternWords(text).map((src): WordTest => {
    if (src === null) return null;
    const re = new RegExp(`^${src}$`, flags);
    return (arg) => re.test(arg);
  });
  return { kind: "glob", text, words };
}

/**
 * Whether the words match the whole of args, or (anywhere) some tail of args, whose first argument
 * may then match the first word by its file name too. A set of pattern positions is carried along
 * the arguments (no backtracking), so the cost is words × arguments whatever the input: a line of
 * a thousand `journalctl --va` pairs costs no more than any other.
 */
function matchWords(words: readonly WordTest[], args: readonly string[], anywhere: boolean): boolean {
  const n = words.length;
  let active = new Uint8Array(n + 1);
  let next = new Uint8Array(n + 1);
  // Positions reachable without consuming an argument: past any `**`.
  const close = (set: Uint8Array) => {
    for (let p = 0; p < n; p++) if (set[p] && words[p] === null) set[p + 1] = 1;
  };
  active[0] = 1;
  close(active);
  for (const arg of args) {
    next.fill(0);
    let any = false;
    for (let p = 0; p < n; p++) {
      if (!active[p]) continue;
      const t = words[p];
      if (t === null) {
        next[p] = 1;
        any = true;
      } else if (t!(arg) || (anywhere && p === 0 && t!(basename(arg)))) {
        next[p + 1] = 1;
        any = true;
      }
    }
    // A match may start at every argument.
    if (anywhere) {
      next[0] = 1;
      any = true;
    }
    if (!any) return false;
    close(next);
    [active, next] = [next, active];
  }
  return active[n] === 1;
}

export function compileCommandPatterns(texts: readonly string[], restricting: boolean): CommandPatterns {
  const patterns = texts.map((t) => compilePattern(t, restricting));
  const any = texts.includes("**");
  const test = (p: Pattern, args: readonly string[], byName: boolean): boolean => {
    if (p.kind === "glob") return matchWords(p.words, args, byName);
    const joined = args.join(" ");
    if (p.re.test(joined)) return true;
    if (!byName || args.length === 0) return false;
    const name = basename(args[0]!);
    return name !== args[0] && p.re.test([name, ...args.slice(1)].join(" "));
  };
  const globs = patterns.filter((p) => p.kind === "glob");
  const regexes = patterns.filter((p) => p.kind === "regex");
  const withinTail = (tail: readonly string[]): boolean => patterns.some((p) => (p.kind === "glob" ? matchWords(p.words, tail, false) || matchWords(p.words, [basename(tail[0] ?? ""), ...tail.slice(1)], false) : test(p, tail, true)));
  const within = (argv: readonly string[]): boolean => {
    if (globs.some((p) => matchWords(p.words, argv, true))) return true;
    if (regexes.length === 0) return false;
    for (let i = 0; i < argv.length; i++) {
      const tail = i === 0 ? argv : argv.slice(i);
      for (const p of regexes) if (test(p, tail, true)) return true;
    }
    return false;
  };
  /** Only for messages: which tail matched (quadratic, never on decide()'s path). */
  const withinAt = (argv: readonly string[]): number => {
    if (!within(argv)) return -1;
    for (let i = 0; i < argv.length; i++) if (withinTail(i === 0 ? argv : argv.slice(i))) return i;
    return -1;
  };
  return {
    any,
    texts,
    whole: (argv) => patterns.some((p) => test(p, argv, false)),
    within,
    withinAt,
  };
}

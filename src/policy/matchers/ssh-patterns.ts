// Command patterns of an ssh rule (`commands`, `lines`), compiled once. A pattern is either
// - a glob over argv, written as words: `systemctl status *`. Each word matches one argument;
//   a word that is exactly `**` matches any number of arguments, none included. In a word, `*`
//   and `?` match within one path segment and `**` across segments (`/var/log/**`), and in allow
//   rules no wildcard matches an argument with a ".." segment; in deny and review rules every
//   wildcard matches anything (see wordTest). Words may be quoted like shell words ('*' is a
//   literal star, "a b" one argument with a space); or
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

type Part = { readonly lit: string } | "*" | "**" | "?";

/** Splits a glob pattern into words: the parts of each, or null for a whole-word `**`. */
function patternWords(pattern: string): (Part[] | null)[] {
  const words: (Part[] | null)[] = [];
  let parts: Part[] = [];
  let inWord = false;
  let quoted = false;
  const lit = (c: string) => {
    const last = parts[parts.length - 1];
    if (last !== undefined && typeof last === "object") parts[parts.length - 1] = { lit: last.lit + c };
    else parts.push({ lit: c });
  };
  const end = () => {
    if (!inWord) return;
    words.push(parts.length === 1 && parts[0] === "**" && !quoted ? null : parts);
    parts = [];
    inWord = false;
    quoted = false;
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
      for (; j < chars.length && chars[j] !== ch; j++) lit(chars[j]!);
      if (j >= chars.length) throw invalid(pattern, "an unterminated quote");
      if (j === i + 1) lit(""); // '' is an empty argument, not nothing
      quoted = true; // '**' is two literal stars
      i = j;
      continue;
    }
    if (ch === "\\") {
      const next = chars[i + 1];
      if (next === undefined) throw invalid(pattern, "a backslash at the end");
      lit(next);
      quoted = true;
      i++;
      continue;
    }
    if (ch === "[" || ch === "]" || ch === "{" || ch === "}") throw invalid(pattern, "character classes and braces are not supported; quote them to match them literally");
    if (ch === "*") {
      if (chars[i + 1] === "*") {
        if (chars[i + 2] === "*") throw invalid(pattern, "*** is not a glob; use * or **");
        parts.push("**");
        i++;
      } else parts.push("*");
    } else if (ch === "?") parts.push("?");
    else lit(ch);
  }
  end();
  if (words.length === 0) throw invalid(pattern, "empty");
  return words;
}

/** An argument with a ".." path segment: allow wildcards never match one. */
const DOT_DOT = /(^|\/)\.\.(\/|$)/;

/**
 * One word's test. Deny and review (restricting): `*`, `**` and `?` match any characters, so
 * nothing slips past. Allow: `*` and `?` stay within one path segment and `**` spans segments
 * (as in path globs), and no wildcard matches an argument with a ".." segment: sudoers' classic
 * hole, where `cat /var/log/*` allows `cat /var/log/../../etc/shadow`, stays closed.
 */
function wordTest(parts: readonly Part[], restricting: boolean): (arg: string) => boolean {
  const wild = parts.some((p) => typeof p !== "object");
  if (!wild) {
    const text = parts.map((p) => (p as { lit: string }).lit).join("");
    if (!restricting) return (arg) => arg === text;
    const lower = text.toLowerCase();
    return (arg) => arg.toLowerCase() === lower;
  }
  let src = "";
  for (const p of parts) {
    if (typeof p === "object") src += escapeRegExp(p.lit);
    else if (p === "**") src += ".*";
    else if (p === "*") src += restricting ? ".*" : "[^/]*";
    else src += restricting ? "." : "[^/]";
  }
  const re = new RegExp(`^${src}$`, restricting ? "si" : "s");
  if (restricting) return (arg) => re.test(arg);
  return (arg) => !DOT_DOT.test(arg) && re.test(arg);
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
  const words = patternWords(text).map((parts): WordTest => (parts === null ? null : wordTest(parts, ignoreCase)));
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

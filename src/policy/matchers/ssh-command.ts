// Splits an SSH exec command line into argv, but only when it is a *simple command* that every
// shell the upstream account might have (sh/dash, bash, zsh, ksh, fish, csh/tcsh, busybox sh)
// reads into the very same words. sshd hands the line to the account's login shell (`$SHELL -c`),
// so anything whose meaning depends on the shell is refused ("unsplittable"), never guessed.
//
// Accepted, and nothing else:
// - words separated by spaces or tabs;
// - outside quotes: ASCII letters, digits and `- _ . / : , + @ % =` (no `%` or `=` opening a
//   word: fish job expansion, zsh `=cmd`; no `=` in the first word: an assignment `FOO=bar cmd`);
// - a backslash before a printable ASCII character that is not a letter or digit (`\;`, `\ `,
//   `\'`): that character, literally. Before a letter or digit shells disagree (fish reads
//   `\x6d` as "m", sh as "x6d"), so it is refused;
// - `'...'`: literal text, without `\` (fish escapes inside single quotes) or `!` (csh history);
// - `"..."`: literal text, without `$`, backquote, `\` or `!` (expansions and escapes).
// Refused anywhere (outside quotes, or everywhere for control characters): `; & | < > ( ) $`,
// backquote, `* ? [ ]` (file name globs: what they expand to depends on the disk), `{ }`
// (brace expansion, command groups), `~` (home folders), `#` (comments), `!` (negation,
// history), `^` (a pipe in the Bourne shell, a glob in zsh), newlines, carriage returns and every
// other control character, non-ASCII characters outside quotes (look-alikes such as the fullwidth
// semicolon "；" are not operators, but a rule author reading the line might take them for one,
// and locales differ on what is a blank), a first word that is a shell keyword (`if`, `while`,
// `!`, `{`, `coproc`, fish's `not`/`and`/`or`, ...), an empty line, lines over 16 KiB and lines
// of more than 1024 words.
// Quote the characters you need: `journalctl -u 'nginx*'` splits, `journalctl -u nginx*` does not.

/** The argv of a simple command. */
export interface SplitOk {
  readonly ok: true;
  readonly argv: readonly string[];
}

/** Why a line is not a simple command: what was found, and where (1-based character column). */
export interface SplitRefused {
  readonly ok: false;
  /** For people: e.g. `";" (a command separator)`. */
  readonly reason: string;
  /** 1-based column of the offending character in the line; 0 for the line as a whole. */
  readonly at: number;
}

export type SplitResult = SplitOk | SplitRefused;

export const MAX_COMMAND_LENGTH = 16 * 1024;
/** More arguments than this: refused, which bounds what matching a line can cost. */
export const MAX_WORDS = 1024;

/** Shell keywords (POSIX, bash, zsh, ksh, fish, csh) that make a line more than a simple command. */
const KEYWORDS = new Set([
  "!", "{", "}", "[[", "]]", "case", "coproc", "do", "done", "elif", "else", "esac", "fi", "for", "function", "if", "in", "select", "then", "until", "while",
  // fish
  "and", "or", "not", "begin", "end", "switch",
  // csh, zsh (zsh's `- cmd` runs cmd as a login command)
  "foreach", "repeat", "endif", "endsw", "breaksw", "nocorrect", "noglob", "-",
]);

/** What each refused ASCII character means to some shell. */
const REFUSED: Readonly<Record<string, string>> = {
  ";": "a command separator",
  "&": "a background or && operator",
  "|": "a pipe or || operator",
  "<": "a redirection",
  ">": "a redirection",
  "(": "a subshell, process substitution or fish command substitution",
  ")": "a subshell, process substitution or fish command substitution",
  $: "an expansion ($VAR, ${...}, $(...), $IFS)",
  "`": "a command substitution",
  "*": "a file name glob the shell would expand",
  "?": "a file name glob the shell would expand",
  "[": "a file name glob the shell would expand",
  "]": "a file name glob the shell would expand",
  "{": "brace expansion or a command group",
  "}": "brace expansion or a command group",
  "~": "a tilde the shell would expand to a home folder",
  "#": "a comment",
  "!": "history expansion or negation",
  "^": "a pipe in the Bourne shell, a glob in zsh",
};

const WORD_CHAR = /^[A-Za-z0-9\-_./:,+@%=]$/;

function show(ch: string): string {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x20 || cp === 0x7f) {
    const names: Record<number, string> = { 0: "NUL", 9: "tab", 10: "newline", 13: "carriage return", 27: "escape" };
    return `${names[cp] ?? "control character"} (U+${cp.toString(16).toUpperCase().padStart(4, "0")})`;
  }
  if (cp > 0x7e) return `"${ch}" (U+${cp.toString(16).toUpperCase().padStart(4, "0")})`;
  return JSON.stringify(ch);
}

function isControl(cp: number): boolean {
  return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp === 0x2028 || cp === 0x2029;
}

/** Splits a command line into argv when it is a simple command (see the file header), else says why not. */
export function splitCommandLine(line: string): SplitResult {
  if (line.length > MAX_COMMAND_LENGTH) return { ok: false, reason: `a command line longer than ${MAX_COMMAND_LENGTH} characters`, at: 0 };
  const argv: string[] = [];
  let word = "";
  let inWord = false;
  /** Index where the current word began. */
  let wordStart = 0;
  const refuse = (reason: string, index: number): SplitRefused => ({ ok: false, reason, at: index + 1 });
  const chars = Array.from(line);
  // Columns count code points, as a person counts characters in an editor.
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i]!;
    const cp = ch.codePointAt(0)!;
    if (ch === " " || ch === "\t") {
      if (inWord) {
        argv.push(word);
        word = "";
        inWord = false;
      }
      i++;
      continue;
    }
    if (!inWord) {
      inWord = true;
      wordStart = i;
    }
    if (isControl(cp)) return refuse(`a ${show(ch)}`, i);
    if (ch === "'" || ch === '"') {
      const close = ch;
      let j = i + 1;
      for (; j < chars.length && chars[j] !== close; j++) {
        const c = chars[j]!;
        const code = c.codePointAt(0)!;
        if (isControl(code) && c !== "\t") return refuse(`a ${show(c)} inside quotes`, j);
        if (c === "\\") return refuse(`a backslash inside ${close === "'" ? "single" : "double"} quotes (shells disagree on what it escapes)`, j);
        if (c === "!") return refuse(`"!" inside quotes (csh history expansion)`, j);
        if (close === '"' && (c === "$" || c === "`")) return refuse(`${show(c)} inside double quotes (${REFUSED[c]})`, j);
        word += c;
      }
      if (j >= chars.length) return refuse(`an unterminated ${close === "'" ? "single" : "double"} quote`, i);
      i = j + 1;
      continue;
    }
    if (ch === "\\") {
      const next = chars[i + 1];
      if (next === undefined) return refuse("a backslash at the end of the line", i);
      const n = next.codePointAt(0)!;
      if (n < 0x20 || n > 0x7e) return refuse(`a backslash before ${show(next)}`, i);
      if (/[A-Za-z0-9]/.test(next)) return refuse(`a backslash before a letter or digit ("\\${next}": shells disagree on what it means)`, i);
      word += next;
      i += 2;
      continue;
    }
    if (cp > 0x7e) return refuse(`a non-ASCII character outside quotes, ${show(ch)}`, i);
    if (!WORD_CHAR.test(ch)) return refuse(`${show(ch)} (${REFUSED[ch] ?? "a character with a meaning to some shell"})`, i);
    if (i === wordStart && (ch === "%" || ch === "=")) return refuse(`${show(ch)} at the start of a word (${ch === "=" ? "zsh expands =cmd to a path" : "fish process expansion"})`, i);
    if (ch === "=" && argv.length === 0) return refuse(`"=" in the first word (an assignment such as FOO=bar cmd)`, i);
    word += ch;
    i++;
  }
  if (inWord) argv.push(word);
  if (argv.length > MAX_WORDS) return { ok: false, reason: `more than ${MAX_WORDS} words`, at: 0 };
  if (argv.length === 0) return { ok: false, reason: "an empty command line", at: 0 };
  if (KEYWORDS.has(argv[0]!)) return { ok: false, reason: `the shell keyword "${argv[0]}" as the first word`, at: 1 + (chars.findIndex((c) => c !== " " && c !== "\t") || 0) };
  return { ok: true, argv };
}

/** One line for people: `";" (a command separator) at 5`. */
export function refusalText(r: SplitRefused): string {
  return r.at > 0 ? `${r.reason} at ${r.at}` : r.reason;
}

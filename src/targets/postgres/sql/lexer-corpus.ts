// Statements for the lexer's tests (not used by the gateway): every SQL string literal in the
// repository's TypeScript sources (test corpora, analysis tests, e2e tests), and a seeded random
// generator that glues all of PostgreSQL's token kinds together with nasty quoting, comments
// inside operators and dollar-quote look-alikes.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { lexTokens, type LiteralKind, type SqlLiteral, type SqlToken } from "./lexer.ts";

const SQL_START =
  /^\s*(?:select|insert|update|delete|with|create|drop|alter|set|reset|show|begin|start|commit|rollback|end|abort|savepoint|release|copy|explain|prepare|execute|deallocate|declare|fetch|close|move|do|grant|revoke|truncate|lock|listen|notify|unlisten|discard|vacuum|analy[sz]e|cluster|reindex|comment|security|refresh|call|table|values|merge|import|load|checkpoint|reassign|\(|\/\*|--)/i;

/** Every distinct string literal that looks like SQL in the .ts files under `dirs` (relative to `root`). */
export function corpusStatements(root: string, dirs: readonly string[]): string[] {
  const out = new Set<string>();
  for (const dir of dirs) {
    for (const file of tsFiles(join(root, dir))) {
      for (const s of stringLiterals(readFileSync(file, "utf8"))) if (SQL_START.test(s)) out.add(s);
    }
  }
  return [...out].sort();
}

function tsFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) files.push(...tsFiles(p));
    else if (name.endsWith(".ts")) files.push(p);
  }
  return files.sort();
}

/**
 * The values of the string and template literals of a TypeScript source (a template's `${…}` reads
 * as 1). A tolerant scanner: it skips comments and regex literals well enough for our sources, and
 * a string it misreads is only one more odd input for the lexer.
 */
export function stringLiterals(src: string): string[] {
  const out: string[] = [];
  let i = 0;
  let lastSignificant = "";
  const n = src.length;
  while (i < n) {
    const c = src[i] ?? "";
    const d = src[i + 1] ?? "";
    if (c === "/" && d === "/") {
      while (i < n && src[i] !== "\n") i += 1;
      continue;
    }
    if (c === "/" && d === "*") {
      const end = src.indexOf("*/", i + 2);
      i = end < 0 ? n : end + 2;
      continue;
    }
    if (c === "/" && (lastSignificant === "" || "(,=:[!&|?{};+-*%<>~^".includes(lastSignificant))) {
      // A regex literal: skip it, with its escapes and character classes.
      i += 1;
      let inClass = false;
      while (i < n && src[i] !== "\n") {
        const e = src[i];
        if (e === "\\") i += 1;
        else if (e === "[") inClass = true;
        else if (e === "]") inClass = false;
        else if (e === "/" && !inClass) break;
        i += 1;
      }
      i += 1;
      lastSignificant = "/";
      continue;
    }
    if (c === '"' || c === "'" || c === "`") {
      const r = readLiteral(src, i);
      out.push(r.value);
      i = r.end;
      lastSignificant = c;
      continue;
    }
    if (!/\s/.test(c)) lastSignificant = c;
    i += 1;
  }
  return out;
}

function readLiteral(src: string, start: number): { value: string; end: number } {
  const quote = src[start];
  let i = start + 1;
  let value = "";
  while (i < src.length) {
    const c = src[i] ?? "";
    if (c === quote) return { value, end: i + 1 };
    if (c === "\n" && quote !== "`") return { value, end: i };
    if (c === "\\") {
      const e = src[i + 1] ?? "";
      i += 2;
      switch (e) {
        case "n":
          value += "\n";
          break;
        case "t":
          value += "\t";
          break;
        case "r":
          value += "\r";
          break;
        case "v":
          value += "\v";
          break;
        case "f":
          value += "\f";
          break;
        case "b":
          value += "\b";
          break;
        case "0":
          value += "\0";
          break;
        case "\n":
          break;
        case "x":
          value += String.fromCharCode(parseInt(src.slice(i, i + 2), 16) || 0);
          i += 2;
          break;
        case "u":
          if (src[i] === "{") {
            const close = src.indexOf("}", i);
            value += String.fromCodePoint(parseInt(src.slice(i + 1, close), 16) || 0);
            i = close + 1;
          } else {
            value += String.fromCharCode(parseInt(src.slice(i, i + 4), 16) || 0);
            i += 4;
          }
          break;
        default:
          value += e;
      }
      continue;
    }
    if (quote === "`" && c === "$" && src[i + 1] === "{") {
      // Skip the substitution, counting braces; strings inside it are not looked into.
      let depth = 0;
      for (; i < src.length; i++) {
        if (src[i] === "{") depth += 1;
        else if (src[i] === "}" && --depth === 0) break;
      }
      i += 1;
      value += "1";
      continue;
    }
    value += c;
    i += 1;
  }
  return { value, end: i };
}

/** A small seeded PRNG (mulberry32): the same seed gives the same statements on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYWORDS = ["SELECT", "select", "FROM", "where", "AND", "Or", "NOT", "NULL", "true", "LIMIT", "float", "int", "uescape", "Nchar", "E", "b", "x", "n", "u", "U"];
const IDENTS = ["t", "T", "abc", "a$b", "a$$", "_x", "x1", "sales", "Émile", "ÀB", "日本", "a\u00a0b", "z$1$", "$"];
const QIDENTS = ['"a"', '"A b"', '"a""b"', '""', '"', '"x', 'U&"a\\0041"', 'u&"x"', '"é"', '"--"', '"/*"', '"\'"'];
const STRINGS = [
  "'x'", "''", "''''", "'a''b'", "'a\\'", "'\\'", "'--'", "'/*'", "'$$'", "'é'", "'x", "'\"'",
  "E'x'", "e'\\''", "E'\\\\'", "E'\\x41'", "E'\\u0041'", "E'a\\", "E'\\'", "e''", "E'\\n'''",
  "B'101'", "b'1''0'", "X'1F'", "x''", "B'12'", "X'G'",
  "N'nat'", "n''", "U&'x'", "u&'\\0041'", "U&'a''b'", "u&x", "U&'x' UESCAPE '!'",
  "'a'\n'b'", "'a' \n 'b'", "'a'\r\n'b'", "'a' 'b'", "'a'\t\n\t'b'", "'a' --c\n'b'", "'a'/**/\n'b'", "'a'\n--c\n'b'", "E'a'\n'\\''", "B'1'\n'0'", "U&'a'\n'b'", "'a'\v\n'b'",
];
const DOLLARS = ["$$x$$", "$$$$", "$a$x$a$", "$a$ $b$ $a$", "$a$$$a$", "$ab$ $a$ $ab$", "$_1$x$_1$", "$é$x$é$", "$A$x$a$", "$a$x$A$ $a$", "$$", "$a$x", "$a", "$1", "$12", "$1a", "$1$", "$0", "$1_0", "$1_", "$ ", "$.", "$$;$$", "$q$'$q$", "$q$--$q$"];
const NUMBERS = [
  "0", "5", "42", "007", "1_000", "1__0", "1_", "2147483647", "2147483648", "99999999999999999999", "1.5", ".5", "5.", "1.e5", "1e5", "1E-5", "1e+5", "1e", "1e+", "1.5e3x", "1..2", "1...2", "1.5.6",
  "0x1F", "0X7FFFFFFF", "0x80000000", "0x", "0x_1", "0x1_", "0xg", "0o17", "0o8", "0b101", "0b2", "0B1_1", "123abc", "1$", "1.x", "._1", "1_0.2_5e1_0", "0.", "00.5", "1e1_0",
];
const OPERATORS = ["+", "-", "*", "/", "%", "^", "<", ">", "=", "<=", ">=", "<>", "!=", "=>", "::", ":=", ":", "..", ".", "@", "#", "~", "!", "&", "|", "`", "?", "||", "->>", "@>", "=-", "+-", "*-", "@-", "!-", "<-", "?-+", "%+", "+/*c*/", "*--c\n", "-/**/", "/*/", "*/", "**", "~~*", "!~~", "|/"];
const PUNCT = ["(", ")", ",", ";", "[", "]"];
const COMMENTS = ["/* c */", "/* /* nested */ */", "/*/ x */", "/**/", "/***/", "/* x **/", "-- line\n", "--\n", "--", "/* unterminated", "/* /* */", "/*--*/", "--/*\n"];
const JUNK = ["{", "}", "\\", "\u0007", "\u007f", "é", "\u2028", "'", '"', "&", "\u00a0"];
const SEPARATORS = ["", " ", " ", " ", "\n", "\t", "\r", "\f", "\v", "  "];

const GROUPS: readonly (readonly string[])[] = [KEYWORDS, IDENTS, QIDENTS, STRINGS, DOLLARS, NUMBERS, OPERATORS, PUNCT, COMMENTS, JUNK];
// How often each group is picked: mostly ordinary tokens, some trouble.
const WEIGHTS = [5, 5, 2, 5, 3, 5, 5, 3, 2, 1];

/**
 * `count` statements of 1–12 fragments each, deterministic for a seed. `clean`: only fragments
 * that are whole tokens on their own (no junk, nothing unterminated), so that more statements
 * get a key and the combinations of good tokens are what is tested.
 */
export function generatedStatements(seed: number, count: number, clean = false): string[] {
  const rand = prng(seed);
  const groups = clean ? GROUPS.map((g) => g.filter((f) => lexTokens(`SELECT ${f}`).sure)) : GROUPS;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const total = WEIGHTS.reduce((a, b) => a + b, 0);
  const group = (): readonly string[] => {
    let r = rand() * total;
    for (let g = 0; g < GROUPS.length; g++) {
      r -= WEIGHTS[g] ?? 0;
      if (r < 0 && (groups[g]?.length ?? 0) > 0) return groups[g] ?? KEYWORDS;
    }
    return KEYWORDS;
  };
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    const parts = 1 + Math.floor(rand() * 12);
    let s = rand() < 0.5 ? "SELECT " : "";
    for (let p = 0; p < parts; p++) s += pick(group()) + pick(SEPARATORS);
    out.push(s);
  }
  return out;
}

// Values a policy could care about if an analysis read them: catalog names, settings, roles,
// function names, SQL text, numbers at int4's edge.
const NAMES = ["pg_authid", "pg_catalog.pg_authid", "public.t", "sales.customers", "search_path", "session_authorization", "role", "on", "off", "x", "", "1", "true", "nextval", "set_config", "; DROP TABLE t; --", "$$", "a'b", "/etc/passwd"];

/** Other values for a literal of each kind, all of which the scanner accepts. */
export const LITERAL_POOL: Readonly<Record<LiteralKind, readonly string[]>> = {
  integer: ["0", "1", "2", "42", "12345", "2147483647", "007", "0x10", "1_000"],
  numeric: ["1.5", "0.0", "2147483648", "1e3", ".5", "99999999999999999999"],
  string: NAMES.map((n) => `'${n.replaceAll("'", "''")}'`),
  "national-string": NAMES.map((n) => `'${n.replaceAll("'", "''")}'`),
  "escape-string": [...NAMES.map((n) => `E'${n.replaceAll("'", "\\'")}'`), "E'\\n'", "E'\\\\'"],
  "dollar-string": NAMES.filter((n) => !n.includes("$")).map((n) => `$q$${n}$q$`),
  "unicode-string": NAMES.map((n) => `U&'${n.replaceAll("'", "''")}'`),
  "bit-string": ["B'1'", "B'0101'", "B''"],
  "hex-string": ["X'ff'", "x'0'", "X''"],
};

/** `sql` with each literal replaced by `pick(kind, index)`. */
export function withLiterals(sql: string, literals: readonly SqlLiteral[], pick: (kind: LiteralKind, k: number) => string): string {
  let out = "";
  let last = 0;
  literals.forEach((l, k) => {
    out += sql.slice(last, l.start);
    // A replacement glued to a neighbour (X'1' after an identifier) would make other tokens: pad
    // it, except after the N of N'…'.
    out += `${l.kind === "national-string" ? "" : " "}${pick(l.kind, k)} `;
    last = l.end;
  });
  return out + sql.slice(last);
}

const GAPS = [" ", "\n", "\t", "  ", "/* c */", "/* /* n */ */", "-- c\n", "\r\n", "\f", "\v"];

/** `sql` with the whitespace and comments between its tokens replaced by random others. */
export function respaced(sql: string, tokens: readonly SqlToken[], rand: () => number): string {
  let out = "";
  let last = 0;
  for (const t of tokens) {
    const gap = sql.slice(last, t.start);
    out += gap === "" && rand() < 0.5 ? "" : (GAPS[Math.floor(rand() * GAPS.length)] ?? " ");
    out += sql.slice(t.start, t.end);
    last = t.end;
  }
  return out + (rand() < 0.5 ? "" : "  -- end");
}

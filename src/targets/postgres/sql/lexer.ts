// A lexer that follows PostgreSQL's own scanner (scan.l, PostgreSQL 16+ rules, with
// standard_conforming_strings on, which the gateway does not let a session change) far enough to
// turn a statement into its shape key: the token sequence with every literal value replaced by a
// placeholder of its kind, so that `… WHERE aid = 5` and `… WHERE aid = 42` share one key and the
// cache can skip the parser for the second. Two statements with one key have the same tokens in
// the same order, apart from literal values, so PostgreSQL's grammar builds the same tree for both
// up to those values. Anything it is not sure of returns { sure: false }: the caller parses.
// lexer-differential.test.ts checks it against libpg-query's own scanner.

/** The literal token kinds; each gets its own placeholder, so 5 and '5' and E'5' never share a key. */
export type LiteralKind =
  | "integer" // ICONST: a decimal, 0x, 0o or 0b integer that fits in int4
  | "numeric" // FCONST: 1.5, 1e3, or an integer too large for int4
  | "string" // SCONST from '…' (with '' for a quote, and newline continuations)
  | "escape-string" // SCONST from E'…' (backslash escapes)
  | "dollar-string" // SCONST from $$…$$ or $tag$…$tag$
  | "national-string" // the '…' of N'…' (scanned as the keyword NCHAR, then a string)
  | "unicode-string" // USCONST from U&'…'
  | "bit-string" // BCONST from B'…'
  | "hex-string"; // XCONST from X'…'

export interface SqlLiteral {
  readonly kind: LiteralKind;
  /** UTF-16 offsets into the statement text: sql.slice(start, end) is the literal as written. */
  readonly start: number;
  readonly end: number;
}

export type ShapeKey =
  | {
      readonly sure: true;
      readonly key: string;
      readonly literals: readonly SqlLiteral[];
      /**
       * When the text holds one statement (with ; only before or after it): its UTF-16 span as
       * the parser delimits it (first token up to the ; after it, or to the end), so a cache
       * hit can give the statement its own text without parsing. Null for several statements.
       */
      readonly statement: { readonly start: number; readonly end: number } | null;
    }
  | { readonly sure: false; readonly reason: string };

/** One token as the lexer cut it (comments and whitespace are not tokens): for the differential test. */
export interface SqlToken {
  readonly start: number;
  readonly end: number;
  /** Null for identifiers, keywords, operators, punctuation, parameters and the N of N'…'. */
  readonly literal: LiteralKind | null;
}

export type SqlTokens = { readonly sure: true; readonly tokens: readonly SqlToken[] } | { readonly sure: false; readonly reason: string };

/** The analysis cache keeps texts up to 16 KiB; longer ones are not worth a key. */
export const DEFAULT_MAX_LENGTH = 16 * 1024;

/**
 * The shape key of `sql`: tokens separated by one space, unquoted identifiers and keywords folded
 * to lower case as PostgreSQL folds them (ASCII letters only), quoted identifiers, operators and
 * parameters exactly as written, and each literal as \u0001 plus a letter for its kind (a control
 * character cannot appear in an unquoted token, so a placeholder is never confused with one).
 */
export function shapeKey(sql: string, maxLength: number = DEFAULT_MAX_LENGTH): ShapeKey {
  const lx = new Lexer(sql, null);
  const reason = lx.run(maxLength);
  if (reason !== null) return { sure: false, reason };
  const statement = lx.stmtStart < 0 || lx.severalStatements ? null : { start: lx.stmtStart, end: lx.stmtEnd < 0 ? sql.length : lx.stmtEnd };
  return { sure: true, key: lx.key, literals: lx.literals, statement };
}

/** The tokens of `sql` as the key sees them; the same scan as shapeKey(). */
export function lexTokens(sql: string, maxLength: number = DEFAULT_MAX_LENGTH): SqlTokens {
  const tokens: SqlToken[] = [];
  const reason = new Lexer(sql, tokens).run(maxLength);
  return reason === null ? { sure: true, tokens } : { sure: false, reason };
}

const PLACEHOLDER: Readonly<Record<LiteralKind, string>> = {
  integer: "\u0001i",
  numeric: "\u0001f",
  string: "\u0001s",
  "escape-string": "\u0001e",
  "dollar-string": "\u0001d",
  "national-string": "\u0001s",
  "unicode-string": "\u0001u",
  "bit-string": "\u0001b",
  "hex-string": "\u0001x",
};
/** The N of N'…', kept apart from an identifier n: `n 'x'` casts 'x' to a type named n. */
const NATIONAL = "\u0001n";

// Character codes (scan.l works on bytes; every UTF-16 unit >= 0x80 stands for bytes >= 0x80).
const TAB = 0x09;
const LF = 0x0a;
const VT = 0x0b;
const FF = 0x0c;
const CR = 0x0d;
const SPACE = 0x20;
const DQUOTE = 0x22;
const DOLLAR = 0x24;
const AMP = 0x26;
const QUOTE = 0x27;
const STAR = 0x2a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;
const SLASH = 0x2f;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;
const UNDERSCORE = 0x5f;

const INT4_MAX = 2147483647;
/** NAMEDATALEN - 1: a longer operator is an error in PostgreSQL. */
const MAX_OPERATOR = 63;

// Tables by char code < 128; codes >= 128 are identifier characters (scan.l's \200-\377).
const OP_CHARS = charSet("~!@#^&|`?+-*/%<>=");
/** Chars that let a multi-char operator end in + or - (scan.l's operator rule). */
const NON_SQL_OP = charSet("~!@#^&|`?%");
const SPACES = charSet(" \t\n\r\f\v");

function charSet(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

function isIdentStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === UNDERSCORE || c >= 0x80;
}

function isIdentCont(c: number): boolean {
  return isIdentStart(c) || (c >= ZERO && c <= NINE) || c === DOLLAR;
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function digitValue(c: number, radix: number): number {
  let v = 99;
  if (c >= ZERO && c <= NINE) v = c - ZERO;
  else if (c >= 0x61 && c <= 0x66) v = c - 0x61 + 10;
  else if (c >= 0x41 && c <= 0x46) v = c - 0x41 + 10;
  return v < radix ? v : -1;
}

class Lexer {
  key = "";
  readonly literals: SqlLiteral[] = [];
  /** The last two key tokens, for `float ( n )`, whose n picks float4 or float8 in the grammar itself. */
  private prev1 = "";
  private prev2 = "";
  /** The first statement's first token and the ; after it (-1: none yet); a token after that ; makes several. */
  stmtStart = -1;
  stmtEnd = -1;
  severalStatements = false;

  constructor(
    private readonly sql: string,
    private readonly tokens: SqlToken[] | null,
  ) {}

  /** Null when done and sure; otherwise why not. */
  run(maxLength: number): string | null {
    const s = this.sql;
    const n = s.length;
    if (n > maxLength) return "statement longer than the lexer's limit";
    // The parser refuses both (sql-parser.ts); PostgreSQL would see other text than we do.
    if (s.indexOf("\0") !== -1) return "NUL character";
    if (!s.isWellFormed()) return "lone surrogate";
    let i = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 128 && SPACES[c] === 1) {
        i += 1;
        continue;
      }
      let r: number;
      switch (c) {
        case QUOTE:
          r = this.quoted(i, i + 1, "string");
          break;
        case DQUOTE:
          r = this.quotedIdent(i, i + 1);
          break;
        case DOLLAR:
          r = this.dollar(i);
          break;
        case DOT:
          if (isDigit(s.charCodeAt(i + 1))) r = this.number(i);
          else if (s.charCodeAt(i + 1) === DOT) r = this.word(i, i + 2);
          else r = this.word(i, i + 1);
          break;
        case COLON: {
          const d = s.charCodeAt(i + 1);
          r = this.word(i, d === COLON || d === EQUALS ? i + 2 : i + 1);
          break;
        }
        case 0x28: // (
        case 0x29: // )
        case 0x2c: // ,
        case SEMICOLON:
        case 0x5b: // [
        case 0x5d: // ]
          r = this.word(i, i + 1);
          break;
        default:
          if (isDigit(c)) r = this.number(i);
          else if (isIdentStart(c)) r = this.identifier(i, c);
          else if (c < 128 && OP_CHARS[c] === 1) r = this.operator(i);
          else return `character ${JSON.stringify(s[i])} that PostgreSQL does not accept here`;
      }
      if (r < 0) return this.reason;
      i = r;
    }
    // An empty query has its own answer in the protocol (EmptyQueryResponse); not a shape.
    return this.key.length === 0 ? "no tokens" : null;
  }

  private reason = "";

  /** Records why not and returns -1, for `return this.fail(…)` in the token scanners. */
  private fail(why: string): number {
    this.reason = why;
    return -1;
  }

  private emit(text: string, start: number, end: number, literal: LiteralKind | null = null): void {
    this.key = this.key.length === 0 ? text : `${this.key} ${text}`;
    this.prev2 = this.prev1;
    this.prev1 = text;
    this.tokens?.push({ start, end, literal });
    if (end - start === 1 && literal === null && this.sql.charCodeAt(start) === SEMICOLON) {
      if (this.stmtStart >= 0 && this.stmtEnd < 0) this.stmtEnd = start;
    } else if (this.stmtStart < 0) this.stmtStart = start;
    else if (this.stmtEnd >= 0) this.severalStatements = true;
  }

  private word(start: number, end: number): number {
    this.emit(this.sql.slice(start, end), start, end);
    return end;
  }

  private literal(kind: LiteralKind, start: number, end: number): number {
    if (kind === "integer" && this.prev1 === "(" && this.prev2 === "float") return this.fail("float(n): the grammar reads n");
    this.emit(PLACEHOLDER[kind], start, end, kind);
    this.literals.push({ kind, start, end });
    return end;
  }

  private identifier(start: number, c: number): number {
    const s = this.sql;
    const next = s.charCodeAt(start + 1);
    if (next === QUOTE) {
      switch (c | 0x20) {
        case 0x65: // E'
          return this.quoted(start, start + 2, "escape-string");
        case 0x62: // B'
          return this.quoted(start, start + 2, "bit-string");
        case 0x78: // X'
          return this.quoted(start, start + 2, "hex-string");
        case 0x6e: // N': the keyword NCHAR, then an ordinary string
          this.emit(NATIONAL, start, start + 1);
          return this.quoted(start + 1, start + 2, "national-string");
      }
    }
    if ((c | 0x20) === 0x75 && next === AMP) {
      const q = s.charCodeAt(start + 2);
      if (q === QUOTE) return this.quoted(start, start + 3, "unicode-string");
      if (q === DQUOTE) return this.quotedIdent(start, start + 3);
      return this.fail("U& not followed by a quote");
    }
    let i = start + 1;
    let upper = c >= 0x41 && c <= 0x5a;
    let high = c >= 0x80;
    const n = s.length;
    for (; i < n; i++) {
      const d = s.charCodeAt(i);
      if (!isIdentCont(d)) break;
      if (d >= 0x41 && d <= 0x5a) upper = true;
      else if (d >= 0x80) high = true;
    }
    let text = s.slice(start, i);
    // PostgreSQL folds only ASCII letters in a multi-byte encoding (downcase_identifier).
    if (upper) text = high ? text.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : text.toLowerCase();
    // UESCAPE changes how the U& literal before it is decoded (parser.c's lookahead): parse those.
    if (text === "uescape") return this.fail("UESCAPE");
    this.emit(text, start, i);
    return i;
  }

  /** "…" (from `body`, after the opening quote); U&"…" too. The key keeps it exactly as written. */
  private quotedIdent(start: number, body: number): number {
    const s = this.sql;
    let i = body;
    for (;;) {
      const q = s.indexOf('"', i);
      if (q === -1) return this.fail("unterminated quoted identifier");
      if (s.charCodeAt(q + 1) === DQUOTE) {
        i = q + 2;
        continue;
      }
      if (q === body) return this.fail("zero-length quoted identifier");
      return this.word(start, q + 1);
    }
  }

  /**
   * A quoted literal whose body starts at `body`: '' is a quote in every kind but bit strings;
   * a backslash escapes the next character only in E'…'. After the closing quote, whitespace
   * with a newline and another quote continue the same literal (SQL's string continuation).
   */
  private quoted(start: number, body: number, kind: LiteralKind): number {
    const s = this.sql;
    const n = s.length;
    let i = body;
    for (;;) {
      let q: number;
      if (kind === "escape-string") {
        q = i;
        for (; q < n; q++) {
          const c = s.charCodeAt(q);
          if (c === QUOTE) break;
          if (c === BACKSLASH) {
            // \ooo, \xhh, \uXXXX and \UXXXXXXXX can make a NUL, an invalid code point or invalid
            // UTF-8, which the scanner refuses: the same key would then hide a parse error.
            const e = s.charCodeAt(q + 1);
            if ((e >= ZERO && e <= 0x37) || e === 0x78 || e === 0x75 || e === 0x55) return this.fail("E'' escape that can make an invalid character");
            q += 1;
          }
        }
        if (q >= n) return this.fail("unterminated quoted string");
      } else {
        q = s.indexOf("'", i);
        if (q === -1) return this.fail("unterminated quoted string");
      }
      if (kind !== "bit-string" && kind !== "hex-string" && s.charCodeAt(q + 1) === QUOTE) {
        i = q + 2;
        continue;
      }
      const after = q + 1;
      const cont = this.continuation(after);
      if (cont === -2) return this.fail("string continued across a -- comment");
      if (cont === -1) {
        // Its escapes are decoded by the scanner, which refuses bad ones (and reads UESCAPE).
        if (kind === "unicode-string" && s.lastIndexOf("\\", after) >= start) return this.fail("U&'' with an escape");
        return this.literal(kind, start, after);
      }
      i = cont;
    }
  }

  /**
   * Where a string literal continues after its closing quote at `from` - 1: the position after
   * the next opening quote when only whitespace with at least one newline lies between; -1 when
   * it does not continue; -2 when a -- comment lies between (PostgreSQL continues the string
   * there, libpg-query's scanner does not: let the parser refuse it).
   */
  private continuation(from: number): number {
    const s = this.sql;
    const n = s.length;
    let newline = false;
    let comment = false;
    let i = from;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === LF || c === CR) newline = true;
      else if (c === SPACE || c === TAB || c === FF || c === VT) {
        // horizontal space
      } else if (c === MINUS && s.charCodeAt(i + 1) === MINUS) {
        comment = true;
        while (i < n && s.charCodeAt(i) !== LF && s.charCodeAt(i) !== CR) i += 1;
        continue;
      } else break;
      i += 1;
    }
    if (i >= n || s.charCodeAt(i) !== QUOTE || !newline) return -1;
    return comment ? -2 : i + 1;
  }

  /** $n, $$…$$, $tag$…$tag$. */
  private dollar(start: number): number {
    const s = this.sql;
    const n = s.length;
    let i = start + 1;
    let c = s.charCodeAt(i);
    if (isDigit(c)) {
      // $ and digits (libpg-query takes no _ here, though PostgreSQL 16+ does); one followed by
      // identifier characters is an error in PostgreSQL but an alias in libpg-query: parse it.
      while (isDigit(s.charCodeAt(i))) i += 1;
      c = s.charCodeAt(i);
      if (isIdentCont(c) || c === DOT) return this.fail("parameter followed by junk");
      return this.word(start, i);
    }
    if (c !== DOLLAR) {
      if (!(isIdentStart(c))) return this.fail("a lone $");
      i += 1;
      while (i < n) {
        c = s.charCodeAt(i);
        if (!isIdentCont(c) || c === DOLLAR) break;
        i += 1;
      }
      if (s.charCodeAt(i) !== DOLLAR) return this.fail("$ followed by a word that does not open a dollar quote");
    }
    const delim = s.slice(start, i + 1);
    const close = s.indexOf(delim, i + 1);
    if (close === -1) return this.fail("unterminated dollar-quoted string");
    return this.literal("dollar-string", start, close + delim.length);
  }

  /** {decdigit}(_?{decdigit})* from `i` (at a digit): where it ends, or -1 for an _ not between digits. */
  private decinteger(i: number): number {
    const s = this.sql;
    i += 1;
    for (;;) {
      const c = s.charCodeAt(i);
      if (isDigit(c)) i += 1;
      else if (c === UNDERSCORE) {
        if (!isDigit(s.charCodeAt(i + 1))) return -1;
        i += 2;
      } else return i;
    }
  }

  /** Integers (decimal, 0x, 0o, 0b), numerics and reals, at a digit or at . before a digit. */
  private number(start: number): number {
    const s = this.sql;
    let i = start;
    let integer = true;
    const c0 = s.charCodeAt(i);
    const x = s.charCodeAt(i + 1) | 0x20;
    if (c0 === ZERO && (x === 0x78 || x === 0x6f || x === 0x62)) {
      // 0x…, 0o…, 0b…: (_?digit)+ in the radix.
      const radix = x === 0x78 ? 16 : x === 0x6f ? 8 : 2;
      i += 2;
      let value = 0;
      let digits = 0;
      for (;;) {
        let c = s.charCodeAt(i);
        if (c === UNDERSCORE) c = s.charCodeAt(i + 1);
        const v = digitValue(c, radix);
        if (v < 0) break;
        i += s.charCodeAt(i) === UNDERSCORE ? 2 : 1;
        value = value * radix + v;
        digits += 1;
      }
      if (digits === 0) return this.fail("invalid non-decimal integer");
      if (this.junkAfterNumber(i)) return this.fail("trailing junk after numeric literal");
      return this.literal(value > INT4_MAX ? "numeric" : "integer", start, i);
    }
    if (c0 !== DOT) {
      i = this.decinteger(i);
      if (i < 0) return this.fail("trailing junk after numeric literal");
    }
    if (s.charCodeAt(i) === DOT) {
      // {decinteger}\.\. is an integer followed by .. (numericfail): stop before the dots.
      if (s.charCodeAt(i + 1) === DOT) {
        if (c0 === DOT) return this.fail("odd dots");
        return this.finishInteger(start, i);
      }
      integer = false;
      i += 1;
      if (isDigit(s.charCodeAt(i))) {
        i = this.decinteger(i);
        if (i < 0) return this.fail("trailing junk after numeric literal");
      }
    }
    const e = s.charCodeAt(i) | 0x20;
    if (e === 0x65) {
      let j = i + 1;
      const sign = s.charCodeAt(j);
      if (sign === PLUS || sign === MINUS) j += 1;
      if (!isDigit(s.charCodeAt(j))) return this.fail("trailing junk after numeric literal");
      i = this.decinteger(j);
      if (i < 0) return this.fail("trailing junk after numeric literal");
      integer = false;
    }
    if (this.junkAfterNumber(i)) return this.fail("trailing junk after numeric literal");
    return integer ? this.finishInteger(start, i) : this.literal("numeric", start, i);
  }

  private finishInteger(start: number, end: number): number {
    const s = this.sql;
    let value = 0;
    for (let k = start; k < end && value <= INT4_MAX; k++) {
      const c = s.charCodeAt(k);
      if (c !== UNDERSCORE) value = value * 10 + (c - ZERO);
    }
    return this.literal(value > INT4_MAX ? "numeric" : "integer", start, end);
  }

  /** An identifier character, or $ (a quote or parameter glued to a number): PostgreSQL's *_junk rules or worse. */
  private junkAfterNumber(i: number): boolean {
    const c = this.sql.charCodeAt(i);
    return isIdentCont(c);
  }

  /**
   * {op_chars}+, cut before an embedded /* or -- (they start comments), then stripped of
   * trailing + and - unless it holds one of ~ ! @ # ^ & | ` ? % (so `=-` is = and -).
   */
  private operator(start: number): number {
    const s = this.sql;
    const n = s.length;
    const c0 = s.charCodeAt(start);
    const c1 = s.charCodeAt(start + 1);
    if (c0 === SLASH && c1 === STAR) return this.blockComment(start);
    if (c0 === MINUS && c1 === MINUS) {
      let i = start + 2;
      while (i < n && s.charCodeAt(i) !== LF && s.charCodeAt(i) !== CR) i += 1;
      return i;
    }
    let end = start + 1;
    let qualifies = c0 < 128 && NON_SQL_OP[c0] === 1;
    while (end < n) {
      const c = s.charCodeAt(end);
      if (c >= 128 || OP_CHARS[c] !== 1) break;
      const prev = s.charCodeAt(end - 1);
      if ((prev === SLASH && c === STAR) || (prev === MINUS && c === MINUS)) {
        end -= 1;
        break;
      }
      if (NON_SQL_OP[c] === 1) qualifies = true;
      end += 1;
    }
    if (end - start > 1 && !qualifies) {
      while (end - start > 1) {
        const last = s.charCodeAt(end - 1);
        if (last !== PLUS && last !== MINUS) break;
        end -= 1;
      }
    }
    if (end - start > MAX_OPERATOR) return this.fail("operator too long");
    return this.word(start, end);
  }

  /** Nested /* … *\/ comments; they are whitespace to the key. */
  private blockComment(start: number): number {
    const s = this.sql;
    const n = s.length;
    let depth = 0;
    let i = start + 2;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === SLASH && s.charCodeAt(i + 1) === STAR) {
        depth += 1;
        i += 2;
      } else if (c === STAR) {
        // \*+\/ closes; a run of stars not followed by / is just text.
        let j = i + 1;
        while (j < n && s.charCodeAt(j) === STAR) j += 1;
        if (s.charCodeAt(j) === SLASH) {
          if (depth === 0) return j + 1;
          depth -= 1;
          i = j + 1;
        } else i = j;
      } else i += 1;
    }
    return this.fail("unterminated /* comment");
  }
}

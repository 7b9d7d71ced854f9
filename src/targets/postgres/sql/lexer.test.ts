import { describe, expect, test } from "bun:test";
import { lexTokens, shapeKey, type LiteralKind } from "./lexer.ts";

/** The key with its placeholders readable: \u0001s → ⟨s⟩. */
function key(sql: string): string {
  const r = shapeKey(sql);
  if (!r.sure) throw new Error(`unsure: ${r.reason}`);
  return r.key.replace(/\u0001(.)/g, "⟨$1⟩");
}

function unsure(sql: string): string {
  const r = shapeKey(sql);
  if (r.sure) throw new Error(`sure: ${JSON.stringify(r.key)}`);
  return r.reason;
}

/** The literals as [kind, text as written]. */
function literals(sql: string): [LiteralKind, string][] {
  const r = shapeKey(sql);
  if (!r.sure) throw new Error(`unsure: ${r.reason}`);
  return r.literals.map((l) => [l.kind, sql.slice(l.start, l.end)]);
}

/** The tokens as written, literals marked with their kind. */
function tokens(sql: string): string[] {
  const r = lexTokens(sql);
  if (!r.sure) throw new Error(`unsure: ${r.reason}`);
  return r.tokens.map((t) => sql.slice(t.start, t.end) + (t.literal === null ? "" : `:${t.literal}`));
}

describe("shape keys", () => {
  test("statements that differ only in a literal's value share a key; other kinds of literal do not", () => {
    expect(key("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;")).toBe("select abalance from pgbench_accounts where aid = ⟨i⟩ ;");
    expect(key("SELECT * FROM t WHERE id = 5")).toBe(key("select *  from T where ID=42"));
    expect(key("SELECT * FROM t WHERE id = '5'")).not.toBe(key("SELECT * FROM t WHERE id = 5"));
    expect(key("SELECT E'\\\\x'")).not.toBe(key("SELECT 'x'"));
    expect(key("SELECT $$x$$")).not.toBe(key("SELECT 'x'"));
    expect(key("SELECT 5")).not.toBe(key("SELECT 5.0"));
    expect(key("SELECT 5")).not.toBe(key("SELECT NULL"));
  });

  test("whitespace and comments are normalised; a comment separates tokens", () => {
    expect(key("SELECT/* c */a\n\t-- x\nFROM\vt")).toBe("select a from t");
    expect(key("SELECT a/**/b")).toBe("select a b");
    expect(key("SELECT ab")).not.toBe(key("SELECT a b"));
  });

  test("unquoted identifiers fold ASCII letters only; quoted identifiers are kept as written", () => {
    expect(key("SELECT FooBar, ÉCOLE, Émile_X FROM T")).toBe("select foobar , École , Émile_x from t");
    expect(key('SELECT "FooBar", "a""b", "x y" FROM "T"')).toBe('select "FooBar" , "a""b" , "x y" from "T"');
    // "select" quoted is an identifier, not the keyword: a different key.
    expect(key('SELECT "select"')).not.toBe(key("SELECT select"));
    expect(key("SELECT a$b$, z$1 FROM t")).toBe("select a$b$ , z$1 from t");
  });

  test("parameters are kept as written ($1 and $2 are other statements)", () => {
    expect(key("SELECT $1, $12")).toBe("select $1 , $12");
    expect(key("SELECT $1")).not.toBe(key("SELECT $2"));
  });
});

describe("the statement's own text", () => {
  const span = (sql: string): string | null => {
    const r = shapeKey(sql);
    if (!r.sure) throw new Error(r.reason);
    return r.statement === null ? null : sql.slice(r.statement.start, r.statement.end);
  };

  test("from its first token to the ; after it, or to the end; null for several statements", () => {
    expect(span("SELECT 1")).toBe("SELECT 1");
    expect(span("  /* c */ SELECT 1 -- x\n ; ")).toBe("SELECT 1 -- x\n ");
    expect(span(";;SELECT 1;;")).toBe("SELECT 1");
    expect(span("SELECT 1 ")).toBe("SELECT 1 ");
    expect(span("SELECT 1; SELECT 2")).toBeNull();
    expect(span(";")).toBeNull();
  });
});

describe("strings", () => {
  test("standard strings: '' is a quote, a backslash is just a character (standard_conforming_strings on)", () => {
    expect(literals("SELECT 'a''b', '', '''', 'a\\', 'x'")).toEqual([
      ["string", "'a''b'"],
      ["string", "''"],
      ["string", "''''"],
      ["string", "'a\\'"],
      ["string", "'x'"],
    ]);
    expect(tokens("SELECT '\\' , 1")).toEqual(["SELECT", "'\\':string", ",", "1:integer"]);
  });

  test("E'' strings: a backslash escapes the next character, quotes included", () => {
    expect(literals("SELECT E'a\\'b', e'\\\\', E'x''y', E'\\n\\t\\q'")).toEqual([
      ["escape-string", "E'a\\'b'"],
      ["escape-string", "e'\\\\'"],
      ["escape-string", "E'x''y'"],
      ["escape-string", "E'\\n\\t\\q'"],
    ]);
    // These escapes can make what the scanner refuses (E'\\0', E'\\xff', E'\\ud800'): one key would hide that.
    for (const e of ["\\0", "\\101", "\\x41", "\\u0041", "\\U00000041"]) expect(unsure(`SELECT E'${e}'`)).toBe("E'' escape that can make an invalid character");
    expect(unsure("SELECT E'a\\'")).toBe("unterminated quoted string");
  });

  test("a string continues over whitespace holding a newline, not over spaces alone", () => {
    expect(literals("SELECT 'a'\n'b', 'c' \r\n\t 'd'")).toEqual([
      ["string", "'a'\n'b'"],
      ["string", "'c' \r\n\t 'd'"],
    ]);
    expect(tokens("SELECT 'a' 'b'")).toEqual(["SELECT", "'a':string", "'b':string"]);
    // \v and \f are spaces, not newlines.
    expect(tokens("SELECT 'a'\v\f'b'")).toEqual(["SELECT", "'a':string", "'b':string"]);
    expect(literals("SELECT 'a'\v\n\f'b'")).toEqual([["string", "'a'\v\n\f'b'"]]);
    expect(tokens("SELECT 'a'/**/\n'b'")).toEqual(["SELECT", "'a':string", "'b':string"]);
    expect(literals("SELECT E'a'\n'\\''")).toEqual([["escape-string", "E'a'\n'\\''"]]);
    // PostgreSQL continues across a -- comment and libpg-query does not: let the parser refuse it.
    expect(unsure("SELECT 'a' -- c\n'b'")).toBe("string continued across a -- comment");
  });

  test("U&'' strings, bit strings, hex strings, national strings", () => {
    expect(literals("SELECT U&'dat''a', B'1010', x'1F', N'nat'")).toEqual([
      ["unicode-string", "U&'dat''a'"],
      ["bit-string", "B'1010'"],
      ["hex-string", "x'1F'"],
      ["national-string", "'nat'"],
    ]);
    // A bit string has no '' inside: B'1''0' is B'1' then '0'.
    expect(tokens("SELECT B'1''0'")).toEqual(["SELECT", "B'1':bit-string", "'0':string"]);
    // N'x' is NCHAR 'x'; it never shares a key with a cast to a type named n.
    expect(tokens("SELECT N'x'")).toEqual(["SELECT", "N", "'x':national-string"]);
    expect(key("SELECT N'x'")).not.toBe(key("SELECT n 'x'"));
    expect(key("SELECT U&'x'")).not.toBe(key("SELECT 'x'"));
  });

  test("UESCAPE, a U& without a quote, and unterminated strings are unsure", () => {
    expect(unsure("SELECT U&'!0041' UESCAPE '!'")).toBe("UESCAPE");
    expect(unsure('SELECT U&"!0041" uescape \'!\'')).toBe("UESCAPE");
    expect(unsure("SELECT u&x")).toBe("U& not followed by a quote");
    // The scanner decodes U&'' escapes and refuses bad ones (U&'\\zzzz').
    expect(unsure("SELECT U&'d\\0061t'")).toBe("U&'' with an escape");
    expect(unsure("SELECT 'abc")).toBe("unterminated quoted string");
    expect(unsure("SELECT B'10")).toBe("unterminated quoted string");
  });
});

describe("dollar quotes and parameters", () => {
  test("$$…$$ and $tag$…$tag$ end at the first exact closing tag; nothing inside is special", () => {
    expect(literals("SELECT $$a'b$$, $t$x$$y$t$, $a$ $b$ $A$ $a$, $q$;DROP$q$, $é$x$é$")).toEqual([
      ["dollar-string", "$$a'b$$"],
      ["dollar-string", "$t$x$$y$t$"],
      ["dollar-string", "$a$ $b$ $A$ $a$"],
      ["dollar-string", "$q$;DROP$q$"],
      ["dollar-string", "$é$x$é$"],
    ]);
  });

  test("$ inside an identifier is part of it, so no dollar quote starts there", () => {
    expect(tokens("SELECT a$$x$$")).toEqual(["SELECT", "a$$x$$"]);
  });

  test("a $ that opens nothing, an unterminated dollar quote, a parameter glued to a word are unsure", () => {
    expect(unsure("SELECT $")).toBe("a lone $");
    expect(unsure("SELECT $a")).toBe("$ followed by a word that does not open a dollar quote");
    expect(unsure("SELECT $a$ x")).toBe("unterminated dollar-quoted string");
    expect(unsure("SELECT $1a")).toBe("parameter followed by junk");
    expect(unsure("SELECT $1_0")).toBe("parameter followed by junk");
    expect(unsure("SELECT $1$$x$$")).toBe("parameter followed by junk");
  });
});

describe("comments", () => {
  test("/* */ nests; -- runs to the end of the line", () => {
    expect(tokens("SELECT /* a /* b */ c */ 1 -- x\n, 2")).toEqual(["SELECT", "1:integer", ",", "2:integer"]);
    expect(tokens("SELECT /*/ x */ 1")).toEqual(["SELECT", "1:integer"]);
    expect(tokens("SELECT /***/ 1 /* x **/")).toEqual(["SELECT", "1:integer"]);
    expect(tokens("SELECT 1 --")).toEqual(["SELECT", "1:integer"]);
  });

  test("an unterminated comment is unsure", () => {
    expect(unsure("SELECT 1 /* x")).toBe("unterminated /* comment");
    expect(unsure("SELECT 1 /* /* x */")).toBe("unterminated /* comment");
  });
});

describe("numbers", () => {
  test("integers that fit int4 are ICONST, larger ones and decimals FCONST", () => {
    expect(literals("SELECT 0, 007, 2147483647, 2147483648, 1_000, 1.5, .5, 5., 1e5, 1.e-5, 1_0.2_5e1_0")).toEqual([
      ["integer", "0"],
      ["integer", "007"],
      ["integer", "2147483647"],
      ["numeric", "2147483648"],
      ["integer", "1_000"],
      ["numeric", "1.5"],
      ["numeric", ".5"],
      ["numeric", "5."],
      ["numeric", "1e5"],
      ["numeric", "1.e-5"],
      ["numeric", "1_0.2_5e1_0"],
    ]);
  });

  test("0x, 0o and 0b integers, with underscores", () => {
    expect(literals("SELECT 0x1F, 0X7FFFFFFF, 0x80000000, 0o17, 0b1_01, 0x_1")).toEqual([
      ["integer", "0x1F"],
      ["integer", "0X7FFFFFFF"],
      ["numeric", "0x80000000"],
      ["integer", "0o17"],
      ["integer", "0b1_01"],
      ["integer", "0x_1"],
    ]);
  });

  test("1..2 is 1, .., 2; 1.5.6 is 1.5 then .6", () => {
    expect(tokens("SELECT 1..2")).toEqual(["SELECT", "1:integer", "..", "2:integer"]);
    expect(tokens("SELECT 1.5.6")).toEqual(["SELECT", "1.5:numeric", ".6:numeric"]);
  });

  test("trailing junk (PostgreSQL 16+ errors) and malformed numbers are unsure", () => {
    for (const n of ["123abc", "1_", "1__0", "1e", "1e+", "0x", "0xg", "0b2", "0o8", "0x1_", "1.5e3x", "1$", "1._1"]) {
      expect(shapeKey(`SELECT ${n}`).sure).toBe(false);
    }
  });

  test("float(n): the grammar itself picks float4 or float8 from n, so the key cannot hide n", () => {
    expect(unsure("SELECT x::float(10)")).toBe("float(n): the grammar reads n");
    expect(key("SELECT x::float8, numeric(10)")).toBe("select x :: float8 , numeric ( ⟨i⟩ )");
  });
});

describe("operators", () => {
  test("a trailing + or - belongs to an operator only when it holds one of ~ ! @ # % ^ & | ` ?", () => {
    expect(tokens("SELECT a=-b")).toEqual(["SELECT", "a", "=", "-", "b"]);
    expect(tokens("SELECT a<=-b")).toEqual(["SELECT", "a", "<=", "-", "b"]);
    expect(tokens("SELECT a*-+b")).toEqual(["SELECT", "a", "*", "-", "+", "b"]);
    expect(tokens("SELECT a@-b")).toEqual(["SELECT", "a", "@-", "b"]);
    expect(tokens("SELECT a?-+b")).toEqual(["SELECT", "a", "?-+", "b"]);
    expect(tokens("SELECT a%-b")).toEqual(["SELECT", "a", "%-", "b"]);
  });

  test("-- and /* inside an operator start comments", () => {
    expect(tokens("SELECT a+--c\n1")).toEqual(["SELECT", "a", "+", "1:integer"]);
    expect(tokens("SELECT a*/*c*/1")).toEqual(["SELECT", "a", "*", "1:integer"]);
    expect(tokens("SELECT a @/**/- 1")).toEqual(["SELECT", "a", "@", "-", "1:integer"]);
  });

  test("two-character tokens", () => {
    expect(tokens("SELECT a::int, b := 1, c => 2, x[1:2], d .. e, f->>'k', g!=h, i<>j")).toEqual([
      "SELECT", "a", "::", "int", ",", "b", ":=", "1:integer", ",", "c", "=>", "2:integer", ",", "x", "[", "1:integer", ":", "2:integer", "]", ",",
      "d", "..", "e", ",", "f", "->>", "'k':string", ",", "g", "!=", "h", ",", "i", "<>", "j",
    ]);
  });

  test("an operator of 64 characters or more is unsure", () => {
    expect(unsure(`SELECT a ${"@".repeat(64)} b`)).toBe("operator too long");
    expect(shapeKey(`SELECT a ${"@".repeat(63)} b`).sure).toBe(true);
  });
});

describe("quoted identifiers", () => {
  test('"" inside is a quote; U&"" is kept as written', () => {
    expect(tokens('SELECT "a""b", U&"d\\0061t", "é x"')).toEqual(["SELECT", '"a""b"', ",", 'U&"d\\0061t"', ",", '"é x"']);
  });

  test("an empty or unterminated quoted identifier is unsure", () => {
    expect(unsure('SELECT ""')).toBe("zero-length quoted identifier");
    expect(unsure('SELECT "abc')).toBe("unterminated quoted identifier");
  });
});

describe("anything else is unsure", () => {
  test("characters PostgreSQL does not take outside strings", () => {
    for (const c of ["{", "}", "\\", "\u0007", "\u007f"]) expect(shapeKey(`SELECT a ${c} b`).sure).toBe(false);
  });

  test("a text without tokens", () => {
    expect(unsure("")).toBe("no tokens");
    expect(unsure(" /* c */ -- x")).toBe("no tokens");
  });

  test("NUL, lone surrogates and texts over the limit", () => {
    expect(unsure("SELECT 1\0")).toBe("NUL character");
    expect(unsure("SELECT '\ud800'")).toBe("lone surrogate");
    expect(shapeKey("SELECT 1", 5).sure).toBe(false);
    expect(shapeKey("SELECT 1", 8).sure).toBe(true);
  });

  test("non-ASCII letters are identifier characters, as the bytes of their UTF-8 are to scan.l", () => {
    expect(tokens("SELECT 日本, a\u00a0b")).toEqual(["SELECT", "日本", ",", "a\u00a0b"]);
  });
});

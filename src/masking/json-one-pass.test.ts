// The one-pass JSON masker against the parse-walk-serialise one it replaced ({ onePass: false }):
// on a corpus and on generated documents, both refuse with the same message, or both accept with
// the same count and outputs equal as JSON (numbers compared by exact decimal value); where
// nothing was masked the one-pass gives back the very bytes it got, and where something was,
// only masked tokens differ. Duplicate keys: see their own test. The mask set { email } alone
// takes json-at-strings.ts; every other set the scanner of json-one-pass.ts.
import { describe, expect, test } from "bun:test";
import type { Masks } from "../core/types.ts";
import { compileJsonMasker, type JsonMasker } from "./json-masker.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);
const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const masks = (m: Partial<Masks>): Masks => ({ json: [], columns: [], detectors: [], ...m });

const MASK_SETS: Partial<Masks>[] = [
  { detectors: ["email"] },
  { detectors: ["card"] },
  { detectors: ["email", "card"] },
  { detectors: ["email", "card", "ssn", "iban", "phone", "jwt", "cloud_key"] },
  { detectors: ["iban", "phone", "jwt"] },
  { detectors: ["jwt"] },
  { detectors: ["phone"] },
  { detectors: ["iban"] },
  { detectors: ["ssn"] },
  { detectors: ["cloud_key"] },
  { json: ["$..card", "$.users[*].name", "$.a.b"] },
  { json: ["$.users[-1]", "$..[-2]", "$.x[0]"], detectors: ["email"] },
  { json: ["$"] },
  { json: ["$.*"], detectors: ["card"] },
  { json: ["$..email", "$['__proto__']"], detectors: ["email", "cloud_key"] },
];

type Outcome = { refused: string } | { body: Uint8Array; masked: number };
function run(m: JsonMasker, body: Uint8Array, type: string): Outcome {
  try {
    return m.maskBody(body, type);
  } catch (e) {
    return { refused: (e as Error).message };
  }
}

/** A number's exact decimal value, as a string: `1.50`, `15e-1` and `1.5` are one. */
function exactNumber(source: string): string {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(source);
  if (m === null) throw new Error(`not a number: ${source}`);
  let digits = (m[2]! + (m[3] ?? "")).replace(/^0+/, "");
  let exp = BigInt(m[4] ?? "0") - BigInt((m[3] ?? "").length);
  if (digits === "") return "0";
  const zeros = /0*$/.exec(digits)![0].length;
  digits = digits.slice(0, digits.length - zeros);
  exp += BigInt(zeros);
  return `${m[1]}${digits}e${exp}`;
}

type SourceParse = (text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown) => unknown;
/** JSON as a value whose numbers are their exact decimal values. */
function exactJson(text: string): unknown {
  return (JSON.parse as SourceParse)(text, (_k, v, ctx) => (typeof v === "number" ? { number: exactNumber(ctx.source!) } : v));
}

function exactDocuments(text: string, type: string): unknown {
  if (type === "application/json") return exactJson(text);
  return text.split("\n").map((line) => (line.trim() === "" ? line : exactJson(line.endsWith("\r") ? line.slice(0, -1) : line)));
}

/** Tokens of valid JSON text: strings, numbers, literals, punctuation, whitespace runs. */
const TOKEN = /"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null|[{}[\]:,]|[ \t\r\n]+|\uFEFF/gy;
function tokens(text: string): string[] {
  TOKEN.lastIndex = 0;
  const out: string[] = [];
  for (let m = TOKEN.exec(text); m !== null && m[0].length > 0; m = TOKEN.exec(text)) out.push(m[0]);
  return out;
}

let compared = 0;
/** Compares both maskers on one body; returns whether they refused. */
function compare(masksOf: Partial<Masks>, oldMasker: JsonMasker, newMasker: JsonMasker, doc: string, type = "application/json", duplicates = false): boolean {
  const body = utf8(doc);
  const before = run(oldMasker, body, type);
  const after = run(newMasker, body, type);
  compared++;
  const where = { masks: masksOf, doc };
  // With duplicate keys the old masker never saw an earlier occurrence's key: the one-pass may refuse where it accepted.
  if (duplicates && "refused" in after && !("refused" in before) && after.refused.startsWith("a JSON key")) return true;
  if ("refused" in before || "refused" in after) {
    expect({ ...where, outcome: "refused" in after ? after.refused : "accepted" }).toEqual({ ...where, outcome: "refused" in before ? before.refused : "accepted" });
    return true;
  }
  const out = decode(after.body);
  if (doc === "") expect(after).toEqual(before);
  else expect({ ...where, out: exactDocuments(out, type) }).toEqual({ ...where, out: exactDocuments(decode(before.body), type) });
  if (!duplicates) expect({ ...where, masked: after.masked }).toEqual({ ...where, masked: before.masked });
  if (after.masked === 0) expect(after.body).toBe(body);
  else if (masksOf.json === undefined) {
    // Detectors only: token for token the same text, but for strings and numbers now masked strings.
    const a = tokens(doc.replace(/^\uFEFF/, ""));
    const b = tokens(out);
    expect(b.length).toBe(a.length);
    for (let i = 0; i < a.length; i++) {
      if (a[i] !== b[i]) expect({ ...where, from: a[i], to: b[i], masked: /^"[^]*\[masked:[^]*"$/.test(b[i]!) }).toEqual({ ...where, from: a[i], to: b[i], masked: true });
    }
  }
  return false;
}

const users = Array.from({ length: 16 }, (_, i) => ({ id: 1000 + i, name: `User Number ${i}`, email: `user${i}.name@example${i % 3}.com`, team: ["sales", "ops", "eng", "finance"][i % 4], active: i % 5 !== 0, score: Math.round(((i * 7919) % 1000) * 1.25) / 10 }));

const CORPUS: string[] = [
  JSON.stringify({ page: 1, total: users.length, users }),
  JSON.stringify({ page: 1, users }, null, 2),
  JSON.stringify({ users: [{ email: "a@example.com", card: "4242 4242 4242 4242" }], total: 1 }),
  '{"id":12345678901234567890,"price":1.50,"huge":1e400,"card":6205500000000000004,"e":"bob@example.com"}',
  '{"n":4242424242424242,"bad":4242424242424241,"ts":1700000000000,"small":42,"f":4.5}',
  "[4242424242424242424, 9007199254740993, 4000000000000000000, 4.242424242424242e15, 4.1e15, 4242424242424242e0, 4242424242424242.0, -4242424242424242]",
  "[4.1e15, 5.5e15, 42424242424242420e-1, 1E13]",
  "[4.1e15, 5.5e15, 1e123, 4.2e15]",
  "[4.1e15, 4.2e15, 42e14, 420000000000000e1, 4.2E+15]",
  '{"a":"ann@host.org","b":"a\\u0040b.org","c":"no at sign"}',
  '{"k":"say \\"hi\\" to ann@example.com","\\"":"x@y.org","a":"x\\\\@example.com","b":"\\\\\\"@example.com","c":"\\\\"}',
  '["\\\\","\\"@\\"", "a\\\\\\"b@example.com\\\\"]',
  '"ann\\u0040example.com"',
  '{"e":"ann@exa\\u006dple.com","f":"ann\\u0040example\\u002ecom","g":"\\u0061nn@example.com"}',
  '{"a\\u0040example.com":1}',
  '{"\\u0061":"x\\"y\\\\z\\/\\b\\f\\n\\r\\t","b":"\\ud800","c":"\\udc00\\ud83d\\ude00","d":"é😀 ann@example.com"}',
  '{"__proto__":{"email":"x@example.com"},"a":"y@example.com"}',
  '{"__proto__":1,"constructor":2,"toString":"bob@example.com"}',
  '{"ann@example.com":"key"}',
  '{"x":{"bob@example.com":1}}',
  '{"aws_secret_access_key":"abcdefghijABCDEFGHIJ0123456789/+abcdefgh","k":["AKIAABCDEFGHIJKLMNOP"]}',
  '{"card":"4242-4242-4242-4242","iban":"GB82 WEST 1234 5698 7654 32","de":"DE89370400440532013000","phone":"+44 20 7946 0958","ssn":"123-45-6789"}',
  '{"jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig","users":[{"name":"a"},{"name":"b","card":{"n":1}}],"a":{"b":[1,2,3]}}',
  '{"users":[1,2,3],"x":[[1,2],[3,4,5]],"y":[]}',
  "",
  "[]",
  "{}",
  '""',
  "0",
  "-0",
  "true",
  "null",
  " \t\n\r[ 1 , { } , [ ] ]\r\n ",
  "\uFEFF" + '{"e":"bob@example.com"}',
  "\uFEFF" + '{"e":"none"}',
];

const INVALID: string[] = [
  " ", "[1,]", '{"a":1,}', "[1 2]", '{"a" 1}', '{"a":}', "{,}", "[,1]", "01", "-01", "1.", ".5", "1e", "1e+", "-", "+1", "NaN", "Infinity", "-Infinity",
  "nul", "tru", "falsey", "[1]x", "[1]]", "{}}", "[", "{", '"abc', '"\\x"', '"\\u00"', '"\\u00g0"', '"\\', '"a\tb"', '"a\nb"', '"\u0000"', '"\u001f"',
  "// c\n1", "/* c */ 1", "[1 /* c */]", "'a'", "{a:1}", '{"a":1}{"b":2}', '{"a":1}\n{"a":2}', "\v1", "\f1", "\u00a01", "1\u00a0", "\uFEFF\uFEFF1",
  '{"a":"b"', '{"a":["b"}', '["a"}', '{"a":1]', "0x10", "1_000", "[.1]", "[1e5.5]", "[--1]", "[1-1]", '{"a":1,,"b":2}', '{"a"::1}', "[true false]", '"\u2028"x',
];

describe("one-pass masker against the parse-walk-serialise one", () => {
  test("corpus: valid documents, number forms, escapes, keys, and invalid JSON of many kinds", () => {
    for (const m of MASK_SETS) {
      const oldMasker = compileJsonMasker(masks(m), { onePass: false })!;
      const newMasker = compileJsonMasker(masks(m))!;
      for (const doc of CORPUS) compare(m, oldMasker, newMasker, doc);
      for (const doc of INVALID) expect(compare(m, oldMasker, newMasker, doc)).toBe(true);
      // NDJSON: the same documents, a line each; blank lines, CRLF and a bad line.
      compare(m, oldMasker, newMasker, CORPUS.filter((d) => !d.includes("\n") && !d.startsWith("\uFEFF")).join("\n"), "application/x-ndjson");
      compare(m, oldMasker, newMasker, '{"e":"a@example.com"}\r\n\n \u00a0\n{"n":4242424242424242}\r\n\r\n', "application/x-ndjson");
      compare(m, oldMasker, newMasker, '{"e":"a@example.com"}\n{"e":\n', "application/x-ndjson");
      compare(m, oldMasker, newMasker, '{"e":"a@example.com"}\n\v{"e":1}\n', "application/x-ndjson");
    }
  });

  test.each([[["email"]], [["email", "card"]]])("nesting (%p): deep documents masked alike; past the old walk's stack, the one-pass masks", (detectors) => {
    const m = { detectors };
    const oldMasker = compileJsonMasker(masks(m), { onePass: false })!;
    const newMasker = compileJsonMasker(masks(m))!;
    for (const depth of [10, 100, 1000]) {
      // Compact documents: the old masker's output is the same text (too deep to compare as values).
      const doc = `${'{"a":['.repeat(depth)}"bob@example.com",4242424242424242${"]}".repeat(depth)}`;
      const before = oldMasker.maskBody(utf8(doc), "application/json");
      const after = newMasker.maskBody(utf8(doc), "application/json");
      expect({ depth, out: decode(after.body), masked: after.masked }).toEqual({ depth, out: decode(before.body), masked: before.masked });
    }
    const deep = `${"[".repeat(200_000)}"bob@example.com"${"]".repeat(200_000)}`;
    expect("refused" in run(oldMasker, utf8(deep), "application/json")).toBe(true);
    const r = newMasker.maskBody(utf8(deep), "application/json");
    expect(r.masked).toBe(1);
    expect(decode(r.body)).toBe(`${"[".repeat(200_000)}"[masked:email]"${"]".repeat(200_000)}`);
  });
});

/** Random JSON text: strings that sometimes hold e-mails, cards, IBANs…, escapes, whitespace. */
function generator(seed: number) {
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const KEYS = ["id", "email", "name", "card", "note", "users", "a", "b", "x", "__proto__", "constructor", "aws_secret_access_key", "é", "k\u0000", "4242424242424242", "ann@example.com", "e.g", "tel"];
  const PIECES = [
    "plain", "ann@example.com", "bob.smith+tag@mail.example.co.uk", "a@b", "@", "x@y.z", "4242 4242 4242 4242", "4242-4242-4242-4242", "4242424242424242", "4242424242424241",
    "GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "+44 20 7946 0958", "(555) 123-4567", "123-45-6789", "AKIAABCDEFGHIJKLMNOP", "abcdefghijABCDEFGHIJ0123456789/+abcdefgh",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "v1.2.3", "2024-01-02", "é", "😀", "\ud800", "\udfff", "\n", "\t", '"', "\\", "/", "\u2028", "\u0001", "",
  ];
  const NUMBERS = ["0", "-0", "1", "42", "-7", "0.5", "1.50", "1e5", "1E+2", "2.5e-3", "4242424242424242", "4242424242424241", "-4242424242424242", "12345678901234567890", "6205500000000000004",
    "1e400", "4.242424242424242e15", "4.1e15", "4.2e15", "42E14", "5.5e15", "4242424242424242e0", "4242424242424242.0", "9007199254740993", "4000000000000000000", "1700000000000", "1234567890123.5"];
  const space = () => (rand() < 0.7 ? "" : pick([" ", "  ", "\n", "\r\n", "\t", " \n  "]));
  const word = () => {
    const n = Math.floor(rand() * 3) + 1;
    let s = "";
    for (let i = 0; i < n; i++) s += (i > 0 ? pick([" ", "", ", ", "\n", ":"]) : "") + (rand() < 0.5 ? pick(PIECES) : Math.floor(rand() * 2 ** 40).toString(36).slice(0, 1 + Math.floor(rand() * 8)));
    return s;
  };
  let escapeRate = 0;
  const hex = (c: number) => {
    const h = c.toString(16).padStart(4, "0");
    return `\\u${rand() < 0.5 ? h : h.toUpperCase()}`;
  };
  const quote = (s: string) => {
    let out = '"';
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      const ch = s[i]!;
      if (c >= 0xd800 && c <= 0xdfff) out += hex(c); // surrogates (lone or paired) as escapes
      else if (ch === '"' || ch === "\\") out += rand() < escapeRate ? hex(c) : `\\${ch}`;
      else if (c < 0x20) out += rand() < 0.5 ? hex(c) : ({ 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" } as Record<number, string>)[c] ?? hex(c);
      else if (rand() < escapeRate) out += ch === "/" && rand() < 0.5 ? "\\/" : hex(c);
      else out += ch;
    }
    return `${out}"`;
  };
  const value = (depth: number, duplicates: boolean): string => {
    const r = rand();
    if (depth > 4 || r < 0.45) {
      const k = rand();
      return k < 0.55 ? quote(word()) : k < 0.85 ? pick(NUMBERS) : pick(["true", "false", "null"]);
    }
    const n = Math.floor(rand() * 5);
    if (r < 0.7) return `[${space()}${Array.from({ length: n }, () => value(depth + 1, duplicates)).join(`${space()},${space()}`)}${space()}]`;
    const keys = new Set<string>();
    const members: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = rand() < 0.97 ? pick(KEYS) : word();
      if (keys.has(key) && !duplicates) continue;
      keys.add(key);
      members.push(`${quote(key)}${space()}:${space()}${value(depth + 1, duplicates)}`);
    }
    return `{${space()}${members.join(`${space()},${space()}`)}${space()}}`;
  };
  const INSERTS = [",", "]", "}", "[", "{", '"', "\\", "x", "\u0001", "//", "/*c*/", "0", "01", "NaN", "'", ":", " ", "-", ".", "e", "\uFEFF", "\u00a0"];
  return {
    document(duplicates = false): string {
      escapeRate = rand() < 0.5 ? 0 : rand() * 0.3;
      return `${space()}${value(0, duplicates)}${space()}`;
    },
    /** A document changed by one random edit: most are invalid JSON. */
    mutated(doc: string): string {
      const at = Math.floor(rand() * (doc.length + 1));
      const k = rand();
      if (k < 0.4) return doc.slice(0, at) + pick(INSERTS) + doc.slice(at);
      if (k < 0.8) return doc.slice(0, at) + doc.slice(at + 1);
      return doc.slice(0, at);
    },
    pick,
    rand,
  };
}

describe("generated documents", () => {
  test("valid and mutated documents, JSON and NDJSON, under every mask set: the same outcome", () => {
    const g = generator(20261207);
    let refused = 0;
    let masked = 0;
    const start = compared;
    for (const m of MASK_SETS) {
      const oldMasker = compileJsonMasker(masks(m), { onePass: false })!;
      const newMasker = compileJsonMasker(masks(m))!;
      for (let i = 0; i < 400; i++) {
        const doc = g.document();
        if (compare(m, oldMasker, newMasker, doc)) refused++;
        else if (newMasker.maskBody(utf8(doc), "application/json").masked > 0) masked++;
        if (compare(m, oldMasker, newMasker, g.mutated(doc))) refused++;
        if (i % 8 === 0) {
          const lines = Array.from({ length: 4 }, () => (g.rand() < 0.2 ? g.pick(["", " ", "\r"]) : g.document().replace(/[\r\n]/g, " ")));
          compare(m, oldMasker, newMasker, lines.join(g.pick(["\n", "\r\n"])), "application/x-ndjson");
        }
      }
    }
    // Both kinds of outcome were compared, and masking happened, not only refusals.
    console.log(`generated: ${compared - start} bodies compared, ${refused} refused by both, ${masked} valid ones masked`);
    expect(compared - start).toBeGreaterThan(8000);
    expect(refused).toBeGreaterThan(2000);
    expect(masked).toBeGreaterThan(1000);
  });

  test("duplicate keys: each occurrence masked as the old masker masks it when it is the only one", () => {
    const g = generator(7);
    let checked = 0;
    for (const m of MASK_SETS) {
      const oldMasker = compileJsonMasker(masks(m), { onePass: false })!;
      const newMasker = compileJsonMasker(masks(m))!;
      for (let i = 0; i < 300; i++) {
        const doc = g.document(true);
        if (compare(m, oldMasker, newMasker, doc, "application/json", true)) continue;
        const out = decode(newMasker.maskBody(utf8(doc), "application/json").body);
        const input = parseTree(doc);
        const output = parseTree(out);
        // Keep one occurrence of each key, chosen alike in input and output: the old masker's
        // answer for that variant of the input is the one-pass answer's same variant.
        for (let v = 0; v < 3; v++) {
          const choice = g.rand();
          const variant = withoutDuplicates(input, choice);
          const expected = decode(oldMasker.maskBody(utf8(variant), "application/json").body);
          expect({ doc, variant, out: exactJson(withoutDuplicates(output, choice)) }).toEqual({ doc, variant, out: exactJson(expected) });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

type Tree = { kind: "leaf"; source: string } | { kind: "array"; items: Tree[] } | { kind: "object"; members: [key: string, source: string, value: Tree][] };

/** Valid JSON text as a tree that keeps every member, duplicates included. */
function parseTree(text: string): Tree {
  const LEAF = /\s*("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*|true|false|null)\s*/y;
  let pos = 0;
  const ws = () => {
    while (/\s/.test(text[pos] ?? "")) pos++;
  };
  const value = (): Tree => {
    ws();
    if (text[pos] === "[" || text[pos] === "{") {
      const open = text[pos++]!;
      const close = open === "[" ? "]" : "}";
      const items: Tree[] = [];
      const members: [string, string, Tree][] = [];
      ws();
      while (text[pos] !== close) {
        if (open === "{") {
          const key = (value() as { source: string }).source;
          ws();
          pos++; // :
          members.push([JSON.parse(key) as string, key, value()]);
        } else items.push(value());
        ws();
        if (text[pos] === ",") pos++;
        ws();
      }
      pos++;
      return open === "[" ? { kind: "array", items } : { kind: "object", members };
    }
    LEAF.lastIndex = pos;
    const m = LEAF.exec(text)!;
    pos += m[0].length;
    return { kind: "leaf", source: m[1]! };
  };
  return value();
}

/** The tree as JSON text with one occurrence of each key: which one, `choice` decides, alike for every tree of one shape. */
function withoutDuplicates(tree: Tree, choice: number): string {
  if (tree.kind === "leaf") return tree.source;
  if (tree.kind === "array") return `[${tree.items.map((t) => withoutDuplicates(t, choice)).join(",")}]`;
  const byKey = new Map<string, [string, Tree][]>();
  for (const [key, source, value] of tree.members) {
    const list = byKey.get(key) ?? [];
    list.push([source, value]);
    byKey.set(key, list);
  }
  const out: string[] = [];
  for (const list of byKey.values()) {
    const [source, value] = list[Math.floor(choice * list.length)]!;
    out.push(`${source}:${withoutDuplicates(value, choice)}`);
  }
  return `{${out.join(",")}}`;
}

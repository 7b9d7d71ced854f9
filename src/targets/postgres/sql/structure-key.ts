// The structure of a one-statement query, from the parser's own JSON tree: the tree with the
// values of literal constants (A_Const) and all source locations removed. Two queries share a
// key exactly when PostgreSQL's parser built the same tree for both, up to literal values:
// same statement kinds, same identifiers after quoting and case folding and Unicode-escape
// decoding, same operators and clauses. Comments, whitespace and the spelling of a literal
// ('x', $$x$$, E'x') never reach the tree, so they cannot make two different statements look
// alike, and a ';' or DROP inside a dollar quote stays a string constant in both.
//
// It works on the tree's bytes, before they are decoded, because skipping the decode, JSON.parse
// and the walk is the whole point of a structure hit. The patterns it looks for only ever match
// object keys: inside a JSON string every '"' is escaped, so `"location":` or `{"A_Const":{`
// cannot occur there. An A_Const of a shape it does not expect is kept whole, which can only make
// keys differ more.
import type { ByteSpan } from "./statement-text.ts";

export interface StructureKey {
  /** The tree without literal values and locations; compare with equals(). */
  readonly stripped: Buffer;
  /** Where the single statement sits in this query's text. */
  readonly span: ByteSpan;
}

const HEAD = /^\{"version":\d+,"stmts":\[\{"stmt":/;
const TAIL = /\}(?:,"stmt_location":(\d+))?(?:,"stmt_len":(\d+))?\}\]\}$/;
const STMT = '{"stmt":';
const LOCATION = Buffer.from('"location":');
const CONST = Buffer.from('{"A_Const":{');
const KINDS = new Set(["ival", "fval", "sval", "bsval", "boolval", "isnull"]);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const OPEN = 0x7b;
const CLOSE = 0x7d;

/** The key of a parse tree (the parser's JSON bytes) holding exactly one statement; null otherwise. */
export function structureKey(json: Buffer): StructureKey | null {
  if (!HEAD.test(json.toString("latin1", 0, 64))) return null;
  if (json.indexOf(STMT) !== json.lastIndexOf(STMT)) return null;
  const tailStart = Math.max(0, json.length - 64);
  const tail = TAIL.exec(json.toString("latin1", tailStart));
  if (tail === null) return null;
  const end = tailStart + tail.index + 1;
  return { stripped: stripValues(json, end), span: { location: Number(tail[1] ?? 0), length: Number(tail[2] ?? 0) } };
}

function stripValues(src: Buffer, end: number): Buffer {
  // Every replacement is shorter than what it replaces, so the output fits in the input's size.
  const out = Buffer.allocUnsafe(end);
  let w = 0;
  let last = 0;
  let nextLoc = src.indexOf(LOCATION);
  let nextConst = src.indexOf(CONST);
  const copy = (from: number, to: number): void => {
    w += src.copy(out, w, from, to);
  };
  for (;;) {
    if (nextConst !== -1 && nextConst < end && (nextLoc === -1 || nextConst < nextLoc)) {
      const c = constantAt(src, nextConst, end);
      let from = nextConst + 1;
      if (c !== null) {
        copy(last, nextConst);
        w += out.write(`{"A_Const":"${c.kind}"}`, w, "latin1");
        last = from = c.end;
      }
      nextConst = src.indexOf(CONST, from);
      if (nextLoc !== -1 && nextLoc < from) nextLoc = src.indexOf(LOCATION, from);
    } else if (nextLoc !== -1 && nextLoc < end) {
      let j = nextLoc + LOCATION.length;
      if (src[j] === MINUS) j += 1;
      while (j < end && isDigit(src[j])) j += 1;
      copy(last, nextLoc + LOCATION.length);
      out[w++] = 0x30; // "0"
      last = j;
      nextLoc = src.indexOf(LOCATION, j);
    } else {
      break;
    }
  }
  copy(last, end);
  return out.subarray(0, w);
}

/**
 * {"A_Const":{"<kind>":{ ["<kind>":<value>] } [,"location":<n>]}} or {"A_Const":{"isnull":true[,"location":<n>]}}
 * starting at `at`: its kind and where it ends, or null for any other shape.
 */
function constantAt(src: Buffer, at: number, end: number): { kind: string; end: number } | null {
  let i = at + CONST.length;
  if (src[i] !== QUOTE) return null;
  const kindEnd = src.indexOf(QUOTE, i + 1);
  if (kindEnd < 0 || kindEnd - i > 8) return null;
  const kind = src.toString("latin1", i + 1, kindEnd);
  if (!KINDS.has(kind) || src[kindEnd + 1] !== 0x3a) return null; // ':'
  i = kindEnd + 2;
  if (kind === "isnull") {
    if (src.toString("latin1", i, i + 4) !== "true") return null;
    i += 4;
  } else {
    if (src[i] !== OPEN) return null;
    i += 1;
    if (src[i] !== CLOSE) {
      const inner = `"${kind}":`;
      if (src.toString("latin1", i, i + inner.length) !== inner) return null;
      i += inner.length;
      if (src[i] === QUOTE) {
        i += 1;
        while (i < end && src[i] !== QUOTE) i += src[i] === BACKSLASH ? 2 : 1;
        if (i >= end) return null;
        i += 1;
      } else {
        while (i < end && isValueChar(src[i])) i += 1;
      }
      if (src[i] !== CLOSE) return null;
    }
    i += 1;
  }
  if (src.toString("latin1", i, i + 12) === ',"location":') {
    i += 12;
    if (src[i] === MINUS) i += 1;
    while (i < end && isDigit(src[i])) i += 1;
  }
  if (src[i] !== CLOSE || src[i + 1] !== CLOSE) return null;
  return { kind, end: i + 2 };
}

function isDigit(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x39;
}

/** Numbers (-12, 1.5e3) and true/false. */
function isValueChar(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x7a) || b === MINUS || b === 0x2e || b === 0x2b);
}

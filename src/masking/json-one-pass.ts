// Masks JSON text in one pass: a strict RFC 8259 scanner that copies the text through and
// replaces only what a mask changes (a string the detectors hit, a card-number number, a value a
// JSON path selects), so no value tree is built and nothing is re-serialised. It answers as the
// parse-walk-serialise masker (json-masker.ts) does: the same refusals, the same values masked
// (json-one-pass.test.ts compares them), except that every occurrence of a duplicate key is
// checked and masked where the old kept only the last, and nesting is not bounded by the stack.
import type { Detector } from "./detectors.ts";
import { MASKED } from "./detectors.ts";
import type { JsonPathCursor, JsonPathSet } from "./json-path.ts";
import { parseJsonPath } from "./json-path.ts";
import { mayLoseDigits, numberMasker, type NumberMasker } from "./json-numbers.ts";

/** The text is not one valid JSON value; `at` is the offset where that showed. */
export class JsonTextError extends Error {
  constructor(readonly at: number) {
    super(`invalid JSON at offset ${at}`);
  }
}

/** A member name the detectors hit: the document cannot be masked without changing its keys. */
export class SensitiveKeyError extends Error {}

export interface OnePassResult {
  /** The masked text, or null when nothing was masked (the input stands as it is). */
  readonly text: string | null;
  readonly masked: number;
}

export interface OnePassMasker {
  /** Masks the JSON value that is text[start, end) (whitespace around it allowed). */
  mask(text: string, start: number, end: number): OnePassResult;
}

const QUOTE = 34;
const BACKSLASH = 92;
/** Set in `scanned` when a string held an escape: its value is not its source. */
const ESCAPED = 1;
/** Set in `scanned` when a string held a character some chosen detector needs. */
const TRIGGER = 2;
const MASKED_JSON = JSON.stringify(MASKED);

/**
 * The characters without which a detector cannot match (each of its patterns has one of
 * them as a literal or `\d`, which is ASCII 0-9 only): a string that has none of them and no
 * escape cannot be hit, so it is not handed to the detector. Null: no such character (run it
 * on every string); cloud_key is one, since it also matches by the member's name.
 */
const NEEDS: Readonly<Record<string, string | null>> = {
  email: "@",
  card: "0123456789",
  ssn: "0123456789",
  iban: "0123456789",
  phone: "0123456789",
  jwt: ".",
  cloud_key: null,
};

export function compileOnePass(detector: Detector | null, paths: JsonPathSet | null, keyIsSensitive: (key: string) => boolean): OnePassMasker {
  const trigger = new Uint8Array(128);
  let always = false;
  for (const name of detector?.names ?? []) {
    const needs = NEEDS[name];
    if (needs === undefined || needs === null) always = true;
    else for (let i = 0; i < needs.length; i++) trigger[needs.charCodeAt(i)] = 1;
  }
  const numbers: NumberMasker | null = detector !== null && detector.names.includes("card") ? numberMasker(detector) : null;
  // Only the name-bound cloud_key reads the member name a string sits under.
  const needField = detector !== null && detector.names.includes("cloud_key");
  // A negative index counts from the end: such a path needs each array's length first.
  const needLength = paths !== null && paths.paths.some((p) => parseJsonPath(p).some((s) => s.selector.kind === "index" && s.selector.index < 0));

  // The open containers, innermost last (reused between calls; mask() runs to its end synchronously).
  const isArray: boolean[] = [];
  const cursors: (JsonPathCursor | null)[] = [];
  const fields: (string | undefined)[] = [];
  const indexes: number[] = [];
  const lengths: number[] = [];

  let text = "";
  let end = 0;
  let pos = 0;
  /** ESCAPED | TRIGGER of the string scanString last read. */
  let scanned = 0;

  const fail = (): never => {
    throw new JsonTextError(pos);
  };

  function skipWhitespace(): void {
    while (pos < end) {
      const c = text.charCodeAt(pos);
      if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return;
      pos++;
    }
  }

  /** From an opening quote past its closing one; sets `scanned`. */
  function scanString(): void {
    let i = pos + 1;
    let flags = 0;
    for (;;) {
      if (i >= end) {
        pos = i;
        fail();
      }
      const c = text.charCodeAt(i);
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        flags |= ESCAPED;
        const e = i + 1 < end ? text.charCodeAt(i + 1) : -1;
        if (e === 117 /* u */) {
          if (i + 6 > end || !isHex(text.charCodeAt(i + 2)) || !isHex(text.charCodeAt(i + 3)) || !isHex(text.charCodeAt(i + 4)) || !isHex(text.charCodeAt(i + 5))) {
            pos = i;
            fail();
          }
          i += 6;
          continue;
        }
        // " \ / b f n r t
        if (e !== 34 && e !== 92 && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) {
          pos = i;
          fail();
        }
        i += 2;
        continue;
      }
      if (c < 32) {
        pos = i;
        fail();
      }
      if (c < 128 && trigger[c] === 1) flags |= TRIGGER;
      i++;
    }
    scanned = flags;
    pos = i + 1;
  }

  /** The value of the string token text[from, to) (quotes included). */
  function stringValue(from: number, to: number): string {
    return (scanned & ESCAPED) === 0 ? text.slice(from + 1, to - 1) : unescape(text, from + 1, to - 1);
  }

  /** From a number's first character past its last; false when it is not one. */
  function scanNumber(): boolean {
    let i = pos;
    if (text.charCodeAt(i) === 45 /* - */) i++;
    const first = i < end ? text.charCodeAt(i) : -1;
    if (first === 48 /* 0 */) i++;
    else if (first >= 49 && first <= 57) {
      i++;
      while (i < end && isDigit(text.charCodeAt(i))) i++;
    } else return false;
    if (i < end && text.charCodeAt(i) === 46 /* . */) {
      i++;
      if (!(i < end && isDigit(text.charCodeAt(i)))) return false;
      while (i < end && isDigit(text.charCodeAt(i))) i++;
    }
    if (i < end && (text.charCodeAt(i) | 32) === 101 /* e E */) {
      i++;
      if (i < end && (text.charCodeAt(i) === 43 || text.charCodeAt(i) === 45)) i++;
      if (!(i < end && isDigit(text.charCodeAt(i)))) return false;
      while (i < end && isDigit(text.charCodeAt(i))) i++;
    }
    pos = i;
    return true;
  }

  function scanLiteral(word: string): void {
    if (pos + word.length > end || !text.startsWith(word, pos)) fail();
    pos += word.length;
  }

  /** How many elements the array opening at `from` has, counted without checking (the scan checks). */
  function countElements(from: number): number {
    let depth = 0;
    let commas = 0;
    let any = false;
    for (let i = from + 1; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === QUOTE) {
        for (i++; i < end && text.charCodeAt(i) !== QUOTE; i++) if (text.charCodeAt(i) === BACKSLASH) i++;
        any = true;
      } else if (c === 91 || c === 123) {
        depth++;
        any = true;
      } else if (c === 93 || c === 125) {
        if (depth === 0) break;
        depth--;
      } else if (c === 44 && depth === 0) commas++;
      else if (c !== 32 && c !== 10 && c !== 13 && c !== 9) any = true;
    }
    return any ? commas + 1 : 0;
  }

  function mask(source: string, start: number, stop: number): OnePassResult {
    text = source;
    end = stop;
    pos = start;
    let out = "";
    let last = start;
    let masked = 0;
    let depth = 0;
    /** When ≥ 0: a container at this depth was selected by a path and is being skipped (checked only). */
    let skipDepth = -1;
    let skipFrom = 0;
    let keyRefused = false;
    /** MAY_LOSE_DIGITS over the whole text, read only when a number could be a card number. */
    let lossy = -1;
    // The value about to be read: its path cursor and the member name it sits under.
    let cursor: JsonPathCursor | null = paths === null ? null : paths.root();
    let field: string | undefined;

    const replace = (from: number, to: number, json: string) => {
      out += text.slice(last, from) + json;
      last = to;
    };

    /** After `{` or `,` in an object: the member name and its colon; sets cursor and field. */
    const readMember = () => {
      skipWhitespace();
      if (pos >= end || text.charCodeAt(pos) !== QUOTE) fail();
      const from = pos;
      scanString();
      const d = depth - 1;
      if (skipDepth < 0) {
        const parent = cursors[d]!;
        const mayHit = detector !== null && (always || scanned !== 0);
        if (mayHit || parent !== null || needField) {
          const key = stringValue(from, pos);
          if (mayHit && !keyRefused && keyIsSensitive(key)) keyRefused = true;
          cursor = parent === null ? null : parent.child(key, 0);
          field = key;
        } else {
          cursor = null;
        }
      }
      skipWhitespace();
      if (pos >= end || text.charCodeAt(pos) !== 58 /* : */) fail();
      pos++;
    };

    const open = (array: boolean) => {
      isArray[depth] = array;
      cursors[depth] = skipDepth >= 0 ? null : cursor;
      fields[depth] = field;
      indexes[depth] = 0;
      lengths[depth] = array && needLength && skipDepth < 0 && cursor !== null ? countElements(pos) : 0;
      depth++;
      pos++;
    };

    const elementCursor = () => {
      const d = depth - 1;
      const parent = cursors[d]!;
      cursor = skipDepth >= 0 || parent === null ? null : parent.child(indexes[d]!, lengths[d]!);
      field = fields[d];
    };

    value: for (;;) {
      skipWhitespace();
      if (pos >= end) fail();
      const from = pos;
      const c = text.charCodeAt(pos);
      const selected = skipDepth < 0 && cursor !== null && cursor.selected;
      if (c === 123 /* { */ || c === 91 /* [ */) {
        if (selected) {
          skipDepth = depth;
          skipFrom = from;
        }
        const array = c === 91;
        open(array);
        skipWhitespace();
        if (pos < end && text.charCodeAt(pos) === (array ? 93 : 125)) {
          // Empty: closed below, as any container is.
        } else if (array) {
          elementCursor();
          continue value;
        } else {
          readMember();
          continue value;
        }
      } else {
        if (c === QUOTE) {
          scanString();
          if (!selected && skipDepth < 0 && detector !== null && (always || scanned !== 0)) {
            const r = detector.maskString(stringValue(from, pos), field);
            if (r.hits > 0) {
              masked += r.hits;
              replace(from, pos, JSON.stringify(r.value));
            }
          }
        } else if (c === 45 || (c >= 48 && c <= 57)) {
          if (!scanNumber()) fail();
          // A negative number, or one below 1e12 written without an exponent, is no card number.
          if (!selected && skipDepth < 0 && numbers !== null && c !== 45 && (pos - from >= 13 || hasExponent(text, from, pos))) {
            if (lossy < 0) lossy = mayLoseDigits(start === 0 && stop === text.length ? text : text.slice(start, stop)) ? 1 : 0;
            const replacement = numbers.ofSource(text.slice(from, pos), lossy === 1);
            if (replacement !== null) {
              masked++;
              replace(from, pos, JSON.stringify(replacement));
            }
          }
        } else if (c === 116) scanLiteral("true");
        else if (c === 102) scanLiteral("false");
        else if (c === 110) scanLiteral("null");
        else fail();
        if (selected) {
          masked++;
          replace(from, pos, MASKED_JSON);
        }
      }

      // After a value: a comma and the next one, or the end of its container(s), or of the text.
      for (;;) {
        skipWhitespace();
        if (depth === 0) {
          if (pos !== end) fail();
          break value;
        }
        if (pos >= end) fail();
        const d = depth - 1;
        const ch = text.charCodeAt(pos);
        if (ch === 44 /* , */) {
          pos++;
          if (isArray[d]) {
            indexes[d]!++;
            elementCursor();
          } else readMember();
          continue value;
        }
        if (ch !== (isArray[d] ? 93 : 125)) fail();
        pos++;
        depth--;
        if (depth === skipDepth) {
          skipDepth = -1;
          masked++;
          replace(skipFrom, pos, MASKED_JSON);
        }
      }
    }
    // Refused only now, as the old masker refused only a document that parsed.
    if (keyRefused) throw new SensitiveKeyError("a JSON key holds a value the masks hide");
    cursors.fill(null);
    fields.fill(undefined);
    text = "";
    return { text: last === start ? null : out + source.slice(last, stop), masked };
  }

  return { mask };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);
}

function hasExponent(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if ((text.charCodeAt(i) | 32) === 101) return true;
  return false;
}

const UNESCAPE: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** The value of a string's source text[from, to) whose escapes scanString has checked. */
function unescape(text: string, from: number, to: number): string {
  let out = "";
  let run = from;
  for (let i = from; i < to; i++) {
    if (text.charCodeAt(i) !== BACKSLASH) continue;
    out += text.slice(run, i);
    const e = text[i + 1]!;
    if (e === "u") {
      out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
      i += 5;
    } else {
      out += UNESCAPE[e]!;
      i += 1;
    }
    run = i + 1;
  }
  return out + text.slice(run, to);
}

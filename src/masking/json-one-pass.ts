// Masks JSON text in one pass: a strict RFC 8259 scanner that copies the text through and
// replaces only what a mask changes (a string the detectors hit, a card-number number, a value a
// JSON path selects), so no value tree is built and nothing is re-serialised. Masks that are
// the e-mail detector alone take a shorter way still (json-at-strings.ts). It answers as the
// parse-walk-serialise masker (json-masker.ts) does: the same refusals, the same values masked
// (json-one-pass.test.ts compares them), except that every occurrence of a duplicate key is
// checked and masked where the old kept only the last, and nesting is not bounded by the stack.
import type { Detector } from "./detectors.ts";
import { MASKED } from "./detectors.ts";
import type { JsonPathCursor, JsonPathSet } from "./json-path.ts";
import { parseJsonPath } from "./json-path.ts";
import { mayLoseDigits, numberMasker, type NumberMasker } from "./json-numbers.ts";
import { atStringsMasker } from "./json-at-strings.ts";
import { JsonTextError, pushString, SensitiveKeyError, unescape, type OnePassMasker } from "./json-text.ts";
import type { Replacements } from "./replacements.ts";



const QUOTE = 34;
const BACKSLASH = 92;
/** Set in `scanned` when a string held an escape: its value is not its source. */
const ESCAPED = 1;
/** Set in `scanned` when a string held a character some chosen detector needs. */
const TRIGGER = 2;
const MASKED_JSON = JSON.stringify(MASKED);
// Kinds of characters in a string (scanString's table).
const PLAIN = 0;
/** A character some chosen detector needs (see NEEDS). */
const NEEDED = 1;
const END = 2;
const ESCAPE = 3;
const CONTROL = 4;
/** An ASCII digit, counted when a chosen detector needs some (see NEEDS). */
const DIGIT = 5;

/**
 * What a string must hold for a detector to find anything in it, read off its hint (the
 * pre-check detectors.ts runs first: maskString answers "no hits" when no chosen detector's
 * hint matches): a character that is a literal of the hint, or as many digits as the hint has
 * `\d`s (ASCII 0-9 only) and [2-6]s at least. A string that meets none of the chosen
 * detectors' needs and has no escape is not handed to the detector. Null: nothing can be said
 * (run it on every string); cloud_key is one, since it also matches by the member's name.
 */
const NEEDS: Readonly<Record<string, { readonly chars?: string; readonly digits?: number } | null>> = {
  email: { chars: "@" }, // @
  card: { digits: 8 }, // [2-6]\d{3}[ -]?\d{4}
  ssn: { digits: 9 }, // \d{3}-\d{2}-\d{4}
  iban: { digits: 2 }, // [A-Z]{2}\d{2}
  phone: { digits: 1 }, // \+\d|\(\d|\d[ .-]\d
  jwt: { chars: "." }, // e[wy][A-Za-z0-9_-]{2,}\.
  cloud_key: null,
};

export function compileOnePass(detector: Detector | null, paths: JsonPathSet | null, keyIsSensitive: (key: string) => boolean): OnePassMasker {
  if (paths === null && detector !== null && detector.names.length === 1 && detector.names[0] === "email") return atStringsMasker(detector, keyIsSensitive);
  // What each ASCII character is inside a string, for scanString.
  const kinds = new Uint8Array(128);
  for (let c = 0; c < 32; c++) kinds[c] = CONTROL;
  kinds[QUOTE] = END;
  kinds[BACKSLASH] = ESCAPE;
  let always = false;
  /** The fewest digits a string needs for a chosen detector to hit it by digits alone. */
  let minDigits = Number.POSITIVE_INFINITY;
  for (const name of detector?.names ?? []) {
    const needs = NEEDS[name];
    if (needs === undefined || needs === null) always = true;
    else {
      for (const ch of needs.chars ?? "") kinds[ch.charCodeAt(0)] = NEEDED;
      if (needs.digits !== undefined) minDigits = Math.min(minDigits, needs.digits);
    }
  }
  if (minDigits !== Number.POSITIVE_INFINITY) for (let c = 48; c <= 57; c++) kinds[c] = DIGIT;
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

  // One function with its state in locals: the scan is the hot loop of every masked response,
  // and state shared with inner closures would live on the heap instead of in registers.
  function mask(text: string, start: number, end: number, into: Replacements): number {
    let pos = start;
    const first = into.length;
    let masked = 0;
    let depth = 0;
    /** When ≥ 0: the container opened at this depth was selected by a path; what is inside is only checked. */
    let skipDepth = -1;
    let skipFrom = 0;
    let keyRefused = false;
    /** MAY_LOSE_DIGITS over the whole text, read only when a number could be a card number. */
    let lossy = -1;
    // The value about to be read: its path cursor and the member name it sits under.
    let cursor: JsonPathCursor | null = paths === null ? null : paths.root();
    let field: string | undefined;
    /** The next thing to read is a member name (after `{` or a comma in an object). */
    let member = false;

    value: for (;;) {
      if (member) {
        member = false;
        pos = skipWhitespace(text, pos, end);
        if (pos >= end || text.charCodeAt(pos) !== QUOTE) throw new JsonTextError(pos);
        const from = pos;
        pos = scanString(text, pos, end, kinds);
        const flags = scanned;
        if (skipDepth < 0) {
          const parent = cursors[depth - 1]!;
          const mayHit = detector !== null && (always || flags !== 0 || scannedDigits >= minDigits);
          if (mayHit || parent !== null || needField) {
            const key = (flags & ESCAPED) === 0 ? text.slice(from + 1, pos - 1) : unescape(text, from + 1, pos - 1);
            if (mayHit && !keyRefused && keyIsSensitive(key)) keyRefused = true;
            cursor = parent === null ? null : parent.child(key, 0);
            field = key;
          } else {
            cursor = null;
          }
        }
        pos = skipWhitespace(text, pos, end);
        if (pos >= end || text.charCodeAt(pos) !== 58 /* : */) throw new JsonTextError(pos);
        pos++;
      }

      pos = skipWhitespace(text, pos, end);
      if (pos >= end) throw new JsonTextError(pos);
      const from = pos;
      const c = text.charCodeAt(pos);
      const selected = skipDepth < 0 && cursor !== null && cursor.selected;
      if (c === 123 /* { */ || c === 91 /* [ */) {
        const array = c === 91;
        if (selected) {
          skipDepth = depth;
          skipFrom = from;
        }
        const own = skipDepth >= 0 ? null : cursor;
        isArray[depth] = array;
        cursors[depth] = own;
        fields[depth] = field;
        indexes[depth] = 0;
        lengths[depth] = array && needLength && own !== null ? countElements(text, pos, end) : 0;
        depth++;
        pos = skipWhitespace(text, pos + 1, end);
        if (pos >= end || text.charCodeAt(pos) !== (array ? 93 : 125)) {
          if (array) cursor = own === null ? null : own.child(0, lengths[depth - 1]!);
          else member = true;
          continue value;
        }
        // Empty: closed below, as any container is.
      } else {
        if (c === QUOTE) {
          pos = scanString(text, pos, end, kinds);
          if (!selected && skipDepth < 0 && detector !== null && (always || scanned !== 0 || scannedDigits >= minDigits)) {
            const r = detector.maskString((scanned & ESCAPED) === 0 ? text.slice(from + 1, pos - 1) : unescape(text, from + 1, pos - 1), field);
            if (r.hits > 0) {
              masked += r.hits;
              pushString(into, from, pos, r.value);
            }
          }
        } else if (c === 45 /* - */ || (c >= 48 && c <= 57)) {
          pos = scanNumber(text, pos, end);
          // A negative number, or one below 1e12 written without an exponent, is no card number.
          if (!selected && skipDepth < 0 && numbers !== null && c !== 45 && (pos - from >= 13 || hasExponent(text, from, pos))) {
            if (lossy < 0) lossy = mayLoseDigits(start === 0 && end === text.length ? text : text.slice(start, end)) ? 1 : 0;
            const replacement = numbers.ofSource(text.slice(from, pos), lossy === 1);
            if (replacement !== null) {
              masked++;
              pushString(into, from, pos, replacement);
            }
          }
        } else if (c === 116 /* t */) pos = scanWord(text, pos, end, "true");
        else if (c === 102 /* f */) pos = scanWord(text, pos, end, "false");
        else if (c === 110 /* n */) pos = scanWord(text, pos, end, "null");
        else throw new JsonTextError(pos);
        if (selected) {
          masked++;
          into.push(from, pos, MASKED_JSON, false);
        }
      }

      // After a value: a comma and the next one, or the end of its container(s), or of the text.
      for (;;) {
        pos = skipWhitespace(text, pos, end);
        if (depth === 0) {
          if (pos !== end) throw new JsonTextError(pos);
          break value;
        }
        if (pos >= end) throw new JsonTextError(pos);
        const d = depth - 1;
        const ch = text.charCodeAt(pos);
        if (ch === 44 /* , */) {
          pos++;
          if (isArray[d]) {
            const index = indexes[d]! + 1;
            indexes[d] = index;
            const parent = cursors[d]!;
            cursor = parent === null ? null : parent.child(index, lengths[d]!);
            field = fields[d];
          } else {
            member = true;
          }
          continue value;
        }
        if (ch !== (isArray[d] ? 93 : 125)) throw new JsonTextError(pos);
        pos++;
        depth--;
        if (depth === skipDepth) {
          skipDepth = -1;
          masked++;
          into.push(skipFrom, pos, MASKED_JSON, false);
        }
      }
    }
    // Refused only now, as the old masker refused only a document that parsed.
    if (keyRefused) {
      into.length = first;
      throw new SensitiveKeyError("a JSON key holds a value the masks hide");
    }
    return masked;
  }

  return { mask };
}

/** ESCAPED | TRIGGER of the string scanString last read. */
let scanned = 0;
/** How many ASCII digits that string held (counted only when some detector needs digits). */
let scannedDigits = 0;

function skipWhitespace(text: string, pos: number, end: number): number {
  while (pos < end) {
    const c = text.charCodeAt(pos);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return pos;
    pos++;
  }
  return pos;
}

/** From an opening quote to just past its closing one; sets `scanned`. */
function scanString(text: string, pos: number, end: number, kinds: Uint8Array): number {
  let i = pos + 1;
  let flags = 0;
  let digits = 0;
  for (;;) {
    if (i >= end) throw new JsonTextError(i);
    const c = text.charCodeAt(i);
    // One table read for the common character (ASCII: what it is; all else is plain).
    const kind = c < 128 ? kinds[c]! : PLAIN;
    if (kind === PLAIN) {
      i++;
      continue;
    }
    if (kind === DIGIT) {
      digits++;
      i++;
      continue;
    }
    if (kind === NEEDED) {
      flags |= TRIGGER;
      i++;
      continue;
    }
    if (kind === END) break;
    if (kind === CONTROL) throw new JsonTextError(i);
    // ESCAPE: a backslash and what it escapes.
    flags |= ESCAPED;
    const e = i + 1 < end ? text.charCodeAt(i + 1) : -1;
    if (e === 117 /* u */) {
      if (i + 6 > end || !isHex(text.charCodeAt(i + 2)) || !isHex(text.charCodeAt(i + 3)) || !isHex(text.charCodeAt(i + 4)) || !isHex(text.charCodeAt(i + 5))) {
        throw new JsonTextError(i);
      }
      i += 6;
      continue;
    }
    // " \ / b f n r t
    if (e !== 34 && e !== 92 && e !== 47 && e !== 98 && e !== 102 && e !== 110 && e !== 114 && e !== 116) throw new JsonTextError(i);
    i += 2;
  }
  scanned = flags;
  scannedDigits = digits;
  return i + 1;
}

/** From a number's first character to just past its last. */
function scanNumber(text: string, pos: number, end: number): number {
  let i = pos;
  if (text.charCodeAt(i) === 45 /* - */) i++;
  const first = i < end ? text.charCodeAt(i) : -1;
  if (first === 48 /* 0 */) i++;
  else if (first >= 49 && first <= 57) {
    i++;
    while (i < end && isDigit(text.charCodeAt(i))) i++;
  } else throw new JsonTextError(i);
  if (i < end && text.charCodeAt(i) === 46 /* . */) {
    i++;
    if (!(i < end && isDigit(text.charCodeAt(i)))) throw new JsonTextError(i);
    while (i < end && isDigit(text.charCodeAt(i))) i++;
  }
  if (i < end && (text.charCodeAt(i) | 32) === 101 /* e E */) {
    i++;
    if (i < end && (text.charCodeAt(i) === 43 || text.charCodeAt(i) === 45)) i++;
    if (!(i < end && isDigit(text.charCodeAt(i)))) throw new JsonTextError(i);
    while (i < end && isDigit(text.charCodeAt(i))) i++;
  }
  return i;
}

/** Past `true`, `false` or `null` (its first letter already seen). */
function scanWord(text: string, pos: number, end: number, word: string): number {
  if (pos + word.length > end) throw new JsonTextError(pos);
  for (let i = 1; i < word.length; i++) if (text.charCodeAt(pos + i) !== word.charCodeAt(i)) throw new JsonTextError(pos + i);
  return pos + word.length;
}


/** How many elements the array opening at `from` has, counted without checking (the scan checks). */
function countElements(text: string, from: number, end: number): number {
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


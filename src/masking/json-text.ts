// What the one-pass JSON maskers (json-one-pass.ts, json-at-strings.ts) share: their errors,
// their interface, and reading and writing a JSON string.
import type { Replacements } from "./replacements.ts";

/** The text is not one valid JSON value; `at` is the offset where that showed. */
export class JsonTextError extends Error {
  constructor(readonly at: number) {
    super(`invalid JSON at offset ${at}`);
  }
}

/** A member name the detectors hit: the document cannot be masked without changing its keys. */
export class SensitiveKeyError extends Error {}

export interface OnePassMasker {
  /**
   * Masks the JSON value that is text[start, end) (whitespace around it allowed): adds what
   * changes to `into` and returns how many values were masked. Throws JsonTextError or
   * SensitiveKeyError, having then added nothing.
   */
  mask(text: string, start: number, end: number, into: Replacements): number;
}

/** The last string pushString found to need no escape: most masked values are one same "[masked:…]". */
let plain = "";

/** A string value as JSON: as JSON.stringify writes it, without its call for a string that needs no escape. */
export function pushString(into: Replacements, from: number, to: number, s: string): void {
  if (s === plain) {
    into.push(from, to, s, true);
    return;
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) {
      into.push(from, to, JSON.stringify(s), false);
      return;
    }
  }
  if (s.length <= 64) plain = s;
  into.push(from, to, s, true);
}

const UNESCAPE: Readonly<Record<string, string>> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/** The value of a string's source text[from, to), whose escapes have been checked. */
export function unescape(text: string, from: number, to: number): string {
  let out = "";
  let run = from;
  for (let i = from; i < to; i++) {
    if (text.charCodeAt(i) !== 92 /* \ */) continue;
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

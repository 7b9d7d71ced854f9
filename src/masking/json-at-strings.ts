// The one-pass masker's shortcut for masks that are the e-mail detector alone (the common
// case): in valid JSON an '@' or a '\' can only stand inside a string, and a string without
// either cannot hold an e-mail address (its value has no '@'). So once the parser has accepted
// the text, only the strings that hold one are found (by indexOf), decoded and checked, and
// the rest of the text is not walked at all. The parser is the old masker's (JSON.parse, as
// parseJsonLossless uses it), so the same texts are refused.
import { GatewayError } from "../core/errors.ts";
import type { Detector } from "./detectors.ts";
import { JsonTextError, pushString, SensitiveKeyError, unescape, type OnePassMasker } from "./json-text.ts";
import { parseJsonLossless } from "./lossless-json.ts";
import type { Replacements } from "./replacements.ts";

const HAS_RAW_JSON = typeof (JSON as { rawJSON?: unknown }).rawJSON === "function";
const QUOTE = 34;
const BACKSLASH = 92;

export function atStringsMasker(detector: Detector, keyIsSensitive: (key: string) => boolean): OnePassMasker {
  function mask(text: string, start: number, end: number, into: Replacements): number {
    try {
      const json = start === 0 && end === text.length ? text : text.slice(start, end);
      // The texts parseJsonLossless accepts are JSON.parse's, unless this runtime lacks
      // JSON.rawJSON (then it refuses a number that would lose digits): only then ask it.
      if (HAS_RAW_JSON) JSON.parse(json);
      else parseJsonLossless(json);
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      throw new JsonTextError(start); // a SyntaxError, or a RangeError on nesting too deep to parse
    }
    const first = into.length;
    let masked = 0;
    let keyRefused = false;
    let nextAt = text.indexOf("@", start);
    let nextEscape = text.indexOf("\\", start);
    for (;;) {
      if (nextAt >= end) nextAt = -1;
      if (nextEscape >= end) nextEscape = -1;
      const p = nextAt < 0 ? nextEscape : nextEscape < 0 ? nextAt : Math.min(nextAt, nextEscape);
      if (p < 0) break;
      // The string p stands in opens at the nearest quote before it that no backslash escapes.
      let open = p - 1;
      while (text.charCodeAt(open) !== QUOTE || escaped(text, open)) open--;
      let close = open + 1;
      let hasEscape = false;
      for (;;) {
        const c = text.charCodeAt(close);
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          hasEscape = true;
          close++;
        }
        close++;
      }
      const value = hasEscape ? unescape(text, open + 1, close) : text.slice(open + 1, close);
      let after = close + 1;
      while (after < end && isWhitespace(text.charCodeAt(after))) after++;
      if (after < end && text.charCodeAt(after) === 58 /* : */) {
        if (!keyRefused && keyIsSensitive(value)) keyRefused = true;
      } else {
        const r = detector.maskString(value);
        if (r.hits > 0) {
          masked += r.hits;
          pushString(into, open, close + 1, r.value);
        }
      }
      if (nextAt >= 0 && nextAt <= close) nextAt = text.indexOf("@", close + 1);
      if (nextEscape >= 0 && nextEscape <= close) nextEscape = text.indexOf("\\", close + 1);
    }
    if (keyRefused) {
      into.length = first;
      throw new SensitiveKeyError("a JSON key holds a value the masks hide");
    }
    return masked;
  }
  return { mask };
}

/** Whether the character at i follows an odd run of backslashes. */
function escaped(text: string, i: number): boolean {
  let n = 0;
  while (text.charCodeAt(i - 1 - n) === BACKSLASH) n++;
  return n % 2 === 1;
}

function isWhitespace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

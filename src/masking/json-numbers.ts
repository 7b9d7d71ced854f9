// Which JSON numbers the card detector masks, shared by the maskers of parsed values
// (json-masker.ts) and of JSON text (json-one-pass.ts), so both answer every number alike.
import type { Detector } from "./detectors.ts";
import { MAY_LOSE_DIGITS } from "./lossless-json.ts";

export interface NumberMasker {
  /** A JS number: the replacement string, or null to keep it. */
  ofValue(value: number): string | null;
  /** A number known by its exact digits (raw JSON source, bigint): the replacement, or null. */
  ofDigits(digits: string): string | null;
  /**
   * A number token of JSON text, as parseJsonLossless would have handed it to `ofValue` or
   * `ofDigits`: `mayLoseDigits` is whether MAY_LOSE_DIGITS holds for the whole text it parsed
   * (the parser's choice between a plain parse and a raw-number one is made per text).
   */
  ofSource(source: string, mayLoseDigits: boolean): string | null;
}

export function numberMasker(detector: Detector): NumberMasker {
  const card = detector.names.includes("card");

  function ofDigits(digits: string): string | null {
    return /^[0-9]+$/.test(digits) ? detector.maskNumber(digits) : null;
  }

  function ofValue(value: number): string | null {
    // Only an integer of card length can be a card number.
    if (!Number.isInteger(value) || value < 1e12) return null;
    if (Number.isSafeInteger(value)) return ofDigits(String(value));
    // Beyond 2^53 the digits were rounded before they reached us, so Luhn cannot decide:
    // a number of card length is masked unchecked rather than let through.
    const digits = BigInt(value).toString();
    if (digits.length <= 19 && /^[2-6]/.test(digits) && card) return "[masked:card]"; // the last digits are rounded too, so none are shown
    return null;
  }

  function ofSource(source: string, mayLoseDigits: boolean): string | null {
    const value = Number(source);
    // parseJsonLossless keeps as raw source what would not print back as written.
    if (mayLoseDigits && String(value) !== source) return ofDigits(source);
    return ofValue(value);
  }

  return { ofValue, ofDigits, ofSource };
}

/** Whether parseJsonLossless takes its raw-number pass over this text. */
export function mayLoseDigits(text: string): boolean {
  return MAY_LOSE_DIGITS.test(text);
}

// Value detectors: find sensitive values inside any string (a JSON string, a text body, a
// Postgres cell) and replace each one, leaving the text around it as it was.
//
// Replacement scheme (stable: the same input always gives the same output):
//   email      → [masked:email]
//   card       → [masked:card ****4242]   (last four digits only, the rest is gone;
//                [masked:card] for a JS number past 2^53, whose digits were already rounded)
//   ssn        → [masked:ssn]
//   iban       → [masked:iban]
//   phone      → [masked:phone]
//   jwt        → [masked:jwt]
//   cloud_key  → [masked:cloud_key]       (for `aws_secret_access_key=…` only the value)
//   a whole value masked by JSON path or column (not by a detector) → [masked]
//
// What each detector accepts (deliberate limits, so random text is not eaten):
//   card   13–19 digits starting 2–6 (the card networks: Mastercard 2/5, Amex/JCB/Diners 3,
//          Visa 4, Discover/UnionPay/Maestro 6; this keeps millisecond timestamps out), either
//          contiguous or grouped 4-4-4[-4][-1..4] or 4-6-4/5 by one kind of separator (space
//          or dash), and Luhn-valid. A trailing short group (a CVV) that breaks Luhn is left out.
//   ssn    ddd-dd-dddd without area 000, 666, 9xx, group 00 or serial 0000.
//   iban   capital country code, two check digits, 11–30 capitals/digits, compact or in groups
//          of four; ISO 7064 mod-97 must hold. Trailing groups that are not part of it are
//          dropped until it holds.
//   phone  `+` and 8–15 digits (separators space . - and a parenthesised area code allowed);
//          North American (555) 123-4567, 555-123-4567, 1-800-555-1234; national numbers with
//          a trunk 0 and separators (020 7946 0958, 06 12 34 56 78) of 9–13 digits. Digits
//          without a `+` or a separator pattern (plain integers, dates, versions) are not phones.
//   jwt    two or three dots between base64url segments (five for JWE) whose first segment
//          decodes to a JSON object with a string "alg".
//   cloud_key  AWS key ids AKIA/ASIA + 16; AWS secret keys (40 chars) after an
//          `aws_secret_access_key`/`SecretAccessKey` name, or as the value of a field of that
//          name; GCP AIza + 35; GitHub ghp_/gho_/ghs_/ghu_/ghr_ + 20 or more and github_pat_;
//          Slack xox[abposr]-; Stripe sk_/rk_ live (and test) keys; PEM private key blocks
//          from BEGIN to END (to the end of the string when END is missing).
import { GatewayError } from "../core/errors.ts";
import { ibanValid, luhnValid } from "./checksums.ts";

export const DETECTOR_NAMES = ["email", "card", "ssn", "iban", "phone", "jwt", "cloud_key"] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

/** What a whole value masked by column or JSON path becomes. */
export const MASKED = "[masked]";

/** The replacement for a value masked as a whole (by column or JSON path, not by a detector). */
export function maskValue(): string {
  return MASKED;
}

export interface StringMask {
  readonly value: string;
  /** How many sensitive values were replaced. */
  readonly hits: number;
}

export interface Detector {
  readonly names: readonly DetectorName[];
  /**
   * Replaces every sensitive value found in `s`. `field` is the name the value sits under (a
   * JSON member, a column), for the few secrets only recognisable by their name.
   */
  maskString(s: string, field?: string): StringMask;
  /**
   * For a number given as its source digits (a JSON number): the replacement when it is a
   * card number and "card" is on, else null.
   */
  maskNumber(digits: string): string | null;
}

/** A pattern match is checked by `accept`, which says how many leading characters are the value (0: none). */
interface Pattern {
  readonly source: string;
  readonly flags?: string;
  readonly accept?: (match: string, decoder: TextDecoder) => number;
}

interface Rule {
  /** A cheap regex that matches wherever any of the patterns could; joined into one pre-check. */
  readonly hint: string;
  readonly patterns: readonly Pattern[];
  readonly replace: (value: string) => string;
}

const tag = (name: DetectorName) => {
  // One string made once: a replacement built per hit would be a fresh rope each time.
  const replacement = `[masked:${name}]`;
  return () => replacement;
};
const whole = (m: string) => m.length;
const countDigits = (s: string) => s.replace(/[^0-9]/g, "").length;

function cardReplacement(value: string): string {
  return `[masked:card ****${value.replace(/[^0-9]/g, "").slice(-4)}]`;
}

function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && /^[2-6]/.test(digits) && luhnValid(digits);
}

function acceptCard(match: string): number {
  if (isCardNumber(match.replace(/[ -]/g, ""))) return match.length;
  // A short last group may be a CVV or expiry written right after the number.
  const cut = Math.max(match.lastIndexOf(" "), match.lastIndexOf("-"));
  if (cut > 0 && isCardNumber(match.slice(0, cut).replace(/[ -]/g, ""))) return cut;
  return 0;
}

function acceptIban(match: string): number {
  // The grouped form may have run on into a following word of four capitals: drop whole
  // groups from the end until the checksum holds or too little is left.
  let end = match.length;
  for (;;) {
    const compact = match.slice(0, end).replace(/ /g, "");
    if (compact.length < 15) return 0;
    if (ibanValid(compact)) return end;
    const cut = match.lastIndexOf(" ", end - 1);
    if (cut < 0) return 0;
    end = cut;
  }
}

const digitsBetween = (min: number, max: number) => (m: string) => {
  const n = countDigits(m);
  return n >= min && n <= max ? m.length : 0;
};

function acceptJwt(match: string, decoder: TextDecoder): number {
  const segment = match.slice(0, match.indexOf("."));
  if (segment.length % 4 === 1) return 0;
  try {
    const binary = atob(segment.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const header: unknown = JSON.parse(decoder.decode(bytes));
    const alg = header !== null && typeof header === "object" && !Array.isArray(header) ? (header as { alg?: unknown }).alg : undefined;
    return typeof alg === "string" ? match.length : 0;
  } catch {
    return 0; // not base64, not UTF-8 or not JSON: a dotted name, not a token
  }
}

/** Case-insensitive spelling of a word without the `i` flag, so it can join the pre-check. */
function anyCase(word: string): string {
  return word.replace(/[a-z]/gi, (c) => `[${c.toUpperCase()}${c.toLowerCase()}]`);
}

const SECRET_KEY_WORDS = `${anyCase("secret")}_?${anyCase("access")}_?${anyCase("key")}`;
const SECRET_KEY_NAME = `(?:${anyCase("aws")}_?)?${SECRET_KEY_WORDS}`;
/**
 * What may stand between an AWS secret key's name and its value (after the name): the stream
 * masker (stream-masker.ts) must not cut a stream where this context is still open.
 */
export const SECRET_KEY_CONTEXT_TAIL = new RegExp(String.raw`${SECRET_KEY_NAME}\\?["']?\s*(?:[:=]\s*\\?["']?)?$`);
/** The line that opens a PEM private key block; the block runs to its END line or the end of the text. */
export const PRIVATE_KEY_BEGIN = String.raw`-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----`;
const SECRET_KEY_FIELD = new RegExp(`^${SECRET_KEY_NAME}$`);
const SECRET_KEY_VALUE = /^[A-Za-z0-9/+]{40}$/;

const RULES: Readonly<Record<DetectorName, Rule>> = {
  email: {
    hint: "@",
    patterns: [{ source: String.raw`(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63}` }],
    replace: tag("email"),
  },
  card: {
    hint: String.raw`[2-6]\d{3}[ -]?\d{4}`,
    patterns: [
      {
        source: String.raw`(?<!\d)(?<!\d[ -])(?:[2-6]\d{12,18}|[2-6]\d{3}([ -])\d{4}(?:\1\d{4}){1,2}(?:\1\d{1,4})?|[2-6]\d{3}([ -])\d{6}\2\d{4,5})(?!\d)`,
        accept: acceptCard,
      },
    ],
    replace: cardReplacement,
  },
  ssn: {
    hint: String.raw`\d{3}-\d{2}-\d{4}`,
    patterns: [{ source: String.raw`(?<!\d)(?<!\d-)(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)(?!-\d)` }],
    replace: tag("ssn"),
  },
  iban: {
    hint: String.raw`[A-Z]{2}\d{2}`,
    patterns: [
      {
        source: String.raw`(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])`,
        accept: acceptIban,
      },
    ],
    replace: tag("iban"),
  },
  phone: {
    hint: String.raw`\+\d|\(\d|\d[ .-]\d`,
    patterns: [
      // International: + country code, then groups split by one separator or an (area).
      {
        source: String.raw`(?<![\w+])\+\d{1,15}(?:(?:[ .-]|[ .-]?\(\d{1,4}\)[ .-]?)\d{1,15}){0,7}(?!\d)`,
        accept: digitsBetween(8, 15),
      },
      // North American: (555) 123-4567, 555-123-4567, 1-800-555-1234.
      {
        source: String.raw`(?<![\w.+-])(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\d)(?![.-]\d)`,
        accept: digitsBetween(10, 11),
      },
      // National with a trunk 0: 020 7946 0958, (020) 7946 0958, 06 12 34 56 78.
      {
        source: String.raw`(?<![\w.+-])(?:\(0\d{1,4}\)[ .-]?|0\d{1,4}[ .-])\d{2,8}(?:[ .-]\d{2,8}){0,3}(?![\d:])(?![.-]\d)`,
        accept: digitsBetween(9, 13),
      },
    ],
    replace: tag("phone"),
  },
  jwt: {
    // Every JSON object header starts with `{` then a quote or whitespace: base64url "ey" or "ew".
    hint: String.raw`e[wy][A-Za-z0-9_-]{2,}\.`,
    patterns: [
      {
        source: String.raw`(?<![A-Za-z0-9_-])e[wy][A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+)?(?![A-Za-z0-9_-])`,
        accept: acceptJwt,
      },
    ],
    replace: tag("jwt"),
  },
  cloud_key: {
    hint: `AKIA|ASIA|AIza|gh[pousr]_|github_pat_|xox[abposr]-|[sr]k_(?:live|test)_|PRIVATE KEY|${SECRET_KEY_WORDS}`,
    patterns: [
      { source: String.raw`(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])` },
      { source: String.raw`(?<=${SECRET_KEY_NAME}\\?["']?\s*[:=]\s*\\?["']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])` },
      { source: String.raw`(?<![A-Za-z0-9_-])AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])` },
      { source: String.raw`(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})(?![A-Za-z0-9_])` },
      { source: String.raw`(?<![A-Za-z0-9_-])xox[abposr]-[A-Za-z0-9-]{10,250}(?![A-Za-z0-9-])` },
      { source: String.raw`(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}(?![A-Za-z0-9])` },
      // To the END line, or to the end of the string: a key without its END is still a key.
      { source: String.raw`${PRIVATE_KEY_BEGIN}[\s\S]*?(?:-----END \1PRIVATE KEY\2-----|$)` },
    ],
    replace: tag("cloud_key"),
  },
};

interface CompiledPattern {
  /** The rule's own hint: its patterns are skipped when it does not match. */
  readonly hint: RegExp;
  readonly re: RegExp;
  readonly accept: (match: string, decoder: TextDecoder) => number;
  readonly order: number;
  readonly replace: (value: string) => string;
}

interface Span {
  readonly start: number;
  readonly end: number;
  readonly order: number;
  readonly replacement: string;
}

const NO_HITS = (s: string): StringMask => ({ value: s, hits: 0 });

/** Compiles the named detectors into one Detector; an unknown name is a policy error. */
export function compileDetectors(names: readonly string[]): Detector {
  const chosen: DetectorName[] = [];
  for (const name of names) {
    if (!(DETECTOR_NAMES as readonly string[]).includes(name)) {
      throw new GatewayError("E_MASK", `unknown mask detector: "${name}" (known: ${DETECTOR_NAMES.join(", ")})`, {
        details: { detector: name },
      });
    }
    if (!chosen.includes(name as DetectorName)) chosen.push(name as DetectorName);
  }
  // Keep the table's order so ties between detectors resolve the same way every time.
  chosen.sort((a, b) => DETECTOR_NAMES.indexOf(a) - DETECTOR_NAMES.indexOf(b));

  // Regexes with the g flag carry lastIndex: each Detector gets its own.
  const patterns: CompiledPattern[] = [];
  for (const name of chosen) {
    const rule = RULES[name];
    const hint = new RegExp(rule.hint);
    for (const p of rule.patterns) {
      patterns.push({
        hint,
        re: new RegExp(p.source, `g${p.flags ?? ""}`),
        accept: p.accept ?? whole,
        order: DETECTOR_NAMES.indexOf(name),
        replace: rule.replace,
      });
    }
  }
  const precheck = chosen.length === 0 ? null : new RegExp(chosen.map((n) => `(?:${RULES[n].hint})`).join("|"));
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const card = chosen.includes("card");
  const cloudKey = chosen.includes("cloud_key");
  // With one rule the pre-check is that rule's hint: when it has matched, the hint has too.
  const oneRule = chosen.length === 1;

  function maskString(s: string, field?: string): StringMask {
    if (cloudKey && field !== undefined && SECRET_KEY_FIELD.test(field) && SECRET_KEY_VALUE.test(s.trim())) {
      return { value: RULES.cloud_key.replace(s), hits: 1 };
    }
    if (precheck === null || !precheck.test(s)) return NO_HITS(s);

    const spans: Span[] = [];
    let hinted: RegExp | null = null;
    let hintMatched = false;
    for (const p of patterns) {
      if (p.hint !== hinted) {
        hinted = p.hint;
        hintMatched = oneRule || p.hint.test(s);
      }
      if (!hintMatched) continue;
      p.re.lastIndex = 0;
      for (let m = p.re.exec(s); m !== null; m = p.re.exec(s)) {
        const length = p.accept(m[0], decoder);
        if (length > 0) {
          const value = m[0].slice(0, length);
          spans.push({ start: m.index, end: m.index + length, order: p.order, replacement: p.replace(value) });
        }
        if (m[0].length === 0) p.re.lastIndex++;
      }
    }
    if (spans.length === 0) return NO_HITS(s);

    // Leftmost first, then the longest, then the earlier detector; overlapping later spans go.
    if (spans.length > 1) spans.sort((a, b) => a.start - b.start || b.end - a.end || a.order - b.order);
    let out = "";
    let at = 0;
    let hits = 0;
    for (const span of spans) {
      if (span.start < at) continue;
      out += s.slice(at, span.start) + span.replacement;
      at = span.end;
      hits++;
    }
    return { value: out + s.slice(at), hits };
  }

  function maskNumber(digits: string): string | null {
    return card && isCardNumber(digits) ? cardReplacement(digits) : null;
  }

  return Object.freeze({ names: Object.freeze(chosen), maskString, maskNumber });
}

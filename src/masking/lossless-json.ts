// JSON parse and serialise that give back every number exactly as the upstream wrote it:
// masking re-serialises a body, and a 19-digit id or card number must neither change nor
// lose digits on the way (a rounded card number still leaks most of its digits).
import { GatewayError } from "../core/errors.ts";

/** The parts of JSON that TypeScript's lib does not describe yet (source text access, rawJSON). */
interface SourceJson {
  parse(text: string, reviver: (key: string, value: unknown, context: { source?: string }) => unknown): unknown;
  rawJSON?: (text: string) => unknown;
  isRawJSON?: (value: unknown) => boolean;
}
const sourceJson = JSON as unknown as SourceJson;

// Only numbers this long or with a 3-digit exponent can fail to round-trip through a double;
// the slower reviver pass is taken only when the text holds one. The one-pass masker
// (json-one-pass.ts, via json-numbers.ts) reads numbers as this parser would, so it uses it too.
export const MAY_LOSE_DIGITS = /[0-9.]{16}|[0-9][eE][+-]?[0-9]{3}/;

/**
 * Parses JSON text. Numbers whose value would not print back as written become raw JSON
 * values (see `rawNumberSource`), which JSON.stringify writes out unchanged. Throws SyntaxError.
 */
export function parseJsonLossless(text: string): unknown {
  if (!MAY_LOSE_DIGITS.test(text)) return JSON.parse(text);
  const rawJSON = sourceJson.rawJSON;
  return sourceJson.parse(text, (_key, value, context) => {
    if (typeof value !== "number" || context.source === undefined || String(value) === context.source) return value;
    if (rawJSON === undefined) {
      throw new GatewayError("E_MASK", `cannot mask JSON: the number ${context.source} does not fit a double and this runtime has no JSON.rawJSON: refused`);
    }
    return rawJSON(context.source);
  });
}

/** The source text of a raw JSON number made by parseJsonLossless; null for anything else. */
export function rawNumberSource(value: unknown): string | null {
  if (value === null || typeof value !== "object" || sourceJson.isRawJSON?.(value) !== true) return null;
  const raw = (value as { rawJSON?: unknown }).rawJSON;
  return typeof raw === "string" ? raw : null;
}

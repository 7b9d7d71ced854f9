// Masks JSON responses (HTTP, Kubernetes): values at the rule's JSON paths become "[masked]"
// whole, then the detectors run over every string left. Bodies it cannot read are refused,
// never passed through: a mask that could not be applied is a leak.
import { GatewayError } from "../core/errors.ts";
import type { Masks } from "../core/types.ts";
import { classifyContentType, isUtf8 } from "./content-type.ts";
import { compileDetectors, MASKED, type Detector } from "./detectors.ts";
import { compileJsonPaths, type JsonPathCursor, type JsonPathSet } from "./json-path.ts";
import { parseJsonLossless, rawNumberSource } from "./lossless-json.ts";

export { collectBody } from "./collect-body.ts";

export interface JsonMasker {
  /** Masks a parsed JSON value; returns the input itself when nothing was masked. Does not mutate it. */
  maskValue(value: unknown): { value: unknown; masked: number };
  /**
   * Masks a whole response body (identity content-encoding) by its Content-Type. Throws
   * GatewayError E_MASK when the body cannot be masked; the caller must then refuse it.
   */
  maskBody(body: Uint8Array, contentType: string | null): { body: Uint8Array; masked: number };
}

/** Keys whose detector answer a masker remembers; past this the memo starts again. */
const KEY_MEMO = 4096;

const refuse = (message: string, cause?: unknown): GatewayError =>
  new GatewayError("E_MASK", message, cause === undefined ? {} : { cause });

/** Null when the masks hold nothing JSON can apply (no JSON paths, no detectors). */
export function compileJsonMasker(masks: Masks): JsonMasker | null {
  if (masks.json.length === 0 && masks.detectors.length === 0) return null;
  const paths: JsonPathSet | null = masks.json.length > 0 ? compileJsonPaths(masks.json) : null;
  const detector: Detector | null = masks.detectors.length > 0 ? compileDetectors(masks.detectors) : null;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();

  // What the detectors say of each key, remembered: the same few keys come back in every
  // object of every response, and a detector's answer depends on the key alone.
  const keyHits = new Map<string, boolean>();
  function keyIsSensitive(key: string): boolean {
    let hit = keyHits.get(key);
    if (hit === undefined) {
      hit = detector!.maskString(key).hits > 0;
      if (keyHits.size >= KEY_MEMO) keyHits.clear();
      keyHits.set(key, hit);
    }
    return hit;
  }

  function maskValue(value: unknown): { value: unknown; masked: number } {
    const count = { n: 0 };
    let out: unknown;
    try {
      out = walk(value, paths === null ? null : paths.root(), undefined, count);
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      // A stack overflow on absurdly deep nesting: refuse rather than send it unmasked.
      throw refuse(`cannot mask JSON value: ${e instanceof Error ? e.message : String(e)}: refused`, e);
    }
    return { value: out, masked: count.n };
  }

  function walk(value: unknown, cursor: JsonPathCursor | null, field: string | undefined, count: { n: number }): unknown {
    if (cursor !== null && cursor.selected) {
      count.n++;
      return MASKED;
    }
    if (cursor === null && detector === null) return value;
    switch (typeof value) {
      case "string": {
        if (detector === null) return value;
        const r = detector.maskString(value, field);
        count.n += r.hits;
        return r.value;
      }
      case "number":
        return maskNumber(value, count);
      case "bigint":
        return maskDigits(value, value.toString(), count);
      case "object":
        break;
      default:
        return value; // boolean, undefined: nothing to hide
    }
    if (value === null) return value;
    const raw = rawNumberSource(value);
    if (raw !== null) return maskDigits(value, raw, count);

    if (Array.isArray(value)) {
      let copy: unknown[] | null = null;
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        const next = walk(item, cursor === null ? null : cursor.child(i, value.length), field, count);
        if (copy === null && next !== item) copy = value.slice(0, i);
        if (copy !== null) copy.push(next);
      }
      return copy ?? value;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      // Not parsed JSON (a Date, a Map, a class): we cannot tell what it would serialise to.
      throw refuse(`cannot mask JSON value: a ${(value as object).constructor?.name ?? "non-plain"} object is not JSON data: refused`);
    }
    const record = value as Record<string, unknown>;
    let copy: Record<string, unknown> | null = null;
    const keys = Object.keys(record);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      // A key cannot be masked without changing what the document means: refuse it instead.
      if (detector !== null && keyIsSensitive(key)) throw refuse("a JSON key holds a value the masks hide (an e-mail address or the like): refused");
      const item = record[key];
      const next = walk(item, cursor === null ? null : cursor.child(key, 0), key, count);
      if (copy === null && next !== item) {
        copy = {};
        for (let j = 0; j < i; j++) define(copy, keys[j]!, record[keys[j]!]);
      }
      if (copy !== null) define(copy, key, next);
    }
    return copy ?? value;
  }

  /** A JS number: only an integer of card length can be a card number. */
  function maskNumber(value: number, count: { n: number }): unknown {
    if (detector === null || !Number.isInteger(value) || value < 1e12) return value;
    if (Number.isSafeInteger(value)) return maskDigits(value, String(value), count);
    // Beyond 2^53 the digits were rounded before they reached us, so Luhn cannot decide:
    // a number of card length is masked unchecked rather than let through.
    const digits = BigInt(value).toString();
    if (digits.length <= 19 && /^[2-6]/.test(digits) && detector.names.includes("card")) {
      count.n++;
      return "[masked:card]"; // the last digits are rounded too, so none are shown
    }
    return value;
  }

  /** A number known by its exact digits (raw JSON source, bigint). */
  function maskDigits(value: unknown, digits: string, count: { n: number }): unknown {
    const replaced = detector !== null && /^[0-9]+$/.test(digits) ? detector.maskNumber(digits) : null;
    if (replaced === null) return value;
    count.n++;
    return replaced;
  }

  function maskText(text: string, what: string): { text: string; masked: number } {
    let parsed: unknown;
    try {
      parsed = parseJsonLossless(text);
    } catch (e) {
      if (e instanceof GatewayError) throw e;
      throw refuse(`${what} is not valid JSON, cannot mask it: refused`, e);
    }
    const r = maskValue(parsed);
    // Always the serialised value that was checked, never the original text: with duplicate
    // keys the parser keeps the last, and an earlier one would otherwise go out unchecked.
    let out: string;
    try {
      out = JSON.stringify(r.value);
    } catch (e) {
      throw refuse(`cannot serialise the masked JSON: ${e instanceof Error ? e.message : String(e)}: refused`, e);
    }
    return { text: out, masked: r.masked };
  }

  function maskBody(body: Uint8Array, contentType: string | null): { body: Uint8Array; masked: number } {
    if (body.byteLength === 0) return { body, masked: 0 };
    const type = classifyContentType(contentType);
    if (type.kind === "other") {
      throw refuse(
        contentType === null
          ? "response without a content-type cannot be masked: refused"
          : `response of content-type "${type.mediaType}" is neither JSON nor text, cannot mask it: refused`,
      );
    }
    if (!isUtf8(type.charset)) throw refuse(`response in charset "${type.charset}" cannot be masked (only utf-8): refused`);
    if (type.kind === "text" && paths !== null) throw refuse("response is not JSON, cannot apply JSON path masks: refused");

    let text: string;
    try {
      text = decoder.decode(body);
    } catch (e) {
      throw refuse("response is not valid UTF-8, cannot mask it: refused", e);
    }

    if (type.kind === "text") {
      const r = detector!.maskString(text);
      return r.hits === 0 ? { body, masked: 0 } : { body: encoder.encode(r.value), masked: r.hits };
    }
    if (type.kind === "json") {
      const r = maskText(text, "response");
      return { body: encoder.encode(r.text), masked: r.masked };
    }
    // NDJSON: one document per line; blank lines and line endings stay as they were.
    const lines = text.split("\n");
    let masked = 0;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.trim() === "") continue;
      const cr = line.endsWith("\r");
      const r = maskText(cr ? line.slice(0, -1) : line, `line ${i + 1} of the response`);
      lines[i] = cr ? `${r.text}\r` : r.text;
      masked += r.masked;
    }
    return { body: encoder.encode(lines.join("\n")), masked };
  }

  return Object.freeze({ maskValue, maskBody });
}

/** Sets a member without the `__proto__` setter turning a JSON key into a prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

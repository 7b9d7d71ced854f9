// Masks JSON responses (HTTP, Kubernetes): values at the rule's JSON paths become "[masked]"
// whole, then the detectors run over every string left. Bodies it cannot read are refused,
// never passed through: a mask that could not be applied is a leak. A JSON body is masked in
// one pass over its text (json-one-pass.ts); the parse-walk-serialise path stays for parsed
// values (maskValue) and, with `onePass: false`, as the reference the one-pass is tested against.
import { GatewayError } from "../core/errors.ts";
import type { Masks } from "../core/types.ts";
import { classifyContentType, isUtf8, type BodyType } from "./content-type.ts";
import { compileDetectors, MASKED, type Detector } from "./detectors.ts";
import { numberMasker } from "./json-numbers.ts";
import { compileOnePass } from "./json-one-pass.ts";
import { JsonTextError, SensitiveKeyError } from "./json-text.ts";
import { compileJsonPaths, type JsonPathCursor, type JsonPathSet } from "./json-path.ts";
import { parseJsonLossless, rawNumberSource } from "./lossless-json.ts";
import { Replacements } from "./replacements.ts";

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

export interface JsonMaskerOptions {
  /**
   * Mask JSON and NDJSON bodies in one pass over their text (the default), or parse, walk and
   * re-serialise them as before (kept as the reference json-one-pass.test.ts compares against).
   */
  readonly onePass?: boolean;
}

const SENSITIVE_KEY = "a JSON key holds a value the masks hide (an e-mail address or the like): refused";

/** Null when the masks hold nothing JSON can apply (no JSON paths, no detectors). */
export function compileJsonMasker(masks: Masks, options: JsonMaskerOptions = {}): JsonMasker | null {
  if (masks.json.length === 0 && masks.detectors.length === 0) return null;
  const paths: JsonPathSet | null = masks.json.length > 0 ? compileJsonPaths(masks.json) : null;
  const detector: Detector | null = masks.detectors.length > 0 ? compileDetectors(masks.detectors) : null;
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const encoder = new TextEncoder();
  const numbers = detector === null ? null : numberMasker(detector);

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
      if (detector !== null && keyIsSensitive(key)) throw refuse(SENSITIVE_KEY);
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

  /** A JS number: only an integer of card length can be a card number (json-numbers.ts). */
  function maskNumber(value: number, count: { n: number }): unknown {
    const replaced = numbers === null ? null : numbers.ofValue(value);
    if (replaced === null) return value;
    count.n++;
    return replaced;
  }

  /** A number known by its exact digits (raw JSON source, bigint). */
  function maskDigits(value: unknown, digits: string, count: { n: number }): unknown {
    const replaced = numbers === null ? null : numbers.ofDigits(digits);
    if (replaced === null) return value;
    count.n++;
    return replaced;
  }

  const onePass = options.onePass === false ? null : compileOnePass(detector, paths, keyIsSensitive);

  // maskBody runs to its end synchronously: one list of edits serves every call.
  const edits = new Replacements();

  /** One JSON text, text[start, end), masked in one pass into `edits`; returns the count. */
  function maskRange(text: string, start: number, end: number, what: string): number {
    try {
      return onePass!.mask(text, start, end, edits);
    } catch (e) {
      if (e instanceof JsonTextError) throw refuse(`${what} is not valid JSON, cannot mask it: refused`, e);
      if (e instanceof SensitiveKeyError) throw refuse(SENSITIVE_KEY);
      if (e instanceof GatewayError) throw e;
      // Nothing else is expected; whatever it is, the body is refused, not passed.
      throw refuse(`cannot mask ${what}: ${e instanceof Error ? e.message : String(e)}: refused`, e);
    }
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

  // An upstream sends the same Content-Type on every response: classified once.
  let lastType: { header: string | null; type: BodyType } | null = null;
  function typeOf(header: string | null): BodyType {
    if (lastType === null || lastType.header !== header) lastType = { header, type: classifyContentType(header) };
    return lastType.type;
  }

  function maskBody(body: Uint8Array, contentType: string | null): { body: Uint8Array; masked: number } {
    if (body.byteLength === 0) return { body, masked: 0 };
    const type = typeOf(contentType);
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
    if (onePass !== null) return type.kind === "json" ? maskJsonOnePass(body, text) : maskNdjsonOnePass(body, text);
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

  function maskJsonOnePass(body: Uint8Array, text: string): { body: Uint8Array; masked: number } {
    edits.clear();
    const masked = maskRange(text, 0, text.length, "response");
    return { body: applyEdits(body, text), masked };
  }

  /** NDJSON: one document per line, as maskBody's old loop reads it (blank lines, a CR before LF). */
  function maskNdjsonOnePass(body: Uint8Array, text: string): { body: Uint8Array; masked: number } {
    edits.clear();
    let masked = 0;
    let line = 0;
    for (let start = 0; start <= text.length; line++) {
      let stop = text.indexOf("\n", start);
      if (stop < 0) stop = text.length;
      if (!isBlankLine(text, start, stop)) {
        const contentEnd = stop > start && text.charCodeAt(stop - 1) === 13 ? stop - 1 : stop;
        masked += maskRange(text, start, contentEnd, `line ${line + 1} of the response`);
      }
      start = stop + 1;
    }
    return { body: applyEdits(body, text), masked };
  }

  /** The body with `edits` made: itself when there are none (every byte as it came, a byte order mark too). */
  function applyEdits(body: Uint8Array, text: string): Uint8Array {
    if (edits.length === 0) return body;
    // The decoder dropped a byte order mark; it stays in what goes out.
    const bom = body.byteLength >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf;
    // Joining the text and encoding it once was measured cheaper than copying byte spans.
    const result = encoder.encode((bom ? "\uFEFF" : "") + edits.applyToText(text));
    edits.clear();
    return result;
  }

  return Object.freeze({ maskValue, maskBody });
}

/** Whether text[start, stop) is blank as String.prototype.trim sees it (the old loop's test). */
function isBlankLine(text: string, start: number, stop: number): boolean {
  let i = start;
  while (i < stop) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
    i++;
  }
  if (i === stop) return true;
  // Past JSON's whitespace, trim also drops VT, FF and non-ASCII spaces: ask it then.
  const c = text.charCodeAt(i);
  return (c === 11 || c === 12 || c >= 128) && text.slice(start, stop).trim() === "";
}

/** Sets a member without the `__proto__` setter turning a JSON key into a prototype. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

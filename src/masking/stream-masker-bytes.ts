// The byte-level pieces of the stream masker: which bytes of a terminal stream are text and
// which belong to escape sequences (kept intact, never masked), and a lossless UTF-8 round
// trip so that masking a run changes only the values it replaces (invalid bytes, binary
// output, survive byte for byte).
import type { Detector } from "./detectors.ts";

/** States of a simplified ECMA-48 / VT500 parser (7-bit controls only: 0x80–0x9F are UTF-8 here). */
const GROUND = 0;
const ESC = 1;
const ESC_INTERMEDIATE = 2;
const CSI = 3;
/** OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (ESC \). */
const STRING = 4;
const STRING_ESC = 5;

const BEL = 0x07;
const CAN = 0x18;
const SUB = 0x1a;
const ESCAPE = 0x1b;

/**
 * Splits a byte stream into text and escape sequences, carrying its state across chunks so a
 * sequence cut at a chunk's end is still recognised as one.
 */
export class EscapeScanner {
  private state = GROUND;

  get inText(): boolean {
    return this.state === GROUND;
  }

  /**
   * From `from` (in text), the end of the text: the index of the next ESC, or the chunk's end.
   * The ESC itself is left for consumeEscape.
   */
  textEnd(chunk: Uint8Array, from: number): number {
    const j = chunk.indexOf(ESCAPE, from);
    return j < 0 ? chunk.length : j;
  }

  /** Consumes escape-sequence bytes from `from`; returns the index of the first byte that is text again (or the end). */
  consumeEscape(chunk: Uint8Array, from: number): number {
    let i = from;
    while (i < chunk.length) {
      const b = chunk[i]!;
      switch (this.state) {
        case GROUND:
          if (b !== ESCAPE) return i;
          this.state = ESC;
          break;
        case ESC:
        case ESC_INTERMEDIATE:
          if (b >= 0x80) return this.toText(i);
          if (b === ESCAPE) this.state = ESC;
          else if (b === CAN || b === SUB) this.state = GROUND;
          else if (b >= 0x20 && b <= 0x2f) this.state = ESC_INTERMEDIATE;
          else if (this.state === ESC && b === 0x5b) this.state = CSI; // [
          else if (this.state === ESC && (b === 0x5d || b === 0x50 || b === 0x58 || b === 0x5e || b === 0x5f)) this.state = STRING; // ] P X ^ _
          else if (b >= 0x30 && b <= 0x7e) this.state = GROUND;
          // other C0 controls and DEL act inside the sequence without ending it
          break;
        case CSI:
          if (b >= 0x80) return this.toText(i);
          if (b === ESCAPE) this.state = ESC;
          else if (b === CAN || b === SUB || (b >= 0x40 && b <= 0x7e)) this.state = GROUND;
          break;
        case STRING:
          if (b === BEL || b === CAN || b === SUB) this.state = GROUND;
          else if (b === ESCAPE) this.state = STRING_ESC;
          break;
        case STRING_ESC:
          if (b === 0x5c) {
            this.state = GROUND; // ST
          } else {
            this.state = ESC; // the ESC began a new sequence; read this byte as its second
            continue;
          }
          break;
      }
      i++;
      if (this.state === GROUND) return i;
    }
    return i;
  }

  private toText(i: number): number {
    this.state = GROUND;
    return i;
  }
}

const replacing = new TextDecoder("utf-8");

export interface DecodedText {
  readonly text: string;
  /** False when invalid bytes were kept as U+DC80–U+DCFF (see decodeLossless). */
  readonly valid: boolean;
}

/**
 * UTF-8 to a string without losing anything: each byte that is not part of a well-formed
 * sequence becomes the lone surrogate U+DC00+byte (as Python's surrogateescape), which no
 * detector matches and encodeLossless turns back into that byte.
 */
export function decodeLossless(bytes: Uint8Array): DecodedText {
  // Decoding leniently and looking for U+FFFD is much cheaper than catching a strict decoder's
  // exception; a real U+FFFD in the input only sends it down the slower exact path.
  const lenient = replacing.decode(bytes);
  if (!lenient.includes("\uFFFD")) return { text: lenient, valid: true };
  // UTF-16 code units, built by hand: the input is mostly bad bytes (binary), so calling a
  // decoder per well-formed stretch would cost more than decoding.
  const units = new Uint16Array(bytes.length);
  let n = 0;
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      units[n++] = b0;
      i++;
      continue;
    }
    const len = b0 >= 0xc2 && b0 <= 0xdf ? 2 : b0 >= 0xe0 && b0 <= 0xef ? 3 : b0 >= 0xf0 && b0 <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > bytes.length || !wellFormed(bytes, i, len)) {
      units[n++] = 0xdc00 + b0;
      i++;
      continue;
    }
    const b1 = bytes[i + 1]! & 0x3f;
    if (len === 2) {
      units[n++] = ((b0 & 0x1f) << 6) | b1;
    } else if (len === 3) {
      units[n++] = ((b0 & 0x0f) << 12) | (b1 << 6) | (bytes[i + 2]! & 0x3f);
    } else {
      const cp = ((b0 & 0x07) << 18) | (b1 << 12) | ((bytes[i + 2]! & 0x3f) << 6) | (bytes[i + 3]! & 0x3f);
      units[n++] = 0xd800 + ((cp - 0x10000) >> 10);
      units[n++] = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    }
    i += len;
  }
  // Not a UTF-16 decoder: it would turn the lone surrogates into U+FFFD.
  let out = "";
  for (let k = 0; k < n; k += 8192) out += String.fromCharCode.apply(null, units.subarray(k, Math.min(n, k + 8192)) as unknown as number[]);
  return { text: out, valid: false };
}

function wellFormed(bytes: Uint8Array, i: number, n: number): boolean {
  const b0 = bytes[i]!;
  const b1 = bytes[i + 1]!;
  // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
  const lo = b0 === 0xe0 ? 0xa0 : b0 === 0xf0 ? 0x90 : 0x80;
  const hi = b0 === 0xed ? 0x9f : b0 === 0xf4 ? 0x8f : 0xbf;
  if (b1 < lo || b1 > hi) return false;
  for (let k = 2; k < n; k++) {
    const c = bytes[i + k]!;
    if (c < 0x80 || c > 0xbf) return false;
  }
  return true;
}

const encoder = new TextEncoder();

/** The inverse of decodeLossless. */
export function encodeLossless(text: string, valid: boolean): Uint8Array {
  if (valid) return encoder.encode(text);
  const parts: Uint8Array[] = [];
  let run = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const prev = i > 0 ? text.charCodeAt(i - 1) : 0;
    // A low surrogate right after a high one is half of a real character.
    if (c >= 0xdc80 && c <= 0xdcff && !(prev >= 0xd800 && prev <= 0xdbff)) {
      if (i > run) parts.push(encoder.encode(text.slice(run, i)));
      parts.push(Uint8Array.of(c - 0xdc00));
      run = i + 1;
    }
  }
  if (text.length > run) parts.push(encoder.encode(text.slice(run)));
  return Buffer.concat(parts);
}

/** Masks one whole run of text bytes; the same bytes back when nothing was found. */
export function maskRun(bytes: Uint8Array, detector: Detector): { bytes: Uint8Array; hits: number } {
  if (bytes.length === 0) return { bytes, hits: 0 };
  const d = decodeLossless(bytes);
  const m = detector.maskString(d.text);
  return m.hits === 0 ? { bytes, hits: 0 } : { bytes: encodeLossless(m.value, d.valid), hits: m.hits };
}

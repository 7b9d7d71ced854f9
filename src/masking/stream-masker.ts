// Masks exec and shell output as it streams (policy `mask: { detectors: [...] }` on an SSH or
// kubectl exec target): the text detectors of detectors.ts applied to a byte stream, giving
// the same bytes as masking the whole stream at once (maskTerminalBytes) wherever a chunk
// boundary falls, without breaking UTF-8 characters or terminal escape sequences.
//
// How: escape sequences are passed through as they come and end the current run of text
// (nothing is masked inside or across them). Text is emitted up to the last position where no
// detector's match can cross: right after a byte that no pattern matches or looks at, such as
// a newline or `,` (see cutAfter). The tail after it, which could still grow into a match, is
// held back. A private key block (BEGIN … END), which may span lines, is masked as soon as
// its BEGIN line is complete, and what follows is dropped until its END line.
//
// Bounds: at most `maxHold` bytes are held (default 4096); a longer run with no safe cut is
// cut anyway, keeping the last 1 KiB, and a value spanning that forced cut may escape the
// mask. An interactive shell echoes typed words one key at a time, and a word may be the
// start of an e-mail: the caller calls flush() when its output has been idle for a moment
// (a few ms), which emits everything held, masked as if the stream ended there.
import { PRIVATE_KEY_BEGIN, SECRET_KEY_CONTEXT_TAIL, type Detector } from "./detectors.ts";
import { decodeLossless, EscapeScanner, maskRun } from "./stream-masker-bytes.ts";

export const DEFAULT_MAX_HOLD = 4096;
const FORCED_KEEP = 1024;
const MASKED_KEY = "[masked:cloud_key]";

export interface StreamMasker {
  /** Masks a chunk; returns what can go out now (possibly empty; the chunk itself when nothing changed or was held). */
  write(chunk: Uint8Array): Uint8Array;
  /**
   * What is held back, masked as if the stream ended here: call it when the output has been
   * idle a moment, and with `final` at the end. Without `final` the start of a private key's
   * BEGIN line is still held (a key printed slowly must not slip out in pieces).
   */
  flush(final?: boolean): Uint8Array;
  /** Bytes held back right now. */
  readonly held: number;
  /** Values masked so far. */
  readonly hits: number;
  /** Times a run longer than maxHold was cut where a match could cross (0 in ordinary output). */
  readonly forcedCuts: number;
}

export interface StreamMaskerOptions {
  readonly maxHold?: number;
}

const EMPTY = new Uint8Array(0);
const latin1 = new TextDecoder("latin1");

/** Masks a whole terminal stream at once: the reference the stream masker must equal. */
export function maskTerminalBytes(input: Uint8Array, detector: Detector): Uint8Array {
  const scanner = new EscapeScanner();
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < input.length) {
    if (scanner.inText) {
      const end = scanner.textEnd(input, i);
      if (end > i) out.push(maskRun(input.subarray(i, end), detector).bytes);
      i = end;
      if (i === input.length) break;
    }
    const e = scanner.consumeEscape(input, i);
    out.push(input.subarray(i, e));
    i = e;
  }
  return concat(out);
}

export function createStreamMasker(detector: Detector, opts: StreamMaskerOptions = {}): StreamMasker {
  return new Masker(detector, opts.maxHold ?? DEFAULT_MAX_HOLD);
}

class Masker implements StreamMasker {
  private readonly scanner = new EscapeScanner();
  /** Text of the current run not yet emitted. */
  private pending: Uint8Array = EMPTY;
  /** Inside a private key block: the END line that closes it (bytes dropped until then). */
  private keyEnd: Uint8Array | null = null;
  private readonly pem: boolean;
  hits = 0;
  forcedCuts = 0;

  constructor(
    private readonly detector: Detector,
    private readonly maxHold: number,
  ) {
    this.pem = detector.names.includes("cloud_key");
  }

  get held(): number {
    return this.pending.length;
  }

  write(chunk: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (this.scanner.inText) {
        const end = this.scanner.textEnd(chunk, i);
        if (end > i) this.pending = this.pending.length === 0 ? chunk.subarray(i, end) : concat([this.pending, chunk.subarray(i, end)]);
        if (end < chunk.length) this.endRun(out); // an ESC ends the run of text
        i = end;
        if (i < chunk.length) {
          const e = this.scanner.consumeEscape(chunk, i);
          out.push(chunk.subarray(i, e));
          i = e;
        }
      } else {
        const e = this.scanner.consumeEscape(chunk, i);
        out.push(chunk.subarray(i, e));
        i = e;
      }
    }
    this.commit(out);
    // The pending tail may be a view of the caller's chunk, which it may reuse: own it.
    if (this.pending.length > 0 && this.pending.buffer === chunk.buffer) this.pending = this.pending.slice();
    return out.length === 1 && out[0]!.length === chunk.length ? out[0]! : concat(out);
  }

  flush(final = false): Uint8Array {
    if (this.keyEnd !== null) return EMPTY; // still inside a key block: nothing to show
    const out: Uint8Array[] = [];
    const keep = final || !this.pem ? 0 : beginLinePrefix(this.pending);
    this.emit(out, this.pending.subarray(0, this.pending.length - keep));
    this.pending = this.pending.subarray(this.pending.length - keep);
    return concat(out);
  }

  private emit(out: Uint8Array[], text: Uint8Array): void {
    if (text.length === 0) return;
    const m = maskRun(text, this.detector);
    this.hits += m.hits;
    out.push(m.bytes);
  }

  /** The run of text ends (an escape sequence follows): a key block ends with it, as in maskTerminalBytes. */
  private endRun(out: Uint8Array[]): void {
    if (this.keyEnd === null) this.emit(out, this.pending);
    this.keyEnd = null;
    this.pending = EMPTY;
  }

  /** Emits the pending text up to its last safe cut; holds the rest. */
  private commit(out: Uint8Array[]): void {
    for (;;) {
      const p = this.pending;
      if (p.length === 0) return;
      if (this.keyEnd !== null) {
        const at = indexOfBytes(p, this.keyEnd);
        if (at < 0) {
          // Keep only what could be the start of the END line.
          this.pending = p.subarray(Math.max(0, p.length - this.keyEnd.length + 1)).slice();
          return;
        }
        this.pending = p.subarray(at + this.keyEnd.length);
        this.keyEnd = null;
        continue;
      }
      const blocks = this.pem ? keyBlocks(p) : { closed: [], open: null };
      if (blocks.open !== null) {
        const { start, headerEnd, end } = blocks.open;
        const cut = this.lastCut(p, start, blocks.closed);
        this.emit(out, p.subarray(0, cut));
        const rest = maskRun(p.subarray(cut), this.detector);
        const text = latin1.decode(rest.bytes);
        if (rest.hits > 0 && text.endsWith(MASKED_KEY)) {
          out.push(rest.bytes);
          this.hits += rest.hits;
        } else {
          // A match before the block ran into its BEGIN line: mask the block anyway.
          this.emit(out, p.subarray(cut, start));
          out.push(new TextEncoder().encode(MASKED_KEY));
          this.hits++;
        }
        this.keyEnd = end;
        this.pending = p.subarray(headerEnd);
        continue;
      }
      let cut = this.lastCut(p, p.length, blocks.closed);
      if (cut === 0 && p.length > this.maxHold) {
        cut = forcedCut(p, blocks.closed);
        this.forcedCuts++;
      }
      this.emit(out, p.subarray(0, cut));
      this.pending = p.subarray(cut);
      return;
    }
  }

  /** The last index ≤ limit right after which the text can be cut, or 0. */
  private lastCut(p: Uint8Array, limit: number, closed: readonly Block[]): number {
    for (let c = limit; c > 0; c--) {
      const kind = cutAfter(p, c - 1);
      if (kind === NO) continue;
      if (closed.some((b) => c > b.start && c < b.stop)) continue;
      if (kind === IF_NO_SECRET_NAME && this.secretNameOpen(p, c)) continue;
      return c;
    }
    return 0;
  }

  /** True when the text before `c` ends with an AWS secret key's name and the start of its `= value` context. */
  private secretNameOpen(p: Uint8Array, c: number): boolean {
    if (!this.detector.names.includes("cloud_key")) return false;
    const from = Math.max(0, c - 256);
    const window = decodeLossless(p.subarray(from, c)).text;
    // A window of nothing but context characters may have the name further back: assume it does.
    if (from > 0 && /^[\s"'\\:=]*$/.test(window)) return true;
    return SECRET_KEY_CONTEXT_TAIL.test(window);
  }
}

const NO = 0;
const ALWAYS = 1;
const IF_NO_SECRET_NAME = 2;

// Bytes after which no detector's match can continue and whose presence no pattern's
// look-behind or look-ahead depends on: controls, and ASCII punctuation none of the patterns
// use. Whitespace, quotes, `:` `=` `\` may sit between an AWS secret key's name and its value,
// so they are safe only when no such name is open. Letters, digits and . - + _ @ % / ( ) are
// parts of values, and a space is inside card numbers, IBANs and phone numbers: it is a cut
// only when it does not follow a digit, a capital or `)`.
const CUT_TABLE = new Uint8Array(128);
for (let b = 0; b < 0x20; b++) CUT_TABLE[b] = ALWAYS;
CUT_TABLE[0x7f] = ALWAYS;
for (const c of "!#$&*,;<>?[]^`{|}~") CUT_TABLE[c.charCodeAt(0)] = ALWAYS;
for (const c of "\t\n\v\f\r\"':=\\") CUT_TABLE[c.charCodeAt(0)] = IF_NO_SECRET_NAME;

function cutAfter(p: Uint8Array, k: number): number {
  const b = p[k]!;
  if (b >= 0x80) return NO;
  if (b === 0x20) {
    const prev = k > 0 ? p[k - 1]! : 0;
    const valueChar = (prev >= 0x30 && prev <= 0x39) || (prev >= 0x41 && prev <= 0x5a) || prev === 0x29;
    return valueChar ? NO : IF_NO_SECRET_NAME;
  }
  return CUT_TABLE[b]!;
}

interface Block {
  readonly start: number;
  /** End of the END line (closed blocks). */
  readonly stop: number;
}

const BEGIN_RE = new RegExp(PRIVATE_KEY_BEGIN, "g");

/** The private key blocks in `p`: closed ones (BEGIN…END), and the first one whose END is not there yet. */
function keyBlocks(p: Uint8Array): { closed: Block[]; open: { start: number; headerEnd: number; end: Uint8Array } | null } {
  const closed: Block[] = [];
  if (indexOfBytes(p, PRIVATE_KEY) < 0) return { closed, open: null };
  // latin1: one character per byte, so indices are byte offsets (the patterns are ASCII).
  const s = latin1.decode(p);
  BEGIN_RE.lastIndex = 0;
  for (let m = BEGIN_RE.exec(s); m !== null; m = BEGIN_RE.exec(s)) {
    const endLine = `-----END ${m[1] ?? ""}PRIVATE KEY${m[2] ?? ""}-----`;
    const headerEnd = m.index + m[0].length;
    const at = s.indexOf(endLine, headerEnd);
    if (at < 0) return { closed, open: { start: m.index, headerEnd, end: new TextEncoder().encode(endLine) } };
    closed.push({ start: m.index, stop: at + endLine.length });
    BEGIN_RE.lastIndex = at + endLine.length;
  }
  return { closed, open: null };
}

const PRIVATE_KEY = new TextEncoder().encode("PRIVATE KEY");
const BEGIN_PREFIX = /(?:-----BEGIN[A-Z0-9 -]*|-{1,5}(?:B(?:E(?:G(?:I(?:N)?)?)?)?)?)$/;

/** Length of a tail of `p` that may be the start of a private key's BEGIN line (at most 100 bytes), or 0. */
function beginLinePrefix(p: Uint8Array): number {
  const tail = latin1.decode(p.subarray(Math.max(0, p.length - 100)));
  const m = BEGIN_PREFIX.exec(tail);
  return m === null || m.index === 0 && p.length > 100 ? 0 : tail.length - m.index;
}

/** A cut in a run with no safe one: keep the last KiB, at a character boundary, outside key blocks. */
function forcedCut(p: Uint8Array, closed: readonly Block[]): number {
  let c = p.length - FORCED_KEEP;
  for (const b of closed) if (c > b.start && c < b.stop) c = b.start > 0 ? b.start : b.stop;
  while (c > 0 && c < p.length && (p[c]! & 0xc0) === 0x80) c--;
  return c;
}

function indexOfBytes(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(Buffer.from(needle.buffer, needle.byteOffset, needle.length));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY;
  if (parts.length === 1) return parts[0]!;
  return Buffer.concat(parts);
}

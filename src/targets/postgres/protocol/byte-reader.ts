// Bounds-checked cursor over one message body: every read that would pass the end, every
// string without its NUL and every non-UTF-8 text throws E_PROTOCOL naming the message and field.
import { protocolError } from "./protocol-error.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly; short ASCII strings (names, tags) skip the native decoder. */
export function decodeUtf8(buf: Uint8Array, start: number, end: number, what: string): string {
  if (end - start <= 64) {
    let s = "";
    let i = start;
    for (; i < end; i++) {
      const b = buf[i]!;
      if (b >= 0x80) break;
      s += String.fromCharCode(b);
    }
    if (i === end) return s;
  }
  try {
    return utf8.decode(buf.subarray(start, end));
  } catch (cause) {
    throw protocolError("bad-encoding", `${what} is not valid UTF-8`, { cause: String(cause) });
  }
}

export class ByteReader {
  pos = 0;

  constructor(
    readonly buf: Uint8Array,
    /** The message name, for errors ("Bind", "RowDescription"). */
    readonly what: string,
  ) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.buf.length - this.pos < n) {
      throw protocolError(
        "overrun",
        `${this.what}: ${field} needs ${n} bytes but only ${this.buf.length - this.pos} remain in the message`,
        { message: this.what, field },
      );
    }
  }

  uint8(field: string): number {
    this.need(1, field);
    return this.buf[this.pos++]!;
  }

  int16(field: string): number {
    this.need(2, field);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return ((b[p]! << 24) | (b[p + 1]! << 16)) >> 16;
  }

  int32(field: string): number {
    this.need(4, field);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
  }

  /** An unsigned int32, as OIDs are. */
  uint32(field: string): number {
    return this.int32(field) >>> 0;
  }

  /** A count (int16) that must be >= 0 and whose items, at minItemSize bytes each, must fit. */
  count16(field: string, minItemSize: number): number {
    const n = this.int16(field);
    if (n < 0) throw protocolError("bad-value", `${this.what}: ${field} is negative (${n})`, { message: this.what, field });
    if (n * minItemSize > this.remaining) {
      throw protocolError(
        "overrun",
        `${this.what}: ${field} of ${n} overruns the message (${this.remaining} bytes remain)`,
        { message: this.what, field, count: n },
      );
    }
    return n;
  }

  cstring(field: string): string {
    const b = this.buf;
    const start = this.pos;
    const end = b.indexOf(0, start);
    if (end < 0) {
      throw protocolError("unterminated-string", `${this.what}: ${field} has no NUL terminator`, { message: this.what, field });
    }
    this.pos = end + 1;
    return decodeUtf8(b, start, end, `${this.what}: ${field}`);
  }

  /** n bytes as a view into the message (no copy). */
  bytes(n: number, field: string): Uint8Array {
    this.need(n, field);
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, this.pos);
  }

  /** An int32 length then that many bytes; -1 means NULL. */
  nullableBytes(field: string): Uint8Array | null {
    const n = this.int32(field);
    if (n === -1) return null;
    if (n < 0) throw protocolError("bad-value", `${this.what}: ${field} has length ${n}`, { message: this.what, field });
    return this.bytes(n, field);
  }

  /** An int16 format code: 0 (text) or 1 (binary). */
  format(field: string): 0 | 1 {
    const f = this.int16(field);
    if (f !== 0 && f !== 1) {
      throw protocolError("bad-value", `${this.what}: ${field} is ${f}, not 0 (text) or 1 (binary)`, { message: this.what, field });
    }
    return f;
  }

  rest(): Uint8Array {
    const start = this.pos;
    this.pos = this.buf.length;
    return this.buf.subarray(start);
  }

  /** Every field was read: anything left over is malformed, not ignorable. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw protocolError(
        "trailing-bytes",
        `${this.what}: ${this.buf.length - this.pos} unexpected bytes after the last field`,
        { message: this.what },
      );
    }
  }
}

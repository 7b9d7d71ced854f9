// A small growable buffer for building messages (after porsager/postgres bytes.js, but one
// per use, never shared): begin() writes the type byte and a length placeholder, finish() fills it.
import { protocolError } from "./protocol-error.ts";

const encoder = new TextEncoder();

export class ByteWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = new Uint8Array(initialSize);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  uint8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw protocolError("bad-value", `encode: byte value ${v} out of range`);
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  int16(v: number): this {
    if (!Number.isInteger(v) || v < -0x8000 || v > 0xffff) throw protocolError("bad-value", `encode: int16 value ${v} out of range`);
    this.ensure(2);
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  /** Signed or unsigned 32-bit (OIDs are unsigned); both have the same bytes. */
  int32(v: number): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) {
      throw protocolError("bad-value", `encode: int32 value ${v} out of range`);
    }
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = (v >>> 24) & 0xff;
    b[this.pos++] = (v >>> 16) & 0xff;
    b[this.pos++] = (v >>> 8) & 0xff;
    b[this.pos++] = v & 0xff;
    return this;
  }

  /** UTF-8 text and its NUL; a NUL inside would end the string early on the wire, so it is refused. */
  cstring(s: string, field = "string"): this {
    if (s.includes("\0")) throw protocolError("bad-value", `encode: ${field} contains a NUL byte`);
    this.ensure(s.length * 3 + 1);
    const { written } = encoder.encodeInto(s, this.buf.subarray(this.pos));
    this.pos += written;
    this.buf[this.pos++] = 0;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** An int32 length then the bytes; null is length -1. */
  nullableBytes(b: Uint8Array | null): this {
    if (b === null) return this.int32(-1);
    return this.int32(b.length).bytes(b);
  }

  /** An int16 count of items, which the protocol caps at 32767. */
  count16(n: number, what: string): this {
    if (n > 0x7fff) throw protocolError("bad-value", `encode: ${n} ${what} exceed the protocol's limit of 32767`);
    return this.int16(n);
  }

  /** Starts a typed message; returns where it starts, for finish(). */
  begin(type: number): number {
    const start = this.pos;
    this.uint8(type);
    this.int32(0);
    return start;
  }

  /** Writes the length of the message begun at start (the length counts itself, not the type byte). */
  finish(start: number): this {
    this.setInt32(start + 1, this.pos - start - 1);
    return this;
  }

  /** Overwrites an int32 already written (length placeholders of untyped startup packets). */
  setInt32(at: number, v: number): this {
    const b = this.buf;
    b[at] = (v >>> 24) & 0xff;
    b[at + 1] = (v >>> 16) & 0xff;
    b[at + 2] = (v >>> 8) & 0xff;
    b[at + 3] = v & 0xff;
    return this;
  }

  /** The bytes written so far; the writer must not be used afterwards. */
  done(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Runs write on a fresh writer and returns the bytes. */
export function encodeWith(write: (w: ByteWriter) => void, initialSize = 64): Uint8Array {
  const w = new ByteWriter(initialSize);
  write(w);
  return w.done();
}

/** Strings as UTF-8; bytes as they are. */
export function utf8Bytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

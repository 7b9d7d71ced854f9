// Reading and writing the SSH wire types SFTP is built from (RFC 4251 §5: uint32, uint64,
// string), over one packet body. A short read is a MalformedSftp, which callers turn into a
// status reply (a request we cannot read is refused) or a close (a reply we cannot read).

const utf8Strict = new TextDecoder("utf-8", { fatal: true });
const utf8Lenient = new TextDecoder("utf-8");
const utf8Encoder = new TextEncoder();

/** A packet body that does not hold what its type says; `reason` is for people. */
export class MalformedSftp extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "MalformedSftp";
  }
}

export class SftpReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n) throw new MalformedSftp(`${what} runs past the end of the packet`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++] as number;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A string's bytes as a view of the packet (no copy). */
  bytesString(what: string): Uint8Array {
    const n = this.u32(`length of ${what}`);
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /**
   * A file name the server will use: sftp-server reads names as C strings and dies on an
   * embedded NUL, and policy matches text, so a name that is not clean UTF-8 is refused
   * rather than guessed at (two byte strings must never map to one policy path).
   */
  path(what: string): string {
    const raw = this.bytesString(what);
    if (raw.includes(0)) throw new MalformedSftp(`${what} contains a NUL byte`);
    try {
      return utf8Strict.decode(raw);
    } catch {
      throw new MalformedSftp(`${what} is not valid UTF-8`);
    }
  }

  /** Text that is only shown (status messages, long names): invalid bytes become U+FFFD. */
  text(what: string): string {
    return utf8Lenient.decode(this.bytesString(what));
  }

  /** The rest of the packet, as a view. */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos);
    this.pos = this.bytes.length;
    return out;
  }

  end(what: string): void {
    if (this.remaining !== 0) throw new MalformedSftp(`${this.remaining} unexpected bytes after ${what}`);
  }
}

/** Builds one packet: the body is written after a 4-byte length that finish() fills in. */
export class SftpWriter {
  private buf = new Uint8Array(64);
  private view = new DataView(this.buf.buffer);
  private pos = 4;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
    return this;
  }

  u64(v: bigint): this {
    this.room(8);
    this.view.setBigUint64(this.pos, v);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.u32(b.length);
    return this.raw(b);
  }

  string(s: string): this {
    return this.bytes(utf8Encoder.encode(s));
  }

  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** The whole packet, length prefix included. */
  finish(): Uint8Array {
    this.view.setUint32(0, this.pos - 4);
    return this.buf.slice(0, this.pos);
  }
}

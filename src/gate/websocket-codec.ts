// RFC 6455 framing as a pure, per-connection codec: what a relay needs to read and write
// WebSocket frames on raw sockets (the Kubernetes target relays exec, attach and port-forward
// between two of them). The decoder takes bytes as they come and returns whole messages
// (fragments joined) and control frames; malformed frames throw a WebSocketProtocolError with
// the close code the peer should get. Frame and message sizes are bounded.
import { createHash, randomBytes } from "node:crypto";

/** Opcodes (RFC 6455 §5.2). */
export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** Close codes (RFC 6455 §7.4.1) the relay sends. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  invalidData: 1007,
  policyViolation: 1008,
  tooBig: 1009,
  internalError: 1011,
} as const;

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export class WebSocketProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export type WebSocketEvent =
  | { readonly type: "message"; readonly opcode: typeof OPCODE.text | typeof OPCODE.binary; readonly data: Uint8Array }
  | { readonly type: "ping" | "pong"; readonly data: Uint8Array }
  | { readonly type: "close"; readonly code: number; readonly reason: string };

export interface DecoderOptions {
  /** Frames from a client must be masked, frames from a server must not (RFC 6455 §5.1). */
  readonly masked: boolean;
  /** Largest message (fragments together). */
  readonly maxMessage: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads frames from one direction of one connection. */
export class WebSocketDecoder {
  private buf: Uint8Array = new Uint8Array(0);
  private fragments: Uint8Array[] = [];
  private fragmentBytes = 0;
  private fragmentOpcode = 0;
  private closed = false;

  constructor(private readonly opts: DecoderOptions) {}

  /** The events these bytes complete. Throws WebSocketProtocolError on a malformed frame. */
  push(chunk: Uint8Array): WebSocketEvent[] {
    if (this.closed) return [];
    this.buf = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
    const out: WebSocketEvent[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      const b0 = b[0]!;
      const b1 = b[1]!;
      const fin = (b0 & 0x80) !== 0;
      if ((b0 & 0x70) !== 0) throw new WebSocketProtocolError(CLOSE.protocolError, "reserved bits set (no extension was negotiated)");
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      if (masked !== this.opts.masked) throw new WebSocketProtocolError(CLOSE.protocolError, this.opts.masked ? "client frames must be masked" : "server frames must not be masked");
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = (b[2]! << 8) | b[3]!;
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        const hi = ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0;
        const lo = ((b[6]! << 24) | (b[7]! << 16) | (b[8]! << 8) | b[9]!) >>> 0;
        if (hi & 0x80000000) throw new WebSocketProtocolError(CLOSE.protocolError, "frame length has its top bit set");
        const n = hi * 0x100000000 + lo;
        if (n > this.opts.maxMessage) throw new WebSocketProtocolError(CLOSE.tooBig, `frame of ${n} bytes is larger than ${this.opts.maxMessage}`);
        len = n;
        off = 10;
      }
      const control = (opcode & 0x8) !== 0;
      if (control && (!fin || len > 125)) throw new WebSocketProtocolError(CLOSE.protocolError, "control frames must be whole and at most 125 bytes");
      if (!control && len > this.opts.maxMessage) throw new WebSocketProtocolError(CLOSE.tooBig, `frame of ${len} bytes is larger than ${this.opts.maxMessage}`);
      const maskOff = off;
      if (masked) off += 4;
      if (b.length < off + len) break;
      const payload = b.slice(off, off + len);
      if (masked) unmask(payload, b, maskOff);
      this.buf = b.subarray(off + len);
      const ev = this.frame(fin, opcode, payload);
      if (ev !== null) out.push(ev);
      if (this.closed) break;
    }
    // Keep no reference to the caller's chunk beyond what is still unread.
    if (this.buf.length > 0 && this.buf.byteOffset !== 0) this.buf = this.buf.slice();
    return out;
  }

  private frame(fin: boolean, opcode: number, payload: Uint8Array): WebSocketEvent | null {
    switch (opcode) {
      case OPCODE.close: {
        this.closed = true;
        if (payload.length === 1) throw new WebSocketProtocolError(CLOSE.protocolError, "close frame with a 1-byte payload");
        const code = payload.length >= 2 ? (payload[0]! << 8) | payload[1]! : CLOSE.noStatus;
        if (payload.length >= 2 && !validCloseCode(code)) throw new WebSocketProtocolError(CLOSE.protocolError, `invalid close code ${code}`);
        let reason = "";
        try {
          reason = utf8.decode(payload.subarray(2));
        } catch {
          throw new WebSocketProtocolError(CLOSE.invalidData, "close reason is not UTF-8");
        }
        return { type: "close", code, reason };
      }
      case OPCODE.ping:
        return { type: "ping", data: payload };
      case OPCODE.pong:
        return { type: "pong", data: payload };
      case OPCODE.text:
      case OPCODE.binary:
        if (this.fragments.length > 0) throw new WebSocketProtocolError(CLOSE.protocolError, "a new message began inside a fragmented one");
        if (fin) return this.message(opcode, payload);
        this.fragmentOpcode = opcode;
        this.fragments.push(payload);
        this.fragmentBytes = payload.length;
        return null;
      case OPCODE.continuation: {
        if (this.fragments.length === 0) throw new WebSocketProtocolError(CLOSE.protocolError, "a continuation frame with no message to continue");
        this.fragmentBytes += payload.length;
        if (this.fragmentBytes > this.opts.maxMessage) throw new WebSocketProtocolError(CLOSE.tooBig, `message larger than ${this.opts.maxMessage} bytes`);
        this.fragments.push(payload);
        if (!fin) return null;
        const whole = concatAll(this.fragments, this.fragmentBytes);
        this.fragments = [];
        this.fragmentBytes = 0;
        return this.message(this.fragmentOpcode, whole);
      }
      default:
        throw new WebSocketProtocolError(CLOSE.protocolError, `unknown opcode ${opcode}`);
    }
  }

  private message(opcode: number, data: Uint8Array): WebSocketEvent {
    if (opcode === OPCODE.text) {
      try {
        utf8.decode(data);
      } catch {
        throw new WebSocketProtocolError(CLOSE.invalidData, "text message is not UTF-8");
      }
    }
    return { type: "message", opcode: opcode as typeof OPCODE.text | typeof OPCODE.binary, data };
  }
}

function validCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

function unmask(payload: Uint8Array, b: Uint8Array, maskOff: number): void {
  const m0 = b[maskOff]!;
  const m1 = b[maskOff + 1]!;
  const m2 = b[maskOff + 2]!;
  const m3 = b[maskOff + 3]!;
  const n = payload.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    payload[i]! ^= m0;
    payload[i + 1]! ^= m1;
    payload[i + 2]! ^= m2;
    payload[i + 3]! ^= m3;
  }
  for (; i < n; i++) payload[i]! ^= b[maskOff + (i & 3)]!;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function concatAll(parts: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** One whole frame; `mask` for frames a client sends (a fresh random key each). */
export function encodeFrame(opcode: number, payload: Uint8Array, mask: boolean, fin = true): Uint8Array {
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const head = 2 + lenBytes + (mask ? 4 : 0);
  const out = new Uint8Array(head + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (n < 126 ? n : n < 65536 ? 126 : 127);
  if (lenBytes === 2) {
    out[2] = n >> 8;
    out[3] = n & 0xff;
  } else if (lenBytes === 8) {
    const hi = Math.floor(n / 0x100000000);
    const lo = n >>> 0;
    out[2] = hi >>> 24;
    out[3] = (hi >>> 16) & 0xff;
    out[4] = (hi >>> 8) & 0xff;
    out[5] = hi & 0xff;
    out[6] = lo >>> 24;
    out[7] = (lo >>> 16) & 0xff;
    out[8] = (lo >>> 8) & 0xff;
    out[9] = lo & 0xff;
  }
  out.set(payload, head);
  if (mask) {
    const key = randomBytes(4);
    out.set(key, head - 4);
    unmask(out.subarray(head), out, head - 4);
  }
  return out;
}

/** A close frame's payload: the code, then a reason cut to fit 125 bytes (on a character boundary). */
export function closePayload(code: number, reason: string): Uint8Array {
  let r = new TextEncoder().encode(reason);
  if (r.length > 123) {
    let cut = 123;
    while (cut > 0 && (r[cut]! & 0xc0) === 0x80) cut--;
    r = r.subarray(0, cut);
  }
  const out = new Uint8Array(2 + r.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + GUID).digest("base64");
}

/** A fresh Sec-WebSocket-Key. */
export function newKey(): string {
  return randomBytes(16).toString("base64");
}

/** The subprotocols a Sec-WebSocket-Protocol header offers, in order. */
export function offeredProtocols(header: string | null): string[] {
  return (header ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

// The server end of a SPDY/3 session (the framing moby/spdystream speaks; no flow control, as
// there), carried in WebSocket binary messages: kubectl 1.30+ port-forward tunnels SPDY through a
// WebSocket with subprotocol "SPDY/3.1+portforward.k8s.io" (client-go tools/portforward
// tunneling_dialer.go). Messages are a byte stream to it: frames may split or share messages.
// Header blocks are zlib with the SPDY/3 dictionary, one compression context per direction.
import zlib from "node:zlib";
// The dictionary is a protocol constant (its sha-256 is checked in the gateway's unit test), so the
// stand-in shares the gateway's copy; the framing around it is written independently.
import { SPDY3_DICTIONARY } from "../../../src/targets/kubernetes/spdy-dictionary.ts";

export const FRAME = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

const FLAG_FIN = 0x01;
const MAX_DATA = 32 * 1024;

export class SpdyStream {
  /** The remote end sent FIN (or the stream was reset). */
  remoteClosed = false;
  localClosed = false;
  onData: (data: Uint8Array) => void = () => {};
  onRemoteClose: () => void = () => {};
  onReset: () => void = () => {};

  constructor(
    readonly id: number,
    readonly headers: ReadonlyMap<string, string>,
    private readonly session: SpdySession,
  ) {}

  write(data: Uint8Array): void {
    if (this.localClosed) return;
    for (let off = 0; off < data.length; off += MAX_DATA) this.session.sendData(this.id, data.subarray(off, off + MAX_DATA), false);
  }

  /** Half-closes our side (an empty DATA frame with FIN). */
  close(): void {
    if (this.localClosed) return;
    this.localClosed = true;
    this.session.sendData(this.id, new Uint8Array(0), true);
  }
}

function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

/** Encodes a name/value header block (uncompressed). */
function headerBlock(headers: [string, string][]): Uint8Array {
  const enc = new TextEncoder();
  const parts: number[] = [...u32(headers.length)];
  for (const [k, v] of headers) {
    const kb = enc.encode(k.toLowerCase());
    const vb = enc.encode(v);
    parts.push(...u32(kb.length), ...kb, ...u32(vb.length), ...vb);
  }
  return new Uint8Array(parts);
}

function parseHeaderBlock(b: Uint8Array): Map<string, string> {
  const dec = new TextDecoder();
  const out = new Map<string, string>();
  let off = 4;
  const n = readU32(b, 0);
  for (let i = 0; i < n; i++) {
    const kl = readU32(b, off);
    const k = dec.decode(b.subarray(off + 4, off + 4 + kl));
    off += 4 + kl;
    const vl = readU32(b, off);
    const v = dec.decode(b.subarray(off + 4, off + 4 + vl));
    off += 4 + vl;
    out.set(k.toLowerCase(), v);
  }
  return out;
}

/** Runs `block` through a zlib stream with SYNC_FLUSH, keeping the stream's context for the next. */
function zlibBlock(stream: zlib.Inflate | zlib.Deflate, block: Uint8Array): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const onData = (d: Buffer) => out.push(d);
    const onError = (e: Error) => {
      stream.off("data", onData);
      reject(e);
    };
    stream.on("data", onData);
    stream.once("error", onError);
    stream.write(block);
    stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      stream.off("data", onData);
      stream.off("error", onError);
      resolve(new Uint8Array(Buffer.concat(out)));
    });
  });
}

export interface SpdySessionOptions {
  /** Sends one chunk of bytes to the peer (one WebSocket binary message). */
  readonly send: (bytes: Uint8Array) => void;
  /** A new stream the peer opened (its SYN_REPLY is sent before any data of ours). */
  readonly onStream: (stream: SpdyStream) => void;
  /** A protocol error: the session is unusable. */
  readonly onError: (message: string) => void;
}

export class SpdySession {
  private buffer = new Uint8Array(0);
  private readonly streams = new Map<number, SpdyStream>();
  private readonly inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  private readonly deflate = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  // Incoming frames and outgoing frames each go in order through one promise chain, because
  // header (de)compression is asynchronous and its context is shared by all frames.
  private inQueue: Promise<void> = Promise.resolve();
  private outQueue: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: SpdySessionOptions) {}

  /** Bytes from the peer (a WebSocket message). */
  receive(bytes: Uint8Array): void {
    const merged = new Uint8Array(this.buffer.length + bytes.length);
    merged.set(this.buffer);
    merged.set(bytes, this.buffer.length);
    this.buffer = merged;
    for (;;) {
      if (this.buffer.length < 8) return;
      const len = (this.buffer[5]! << 16) | (this.buffer[6]! << 8) | this.buffer[7]!;
      if (this.buffer.length < 8 + len) return;
      const frame = this.buffer.slice(0, 8 + len);
      this.buffer = this.buffer.slice(8 + len);
      this.inQueue = this.inQueue.then(() => this.handle(frame)).catch((e) => this.fail(e instanceof Error ? e.message : String(e)));
    }
  }

  private fail(message: string): void {
    if (this.closed) return;
    this.close();
    this.opts.onError(message);
  }

  private async handle(f: Uint8Array): Promise<void> {
    if (this.closed) return;
    const flags = f[4]!;
    const payload = f.subarray(8);
    if ((f[0]! & 0x80) === 0) {
      const id = readU32(f, 0) & 0x7fffffff;
      const s = this.streams.get(id);
      if (!s) return;
      if (payload.length) s.onData(payload);
      if (flags & FLAG_FIN) this.remoteFin(s);
      return;
    }
    const version = ((f[0]! & 0x7f) << 8) | f[1]!;
    if (version !== 3) throw new Error(`unsupported SPDY version ${version}`);
    const type = (f[2]! << 8) | f[3]!;
    switch (type) {
      case FRAME.SYN_STREAM: {
        const id = readU32(payload, 0) & 0x7fffffff;
        const headers = parseHeaderBlock(await zlibBlock(this.inflate, payload.subarray(10)));
        const s = new SpdyStream(id, headers, this);
        this.streams.set(id, s);
        this.sendControl(FRAME.SYN_REPLY, 0, async () => new Uint8Array([...u32(id), ...(await zlibBlock(this.deflate, headerBlock([])))]));
        this.opts.onStream(s);
        if (flags & FLAG_FIN) this.remoteFin(s);
        break;
      }
      case FRAME.HEADERS:
      case FRAME.SYN_REPLY:
        // Decompressed only to keep the shared zlib context in step.
        await zlibBlock(this.inflate, payload.subarray(4));
        break;
      case FRAME.RST_STREAM: {
        const s = this.streams.get(readU32(payload, 0) & 0x7fffffff);
        if (s) {
          s.remoteClosed = true;
          s.localClosed = true;
          this.streams.delete(s.id);
          s.onReset();
        }
        break;
      }
      case FRAME.PING:
        this.sendControl(FRAME.PING, 0, async () => payload.slice(0, 4));
        break;
      case FRAME.GOAWAY:
        this.close();
        break;
      default:
        break; // SETTINGS, WINDOW_UPDATE: spdystream keeps no flow-control windows
    }
  }

  private remoteFin(s: SpdyStream): void {
    s.remoteClosed = true;
    s.onRemoteClose();
    if (s.localClosed) this.streams.delete(s.id);
  }

  private enqueue(build: () => Promise<Uint8Array> | Uint8Array): void {
    this.outQueue = this.outQueue
      .then(async () => {
        const bytes = await build();
        if (!this.closed) this.opts.send(bytes);
      })
      .catch((e) => this.fail(e instanceof Error ? e.message : String(e)));
  }

  private sendControl(type: number, flags: number, payload: () => Promise<Uint8Array>): void {
    this.enqueue(async () => {
      const p = await payload();
      return new Uint8Array([0x80, 0x03, (type >> 8) & 0xff, type & 0xff, flags, (p.length >> 16) & 0xff, (p.length >> 8) & 0xff, p.length & 0xff, ...p]);
    });
  }

  sendData(id: number, data: Uint8Array, fin: boolean): void {
    const copy = data.slice();
    this.enqueue(() => {
      const frame = new Uint8Array(8 + copy.length);
      frame.set(u32(id & 0x7fffffff), 0);
      frame[4] = fin ? FLAG_FIN : 0;
      frame[5] = (copy.length >> 16) & 0xff;
      frame[6] = (copy.length >> 8) & 0xff;
      frame[7] = copy.length & 0xff;
      frame.set(copy, 8);
      return frame;
    });
    if (fin) {
      const s = this.streams.get(id);
      if (s?.remoteClosed) this.streams.delete(id);
    }
  }

  /** Resets a stream (RST_STREAM, status CANCEL). */
  reset(id: number): void {
    this.sendControl(FRAME.RST_STREAM, 0, async () => new Uint8Array([...u32(id), ...u32(5)]));
    this.streams.delete(id);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams.values()) {
      s.remoteClosed = true;
      s.onReset();
    }
    this.streams.clear();
    this.inflate.close();
    this.deflate.close();
  }
}

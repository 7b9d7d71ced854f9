// port-forward as kubectl 1.30+ sends it: SPDY/3 frames tunnelled in WebSocket binary messages
// (subprotocol "SPDY/3.1+portforward.k8s.io"; frames may split or share messages). The relay
// reads the caller's frames: each new stream (SYN_STREAM) names its port in a header. When the
// request named ports (ports=, as the channel protocol and other clients send it), a stream to
// any other port gets reset (RST_STREAM REFUSED_STREAM) and never reaches the API server.
// kubectl 1.32's SPDY tunnel sends no ports= at all: the decision was then for the pod's
// port-forward as a whole, as RBAC's pods/portforward is, and each port used is audited. Header blocks are zlib with the
// SPDY dictionary and one compression context per direction, so the gateway inflates the
// caller's and writes its own towards the API server (stored deflate blocks: no compressor
// state to keep in step). The API server's frames pass unchanged, cut at frame boundaries so
// a reset can be put between two of them. Data bytes are counted per port.
import zlib from "node:zlib";
import { OPCODE } from "../../gate/websocket-codec.ts";
import { SPDY3_DICTIONARY } from "./spdy-dictionary.ts";
import type { RelayEnd, RelaySession, WebSocketRelay } from "./websocket-relay.ts";

export const PORTFORWARD_SPDY_PROTOCOL = "SPDY/3.1+portforward.k8s.io";

/** Control frame types (SPDY/3 §2.6). */
export const SPDY_FRAME = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/** RST_STREAM status codes (SPDY/3 §2.4.2). */
export const RST_STATUS = { PROTOCOL_ERROR: 1, REFUSED_STREAM: 3 } as const;

/** Largest SPDY frame accepted (kubectl's data frames are at most 32 KiB). */
const MAX_FRAME = 1024 * 1024;
/** Caller bytes waiting for header inflation before the caller is not read. */
const MAX_PENDING = 1024 * 1024;

export interface PortForwardSummary {
  /** Per port: streams opened and data bytes each way. */
  readonly ports: Record<string, { streams: number; bytes_in: number; bytes_out: number }>;
  /** Streams reset because their port was not decided, by port. */
  readonly refused: Record<string, number>;
  readonly error?: string;
}

/** Cuts a byte stream into whole SPDY frames. */
export class SpdyFrameSplitter {
  private buf: Uint8Array = new Uint8Array(0);

  /** Whole frames these bytes complete. Throws on a frame over MAX_FRAME. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.buf = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
    const out: Uint8Array[] = [];
    let off = 0;
    while (this.buf.length - off >= 8) {
      const len = (this.buf[off + 5]! << 16) | (this.buf[off + 6]! << 8) | this.buf[off + 7]!;
      if (len > MAX_FRAME) throw new Error(`a SPDY frame of ${len} bytes (at most ${MAX_FRAME})`);
      if (this.buf.length - off < 8 + len) break;
      out.push(this.buf.slice(off, off + 8 + len));
      off += 8 + len;
    }
    this.buf = off === 0 ? this.buf : this.buf.slice(off);
    return out;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function u32(out: Uint8Array, off: number, n: number): void {
  out[off] = (n >>> 24) & 0xff;
  out[off + 1] = (n >>> 16) & 0xff;
  out[off + 2] = (n >>> 8) & 0xff;
  out[off + 3] = n & 0xff;
}

/** A control frame: version 3, `type`, `flags`, `payload`. */
export function controlFrame(type: number, flags: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  out[0] = 0x80;
  out[1] = 3;
  out[2] = type >> 8;
  out[3] = type & 0xff;
  out[4] = flags;
  out[5] = (payload.length >> 16) & 0xff;
  out[6] = (payload.length >> 8) & 0xff;
  out[7] = payload.length & 0xff;
  out.set(payload, 8);
  return out;
}

export function rstStream(id: number, status: number): Uint8Array {
  const p = new Uint8Array(8);
  u32(p, 0, id & 0x7fffffff);
  u32(p, 4, status);
  return controlFrame(SPDY_FRAME.RST_STREAM, 0, p);
}

/** Reads an uncompressed name/value block. Throws on a malformed one. */
export function parseHeaderBlock(b: Uint8Array): Map<string, string> {
  const dec = new TextDecoder();
  const out = new Map<string, string>();
  if (b.length < 4) throw new Error("a header block shorter than its count");
  const n = readU32(b, 0);
  let off = 4;
  for (let i = 0; i < n; i++) {
    if (off + 4 > b.length) throw new Error("a header block cut short");
    const kl = readU32(b, off);
    if (off + 4 + kl + 4 > b.length) throw new Error("a header block cut short");
    const k = dec.decode(b.subarray(off + 4, off + 4 + kl));
    off += 4 + kl;
    const vl = readU32(b, off);
    if (off + 4 + vl > b.length) throw new Error("a header block cut short");
    const v = dec.decode(b.subarray(off + 4, off + 4 + vl));
    off += 4 + vl;
    // A repeated name is refused: the gateway and the API server must read the same port.
    if (out.has(k.toLowerCase())) throw new Error(`the header ${JSON.stringify(k)} appears twice`);
    out.set(k.toLowerCase(), v);
  }
  return out;
}

function adler32(b: Uint8Array): number {
  let a = 1;
  let s = 0;
  for (let i = 0; i < b.length; i++) {
    a = (a + b[i]!) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/**
 * One direction's zlib stream of header blocks written with stored (uncompressed) deflate
 * blocks: the first block carries the zlib header naming the dictionary (FDICT), as the
 * receiver's inflater expects; every block ends byte-aligned, so each header block can be read
 * on its own, as a sync flush would leave it.
 */
export class StoredZlibWriter {
  private started = false;

  block(data: Uint8Array): Uint8Array {
    const parts: number[] = [];
    if (!this.started) {
      this.started = true;
      const cmf = 0x78;
      let flg = 0x20; // FDICT, FLEVEL 0
      flg += 31 - ((cmf * 256 + flg) % 31);
      const dictId = adler32(SPDY3_DICTIONARY);
      parts.push(cmf, flg, (dictId >>> 24) & 0xff, (dictId >>> 16) & 0xff, (dictId >>> 8) & 0xff, dictId & 0xff);
    }
    const head = Uint8Array.from(parts);
    const chunks: Uint8Array[] = [head];
    for (let off = 0; off < data.length || off === 0; off += 65535) {
      const piece = data.subarray(off, off + 65535);
      const h = new Uint8Array(5);
      h[0] = 0x00; // BFINAL 0, BTYPE 00 (stored), padded to the byte
      h[1] = piece.length & 0xff;
      h[2] = piece.length >> 8;
      h[3] = ~piece.length & 0xff;
      h[4] = (~piece.length >> 8) & 0xff;
      chunks.push(h, piece);
      if (data.length === 0) break;
    }
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

function inflateBlock(stream: zlib.Inflate, block: Uint8Array): Promise<Uint8Array> {
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

export interface PortForwardOptions {
  /** The ports the decision covered (the request's ports= query); null: the request named none. */
  readonly ports: ReadonlySet<number> | null;
  readonly ended: (end: RelayEnd, summary: PortForwardSummary) => void;
}

/** The relay session of one port-forward over SPDY-in-WebSocket. */
export function portForwardSpdy(opts: PortForwardOptions): RelaySession {
  const fromCaller = new SpdyFrameSplitter();
  const fromUpstream = new SpdyFrameSplitter();
  const inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  inflate.on("error", () => undefined);
  const deflate = new StoredZlibWriter();
  const portOf = new Map<number, number>();
  const refusedStreams = new Set<number>();
  const ports: Record<string, { streams: number; bytes_in: number; bytes_out: number }> = {};
  const refused: Record<string, number> = {};
  let error: string | undefined;
  // The caller's frames go through one chain: inflating a header block is asynchronous and
  // its context is shared by every block after it.
  let chain: Promise<void> = Promise.resolve();
  let pending = 0;
  let paused = false;

  const stat = (port: number) => (ports[String(port)] ??= { streams: 0, bytes_in: 0, bytes_out: 0 });
  const fail = (relay: WebSocketRelay, why: string) => {
    error ??= why;
    relay.shutdown(1002, `gatehouse: port-forward refused: ${why}`);
  };

  const headerBlockAt = (type: number): number => (type === SPDY_FRAME.SYN_STREAM ? 10 : 4);

  async function handle(frame: Uint8Array, relay: WebSocketRelay): Promise<void> {
    if ((frame[0]! & 0x80) === 0) {
      const id = readU32(frame, 0) & 0x7fffffff;
      if (refusedStreams.has(id)) return;
      const port = portOf.get(id);
      if (port === undefined) return fail(relay, `data on stream ${id}, which was never opened`);
      stat(port).bytes_in += frame.length - 8;
      relay.toUpstream(OPCODE.binary, frame);
      return;
    }
    const version = ((frame[0]! & 0x7f) << 8) | frame[1]!;
    if (version !== 3) return fail(relay, `SPDY version ${version} (only 3 is relayed)`);
    const type = (frame[2]! << 8) | frame[3]!;
    const flags = frame[4]!;
    const payload = frame.subarray(8);
    switch (type) {
      case SPDY_FRAME.SYN_STREAM:
      case SPDY_FRAME.SYN_REPLY:
      case SPDY_FRAME.HEADERS: {
        const at = headerBlockAt(type);
        if (payload.length < at) return fail(relay, "a header frame cut short");
        const id = readU32(payload, 0) & 0x7fffffff;
        let headers: Map<string, string>;
        let raw: Uint8Array;
        try {
          raw = await inflateBlock(inflate, payload.subarray(at));
          headers = parseHeaderBlock(raw);
        } catch (e) {
          return fail(relay, `a header block the gateway cannot read: ${e instanceof Error ? e.message : String(e)}`);
        }
        if (type === SPDY_FRAME.SYN_STREAM) {
          const port = Number(headers.get("port"));
          if (!Number.isInteger(port) || (opts.ports !== null && !opts.ports.has(port))) {
            refusedStreams.add(id);
            const key = headers.get("port") ?? "(none)";
            refused[key] = (refused[key] ?? 0) + 1;
            relay.toCaller(OPCODE.binary, rstStream(id, RST_STATUS.REFUSED_STREAM));
            return;
          }
          if (portOf.has(id)) return fail(relay, `stream ${id} opened twice`);
          portOf.set(id, port);
          stat(port).streams++;
        } else if (refusedStreams.has(id)) return;
        else if (!portOf.has(id)) return fail(relay, `headers for stream ${id}, which was never opened`);
        const block = deflate.block(raw);
        const out = new Uint8Array(at + block.length);
        out.set(payload.subarray(0, at));
        out.set(block, at);
        relay.toUpstream(OPCODE.binary, controlFrame(type, flags, out));
        return;
      }
      case SPDY_FRAME.RST_STREAM: {
        if (payload.length >= 4 && refusedStreams.has(readU32(payload, 0) & 0x7fffffff)) return;
        relay.toUpstream(OPCODE.binary, frame);
        return;
      }
      default:
        // PING, SETTINGS, GOAWAY, WINDOW_UPDATE: no headers, no data.
        relay.toUpstream(OPCODE.binary, frame);
    }
  }

  return {
    fromCaller(opcode, data, relay) {
      if (opcode !== OPCODE.binary) return fail(relay, "a text message in a SPDY tunnel");
      let frames: Uint8Array[];
      try {
        frames = fromCaller.push(data);
      } catch (e) {
        return fail(relay, e instanceof Error ? e.message : String(e));
      }
      for (const f of frames) {
        pending += f.length;
        chain = chain.then(() => handle(f, relay)).finally(() => {
          pending -= f.length;
          if (paused && pending < MAX_PENDING / 2) {
            paused = false;
            relay.resumeCaller();
          }
        });
      }
      if (pending > MAX_PENDING && !paused) {
        paused = true;
        relay.pauseCaller();
      }
    },
    fromUpstream(opcode, data, relay) {
      if (opcode !== OPCODE.binary) return fail(relay, "the API server sent a text message in a SPDY tunnel");
      let frames: Uint8Array[];
      try {
        frames = fromUpstream.push(data);
      } catch (e) {
        return fail(relay, `from the API server: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (frames.length === 0) return;
      for (const f of frames) {
        if ((f[0]! & 0x80) === 0) {
          const port = portOf.get(readU32(f, 0) & 0x7fffffff);
          if (port !== undefined) stat(port).bytes_out += f.length - 8;
        }
      }
      relay.toCaller(OPCODE.binary, frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    },
    ended(end) {
      // Frames still being inflated finish first (closing the inflater under them would leave
      // the chain, and so the request record, waiting forever).
      void chain.finally(() => {
        inflate.close();
        opts.ended(end, { ports, refused, ...(error !== undefined ? { error } : {}) });
      });
    },
  };
}

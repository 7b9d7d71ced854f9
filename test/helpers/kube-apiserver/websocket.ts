// The server side of RFC 6455 on a raw socket (node:https 'upgrade'): handshake, masked client
// frames (fragmented or not), ping/pong and the close handshake. Hand-rolled because Bun.serve,
// which has WebSockets built in, cannot send response headers before the first body byte, and a
// watch or a log follow must answer its headers at once as the API server does (client-go waits
// for them); so the server runs on node:https, which has no WebSocket server of its own.
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const MAX_MESSAGE = 64 * 1024 * 1024;

export const OPCODE = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** What exec, attach and port-forward sessions need of a WebSocket. */
export interface WsConn {
  sendBinary(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** Undefined when the socket takes more now; else settles once it has drained (or closed). */
  drained(): Promise<void> | undefined;
}

export interface WsHandlers {
  message(m: string | Uint8Array): void;
  close(): void;
}

/** The 101 answer to a WebSocket upgrade request. */
export function handshakeResponse(key: string, protocol: string | undefined): string {
  const accept = createHash("sha1").update(key + GUID).digest("base64");
  const lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${accept}`];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  return lines.join("\r\n") + "\r\n\r\n";
}

function frame(opcode: number, payload: Uint8Array): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}

/** Runs the WebSocket protocol on `socket` (already answered with 101); `head` is data read past the request. */
export function serveWebSocket(socket: Duplex, head: Buffer, handlers: WsHandlers): WsConn {
  let buf: Buffer = Buffer.alloc(0);
  let fragments: Buffer[] = [];
  let fragOpcode = 0;
  let closed = false;
  let closedNotified = false;
  // Set when socket.write said its buffer is full: the sender should wait for 'drain'.
  let needDrain = false;
  socket.on("drain", () => (needDrain = false));
  const notifyClose = () => {
    if (closedNotified) return;
    closedNotified = true;
    handlers.close();
  };
  const conn: WsConn = {
    sendBinary(data) {
      if (!closed && !socket.write(frame(OPCODE.binary, data))) needDrain = true;
    },
    drained() {
      if (closed || !needDrain) return undefined;
      return new Promise<void>((resolve) => {
        const done = () => {
          socket.off("drain", done);
          socket.off("close", done);
          resolve();
        };
        socket.on("drain", done);
        socket.on("close", done);
      });
    },
    close(code = 1000, reason = "") {
      if (closed) return;
      closed = true;
      const r = Buffer.from(reason).subarray(0, 123);
      const p = Buffer.alloc(2 + r.length);
      p.writeUInt16BE(code, 0);
      r.copy(p, 2);
      socket.write(frame(OPCODE.close, p));
      socket.end();
    },
  };
  const fail = (code: number, reason: string) => {
    conn.close(code, reason);
    notifyClose();
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (buf.length < 2) return;
      const b0 = buf[0]!;
      const b1 = buf[1]!;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      const masked = (b1 & 0x80) !== 0;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        const big = buf.readBigUInt64BE(2);
        if (big > BigInt(MAX_MESSAGE)) return fail(1009, "message too big");
        len = Number(big);
        off = 10;
      }
      if (!masked) return fail(1002, "client frames must be masked");
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      buf = buf.subarray(off + 4 + len);
      if (opcode === OPCODE.close) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1000;
        conn.close(code === 1005 || code < 1000 ? 1000 : code, "");
        notifyClose();
        return;
      }
      if (opcode === OPCODE.ping) {
        if (!closed) socket.write(frame(OPCODE.pong, payload));
        continue;
      }
      if (opcode === OPCODE.pong) continue;
      if (opcode === OPCODE.text || opcode === OPCODE.binary) {
        if (fragments.length) return fail(1002, "new message inside a fragmented one");
        fragOpcode = opcode;
      } else if (opcode !== OPCODE.continuation || fragments.length === 0) return fail(1002, `unexpected opcode ${opcode}`);
      fragments.push(payload);
      if (fragments.reduce((n, f) => n + f.length, 0) > MAX_MESSAGE) return fail(1009, "message too big");
      if (!fin) continue;
      const msg = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      fragments = [];
      if (fragOpcode === OPCODE.text) handlers.message(msg.toString("utf8"));
      else handlers.message(new Uint8Array(msg.buffer, msg.byteOffset, msg.length));
    }
  };
  socket.on("data", onData);
  socket.on("close", () => {
    closed = true;
    notifyClose();
  });
  socket.on("error", () => {
    closed = true;
    notifyClose();
  });
  if (head.length) queueMicrotask(() => onData(head));
  return conn;
}

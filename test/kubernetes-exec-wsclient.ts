// A bare WebSocket client for the Kubernetes e2e tests, on a raw TLS socket: it can offer any
// subprotocol (Bun's WebSocket refuses "SPDY/3.1+portforward.k8s.io", which has a slash), send
// bytes that are not frames at all, and stop reading. Frames are read with the gateway's codec,
// which has its own unit tests against RFC 6455.
import { connect, type TLSSocket } from "node:tls";
import { OPCODE, WebSocketDecoder, closePayload, encodeFrame, newKey } from "../src/gate/websocket-codec.ts";

export interface RawWebSocket {
  readonly socket: TLSSocket;
  readonly status: number;
  readonly head: string;
  readonly protocol: string;
  /** Data messages received (unless counting only). */
  readonly messages: { opcode: number; data: Uint8Array }[];
  /** Close frames received. */
  readonly closes: { code: number; reason: string }[];
  /** Payload bytes received per channel (first byte of each binary message). */
  readonly channelBytes: Map<number, number>;
  /** The socket closed. */
  readonly ended: Promise<void>;
  send(opcode: number, data: Uint8Array): void;
  close(code?: number): void;
}

export async function openRawWebSocket(opts: { port: number; path: string; token: string; protocols: string[]; keepMessages?: (channel: number) => boolean }): Promise<RawWebSocket> {
  const socket = connect({ host: "127.0.0.1", port: opts.port, rejectUnauthorized: false });
  socket.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  socket.write(
    [`GET ${opts.path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", `Sec-WebSocket-Key: ${newKey()}`, `Sec-WebSocket-Protocol: ${opts.protocols.join(", ")}`, `Authorization: Bearer ${opts.token}`, "", ""].join("\r\n"),
  );
  let buf = Buffer.alloc(0);
  const headEnd = await new Promise<number>((resolve, reject) => {
    const onData = (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      const i = buf.indexOf("\r\n\r\n");
      if (i >= 0) {
        socket.off("data", onData);
        socket.pause();
        resolve(i + 4);
      }
    };
    socket.on("data", onData);
    socket.once("close", () => reject(new Error(`the connection closed before an answer: ${buf.toString()}`)));
  });
  const head = buf.subarray(0, headEnd).toString("latin1");
  const rest = buf.subarray(headEnd);
  const status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0);
  const protocol = /\r\nsec-websocket-protocol: *([^\r]*)/i.exec(head)?.[1] ?? "";
  const messages: { opcode: number; data: Uint8Array }[] = [];
  const closes: { code: number; reason: string }[] = [];
  const channelBytes = new Map<number, number>();
  const decoder = new WebSocketDecoder({ masked: false, maxMessage: 64 * 1024 * 1024 });
  const onFrames = (c: Uint8Array) => {
    for (const ev of decoder.push(c)) {
      if (ev.type === "message") {
        const ch = ev.data[0] ?? -1;
        channelBytes.set(ch, (channelBytes.get(ch) ?? 0) + ev.data.length - 1);
        if (opts.keepMessages === undefined || opts.keepMessages(ch)) messages.push({ opcode: ev.opcode, data: ev.data });
      } else if (ev.type === "close") closes.push({ code: ev.code, reason: ev.reason });
    }
  };
  const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  if (status === 101) {
    if (rest.length > 0) onFrames(rest);
    socket.on("data", onFrames);
  } else {
    const body: Buffer[] = [rest];
    socket.on("data", (c: Buffer) => body.push(c));
    void ended.then(() => messages.push({ opcode: OPCODE.text, data: Buffer.concat(body) }));
  }
  socket.resume();
  return {
    socket,
    status,
    head,
    protocol,
    messages,
    closes,
    channelBytes,
    ended,
    send: (opcode, data) => void socket.write(encodeFrame(opcode, data, true)),
    close: (code = 1000) => void socket.write(encodeFrame(OPCODE.close, closePayload(code, ""), true)),
  };
}

/** `command` as the exec URL's command= parameters. */
export function execPath(ns: string, pod: string, command: string[], extra = "stdout=true&stderr=true"): string {
  return `/api/v1/namespaces/${ns}/pods/${pod}/exec?${command.map((c) => `command=${encodeURIComponent(c)}`).join("&")}&${extra}`;
}

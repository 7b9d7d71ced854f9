// A WebSocket on a connection the gateway's own HTTP/1.1 server upgraded (http1-server.ts):
// frames through websocket-codec.ts, presented to a handler written for Bun.serve as the part
// of Bun's ServerWebSocket it uses (data, send, close, remoteAddress, readyState). Pings are
// answered, a close is echoed, a protocol error closes with the codec's code.
import { CLOSE, OPCODE, WebSocketDecoder, WebSocketProtocolError, closePayload, encodeFrame } from "./websocket-codec.ts";

/** What a handler written for Bun's ServerWebSocket gets. */
export interface Http1WebSocket<T> {
  data: T;
  readonly remoteAddress: string;
  /** 1 open, 2 closing, 3 closed (as WebSocket.readyState). */
  readonly readyState: number;
  send(data: string | Uint8Array | ArrayBuffer): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
}

export interface Http1WebSocketHandler<T> {
  open?(ws: Http1WebSocket<T>): void;
  message?(ws: Http1WebSocket<T>, message: string | Uint8Array): void;
  close?(ws: Http1WebSocket<T>, code: number, reason: string): void;
}

/** What the socket under it offers: write (buffered by the caller, backpressure and all) and end. */
export interface FrameSink {
  write(bytes: Uint8Array): void;
  /** Ends the connection once what was written has gone. */
  end(): void;
}

/** Largest message taken from a client, as Bun.serve's default maxPayloadLength. */
const MAX_MESSAGE = 16 * 1024 * 1024;
const text = new TextEncoder();

export class ServerSideWebSocket<T> implements Http1WebSocket<T> {
  private readonly decoder = new WebSocketDecoder({ masked: true, maxMessage: MAX_MESSAGE });
  private state = 1;
  private sentClose = false;
  private told = false;

  constructor(
    public data: T,
    readonly remoteAddress: string,
    private readonly sink: FrameSink,
    private readonly handler: Http1WebSocketHandler<T>,
  ) {}

  get readyState(): number {
    return this.state;
  }

  open(): void {
    this.handler.open?.(this);
  }

  send(data: string | Uint8Array | ArrayBuffer): number {
    if (this.state !== 1) return 0;
    const payload = typeof data === "string" ? text.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data);
    this.sink.write(encodeFrame(typeof data === "string" ? OPCODE.text : OPCODE.binary, payload, false));
    return payload.byteLength;
  }

  close(code: number = CLOSE.normal, reason = ""): void {
    if (this.state !== 1) return;
    this.state = 2;
    this.sendClose(code, reason);
    this.sink.end();
    this.closed(code, reason);
  }

  terminate(): void {
    if (this.state === 3) return;
    this.state = 2;
    this.sink.end();
    this.closed(CLOSE.abnormal, "");
  }

  /** Asks a quiet client for a pong (any frame it sends counts as an answer). */
  ping(): void {
    if (this.state === 1) this.sink.write(encodeFrame(OPCODE.ping, new Uint8Array(0), false));
  }

  /** Bytes from the client. */
  receive(chunk: Uint8Array): void {
    if (this.state === 3) return;
    let events;
    try {
      events = this.decoder.push(chunk);
    } catch (e) {
      const code = e instanceof WebSocketProtocolError ? e.code : CLOSE.protocolError;
      const reason = e instanceof Error ? e.message.slice(0, 120) : "protocol error";
      this.state = 2;
      this.sendClose(code, reason);
      this.sink.end();
      this.closed(code, reason);
      return;
    }
    for (const ev of events) {
      if (this.state === 3) return;
      if (ev.type === "message") this.handler.message?.(this, ev.opcode === OPCODE.text ? new TextDecoder().decode(ev.data) : ev.data);
      else if (ev.type === "ping") {
        if (this.state === 1) this.sink.write(encodeFrame(OPCODE.pong, ev.data, false));
      } else if (ev.type === "close") {
        // Echo the close (RFC 6455 §5.5.1), then end the connection.
        this.state = 2;
        this.sendClose(ev.code === CLOSE.noStatus ? CLOSE.normal : ev.code, "");
        this.sink.end();
        this.closed(ev.code, ev.reason);
      }
    }
  }

  /** The connection is gone (the client left, or the end above went through). */
  socketClosed(): void {
    this.closed(CLOSE.abnormal, "");
  }

  private sendClose(code: number, reason: string): void {
    if (this.sentClose) return;
    this.sentClose = true;
    this.sink.write(encodeFrame(OPCODE.close, code === CLOSE.noStatus ? new Uint8Array(0) : closePayload(code, reason), false));
  }

  private closed(code: number, reason: string): void {
    this.state = 3;
    if (this.told) return;
    this.told = true;
    this.handler.close?.(this, code, reason);
  }
}

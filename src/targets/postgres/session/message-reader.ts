// Reads whole server messages from a socket one at a time, as promises: for the short
// conversations the gateway has as a client (upstream login, its own catalog queries). The hot
// relay path does not use it. detach() hands back the bytes not yet consumed, exactly.
import { GatewayError } from "../../../core/errors.ts";
import type { Connection } from "../../../gate/connection.ts";
import { describeTypeByte, knownBackendTypes } from "../protocol/messages.ts";

export interface ServerMessage {
  readonly type: number;
  readonly body: Uint8Array;
}

const KNOWN = knownBackendTypes();

export class MessageReader {
  private buf: Uint8Array = new Uint8Array(0);
  private readonly waiters: { resolve: (m: ServerMessage) => void; reject: (e: unknown) => void }[] = [];
  private failure: GatewayError | null = null;

  constructor(
    private readonly socket: Connection,
    private readonly what: string,
    private readonly maxMessageSize: number = 64 * 1024 * 1024,
  ) {
    socket.attach({
      data: (chunk) => this.push(chunk),
      drain: () => {},
      close: (e) =>
        this.fail(e === null ? new GatewayError("E_UPSTREAM", `${this.what} closed the connection`) : new GatewayError("E_UPSTREAM", `${this.what}: ${e.message}`, { cause: e })),
    });
    socket.resume();
  }

  /** The next whole message; rejects with E_UPSTREAM when the connection ends or sends garbage. */
  next(): Promise<ServerMessage> {
    let m: ServerMessage | null;
    try {
      m = this.take();
    } catch (e) {
      return Promise.reject(e);
    }
    if (m !== null) return Promise.resolve(m);
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Stops reading (the connection is left paused and holds what comes, so nothing is lost) and returns the bytes received but not consumed. */
  detach(): Uint8Array {
    this.socket.detach();
    const rest = this.buf;
    this.buf = new Uint8Array(0);
    return rest;
  }

  private push(chunk: Uint8Array): void {
    if (this.buf.length === 0) {
      this.buf = chunk;
    } else {
      const joined = new Uint8Array(this.buf.length + chunk.length);
      joined.set(this.buf);
      joined.set(chunk, this.buf.length);
      this.buf = joined;
    }
    while (this.waiters.length > 0) {
      let m: ServerMessage | null;
      try {
        m = this.take();
      } catch (e) {
        this.fail(e as GatewayError);
        return;
      }
      if (m === null) return;
      this.waiters.shift()!.resolve(m);
    }
  }

  private take(): ServerMessage | null {
    const b = this.buf;
    if (b.length < 5) return null;
    const type = b[0]!;
    const length = ((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0;
    if (KNOWN[type] !== 1 || length < 4 || length > this.maxMessageSize) {
      const e = new GatewayError("E_UPSTREAM", `${this.what} sent a malformed message (type ${describeTypeByte(type)}, length ${length})`);
      this.failure = e;
      throw e;
    }
    if (b.length < length + 1) return null;
    const body = b.subarray(5, length + 1);
    this.buf = b.subarray(length + 1);
    return { type, body };
  }

  private fail(e: GatewayError): void {
    if (this.failure === null) this.failure = e;
    for (const w of this.waiters.splice(0)) w.reject(this.failure);
  }
}

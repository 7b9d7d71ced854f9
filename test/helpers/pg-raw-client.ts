// A raw TCP PostgreSQL client for tests that must send bytes no real client would (garbage,
// truncated or oversized frames, protocol refusals) and read exactly what comes back: single
// bytes (the answer to SSLRequest/GSSENCRequest), whole server messages decoded with the
// gateway's own backend codec, and whether and when the server closed the connection.
import { Socket, connect } from "node:net";
import { parseBackendMessage } from "../../src/targets/postgres/protocol/backend-decoder.ts";
import type { BackendMessage, ErrorResponse } from "../../src/targets/postgres/protocol/backend-message.ts";
import { encodePasswordMessage, encodeStartupMessage } from "../../src/targets/postgres/protocol/encode.ts";

export interface ServerMessage {
  /** The type byte as a character ('E', 'Z', …). */
  readonly type: string;
  readonly body: Uint8Array;
  readonly message: BackendMessage;
}

export class RawPgClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  /** True once the server closed (or reset) the connection. */
  closed = false;
  /** A socket error, if one happened (ECONNRESET, EPIPE, …). */
  error: Error | null = null;

  /** The client's local port, kept from the connect (the socket forgets it once closed). */
  readonly localPort: number;

  private constructor(readonly socket: Socket) {
    this.localPort = socket.localPort ?? 0;
    socket.on("data", (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.wake();
    });
    socket.on("error", (e) => {
      this.error = e;
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  static async connect(port: number, host = "127.0.0.1"): Promise<RawPgClient> {
    const socket = connect({ port, host, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    return new RawPgClient(socket);
  }

  /** How the gateway's audit records name this client (session.start's and auth.rejected's remote). */
  get remote(): string {
    return `127.0.0.1:${this.localPort}`;
  }

  /** Bytes received and not yet read. */
  get pending(): number {
    return this.buf.length;
  }

  write(bytes: Uint8Array | string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Half-closes: sends FIN, keeps reading. */
  end(): void {
    this.socket.end();
  }

  /** Vanishes: closes the socket at once without a Terminate message. */
  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }

  private async waitFor(ready: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      if (this.closed) return ready();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /** The next single byte (an SSLRequest/GSSENCRequest answer), or null when the server closed or timed out. */
  async readByte(timeoutMs = 10_000): Promise<number | null> {
    if (!(await this.waitFor(() => this.buf.length >= 1, timeoutMs))) return null;
    const b = this.buf[0]!;
    this.buf = this.buf.subarray(1);
    return b;
  }

  /** The next whole server message, or null if the connection closed (or the timeout passed) first. */
  async readMessage(timeoutMs = 10_000): Promise<ServerMessage | null> {
    const whole = () => this.buf.length >= 5 && this.buf.length >= 1 + this.buf.readUInt32BE(1);
    if (!(await this.waitFor(whole, timeoutMs))) return null;
    const type = this.buf[0]!;
    const length = this.buf.readUInt32BE(1);
    const body = new Uint8Array(this.buf.subarray(5, 1 + length));
    this.buf = this.buf.subarray(1 + length);
    return { type: String.fromCharCode(type), body, message: parseBackendMessage(type, body) };
  }

  /** Messages up to and including the first that `stop` accepts; throws if the connection ends first. */
  async readUntil(stop: (m: ServerMessage) => boolean, timeoutMs = 15_000): Promise<ServerMessage[]> {
    const out: ServerMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.readMessage(Math.max(1, deadline - Date.now()));
      if (m === null) {
        throw new Error(`connection ${this.closed ? "closed" : "timed out"} before the expected message; got ${JSON.stringify(out.map(describe))}`);
      }
      out.push(m);
      if (stop(m)) return out;
    }
  }

  /** Messages up to ReadyForQuery (included). */
  readUntilReady(timeoutMs = 15_000): Promise<ServerMessage[]> {
    return this.readUntil((m) => m.type === "Z", timeoutMs);
  }

  /** Every message until the server closes the connection; throws if it stays open past the timeout. */
  async readToClose(timeoutMs = 10_000): Promise<ServerMessage[]> {
    const out: ServerMessage[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.readMessage(Math.max(1, deadline - Date.now()));
      if (m !== null) {
        out.push(m);
        continue;
      }
      if (this.closed) return out;
      throw new Error(`server kept the connection open for ${timeoutMs} ms; got ${JSON.stringify(out.map(describe))}`);
    }
  }

  /** Resolves true once the server has closed the connection, false after the timeout. */
  waitClosed(timeoutMs = 10_000): Promise<boolean> {
    return this.waitFor(() => this.closed, timeoutMs);
  }

  /** Sends a StartupMessage and the password; returns the messages up to ReadyForQuery, or throws with what came instead. */
  async login(user: string, password: string, extra: Record<string, string> = {}): Promise<ServerMessage[]> {
    await this.write(encodeStartupMessage({ user, database: "sales-db", ...extra }));
    const auth = await this.readMessage();
    if (auth === null || auth.message.type !== "AuthenticationCleartextPassword") {
      throw new Error(`expected AuthenticationCleartextPassword, got ${auth === null ? "nothing" : describe(auth)}`);
    }
    await this.write(encodePasswordMessage(password));
    const msgs = await this.readUntilReady();
    const err = msgs.find((m) => m.type === "E");
    if (err !== undefined) throw new Error(`login failed: ${describe(err)}`);
    return msgs;
  }
}

/** The ErrorResponse among messages, or undefined. */
export function errorOf(messages: readonly ServerMessage[]): ErrorResponse["fields"] | undefined {
  for (const m of messages) if (m.message.type === "ErrorResponse") return m.message.fields;
  return undefined;
}

export function describe(m: ServerMessage): string {
  if (m.message.type === "ErrorResponse" || m.message.type === "NoticeResponse") {
    return `${m.message.type} ${m.message.fields.severity ?? ""} ${m.message.fields.code ?? ""}: ${m.message.fields.message ?? ""}`;
  }
  return m.message.type;
}

// A tiny raw PostgreSQL wire client for the bypass corpus: logs in with a cleartext password
// (the gateway's token), then sends exactly the frontend messages an attempt lists, in the
// order and grouping it lists them, and keeps every byte the server answers. Real drivers
// never send a statement split over messages the odd ways an attacker would; this one does.
import type { Socket } from "bun";
import { parseNoticeFields } from "../../src/targets/postgres/protocol/backend-decoder.ts";
import type { NoticeFields } from "../../src/targets/postgres/protocol/backend-message.ts";
import { encodeFrontendMessages, encodePasswordMessage, encodeStartupMessage } from "../../src/targets/postgres/protocol/encode.ts";
import type { FrontendMessage } from "../../src/targets/postgres/protocol/frontend-message.ts";

export interface ServerMessage {
  /** The type letter: 'E' ErrorResponse, 'D' DataRow, 'Z' ReadyForQuery … */
  readonly type: string;
  readonly body: Uint8Array;
}

export class WireClient {
  private buf = new Uint8Array(0);
  private readonly messages: ServerMessage[] = [];
  /** Every byte received after login, for leak checks. */
  private received: Uint8Array[] = [];
  private waiter: (() => void) | null = null;
  private closed = false;

  private constructor(private readonly socket: Socket<undefined>) {}

  static async connect(opts: { port: number; user: string; password: string; database: string; parameters?: Readonly<Record<string, string>> }): Promise<WireClient> {
    let client: WireClient | null = null;
    const pending: Uint8Array[] = [];
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: opts.port,
      socket: {
        data(_s, chunk) {
          if (client === null) pending.push(new Uint8Array(chunk));
          else client.onData(new Uint8Array(chunk));
        },
        close() {
          client?.onClose();
        },
        error() {
          client?.onClose();
        },
      },
    });
    client = new WireClient(socket);
    for (const p of pending) client.onData(p);
    client.write(encodeStartupMessage({ user: opts.user, database: opts.database, application_name: "bypass-corpus", ...opts.parameters }));
    // AuthenticationCleartextPassword, then AuthenticationOk … ReadyForQuery.
    const auth = await client.next("R").catch((e: Error) => {
      const refusal = client!.messages.find((m) => m.type === "E");
      throw refusal === undefined ? e : new LoginRefused(parseNoticeFields(refusal.body));
    });
    const kind = new DataView(auth.body.buffer, auth.body.byteOffset, 4).getInt32(0);
    if (kind !== 3) throw new Error(`expected a cleartext password request, got authentication type ${kind}`);
    client.write(encodePasswordMessage(opts.password));
    const login = await client.untilReady(1);
    const err = login.find((m) => m.type === "E");
    if (err !== undefined) throw new LoginRefused(parseNoticeFields(err.body));
    client.received = [];
    return client;
  }

  private onData(chunk: Uint8Array): void {
    this.received.push(chunk);
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    let pos = 0;
    while (joined.length - pos >= 5) {
      const len = new DataView(joined.buffer, joined.byteOffset + pos + 1, 4).getInt32(0);
      if (joined.length - pos < 1 + len) break;
      this.messages.push({ type: String.fromCharCode(joined[pos]!), body: joined.slice(pos + 5, pos + 1 + len) });
      pos += 1 + len;
    }
    this.buf = joined.slice(pos);
    this.wake();
  }

  private onClose(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async wait(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async next(type: string, timeoutMs = 15_000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex((m) => m.type === type);
      if (i >= 0) return this.messages.splice(0, i + 1)[i]!;
      if (this.closed) throw new Error(`connection closed while waiting for '${type}'`);
      if (Date.now() > deadline) throw new Error(`no '${type}' message within ${timeoutMs} ms`);
      await this.wait(deadline - Date.now());
    }
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
    this.socket.flush();
  }

  send(messages: readonly FrontendMessage[]): void {
    this.write(encodeFrontendMessages(messages));
  }

  /**
   * Collects messages until `count` ReadyForQuery have arrived (or the connection closes, or the
   * time is up: an attempt that hangs is reported with what came so far, never passed).
   */
  async untilReady(count: number, timeoutMs = 20_000): Promise<ServerMessage[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let seen = 0;
      let end = -1;
      for (let i = 0; i < this.messages.length; i++) {
        if (this.messages[i]!.type === "Z" && ++seen === count) {
          end = i;
          break;
        }
      }
      if (end >= 0) return this.messages.splice(0, end + 1);
      if (this.closed) return this.messages.splice(0);
      if (Date.now() > deadline) throw new Error(`only ${seen} of ${count} ReadyForQuery within ${timeoutMs} ms; got ${this.messages.map((m) => m.type).join("")}`);
      await this.wait(deadline - Date.now());
    }
  }

  /** Everything the server sent since login, as one buffer. */
  allBytes(): Uint8Array {
    const total = this.received.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of this.received) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.send([{ type: "Terminate" }]);
    } catch {}
    this.socket.end();
    this.closed = true;
  }
}

/** The server (or the gateway) refused the session before it began. */
export class LoginRefused extends Error {
  constructor(readonly fields: NoticeFields) {
    super(`login refused: ${fields.code} ${fields.message}`);
  }
}

export function errorFields(m: ServerMessage): NoticeFields {
  return parseNoticeFields(m.body);
}

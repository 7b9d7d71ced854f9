// A raw PostgreSQL protocol client for tests that drive a gateway message by message: log in
// with a token as the password, send frontend messages, and collect the decoded backend
// messages up to the n-th ReadyForQuery.
import { connect, type Socket } from "node:net";
import type { BackendMessage } from "../../src/targets/postgres/protocol/backend-message.ts";
import { createBackendDecoder, parseBackendMessage } from "../../src/targets/postgres/protocol/backend-decoder.ts";
import { encodeFrontendMessages, encodePasswordMessage, encodeStartupMessage } from "../../src/targets/postgres/protocol/encode.ts";
import type { FrontendMessage } from "../../src/targets/postgres/protocol/frontend-message.ts";

/** A backend message, with the SQLSTATE and text of errors and notices and a DataRow as "a|b|NULL". */
export type Msg = BackendMessage & { code?: string; text?: string };

/** Message types in order, errors as "E:<SQLSTATE>", without ParameterStatus and notices. */
export const types = (ms: Msg[]): string[] =>
  ms.filter((m) => m.type !== "ParameterStatus" && m.type !== "NoticeResponse").map((m) => (m.type === "ErrorResponse" ? `E:${m.code}` : m.type));

export class Wire {
  private readonly decoder = createBackendDecoder();
  private readonly inbox: Msg[] = [];
  private wake: (() => void) | null = null;
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on("data", (c: Buffer) =>
      this.decoder.push(c, (type, body) => {
        const m = parseBackendMessage(type, body) as Msg;
        if (m.type === "ErrorResponse" || m.type === "NoticeResponse") {
          m.code = m.fields.code;
          m.text = m.fields.message;
        }
        if (m.type === "DataRow") m.text = m.values.map((v) => (v === null ? "NULL" : new TextDecoder().decode(v))).join("|");
        this.inbox.push(m);
        this.wake?.();
      }),
    );
    sock.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
  }
  /** Connects to 127.0.0.1:port and logs in with `token` as the password. */
  static async open(port: number, token: string, database = "db"): Promise<Wire> {
    const sock = connect(port, "127.0.0.1");
    await new Promise<void>((r) => sock.once("connect", () => r()));
    const w = new Wire(sock);
    sock.write(encodeStartupMessage({ user: "x", database }));
    await w.until((ms) => ms.some((m) => m.type === "AuthenticationCleartextPassword"));
    w.inbox.length = 0;
    sock.write(encodePasswordMessage(token));
    await w.readyCount(1);
    return w;
  }
  send(...messages: FrontendMessage[]): void {
    this.sock.write(encodeFrontendMessages(messages));
  }
  sendRaw(b: Uint8Array): void {
    this.sock.write(b);
  }
  /** Sends and returns the answer up to `n` ReadyForQuery. */
  async run(n: number, ...messages: FrontendMessage[]): Promise<Msg[]> {
    this.send(...messages);
    return await this.readyCount(n);
  }
  async until(done: (ms: Msg[]) => boolean, timeoutMs = 20_000): Promise<Msg[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (done(this.inbox) || this.closed) return this.inbox.splice(0);
      if (Date.now() > deadline) throw new Error(`no expected answer; got ${JSON.stringify(types(this.inbox))}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 200);
      });
      this.wake = null;
    }
  }
  readyCount(n: number): Promise<Msg[]> {
    return this.until((ms) => ms.filter((m) => m.type === "ReadyForQuery").length >= n);
  }
  close(): void {
    this.sock.end();
  }
}

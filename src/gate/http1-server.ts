// An HTTP/1.1 server on raw sockets (connection.ts over Bun.listen), for targets that must see
// every request: Bun.serve's parser answers malformed heads itself (a bare 400, 431 or 505,
// no body, no hook), so the gateway could neither say why nor record it. Here heads are read
// by http1-request-parser.ts, every refusal gets a JSON reason, `Connection: close` and a
// callback for its audit record, and valid requests become a `Request` for the target's
// handler, as Bun.serve would have made it (url, method, headers, a streamed body, a signal
// that aborts when the client leaves). Requests on one connection are answered one at a time,
// in order (pipelined ones wait); responses stream with backpressure; WebSocket upgrades are
// framed by http1-websocket.ts for a handler written against Bun's ServerWebSocket.
import { type Connection, listenConnections } from "./connection.ts";
import { ChunkedDecoder, ChunkedError } from "./http1-chunked.ts";
import { DEFAULT_HEAD_LIMITS, type HeadLimits, type Http1Refusal, type RequestHead, parseRequestHead } from "./http1-request-parser.ts";
import { type Http1WebSocketHandler, ServerSideWebSocket } from "./http1-websocket.ts";
import { type WholeAnswer, writeResponse, writeWhole } from "./http1-response.ts";
import { acceptKey, offeredProtocols } from "./websocket-codec.ts";

export type { Http1Refusal, RequestHead } from "./http1-request-parser.ts";
export type { WholeAnswer } from "./http1-response.ts";

/**
 * The client connection a request came on, as a target may keep state on it (what a keep-alive
 * connection's next request carries: the completions of its earlier requests, see
 * targets/http/connection-completions.ts). The server only keeps these members and calls onEnd.
 */
export interface ClientConnection {
  /** The target's state for this connection (set by the target). */
  local: unknown;
  /** Called once when the connection ends, before its request in progress (if any) is aborted (set by the target). */
  onEnd: (() => void) | null;
  /** The connection has ended (nothing more comes on it, onEnd has run). */
  readonly closed: boolean;
}

/** What a fast lane (Http1ServerOptions.lane) may use of the connection its request came on. */
export interface LaneContext {
  /** The connection it came on. */
  readonly connection: ClientConnection;
  /** Aborted when the client leaves (the lane may abort it too: the server only reads it). */
  readonly abort: AbortController;
  /** Called once the client has left, after `abort` (set by the lane; one listener without an event). */
  onGone: (() => void) | null;
  /** The client's address ("" when unknown): what requestIP(req).address says of a Request. */
  remoteAddress(): string;
}

export interface SocketAddressInfo {
  readonly address: string;
  readonly port: number;
  readonly family: "IPv4" | "IPv6";
}

/** What a handler written for Bun.serve uses of its server. */
export interface Http1Server<T> {
  readonly port: number;
  requestIP(req: Request): SocketAddressInfo | null;
  /** The connection `req` came on (null: not a request of this server's). */
  connectionOf(req: Request): ClientConnection | null;
  /** Accepts a WebSocket upgrade for `req` (answered with 101 once the handler returns undefined); false if it is not one. */
  upgrade(req: Request, options: { data: T }): boolean;
  /** Stops accepting; with closeActive, closes open connections too. */
  stop(closeActive?: boolean): Promise<void>;
}

export interface Http1ServerOptions<T> {
  readonly hostname: string;
  readonly port: number;
  readonly fetch: (req: Request, server: Http1Server<T>) => Promise<Response | undefined> | Response | undefined;
  /**
   * A head the parser refused, before any Request exists: the answer (write its audit record
   * first). Default: refusalResponse(refusal). Must not reject.
   */
  readonly refused?: (refusal: Http1Refusal, remote: SocketAddressInfo) => Promise<Response> | Response;
  readonly websocket?: Http1WebSocketHandler<T>;
  /** Seconds a connection may sit with no request in progress (default 255, Bun.serve's most). */
  readonly idleTimeout?: number;
  /** Seconds a WebSocket may be quiet before it is pinged, and again before it is cut (default 120, as Bun.serve). */
  readonly websocketIdleTimeout?: number;
  readonly limits?: HeadLimits;
  /**
   * Offered each origin-form request with a Host and no body (no Content-Length, no Transfer-Encoding) before any Request is made (a target's
   * fast lane): its answer, whole or as a Response; undefined: not taken, `fetch` gets it as
   * usual. Must not reject.
   */
  readonly lane?: (head: RequestHead, ctx: LaneContext) => Promise<WholeAnswer | Response> | undefined;
}

/** The answer to a refused head: the gateway's JSON error shape. */
export function refusalResponse(r: Http1Refusal): Response {
  return Response.json({ error: r.error, message: r.message, reason: r.reason }, { status: r.status, headers: { "cache-control": "no-store" } });
}

/** Bytes of pipelined requests held while one is answered, before the socket is paused. */
const MAX_BACKLOG = 64 * 1024;
/** Request body bytes queued for a reader that has not read them, before the socket is paused. */
const BODY_HIGH_WATER = 64 * 1024;
const CONTINUE = new Uint8Array(Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1"));
const EMPTY = new Uint8Array(0);

/** A request in progress on a connection. */
interface Exchange {
  readonly head: RequestHead;
  readonly abort: AbortController;
  /** Feeds body bytes; returns the bytes past the body's end. Null: no body, or all of it read. */
  body: ((chunk: Uint8Array) => Uint8Array) | null;
  /** The body was not read to its end (the connection cannot be reused). */
  unread: boolean;
  upgrade: { data: unknown; protocol: string | null; key: string } | null;
  /** The fast lane's view of it, when the lane took it. */
  lane: LaneContext | null;
}

export function serveHttp1<T>(opts: Http1ServerOptions<T>): Http1Server<T> {
  const limits = opts.limits ?? DEFAULT_HEAD_LIMITS;
  const idleMs = (opts.idleTimeout ?? 255) * 1000;
  const wsIdleMs = (opts.websocketIdleTimeout ?? 120) * 1000;
  const exchanges = new WeakMap<Request, { conn: H1Connection; exchange: Exchange }>();
  const open = new Set<H1Connection>();
  let stopping = false;

  const server: Http1Server<T> = {
    get port() {
      return listener.port;
    },
    requestIP(req) {
      const e = exchanges.get(req);
      return e === undefined ? null : e.conn.remote();
    },
    connectionOf(req) {
      return exchanges.get(req)?.conn ?? null;
    },
    upgrade(req, options) {
      const e = exchanges.get(req);
      if (e === undefined || e.exchange.upgrade !== null || opts.websocket === undefined) return false;
      const h = req.headers;
      const key = h.get("sec-websocket-key") ?? "";
      const connection = (h.get("connection") ?? "").toLowerCase().split(",").map((t) => t.trim());
      if (req.method !== "GET" || (h.get("upgrade") ?? "").toLowerCase() !== "websocket" || !connection.includes("upgrade")) return false;
      if (h.get("sec-websocket-version") !== "13" || !/^[A-Za-z0-9+/]{22}==$/.test(key)) return false;
      e.exchange.upgrade = { data: options.data, protocol: offeredProtocols(h.get("sec-websocket-protocol"))[0] ?? null, key };
      return true;
    },
    async stop(closeActive = false) {
      if (!stopping) listener.stop();
      stopping = true;
      for (const c of open) if (closeActive || !c.busy) c.close();
    },
  };

  class H1Connection implements ClientConnection {
    busy = false;
    local: unknown = null;
    onEnd: (() => void) | null = null;
    private buf: Uint8Array = EMPTY;
    private exchange: Exchange | null = null;
    private ws: ServerSideWebSocket<T> | null = null;
    private drainWaiters: (() => void)[] = [];
    idleSince = 0;
    /** A WebSocket was pinged for being quiet, and has not answered yet. */
    pinged = false;
    closed = false;

    constructor(readonly conn: Connection) {}

    remote(): SocketAddressInfo {
      const address = this.conn.remoteAddress ?? "";
      return { address, port: this.conn.remotePort ?? 0, family: address.includes(":") ? "IPv6" : "IPv4" };
    }

    data(chunk: Uint8Array): void {
      if (this.ws !== null) {
        this.idleSince = Date.now();
        this.pinged = false;
        return this.ws.receive(chunk);
      }
      const ex = this.exchange;
      if (ex !== null && ex.body !== null) {
        chunk = ex.body(chunk);
        if (chunk.length === 0) return;
      }
      this.buf = this.buf.length === 0 ? chunk : concat(this.buf, chunk);
      if (this.busy) {
        if (this.buf.length > MAX_BACKLOG) this.conn.pause();
        return;
      }
      this.next();
    }

    drain(): void {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const f of w) f();
    }

    gone(): void {
      this.closed = true;
      // The target's state first (what it held for the next request goes out), then the request in progress.
      const onEnd = this.onEnd;
      this.onEnd = null;
      onEnd?.();
      open.delete(this);
      idle.delete(this);
      sockets.delete(this);
      this.exchange?.abort.abort();
      this.exchange?.lane?.onGone?.();
      this.ws?.socketClosed();
      this.drain();
    }

    ping(): void {
      this.pinged = true;
      this.idleSince = Date.now();
      this.ws?.ping();
    }

    close(): void {
      if (this.closed) return;
      this.conn.destroy();
    }

    /** Writes bytes; resolves once the kernel has them all (or the connection is gone). */
    write(bytes: Uint8Array): Promise<void> | undefined {
      if (this.conn.write(bytes) || this.closed) return undefined;
      return new Promise((resolve) => this.drainWaiters.push(resolve));
    }

    /** Reads the next request head from what is buffered, and starts it. */
    private next(): void {
      if (this.closed) return;
      const r = parseRequestHead(this.buf, 0, limits);
      if (r.kind === "incomplete") {
        // Since the last answer, not the last byte: a head trickled in a byte at a time
        // (slowloris) has the same idleTimeout to be whole as a silent connection.
        if (!idle.has(this)) {
          this.idleSince = Date.now();
          idle.add(this);
        }
        return;
      }
      idle.delete(this);
      // Bytes that come while this request is answered: its body first (run() sets that up
      // before its first await), then the next requests, held (see data()).
      this.busy = true;
      if (r.kind === "refused") {
        void this.refuse(r.refusal);
        return;
      }
      this.buf = this.buf.length === r.used ? EMPTY : this.buf.subarray(r.used);
      void this.run(r.head);
    }

    private async refuse(refusal: Http1Refusal): Promise<void> {
      let res: Response;
      try {
        res = opts.refused === undefined ? refusalResponse(refusal) : await opts.refused(refusal, this.remote());
      } catch {
        res = refusalResponse(refusal);
      }
      await writeResponse(this, res, { method: refusal.method === "HEAD" ? "HEAD" : "GET", version: "1.1", keepAlive: false });
      this.conn.end();
    }

    private async run(head: RequestHead): Promise<void> {
      const abort = new AbortController();
      const ex: Exchange = { head, abort, body: null, unread: false, upgrade: null, lane: null };
      this.exchange = ex;
      const body = this.body(ex);
      // Leftover bytes past the head are this request's body first, then the next request.
      if (ex.body !== null && this.buf.length > 0) {
        const rest = ex.body(this.buf);
        this.buf = rest;
      }
      this.conn.resume();
      let res: Response | undefined;
      // A refusal here (as one of the parser's) ends the connection after its answer.
      let refused = false;
      let taken: Promise<WholeAnswer | Response> | undefined;
      if (opts.lane !== undefined && head.contentLength === null && !head.chunked && head.form === "origin" && head.host !== "") {
        const conn = this;
        ex.lane = { connection: this, abort, onGone: null, remoteAddress: () => conn.conn.remoteAddress ?? "" };
        taken = opts.lane(head, ex.lane);
      }
      if (taken !== undefined) {
        const answer = await taken;
        if (answer instanceof Response) res = answer;
        else {
          if (this.closed) return;
          const kept = writeWhole(this, answer, { method: head.method, version: head.version, keepAlive: head.keepAlive && !stopping });
          // Taken by the kernel at once (the common case): the next request without a turn of the microtask queue.
          return this.answered(typeof kept === "boolean" ? kept : await kept, ex);
        }
      } else if (head.form === "asterisk") {
        refused = true;
        res = await this.refusal({ status: 400, error: "bad_request", reason: "bad_target", message: "OPTIONS * asks about the server itself; this gateway answers requests for a path", method: head.method, target: head.target });
      } else {
        const host = head.host !== "" ? head.host : `${opts.hostname}:${listener.port}`;
        const url = head.form === "absolute" ? head.target : `http://${host}${head.target}`;
        let req: Request | null = null;
        try {
          req = new Request(url, { method: head.method, headers: head.headers as [string, string][], body, signal: abort.signal, duplex: "half" } as RequestInit);
        } catch (e) {
          refused = true;
          res = await this.refusal({ status: 400, error: "bad_request", reason: "bad_target", message: `the request cannot be read: ${e instanceof Error ? e.message : String(e)}`, method: head.method, target: head.target });
        }
        if (req !== null) {
          exchanges.set(req, { conn: this, exchange: ex });
          try {
            res = await opts.fetch(req, server);
          } catch {
            res = Response.json({ error: "internal", message: "the gateway failed to handle this request" }, { status: 500 });
          }
        }
      }
      if (this.closed) {
        void res?.body?.cancel().catch(() => {});
        return;
      }
      if (res === undefined) {
        if (ex.upgrade !== null) return this.upgraded(ex);
        res = Response.json({ error: "internal", message: "the gateway gave no answer to this request" }, { status: 500 });
      }
      const keepAlive = head.keepAlive && !refused && !ex.unread && !stopping && ex.upgrade === null;
      const kept = await writeResponse(this, res, { method: head.method, version: head.version, keepAlive });
      this.answered(kept, ex);
    }

    /** After an answer: the next request, or the end of the connection. */
    private answered(kept: boolean, ex: Exchange): void {
      if (this.closed) return;
      this.exchange = null;
      if (!kept || ex.unread) {
        this.conn.end();
        return;
      }
      this.busy = false;
      this.conn.resume();
      this.next();
    }

    private async refusal(r: Http1Refusal): Promise<Response> {
      try {
        return opts.refused === undefined ? refusalResponse(r) : await opts.refused(r, this.remote());
      } catch {
        return refusalResponse(r);
      }
    }

    /** The request's body as a stream fed from the socket, paused while its reader is behind. */
    private body(ex: Exchange): ReadableStream<Uint8Array> | null {
      const { head } = ex;
      if (!head.chunked && (head.contentLength === null || head.contentLength === 0)) return null;
      let controller!: ReadableStreamDefaultController<Uint8Array>;
      let continued = !head.expectContinue;
      let finished = false;
      const stream = new ReadableStream<Uint8Array>(
        {
          start: (c) => {
            controller = c;
          },
          pull: () => {
            if (!continued) {
              continued = true;
              void this.write(CONTINUE);
            }
            if (!this.busy || this.exchange === ex) this.conn.resume();
          },
          cancel: () => {
            finished = true;
            ex.body = null;
            ex.unread = true;
          },
        },
        { highWaterMark: BODY_HIGH_WATER, size: (c) => c?.byteLength ?? 0 },
      );
      const done = () => {
        finished = true;
        ex.body = null;
        ex.unread = false;
        controller.close();
      };
      const enqueue = (c: Uint8Array) => {
        if (finished || c.length === 0) return;
        controller.enqueue(c);
        if ((controller.desiredSize ?? 1) <= 0) this.conn.pause();
      };
      if (head.chunked) {
        const decoder = new ChunkedDecoder();
        ex.body = (chunk) => {
          let out;
          try {
            out = decoder.push(chunk);
          } catch (e) {
            finished = true;
            ex.body = null;
            ex.unread = true;
            controller.error(new Error(`malformed chunked request body: ${e instanceof ChunkedError ? e.message : String(e)}`));
            return EMPTY;
          }
          for (const d of out.data) enqueue(d);
          if (decoder.done) done();
          return out.used === chunk.length ? EMPTY : chunk.subarray(out.used);
        };
      } else {
        let remaining = head.contentLength!;
        ex.body = (chunk) => {
          const n = Math.min(remaining, chunk.length);
          enqueue(n === chunk.length ? chunk : chunk.subarray(0, n));
          remaining -= n;
          if (remaining === 0) done();
          return n === chunk.length ? EMPTY : chunk.subarray(n);
        };
      }
      ex.unread = true;
      return stream;
    }

    private upgraded(ex: Exchange): void {
      const u = ex.upgrade!;
      const lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${acceptKey(u.key)}`];
      if (u.protocol !== null) lines.push(`Sec-WebSocket-Protocol: ${u.protocol}`);
      lines.push(`Date: ${new Date().toUTCString()}`, "", "");
      void this.write(new Uint8Array(Buffer.from(lines.join("\r\n"), "latin1")));
      this.exchange = null;
      const conn = this.conn;
      const ws = new ServerSideWebSocket<T>(u.data as T, this.remote().address, { write: (b) => void conn.write(b), end: () => conn.end() }, opts.websocket!);
      this.ws = ws;
      this.idleSince = Date.now();
      sockets.add(this);
      ws.open();
      const rest = this.buf;
      this.buf = EMPTY;
      this.conn.resume();
      if (rest.length > 0) ws.receive(rest);
    }
  }

  // Connections with no request in progress, and since when: one sweep a second ends those idle too long.
  const idle = new Set<H1Connection>();
  // WebSockets quiet for WS_IDLE_MS are pinged, and cut if still quiet as long again (a peer
  // gone without a FIN would hold its relay and upstream socket for ever), as Bun.serve does.
  const sockets = new Set<H1Connection>();
  const sweeper = setInterval(() => {
    const now = Date.now();
    const cutoff = now - idleMs;
    for (const c of idle) if (c.idleSince < cutoff) c.close();
    for (const c of sockets) {
      if (c.idleSince >= now - wsIdleMs) continue;
      if (c.pinged) c.close();
      else c.ping();
    }
  }, 1000);
  sweeper.unref();

  const listener = listenConnections(opts.hostname, opts.port, (conn) => {
    if (stopping) return conn.destroy();
    const c = new H1Connection(conn);
    open.add(c);
    conn.attach({
      data: (chunk) => c.data(chunk),
      drain: () => c.drain(),
      close: () => c.gone(),
    });
    c.data(EMPTY);
  });
  const stop = server.stop;
  server.stop = async (closeActive) => {
    clearInterval(sweeper);
    await stop(closeActive);
  };
  return server;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

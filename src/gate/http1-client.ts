// The gateway's own HTTP/1.1 client for bodiless upstream requests (the HTTP target's known
// routes, the Kubernetes target's plain GETs): keep-alive connections on Bun.connect, written and
// read from the socket's callbacks, instead of fetch and its client thread (thread hops, a Response
// and stream machinery per request). Strict where a proxy must be: the answer's framing is read
// exactly (http1-response-parser.ts) or the request fails with E_UPSTREAM and the connection is
// dropped; a connection is reused only after an answer that ended exactly where its framing said.
import type { Socket } from "bun";
import { GatewayError } from "../core/errors.ts";
import { Http1ResponseParser, type Http1Head, type Http1ResponseSink } from "./http1-response-parser.ts";

export interface Http1Origin {
  readonly host: string;
  readonly port: number;
  /** TLS when set: what Bun.connect's `tls` takes (ca, cert, key, serverName, rejectUnauthorized). */
  readonly tls?: {
    readonly ca?: string | Buffer | readonly (string | Buffer)[];
    readonly cert?: string | Buffer;
    readonly key?: string | Buffer;
    readonly serverName?: string;
    readonly rejectUnauthorized?: boolean;
  };
}

export interface Http1Answer {
  readonly status: number;
  readonly statusText: string;
  /** Header fields as received, in order; names as sent by the upstream (compare lower-cased). */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** The whole body when its length is known and <= maxWhole (Content-Length, or chunked that ended within it); otherwise null and `stream` is set. */
  readonly body: Uint8Array | null;
  /** The body as a stream (with backpressure: the socket is paused while the reader does not pull), when not whole. null when `body` is set or there is none (HEAD, 204, 304). */
  readonly stream: ReadableStream<Uint8Array> | null;
}

export interface Http1PoolOptions {
  /** Idle keep-alive connections kept (default 128). */
  maxIdle?: number;
  /** Connections open at once (default 256, as many as fetch runs at once); further requests wait for one, in order. */
  maxConnections?: number;
  /** Largest response head read (default 64 KiB). */
  maxHeadBytes?: number;
  /** Largest body handed over whole (default 1 MiB); larger or unknown lengths stream. */
  maxWhole?: number;
  /** An idle connection closes after this long (default 4 s, under Node's 5 s keep-alive timeout). */
  idleTimeoutMs?: number;
}

const EMPTY = new Uint8Array(0);
const STREAM_HIGH_WATER = 64 * 1024;
const RETRYABLE = new Set(["GET", "HEAD", "OPTIONS"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
const HOST = /^[\x21-\x7e]+$/;
/**
 * A header block: "name: value\r\n" lines, names tokens, values without control characters (so
 * no bare CR or LF, no NUL, no empty line), and none of the fields this client writes or never
 * sends: a second Host, or a Content-Length or Transfer-Encoding on a bodiless request, would let
 * the upstream read the connection differently from us.
 */
const FIELDS = /^(?:(?!(?:host|connection|content-length|transfer-encoding):)[!#$%&'*+\-.^_`|~0-9a-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/i;
const NOT_ASCII = /[\x80-\xff]/;

function upstreamError(why: string, cause?: unknown): GatewayError {
  return new GatewayError("E_UPSTREAM", why, cause === undefined ? {} : { cause });
}

/** One request on one connection: its answer as it is read. */
class Exchange implements Http1ResponseSink {
  answerHead: Http1Head | null = null;
  /** The connection that carries it now (a retry moves it). */
  connection: Connection | null = null;
  private pieces: Uint8Array[] = [];
  private gathered = 0;
  private whole: Uint8Array | null = null;
  controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  settled = false;
  finished = false;

  constructor(
    readonly method: string,
    /** The request head as text (latin1); `ascii` when every character is one byte in UTF-8 too. */
    readonly text: string,
    readonly ascii: boolean,
    readonly signal: AbortSignal | undefined,
    private readonly pool: Http1Pool,
    private readonly maxWhole: number,
    private readonly resolve: (answer: Http1Answer) => void,
    readonly reject: (error: unknown) => void,
  ) {
    // The exchange is its own abort listener (handleEvent): no closure per request.
    signal?.addEventListener("abort", this);
  }

  /** The signal aborted: fail, and close the connection (its answer can no longer be read to the end). */
  handleEvent(): void {
    const c = this.connection;
    this.fail(upstreamError(`the request was aborted${this.signal?.reason instanceof Error ? `: ${this.signal.reason.message}` : ""}`, this.signal?.reason));
    if (c === null) this.pool.unqueue(this);
    else if (c.exchange === this) {
      c.exchange = null;
      c.destroy();
    }
  }

  private unlisten(): void {
    this.signal?.removeEventListener("abort", this);
  }

  /** Pauses (true) or resumes (false) reading the connection, for the stream's backpressure. */
  private pace(pause: boolean): void {
    const c = this.connection;
    if (c === null || c.closed || c.socket === null) return;
    if (pause) c.socket.pause();
    else c.socket.resume();
  }

  head(head: Http1Head): void {
    this.answerHead = head;
    const f = head.framing;
    if (f.kind === "length" && f.length <= this.maxWhole) this.whole = f.length === 0 ? EMPTY : null;
    else if (f.kind === "length" || f.kind === "close") this.openStream();
  }

  body(bytes: Uint8Array): void {
    if (this.controller !== null) return this.enqueue(bytes);
    const f = this.answerHead!.framing;
    if (f.kind === "length") {
      // A whole body of known length: a view when it came in one piece, else one copy.
      if (this.gathered === 0 && bytes.length === f.length) {
        this.whole = bytes;
      } else {
        if (this.whole === null) this.whole = new Uint8Array(f.length);
        this.whole.set(bytes, this.gathered);
      }
      this.gathered += bytes.length;
      return;
    }
    // chunked: gather up to maxWhole, then hand over as a stream.
    this.pieces.push(bytes);
    this.gathered += bytes.length;
    if (this.gathered > this.maxWhole) {
      const pieces = this.pieces;
      this.pieces = [];
      this.openStream();
      for (const p of pieces) this.enqueue(p);
    }
  }

  end(): void {
    this.finished = true;
    this.unlisten();
    if (this.controller !== null) {
      this.controller.close();
      return;
    }
    const head = this.answerHead!;
    let body: Uint8Array | null = null;
    if (head.framing.kind === "length") body = this.whole ?? EMPTY;
    else if (head.framing.kind === "chunked") body = this.joined();
    this.settle({ status: head.status, statusText: head.statusText, headers: head.headers, body, stream: null });
  }

  /** The request failed: reject it, or error the stream it already answered with. */
  fail(error: unknown): void {
    this.unlisten();
    if (!this.settled) {
      this.settled = true;
      this.reject(error);
    } else if (this.controller !== null && !this.finished) {
      this.finished = true;
      try {
        this.controller.error(error);
      } catch {
        // the reader cancelled already
      }
    }
  }

  private joined(): Uint8Array {
    if (this.pieces.length === 1) return this.pieces[0]!;
    const out = new Uint8Array(this.gathered);
    let at = 0;
    for (const p of this.pieces) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  private settle(answer: Http1Answer): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(answer);
  }

  private openStream(): void {
    const head = this.answerHead!;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.pace(false),
        cancel: () => {
          // The reader went away: the connection cannot be read to the end of this answer.
          if (!this.finished) {
            this.finished = true;
            this.unlisten();
            this.connection?.destroy();
          }
        },
      },
      { highWaterMark: STREAM_HIGH_WATER, size: (chunk) => chunk?.byteLength ?? 0 },
    );
    this.settle({ status: head.status, statusText: head.statusText, headers: head.headers, body: null, stream });
  }

  private enqueue(bytes: Uint8Array): void {
    const c = this.controller!;
    c.enqueue(bytes);
    if ((c.desiredSize ?? 0) <= 0) this.pace(true);
  }
}

/** One upstream connection: idle in the pool, or carrying one exchange. */
class Connection {
  socket: Socket<Connection> | null = null;
  ready = false;
  closed = false;
  reused = false;
  exchange: Exchange | null = null;
  /** When it went idle (Date.now()), for the pool's idle sweep. */
  idleSince = 0;
  /** Request bytes the kernel has not taken yet (a view), written on drain. */
  pending: Uint8Array | null = null;
  readonly parser: Http1ResponseParser;
  private readonly sink: Http1ResponseSink;

  constructor(
    private readonly pool: Http1Pool,
    maxHeadBytes: number,
    /** TLS: ready after the handshake, not at open. */
    readonly tls: boolean,
    readonly rejectUnauthorized: boolean,
  ) {
    this.sink = {
      head: (head) => this.exchange?.head(head),
      body: (bytes) => this.exchange?.body(bytes),
      end: () => this.exchange?.end(),
    };
    this.parser = new Http1ResponseParser(this.sink, maxHeadBytes);
  }

  start(exchange: Exchange): void {
    this.exchange = exchange;
    this.parser.begin(exchange.method);
    if (this.ready) this.sendHead(exchange);
  }

  /** Writes the request head: as a string when it is ASCII (no Buffer per request), else its latin1 bytes. */
  private sendHead(exchange: Exchange): void {
    if (!exchange.ascii) return this.send(Buffer.from(exchange.text, "latin1"));
    const wrote = this.socket!.write(exchange.text);
    if (wrote >= 0 && wrote < exchange.text.length) this.pending = Buffer.from(exchange.text.slice(wrote), "latin1");
  }

  send(bytes: Uint8Array): void {
    const socket = this.socket!;
    const wrote = socket.write(bytes);
    if (wrote < 0) return; // closed: the close handler fails the exchange
    this.pending = wrote < bytes.length ? bytes.subarray(wrote) : null;
  }

  onReady(): void {
    this.ready = true;
    if (this.exchange !== null) this.sendHead(this.exchange);
  }

  onDrain(): void {
    if (this.pending !== null) this.send(this.pending);
  }

  onData(chunk: Uint8Array): void {
    const exchange = this.exchange;
    if (exchange === null) {
      // Bytes nobody asked for: this connection's framing can no longer be trusted.
      this.destroy();
      return;
    }
    try {
      this.parser.push(chunk);
    } catch (e) {
      this.destroy();
      exchange.fail(e);
      return;
    }
    if (this.parser.done) this.complete(exchange);
  }

  onClose(error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.forget(this);
    const exchange = this.exchange;
    if (exchange === null || exchange.finished) {
      this.exchange = null;
      return;
    }
    if (this.parser.untouched && this.reused && !exchange.settled && RETRYABLE.has(exchange.method)) {
      this.exchange = null;
      if (this.pool.retry(exchange)) return;
      this.exchange = exchange;
    }
    let failure: unknown = null;
    if (error !== null) failure = upstreamError(`the upstream connection failed: ${error.message}`, error);
    else {
      try {
        this.parser.eof(); // the end of a close-delimited body ends the exchange through the sink
      } catch (e) {
        failure = e;
      }
    }
    this.exchange = null;
    if (failure !== null) exchange.fail(failure);
    else if (!exchange.finished) exchange.fail(upstreamError("the upstream closed the connection before the answer ended"));
  }

  private complete(exchange: Exchange): void {
    this.exchange = null;
    const head = exchange.answerHead!;
    if (!head.keepAlive || this.parser.extra || this.closed) {
      this.destroy();
      return;
    }
    this.pool.release(this);
  }

  destroy(): void {
    const socket = this.socket;
    if (socket !== null && !this.closed) socket.terminate();
    // Whether or not terminate() reports through close(), this connection is over now.
    this.onClose(null);
  }

}

/** Fields the pool writes itself or never sends; a field block naming one is refused (E_UPSTREAM). */
const OWN_FIELDS: ReadonlySet<string> = new Set(["host", "connection", "content-length", "transfer-encoding"]);
const PLAIN_VALUE = /^[\t\x20-\x7e]*$/;
// What fetch adds when a request has none (Bun 1.4.4 with decompress: false: no Accept-Encoding).
const DEFAULT_ACCEPT = "accept: */*\r\n";
const DEFAULT_USER_AGENT = `user-agent: Bun/${Bun.version}\r\n`;

/**
 * The header block for Http1Pool.request from a target's upstream fields (lower-case names),
 * with the Accept and User-Agent fetch adds when they are absent, so that an upstream sees the
 * request fetch would have sent. Null, meaning "send it with fetch", when a name is not a token
 * or is one the pool writes itself (a configured Host), or when a value has a byte outside
 * printable ASCII: fetch encodes such a value its own way, and the pool would send other bytes.
 */
export function upstreamFieldBlock(fields: Readonly<Record<string, string>>): string | null {
  let block = "";
  for (const name in fields) {
    const value = fields[name]!;
    if (!TOKEN.test(name) || OWN_FIELDS.has(name) || !PLAIN_VALUE.test(value)) return null;
    block += `${name}: ${value}\r\n`;
  }
  if (fields["accept"] === undefined) block += DEFAULT_ACCEPT;
  if (fields["user-agent"] === undefined) block += DEFAULT_USER_AGENT;
  return block;
}

const handlers = {
  open(socket: Socket<Connection>) {
    const c = socket.data;
    c.socket = socket;
    if (c.closed) {
      socket.terminate();
      return;
    }
    if (!c.tls) c.onReady();
  },
  handshake(socket: Socket<Connection>, success: boolean, authorizationError: Error | null) {
    const c = socket.data;
    if (!success || (authorizationError !== null && c.rejectUnauthorized)) {
      const why = authorizationError?.message ?? "the TLS handshake failed";
      c.onClose(new Error(`TLS: ${why}`));
      socket.terminate();
      return;
    }
    c.onReady();
  },
  data(socket: Socket<Connection>, data: Buffer) {
    socket.data.onData(data);
  },
  drain(socket: Socket<Connection>) {
    socket.data.onDrain();
  },
  close(socket: Socket<Connection>, error?: Error) {
    socket.data.onClose(error ?? null);
  },
  error(socket: Socket<Connection>, error: Error) {
    socket.data.onClose(error);
  },
  connectError(socket: Socket<Connection>, error: Error) {
    socket.data.onClose(error);
  },
};

/** Keep-alive HTTP/1.1 connections to one origin, for bodiless requests. */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly live = new Set<Connection>();
  /** Requests waiting for a connection (maxConnections reached), oldest first. */
  private readonly waiting: Exchange[] = [];
  private readonly maxIdle: number;
  private readonly maxConnections: number;
  private readonly maxHeadBytes: number;
  private readonly maxWhole: number;
  private readonly idleTimeoutMs: number;
  private readonly hostHeader: string;
  private closed = false;
  private sweeper: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly origin: Http1Origin,
    opts: Http1PoolOptions = {},
  ) {
    this.maxIdle = opts.maxIdle ?? 128;
    this.maxConnections = Math.max(1, opts.maxConnections ?? 256);
    this.maxHeadBytes = opts.maxHeadBytes ?? 64 * 1024;
    this.maxWhole = opts.maxWhole ?? 1024 * 1024;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 4000;
    const defaultPort = origin.tls === undefined ? 80 : 443;
    const host = origin.host.includes(":") && !origin.host.startsWith("[") ? `[${origin.host}]` : origin.host;
    this.hostHeader = origin.port === defaultPort ? host : `${host}:${origin.port}`;
  }

  /**
   * One request WITHOUT a body, on an idle keep-alive connection or a new one. `fields` is the
   * header block, each line "name: value\r\n", without Host, Connection, Content-Length and
   * Transfer-Encoding. Rejects with GatewayError("E_UPSTREAM") when the upstream cannot be reached
   * or its answer cannot be read exactly. The signal aborts (closes that connection).
   */
  request(method: string, target: string, fields: string, opts: { signal?: AbortSignal; hostHeader?: string } = {}): Promise<Http1Answer> {
    return new Promise<Http1Answer>((resolve, reject) => {
      if (this.closed) return reject(upstreamError("the upstream client is closed"));
      const host = opts.hostHeader ?? this.hostHeader;
      if (!TOKEN.test(method)) return reject(upstreamError(`the method ${JSON.stringify(method)} is not a token`));
      if (!TARGET.test(target)) return reject(upstreamError(`the request target ${JSON.stringify(target)} has a space or control character`));
      if (host !== this.hostHeader && !HOST.test(host)) return reject(upstreamError(`the host header ${JSON.stringify(host)} has a space or control character`));
      if (!FIELDS.test(fields)) return reject(upstreamError("the request's header block is malformed (each line must be a field name, a colon and a value without control characters, ending in CRLF; no Host, Connection, Content-Length or Transfer-Encoding)"));
      const signal = opts.signal;
      if (signal?.aborted) return reject(upstreamError("the request was aborted", signal.reason));
      const text = `${method} ${target} HTTP/1.1\r\nhost: ${host}\r\n${fields}\r\n`;
      const exchange = new Exchange(method, text, !NOT_ASCII.test(text), signal, this, this.maxWhole, resolve, reject);
      this.dispatch(exchange, true);
    });
  }

  /**
   * Runs the exchange on an idle connection (mayReuse), or a new one while there are fewer than
   * maxConnections (a retry always gets a new one), or queues it for the next connection free.
   */
  private dispatch(exchange: Exchange, mayReuse: boolean): void {
    let c: Connection | undefined;
    while (mayReuse && (c = this.idle.pop()) !== undefined) {
      if (!c.closed) break;
    }
    if (c === undefined || c.closed) {
      if (mayReuse && this.live.size >= this.maxConnections) {
        this.waiting.push(exchange);
        return;
      }
      c = this.open();
    } else {
      c.reused = true;
      c.socket?.ref();
    }
    exchange.connection = c;
    c.start(exchange);
  }

  private open(): Connection {
    const c = new Connection(this, this.maxHeadBytes, this.origin.tls !== undefined, this.origin.tls?.rejectUnauthorized !== false);
    this.live.add(c);
    const tls = this.origin.tls;
    Bun.connect<Connection>({
      hostname: this.origin.host,
      port: this.origin.port,
      data: c,
      socket: handlers,
      ...(tls === undefined
        ? {}
        : {
            tls: {
              ...(tls.ca === undefined ? {} : { ca: tls.ca as string | Buffer | (string | Buffer)[] }),
              ...(tls.cert === undefined ? {} : { cert: tls.cert }),
              ...(tls.key === undefined ? {} : { key: tls.key }),
              ...(tls.serverName === undefined ? {} : { serverName: tls.serverName }),
              rejectUnauthorized: tls.rejectUnauthorized !== false,
            },
          }),
    }).catch((e: unknown) => c.onClose(e instanceof Error ? e : new Error(String(e))));
    return c;
  }

  /** A connection whose answer was read exactly to its end carries the next waiting request, or goes back to the idle list. */
  release(c: Connection): void {
    const next = this.nextWaiting();
    if (next !== undefined && !this.closed) {
      c.socket!.resume();
      c.reused = true;
      next.connection = c;
      c.start(next);
      return;
    }
    if (this.closed || this.idle.length >= this.maxIdle) {
      c.destroy();
      return;
    }
    const s = c.socket!;
    s.resume();
    s.unref();
    c.idleSince = Date.now();
    this.idle.push(c);
    // One sweep for all idle connections rather than a timer per request.
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.floor(this.idleTimeoutMs / 8)));
      this.sweeper.unref?.();
    }
  }

  /** Closes connections idle for idleTimeoutMs (the idle list is oldest first); stops when none is left. */
  private sweep(): void {
    const limit = Date.now() - this.idleTimeoutMs;
    // The list is a stack (the newest reused first), so the oldest are at its start.
    while (this.idle.length > 0 && this.idle[0]!.idleSince <= limit) {
      const c = this.idle.shift()!;
      c.destroy();
    }
    if (this.idle.length === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** A reused connection died before answering an idempotent request: once more on a new one. */
  retry(exchange: Exchange): boolean {
    if (this.closed || exchange.signal?.aborted) return false;
    this.dispatch(exchange, false);
    return true;
  }

  forget(c: Connection): void {
    this.live.delete(c);
    const i = this.idle.indexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    // A connection fewer: a waiting request may open one.
    if (this.waiting.length > 0 && !this.closed && this.live.size < this.maxConnections) {
      const next = this.nextWaiting();
      if (next !== undefined) this.dispatch(next, false);
    }
  }

  /** The oldest waiting request that is still wanted. */
  private nextWaiting(): Exchange | undefined {
    let next: Exchange | undefined;
    while ((next = this.waiting.shift()) !== undefined && next.settled);
    return next;
  }

  /** An aborted request leaves the queue. */
  unqueue(exchange: Exchange): void {
    const i = this.waiting.indexOf(exchange);
    if (i !== -1) this.waiting.splice(i, 1);
  }

  /** Idle keep-alive connections held now (for tests and metrics). */
  get idleConnections(): number {
    return this.idle.length;
  }

  /** Closes every connection; requests in flight fail with E_UPSTREAM. */
  close(): void {
    this.closed = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    for (const c of [...this.live]) {
      const exchange = c.exchange;
      c.exchange = null;
      c.destroy();
      exchange?.fail(upstreamError("the upstream client was closed"));
    }
    this.idle.length = 0;
    for (const exchange of this.waiting.splice(0)) exchange.fail(upstreamError("the upstream client was closed"));
  }
}

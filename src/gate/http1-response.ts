// Writes a fetch `Response` as an HTTP/1.1 response on a connection of http1-server.ts: the
// status line and fields, then the body framed by its Content-Length, or, when it has none,
// whole with a Content-Length if all of it is ready at once, else chunked (close-delimited for
// HTTP/1.0); with backpressure (each write waits for drain). The head goes out as soon as the
// first body bytes are not ready at once, so a stream with nothing to say yet still gets its head.

/** Where the bytes go: write resolves when the kernel has them (undefined: it has them now). */
export interface ResponseSink {
  readonly closed: boolean;
  write(bytes: Uint8Array): Promise<void> | undefined;
}

export interface ResponseFor {
  readonly method: string;
  readonly version: "1.0" | "1.1";
  /** The connection may be kept after this response (the request and the server allow it). */
  readonly keepAlive: boolean;
}

const REASONS: Readonly<Record<number, string>> = {
  100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
  204: "No Content", 205: "Reset Content", 206: "Partial Content", 300: "Multiple Choices", 301: "Moved Permanently", 302: "Found",
  303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
  403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable", 408: "Request Timeout", 409: "Conflict",
  410: "Gone", 411: "Length Required", 412: "Precondition Failed", 413: "Content Too Large", 415: "Unsupported Media Type",
  416: "Range Not Satisfiable", 417: "Expectation Failed", 422: "Unprocessable Content", 429: "Too Many Requests",
  431: "Request Header Fields Too Large", 499: "Client Closed Request", 500: "Internal Server Error", 501: "Not Implemented",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 505: "HTTP Version Not Supported",
};

let dateSecond = 0;
let dateText = "";
/** The Date field, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

// A Buffer is a Uint8Array: no second copy of what Buffer.from made.
const latin1 = (s: string): Uint8Array => Buffer.from(s, "latin1");
const LAST_CHUNK = latin1("0\r\n\r\n");
const TICK = Symbol("tick");
/** Bodies up to this size with a Content-Length are read whole before the head goes out. */
const SMALL_BODY = 64 * 1024;

/** Writes `res`; resolves true when the connection may carry another request. */
export async function writeResponse(out: ResponseSink, res: Response, req: ResponseFor): Promise<boolean> {
  const status = res.status;
  const noContent = status === 204 || status === 304 || status < 200;
  const bodyless = noContent || req.method === "HEAD";
  let head = `HTTP/1.1 ${status} ${res.statusText || REASONS[status] || "Status"}\r\n`;
  let length: string | null = null;
  let dated = false;
  res.headers.forEach((value, name) => {
    // Framing and connection management are this writer's.
    if (name === "content-length") length = value;
    else if (name === "transfer-encoding" || name === "connection" || name === "keep-alive") return;
    else {
      if (name === "date") dated = true;
      head += `${name}: ${value}\r\n`;
    }
  });
  if (!dated) head += `date: ${httpDate()}\r\n`;
  let keepAlive = req.keepAlive;
  const ending = () => (keepAlive ? (req.version === "1.0" ? "connection: keep-alive\r\n\r\n" : "\r\n") : "connection: close\r\n\r\n");

  // A small body of known length: read whole (no reader per response), one write with the
  // head. `res.body` is not touched: reading it makes a stream (measured: 13 against 3 µs).
  if (!bodyless && length !== null && /^[0-9]{1,5}$/.test(length) && Number(length) <= SMALL_BODY) {
    let whole: Uint8Array;
    try {
      whole = await res.bytes();
    } catch {
      return false;
    }
    const n = Number(length);
    head += `content-length: ${length}\r\n`;
    await out.write(joined(head + ending(), whole.byteLength > n ? whole.subarray(0, n) : whole));
    return keepAlive && whole.byteLength === n;
  }

  const body = res.body;

  if (bodyless || body === null) {
    if (body !== null) void body.cancel().catch(() => {});
    // HEAD and 304 say the length a GET would have had; 204 and 1xx have none.
    if (length !== null && status !== 204 && status >= 200) head += `content-length: ${length}\r\n`;
    else if (!bodyless) head += "content-length: 0\r\n";
    await out.write(latin1(head + ending()));
    return keepAlive;
  }

  const reader = body.getReader();
  try {
    if (length !== null) {
      // The length is the handler's word: a body that ends short or runs long ends the connection.
      let left = Number(length);
      if (!/^[0-9]+$/.test(length)) throw new Error(`the response's Content-Length ${JSON.stringify(length)} is not a number`);
      head += `content-length: ${length}\r\n`;
      const first = await reader.read();
      const chunk = first.done ? null : cut(first.value, left);
      left -= chunk?.byteLength ?? 0;
      await out.write(chunk === null ? latin1(head + ending()) : joined(head + ending(), chunk));
      if (first.done) return keepAlive && left === 0;
      for (;;) {
        if (out.closed) return false;
        const r = await reader.read();
        if (r.done) return keepAlive && left === 0;
        if (left === 0) return false;
        const c = cut(r.value, left);
        left -= c.byteLength;
        await out.write(c);
      }
    }

    // No length: gather what is ready now; all of it → a Content-Length, else stream it.
    const ready: Uint8Array[] = [];
    let bytes = 0;
    const tick = new Promise<typeof TICK>((resolve) => setImmediate(resolve, TICK));
    let pending = reader.read();
    for (;;) {
      const r = await Promise.race([pending, tick]);
      if (r === TICK) break;
      if (r.done) {
        head += `content-length: ${bytes}\r\n`;
        await out.write(ready.length === 1 ? joined(head + ending(), ready[0]!) : joined(head + ending(), ...ready));
        return keepAlive;
      }
      ready.push(r.value);
      bytes += r.value.byteLength;
      pending = reader.read();
    }
    const chunked = req.version === "1.1";
    if (!chunked) keepAlive = false;
    head += chunked ? "transfer-encoding: chunked\r\n" : "";
    const frame = (c: Uint8Array): Uint8Array[] => (chunked ? [latin1(`${c.byteLength.toString(16)}\r\n`), c, latin1("\r\n")] : [c]);
    await out.write(joined(head + ending(), ...ready.filter((c) => c.byteLength > 0).flatMap(frame)));
    for (;;) {
      if (out.closed) return false;
      const r = await pending;
      if (r.done) break;
      pending = reader.read();
      if (r.value.byteLength > 0) await out.write(joined("", ...frame(r.value)));
    }
    if (chunked) await out.write(LAST_CHUNK);
    return keepAlive;
  } catch {
    void reader.cancel().catch(() => {});
    // The body failed part way (the upstream went away): the client can only be told by the
    // connection ending before the body's end.
    return false;
  } finally {
    if (out.closed) void reader.cancel().catch(() => {});
  }
}

function cut(c: Uint8Array, left: number): Uint8Array {
  return c.byteLength <= left ? c : c.subarray(0, left);
}

/** The head (latin1) and the parts in one buffer: one write(2). */
function joined(head: string, ...parts: Uint8Array[]): Uint8Array {
  let n = head.length;
  for (const p of parts) n += p.byteLength;
  // allocUnsafe and a write into it: a Buffer view made over a new Uint8Array cost ~0.7 µs
  // per response, this ~0.07 (every byte is written below).
  const out = Buffer.allocUnsafe(n);
  out.write(head, 0, "latin1");
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * An answer read whole, written without a `Response` (a target's fast lane, see
 * Http1ServerOptions.lane): the status, the header fields to send (the framing and connection
 * fields are this writer's: a Content-Length, Transfer-Encoding, Connection or Keep-Alive
 * among them is not written), and the body.
 */
export interface WholeAnswer {
  readonly status: number;
  readonly statusText: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
  /** What a HEAD, 304 or other bodiless answer announces as its Content-Length (the upstream's), or null. */
  readonly length: string | null;
  /** The body (null: none). Its length is the Content-Length written when the answer has a body. */
  readonly body: Uint8Array | null;
}

/**
 * Writes a WholeAnswer as writeResponse writes `new Response(body, {status, statusText,
 * headers})` of the same fields (with `length` as its Content-Length): the same status line,
 * fields, Date, framing and keep-alive. One write.
 */
export function writeWhole(out: ResponseSink, a: WholeAnswer, req: ResponseFor): Promise<boolean> | boolean {
  const status = a.status;
  const bodyless = status === 204 || status === 304 || status < 200 || req.method === "HEAD";
  let head = `HTTP/1.1 ${status} ${a.statusText || REASONS[status] || "Status"}\r\n`;
  let dated = false;
  for (const [name, value] of a.fields) {
    const n = name.toLowerCase();
    if (n === "content-length" || n === "transfer-encoding" || n === "connection" || n === "keep-alive") continue;
    if (n === "date") dated = true;
    head += `${n}: ${value}\r\n`;
  }
  if (!dated) head += `date: ${httpDate()}\r\n`;
  if (bodyless) {
    if (a.length !== null && status !== 204 && status >= 200) head += `content-length: ${a.length}\r\n`;
  } else head += `content-length: ${a.body?.byteLength ?? 0}\r\n`;
  const keepAlive = req.keepAlive;
  head += keepAlive ? (req.version === "1.0" ? "connection: keep-alive\r\n\r\n" : "\r\n") : "connection: close\r\n\r\n";
  const bytes = bodyless || a.body === null || a.body.byteLength === 0 ? latin1(head) : joined(head, a.body);
  const written = out.write(bytes);
  return written === undefined ? keepAlive : written.then(() => keepAlive);
}

// An HTTP/1.1 response reader for the gateway's own upstream client (http1-client.ts): pure, one
// per connection, strict about framing (RFC 9112) because a proxy that reads a response's length
// differently from its upstream is a request-smuggling hole. Anything it cannot read exactly is a
// GatewayError("E_UPSTREAM"), and the connection it came on is not used again.
import { GatewayError } from "../core/errors.ts";

/** How the body of one response is delimited (RFC 9112 §6.3). */
export type Http1Framing =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "close" };

export interface Http1Head {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  readonly framing: Http1Framing;
  /** HTTP/1.1 without `Connection: close`: the connection may carry another request after this one. */
  readonly keepAlive: boolean;
}

export interface Http1ResponseSink {
  /** The final (non-1xx) head; body() and end() follow. */
  head(head: Http1Head): void;
  /** Body bytes, views of the incoming chunks (which are the caller's to keep). */
  body(bytes: Uint8Array): void;
  /** The body ended exactly where its framing says. */
  end(): void;
}

const enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  Close,
  Done,
}

const CR = 13;
const LF = 10;

const MAX_CHUNK_LINE = 4096;
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9][0-9]{2})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
/** A response head (without its final CRLF CRLF) as RFC 9112 has it, strictly: see parseHead. */
const HEAD = /^HTTP\/1\.[01] [1-9][0-9]{2}(?: [\t\x20-\x7e\x80-\xff]*)?(?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)*$/;
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A character a field value may not hold: a control other than HTAB (so also a bare CR or LF, and NUL). */
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
const CHUNK_SIZE_LINE = /^([0-9A-Fa-f]{1,13})[\t ]*(?:;[\t\x20-\x7e\x80-\xff]*)?$/;
const DIGITS = /^[0-9]{1,15}$/;

function fail(why: string): never {
  throw new GatewayError("E_UPSTREAM", `the upstream's answer cannot be read exactly: ${why}`);
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("latin1");
}

/** The value without the optional whitespace (SP, HTAB) around it; JS trim() would take more. */
function ows(v: string): string {
  let a = 0;
  let b = v.length;
  while (a < b && (v.charCodeAt(a) === 32 || v.charCodeAt(a) === 9)) a++;
  while (b > a && (v.charCodeAt(b - 1) === 32 || v.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === v.length ? v : v.slice(a, b);
}

/** Says what is wrong with a head that failed the HEAD grammar. */
function headError(head: string): never {
  const lines = head.split("\r\n");
  if (!STATUS_LINE.test(lines[0]!)) fail(`the status line ${JSON.stringify(lines[0]!.slice(0, 80))} is not HTTP/1.x (or holds a bare CR, LF or control character)`);
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const first = line.charCodeAt(0);
    if (first === 32 || first === 9) fail("a folded header line (obs-fold)");
    const colon = line.indexOf(":");
    // A name must be a token, so a space before the colon fails here.
    if (colon <= 0 || !FIELD_NAME.test(line.slice(0, colon))) fail(`the header line ${JSON.stringify(line.slice(0, 80))} is malformed`);
    if (BAD_VALUE_CHAR.test(line.slice(colon + 1))) fail(`the header line ${JSON.stringify(line.slice(0, 80))} holds a control character (a bare CR or LF, or NUL)`);
  }
  fail("the head is malformed");
}

/** Content-Length: digits only; a list of identical values is one value; differing values are an error. */
function contentLength(values: readonly string[]): number {
  let length = -1;
  for (const value of values) {
    for (const part of value.split(",")) {
      const v = ows(part);
      if (!DIGITS.test(v)) fail(`Content-Length ${JSON.stringify(value)} is not a number`);
      const n = Number(v);
      if (length !== -1 && n !== length) fail(`differing Content-Length values ${JSON.stringify(values.join(", "))}`);
      length = n;
    }
  }
  return length;
}

/** Reads one response after another on one connection; begin() before each. */
export class Http1ResponseParser {
  private state = State.Idle;
  private method = "";
  private head: Uint8Array | null = null;
  private headLength = 0;
  private remaining = 0;
  private line = "";
  private trailerBytes = 0;
  private touched = false;
  /** Bytes that came after the end of the answer (the connection must not be used again). */
  extra = false;

  constructor(
    private readonly sink: Http1ResponseSink,
    private readonly maxHeadBytes: number,
  ) {}

  /** Expect the answer to a request with this method. */
  begin(method: string): void {
    this.state = State.Head;
    this.method = method;
    this.head = null;
    this.headLength = 0;
    this.extra = false;
    this.touched = false;
  }

  /** The answer is complete (end() was called). */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Nothing of an answer has been read yet (1xx answers count as something). */
  get untouched(): boolean {
    return !this.touched;
  }

  /** Reads a chunk; throws a GatewayError on anything malformed. */
  push(chunk: Uint8Array): void {
    let at = 0;
    const n = chunk.length;
    while (at < n) {
      switch (this.state) {
        case State.Idle:
        case State.Done:
          this.extra = true;
          return;
        case State.Head:
          at = this.readHead(chunk, at);
          break;
        case State.Length: {
          const take = Math.min(this.remaining, n - at);
          this.sink.body(chunk.subarray(at, at + take));
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) this.finish();
          break;
        }
        case State.ChunkSize:
        case State.Trailers:
          at = this.readLine(chunk, at);
          break;
        case State.ChunkData: {
          const take = Math.min(this.remaining, n - at);
          this.sink.body(chunk.subarray(at, at + take));
          at += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            this.state = State.ChunkDataEnd;
            this.remaining = 2;
          }
          break;
        }
        case State.ChunkDataEnd: {
          const want = this.remaining === 2 ? CR : LF;
          if (chunk[at] !== want) fail("a chunk's data is not followed by CRLF");
          at++;
          if (--this.remaining === 0) {
            this.state = State.ChunkSize;
            this.line = "";
          }
          break;
        }
        case State.Close:
          this.sink.body(at === 0 ? chunk : chunk.subarray(at));
          at = n;
          break;
      }
    }
  }

  /** The upstream closed the connection: the end of a close-delimited body, an error mid-answer. */
  eof(): void {
    if (this.state === State.Close) return this.finish();
    if (this.state === State.Done || this.state === State.Idle) return;
    if (!this.touched) fail("the upstream closed the connection before answering");
    fail("the upstream closed the connection in the middle of its answer");
  }

  private finish(): void {
    this.state = State.Done;
    this.sink.end();
  }

  private readHead(chunk: Uint8Array, at: number): number {
    // Gather the head until CRLFCRLF: a view of the chunk when it holds the whole head, else
    // copied into a buffer that doubles as it grows (an upstream trickling bytes costs linear
    // time), taking no more of a chunk than the head limit allows.
    let buf: Uint8Array;
    let from: number;
    if (this.headLength === 0) {
      buf = at === 0 ? chunk : chunk.subarray(at);
      from = 0;
    } else {
      const add = Math.min(chunk.length - at, this.maxHeadBytes + 4 - this.headLength);
      let held = this.head!;
      if (held.length < this.headLength + add) {
        const grown = new Uint8Array(Math.max(held.length * 2, this.headLength + add));
        grown.set(held.subarray(0, this.headLength));
        held = this.head = grown;
      }
      held.set(chunk.subarray(at, at + add), this.headLength);
      buf = held.subarray(0, this.headLength + add);
      from = Math.max(0, this.headLength - 3);
    }
    this.touched = true;
    const last = Math.min(buf.length - 4, this.maxHeadBytes);
    let end = -1;
    for (let i = from; i <= last; i++) {
      const b = buf[i];
      if (b === CR && buf[i + 1] === LF && buf[i + 2] === CR && buf[i + 3] === LF) {
        end = i;
        break;
      }
      // A head with bare LF line ends would never end here (nor be read the same by everyone): refuse it now.
      if (b === LF && buf[i - 1] !== CR) fail("a bare LF in the head (lines must end in CRLF)");
    }
    if (end === -1) {
      if (buf.length >= this.maxHeadBytes) fail(`the head is larger than ${this.maxHeadBytes} bytes`);
      if (this.headLength === 0) {
        this.head = new Uint8Array(Math.max(1024, buf.length * 2));
        this.head.set(buf);
      }
      this.headLength = buf.length;
      return chunk.length;
    }
    if (end + 4 > this.maxHeadBytes) fail(`the head is larger than ${this.maxHeadBytes} bytes`);
    const consumedOfChunk = end + 4 - this.headLength; // bytes of this chunk (from `at`) the head used
    this.parseHead(buf, end);
    this.head = null;
    this.headLength = 0;
    return at + consumedOfChunk;
  }

  private parseHead(bytes: Uint8Array, end: number): void {
    const head = latin1(bytes, 0, end);
    // One check of the whole head's grammar (status line, then token ":" value lines, no control
    // character but HTAB anywhere, so no bare CR or LF, no NUL, no obs-fold); what fails it is
    // looked at line by line only to say why.
    if (!HEAD.test(head)) headError(head);
    const lines = head.split("\r\n");
    const statusLine = lines[0]!;
    const code = (statusLine.charCodeAt(9) - 48) * 100 + (statusLine.charCodeAt(10) - 48) * 10 + (statusLine.charCodeAt(11) - 48);
    const statusText = statusLine.length > 13 ? statusLine.slice(13) : "";
    const headers: Array<readonly [string, string]> = [];
    let lengths: string[] | null = null;
    let codings: string[] | null = null;
    let close = statusLine.charCodeAt(7) === 48; // HTTP/1.0
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      const value = ows(line.slice(colon + 1));
      headers.push([name, value]);
      const n = name.length;
      if (n === 14 || n === 17 || n === 10) {
        switch (name.toLowerCase()) {
          case "content-length":
            (lengths ??= []).push(value);
            break;
          case "transfer-encoding":
            codings ??= [];
            for (const c of value.split(",")) {
              const t = ows(c).toLowerCase();
              if (t !== "") codings.push(t);
            }
            break;
          case "connection":
            if (value.length === 10 && value.toLowerCase() === "keep-alive") break;
            for (const c of value.split(",")) if (ows(c).toLowerCase() === "close") close = true;
            break;
        }
      }
    }
    if (code < 200) {
      // 1xx: interim answers; the final one follows on the same connection. 101 would turn the
      // connection into something else, which a bodiless request through this client never asks for.
      if (code === 101) fail("101 Switching Protocols to a request that did not ask to upgrade");
      return; // stay in State.Head for the next head
    }
    const length = lengths !== null ? contentLength(lengths) : -1;
    if (codings !== null) {
      if (lengths !== null) fail("both Transfer-Encoding and Content-Length");
      if (codings.length !== 1 || codings[0] !== "chunked") fail(`Transfer-Encoding ${JSON.stringify(codings.join(", "))} (only chunked is read)`);
    }
    let framing: Http1Framing;
    if (this.method === "HEAD" || code === 204 || code === 304) framing = { kind: "none" };
    else if (codings !== null) framing = { kind: "chunked" };
    else if (length >= 0) framing = { kind: "length", length };
    else framing = { kind: "close" };
    const keepAlive = !close && framing.kind !== "close";
    this.sink.head({ status: code, statusText, headers, framing, keepAlive });
    switch (framing.kind) {
      case "none":
        return this.finish();
      case "length":
        if (framing.length === 0) return this.finish();
        this.state = State.Length;
        this.remaining = framing.length;
        return;
      case "chunked":
        this.state = State.ChunkSize;
        this.line = "";
        this.trailerBytes = 0;
        return;
      case "close":
        this.state = State.Close;
        return;
    }
  }

  /** A chunk-size line or a trailer line, up to its CRLF. */
  private readLine(chunk: Uint8Array, at: number): number {
    const n = chunk.length;
    let i = at;
    while (i < n && chunk[i] !== LF) i++;
    const piece = latin1(chunk, at, i);
    if (this.state === State.Trailers) {
      this.trailerBytes += i - at;
      if (this.trailerBytes > this.maxHeadBytes) fail(`the trailers are larger than ${this.maxHeadBytes} bytes`);
    } else if (this.line.length + piece.length > MAX_CHUNK_LINE) fail("a chunk-size line longer than 4096 bytes");
    this.line += piece;
    if (i === n) return n;
    const line = this.line;
    this.line = "";
    if (!line.endsWith("\r")) fail("a bare LF in the chunked body");
    const text = line.slice(0, -1);
    if (text.includes("\r") || text.includes("\0")) fail("a bare CR or NUL in the chunked body");
    if (this.state === State.ChunkSize) {
      const size = CHUNK_SIZE_LINE.exec(text);
      if (size === null) fail(`the chunk-size line ${JSON.stringify(text.slice(0, 80))} is malformed`);
      const length = parseInt(size[1]!, 16);
      if (length === 0) {
        this.state = State.Trailers;
      } else {
        this.state = State.ChunkData;
        this.remaining = length;
      }
    } else if (text === "") {
      this.finish();
    } else {
      const first = text.charCodeAt(0);
      const colon = text.indexOf(":");
      if (first === 32 || first === 9 || colon <= 0 || !FIELD_NAME.test(text.slice(0, colon)) || BAD_VALUE_CHAR.test(text.slice(colon + 1))) fail(`the trailer line ${JSON.stringify(text.slice(0, 80))} is malformed`);
    }
    return i + 1;
  }
}

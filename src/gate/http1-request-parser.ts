// A strict RFC 9112 request-head parser, pure and per call: the bytes of a connection go in,
// a whole request head (or "not yet", or a refusal that says why) comes out. What it accepts
// is what every upstream reads the same way; everything else (a backslash or no leading "/"
// in the target, obs-fold, whitespace before a colon, bare CR or LF, conflicting framing) is
// refused here, so the gateway answers it with a reason and a record instead of the runtime.

/** Refused heads: the status, the jsonError fields, and what could be read of the request line (for the record). */
export interface Http1Refusal {
  readonly status: 400 | 417 | 431 | 501 | 505;
  readonly error: string;
  readonly reason: string;
  readonly message: string;
  readonly method?: string;
  readonly target?: string;
}

export interface RequestHead {
  readonly method: string;
  /** As sent: origin-form ("/p?q"), absolute-form ("http://h/p") or "*" (OPTIONS only). */
  readonly target: string;
  readonly form: "origin" | "absolute" | "asterisk";
  readonly version: "1.0" | "1.1";
  /** Field names lower-cased, values without surrounding whitespace, in the order sent. */
  readonly headers: readonly (readonly [string, string])[];
  /** The Host field's value ("" when an HTTP/1.0 request has none). */
  readonly host: string;
  /** The body's length; null: chunked (see `chunked`) or none. */
  readonly contentLength: number | null;
  readonly chunked: boolean;
  /** The client asked to keep the connection (HTTP/1.1 unless "close"; 1.0 with "keep-alive"). */
  readonly keepAlive: boolean;
  readonly expectContinue: boolean;
  /** Bytes of the head on the wire, with its final empty line. */
  readonly headBytes: number;
}

export type ParseResult =
  | { readonly kind: "incomplete" }
  | { readonly kind: "head"; readonly head: RequestHead; readonly used: number }
  | { readonly kind: "refused"; readonly refusal: Http1Refusal };

export interface HeadLimits {
  /** The gateway's limit on request line plus fields (431 above it). */
  readonly maxHeadBytes: number;
  /** How far past that limit the parser still reads to say how large the head is. */
  readonly scanBytes: number;
  readonly maxHeaders: number;
}

/** The HTTP target's 16 KiB (as request-head.ts counted it), read up to 64 KiB to size it; Envoy's 100 fields. */
export const DEFAULT_HEAD_LIMITS: HeadLimits = { maxHeadBytes: 16 * 1024, scanBytes: 64 * 1024, maxHeaders: 100 };

const CR = 13;
const LF = 10;
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

// tchar (RFC 9110 §5.6.2): ! # $ % & ' * + - . ^ _ ` | ~ DIGIT ALPHA
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;
// What a request target may hold: visible ASCII, except the backslash (read as "/" by some
// servers) and "#" (a fragment is never sent), which upstreams disagree on.
const TARGET = new Uint8Array(256);
for (let c = 0x21; c < 0x7f; c++) TARGET[c] = 1;
TARGET[0x5c] = 0;
TARGET[0x23] = 0;
// A field value: HTAB, SP, VCHAR, obs-text; no NUL, CR, LF or other control bytes.
const FIELD_VALUE = new Uint8Array(256);
FIELD_VALUE[9] = 1;
for (let c = 0x20; c < 0x7f; c++) FIELD_VALUE[c] = 1;
for (let c = 0x80; c < 0x100; c++) FIELD_VALUE[c] = 1;

const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;

const bad = (message: string, line?: { method?: string; target?: string }, reason = "bad_request"): ParseResult => ({
  kind: "refused",
  refusal: { status: 400, error: "bad_request", reason, message, ...line },
});

function tooLarge(message: string, line: { method?: string; target?: string } | undefined, reason: string): ParseResult {
  return { kind: "refused", refusal: { status: 431, error: "header_fields_too_large", reason, message, ...line } };
}

/** Where "\r\n\r\n" ends (the index after it) within the first `limit` bytes from `from`, or -1. */
function headEnd(buf: Uint8Array, from: number, limit: number): number {
  const stop = Math.min(buf.length, from + limit);
  const at = Buffer.from(buf.buffer, buf.byteOffset, stop).indexOf(HEAD_END, from);
  return at < 0 ? -1 : at + 4;
}

const latin1 = (buf: Uint8Array, start: number, end: number): string => Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString("latin1");

/** The request line's method and target, when they can be read, for a refusal's record. */
function requestLineOf(buf: Uint8Array, from: number): { method?: string; target?: string } {
  const eol = buf.indexOf(LF, from);
  const line = latin1(buf, from, eol < 0 ? Math.min(buf.length, from + 8192) : eol).replace(/\r$/, "");
  const m = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+)/.exec(line);
  return m ? { method: m[1]!, target: m[2]! } : {};
}

/**
 * Reads one request head from `buf` at `from`. Empty lines before the request line are skipped
 * (RFC 9112 §2.2: some clients send a CRLF after a body).
 */
export function parseRequestHead(buf: Uint8Array, from = 0, limits: HeadLimits = DEFAULT_HEAD_LIMITS): ParseResult {
  let start = from;
  while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
  if (start >= buf.length || (buf.length - start === 1 && buf[start] === CR)) return { kind: "incomplete" };
  const end = headEnd(buf, start, limits.scanBytes);
  if (end < 0) {
    if (buf.length - start < limits.scanBytes) return { kind: "incomplete" };
    return tooLarge(
      `request header fields too large: the request line and headers take more than ${limits.scanBytes} bytes; the gateway takes at most ${limits.maxHeadBytes}`,
      requestLineOf(buf, start),
      "head_too_large",
    );
  }
  const headBytes = end - start;
  if (headBytes - 2 > limits.maxHeadBytes) {
    return tooLarge(
      `request header fields too large: the request line and headers take about ${headBytes - 2} bytes; the gateway takes at most ${limits.maxHeadBytes}`,
      requestLineOf(buf, start),
      "head_too_large",
    );
  }

  const lines = readFast(buf, start, end, limits) ?? readStrict(buf, start, end, limits);
  if ("kind" in lines) return lines;
  return meaning(lines, headBytes, end - from);
}

/** The request line and field lines of a well-formed head. */
interface Lines {
  readonly method: string;
  readonly target: string;
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  readonly headers: [string, string][];
}

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21\x22\x24-\x5b\x5d-\x7e]+) (HTTP\/1\.[01])$/;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):([\t\x20-\x7e\x80-\xff]*)$/;

/**
 * The common case, with native string search and two linear regexes instead of a loop over
 * bytes (the loop cost ~35% of the listener's CPU per request). Null: anything unusual, which
 * readStrict reads (or refuses, saying why); what this accepts, readStrict accepts the same
 * way (http1-request-parser.test.ts checks both on the same heads).
 */
export function readFast(buf: Uint8Array, start: number, end: number, limits: HeadLimits): Lines | null {
  const all = latin1(buf, start, end - 4).split("\r\n");
  if (all.length - 1 > limits.maxHeaders) return null;
  const rl = REQUEST_LINE.exec(all[0]!);
  if (rl === null) return null;
  const headers: [string, string][] = [];
  for (let i = 1; i < all.length; i++) {
    const m = FIELD_LINE.exec(all[i]!);
    if (m === null) return null;
    headers.push([m[1]!.toLowerCase(), trimOws(m[2]!)]);
  }
  return { method: rl[1]!, target: rl[2]!, version: rl[3] as Lines["version"], headers };
}

/** Without the optional whitespace around a field value (SP and HTAB only: obs-text stays). */
function trimOws(v: string): string {
  let a = 0;
  let b = v.length;
  while (a < b && (v.charCodeAt(a) === 0x20 || v.charCodeAt(a) === 9)) a++;
  while (b > a && (v.charCodeAt(b - 1) === 0x20 || v.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === v.length ? v : v.slice(a, b);
}

/** Reads the lines byte by byte: each malformation gets its own message. */
export function readStrict(buf: Uint8Array, start: number, end: number, limits: HeadLimits): Lines | ParseResult {
  // The request line: method SP request-target SP HTTP-version CRLF, single spaces.
  const eol = buf.indexOf(LF, start);
  if (buf[eol - 1] !== CR) return bad("the request line ends in a bare LF, not CRLF", requestLineOf(buf, start));
  let i = start;
  while (i < eol && TCHAR[buf[i]!] === 1) i++;
  if (i === start || buf[i] !== 0x20) return bad("the request line does not start with a method token and one space", requestLineOf(buf, start));
  const method = latin1(buf, start, i);
  const targetStart = i + 1;
  let j = targetStart;
  while (j < eol - 1 && buf[j] !== 0x20) j++;
  const target = latin1(buf, targetStart, j);
  const line = { method, target };
  if (j >= eol - 1) return bad("the request line has no HTTP version after its target", line);
  const version = latin1(buf, j + 1, eol - 1);
  if (!/^HTTP\/[0-9]\.[0-9]$/.test(version)) {
    return bad(`the request line must end in "HTTP/1.1" or "HTTP/1.0", not ${JSON.stringify(version.slice(0, 40))}`, line);
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return { kind: "refused", refusal: { status: 505, error: "http_version_not_supported", reason: "bad_version", message: `${version} is not supported on this port: send HTTP/1.1 or HTTP/1.0`, ...line } };
  }
  for (let k = targetStart; k < j; k++) {
    const c = buf[k]!;
    if (TARGET[c] !== 1) {
      const what = c === 0x5c ? "a backslash" : c === 0x23 ? 'a "#" (a fragment is never sent)' : c >= 0x80 ? `the byte 0x${c.toString(16)} (not ASCII; percent-encode it)` : `the control byte 0x${c.toString(16).padStart(2, "0")}`;
      return bad(`the request target holds ${what}: refused`, line, "bad_target");
    }
  }
  // Header fields: name ":" OWS value OWS CRLF, no folding, no whitespace before the colon.
  const headers: [string, string][] = [];
  let p = eol + 1;
  while (p < end - 2) {
    const lf = buf.indexOf(LF, p);
    if (buf[lf - 1] !== CR) return bad("a header line ends in a bare LF, not CRLF", line);
    const c0 = buf[p]!;
    if (c0 === 0x20 || c0 === 9) return bad("a header line starts with whitespace (obs-fold line folding is refused)", line);
    let n = p;
    while (n < lf - 1 && TCHAR[buf[n]!] === 1) n++;
    if (buf[n] !== 0x3a) {
      const what = n === p ? "has no field name" : buf[n] === 0x20 || buf[n] === 9 ? "has whitespace in its name or before its colon" : "holds a byte no field name may hold";
      // Quoted up to the colon: the value may be a credential.
      const colon = buf.indexOf(0x3a, p);
      const shown = latin1(buf, p, Math.min(colon < 0 || colon > lf ? lf - 1 : colon, p + 60));
      return bad(`a header line ${what}: ${JSON.stringify(shown)}`, line);
    }
    if (n === p) return bad("a header line has no field name before its colon", line);
    let v = n + 1;
    let ve = lf - 1;
    for (let k = v; k < ve; k++) {
      const c = buf[k]!;
      if (FIELD_VALUE[c] !== 1) {
        const what = c === 0 ? "a NUL byte" : c === CR ? "a bare CR" : `the control byte 0x${c.toString(16).padStart(2, "0")}`;
        return bad(`the value of ${latin1(buf, p, n)} holds ${what}`, line);
      }
    }
    while (v < ve && (buf[v] === 0x20 || buf[v] === 9)) v++;
    while (ve > v && (buf[ve - 1] === 0x20 || buf[ve - 1] === 9)) ve--;
    const name = latin1(buf, p, n).toLowerCase();
    const value = latin1(buf, v, ve);
    if (headers.length === limits.maxHeaders) {
      let count = headers.length + 1;
      for (let q = lf + 1; q < end - 2; q = buf.indexOf(LF, q) + 1) count++;
      return tooLarge(`request header fields too large: ${count} header fields; the gateway takes at most ${limits.maxHeaders}`, line, "too_many_headers");
    }
    headers.push([name, value]);
    p = lf + 1;
  }
  return { method, target, version, headers };
}

/** What the lines say: the target's form, Host, framing, Expect, keep-alive; or why they are refused. */
function meaning(lines: Lines, headBytes: number, used: number): ParseResult {
  const { method, target, version, headers } = lines;
  const line = { method, target };
  let form: RequestHead["form"];
  if (target.charCodeAt(0) === 0x2f) form = "origin";
  else if (/^https?:\/\/[^/?]+(?:[/?]|$)/i.test(target)) form = "absolute";
  else if (target === "*" && method === "OPTIONS") form = "asterisk";
  // The query is not quoted: it may hold a secret, which the record keeps redacted.
  else return bad(`the request target ${JSON.stringify(target.split("?")[0]!.slice(0, 200))} must start with "/" (or be an absolute http URL): refused`, line, "bad_target");
  let host: string | null = null;
  let hosts = 0;
  let contentLength: number | null = null;
  let lengths = 0;
  let transferEncoding: string | null = null;
  let connection = "";
  let expect: string | null = null;
  for (const [name, value] of headers) {
    switch (name) {
      case "host":
        hosts++;
        host = value;
        break;
      case "content-length":
        lengths++;
        if (!/^[0-9]{1,15}$/.test(value)) return bad(`Content-Length must be one decimal number, not ${JSON.stringify(value.slice(0, 40))}`, line, "bad_framing");
        contentLength = Number(value);
        break;
      case "transfer-encoding":
        transferEncoding = transferEncoding === null ? value : `${transferEncoding}, ${value}`;
        break;
      case "connection":
        connection = connection === "" ? value : `${connection}, ${value}`;
        break;
      case "expect":
        expect = value;
        break;
    }
  }
  const v11 = version === "HTTP/1.1";
  if (hosts > 1) return bad(`${hosts} Host header fields: a request has exactly one`, line, "bad_host");
  if (v11 && host === null) return bad("an HTTP/1.1 request needs a Host header field", line, "bad_host");
  if (host !== null && !HOST.test(host)) return bad(`the Host header field ${JSON.stringify(host.slice(0, 100))} is not a host and port`, line, "bad_host");
  if (lengths > 1) return bad(`${lengths} Content-Length header fields: a request has at most one`, line, "bad_framing");
  let chunked = false;
  if (transferEncoding !== null) {
    if (contentLength !== null) return bad("Transfer-Encoding and Content-Length together (a request smuggling pattern): refused", line, "bad_framing");
    if (!v11) return bad("Transfer-Encoding in an HTTP/1.0 request: refused", line, "bad_framing");
    if (transferEncoding.trim().toLowerCase() !== "chunked") {
      return bad(`Transfer-Encoding ${JSON.stringify(transferEncoding.slice(0, 60))}: only "chunked" is taken`, line, "bad_framing");
    }
    chunked = true;
  }
  let expectContinue = false;
  if (expect !== null) {
    if (expect.toLowerCase() !== "100-continue") {
      return { kind: "refused", refusal: { status: 417, error: "expectation_failed", reason: "bad_expect", message: `Expect ${JSON.stringify(expect.slice(0, 60))}: only "100-continue" is understood`, ...line } };
    }
    expectContinue = v11;
  }
  const tokens = connection.toLowerCase().split(",").map((t) => t.trim());
  const keepAlive = v11 ? !tokens.includes("close") : tokens.includes("keep-alive");
  return {
    kind: "head",
    head: { method, target, form, version: v11 ? "1.1" : "1.0", headers, host: host ?? "", contentLength, chunked, keepAlive, expectContinue, headBytes },
    used,
  };
}

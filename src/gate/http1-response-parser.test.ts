// The response parser fed the same answers whole, byte by byte and split at every offset: the
// result must not depend on how the bytes arrive (a head, a chunk size or a CRLF cut in two).
import { describe, expect, test } from "bun:test";
import { isGatewayError } from "../core/errors.ts";
import { Http1ResponseParser, type Http1Head } from "./http1-response-parser.ts";

interface Read {
  heads: Http1Head[];
  body: string;
  ended: boolean;
  extra: boolean;
  error: unknown;
}

function read(method: string, pieces: Uint8Array[], eof = false): Read {
  const out: Read = { heads: [], body: "", ended: false, extra: false, error: null };
  const p = new Http1ResponseParser(
    {
      head: (h) => void out.heads.push(h),
      body: (b) => void (out.body += Buffer.from(b).toString("latin1")),
      end: () => void (out.ended = true),
    },
    4096,
  );
  p.begin(method);
  try {
    for (const piece of pieces) p.push(piece);
    if (eof) p.eof();
  } catch (e) {
    out.error = e;
  }
  out.extra = p.extra;
  return out;
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "latin1"));
const splits = (s: string): Uint8Array[][] => {
  const b = bytes(s);
  const ways: Uint8Array[][] = [[b], Array.from(b, (x) => new Uint8Array([x]))];
  for (let i = 1; i < b.length; i++) ways.push([b.slice(0, i), b.slice(i)]);
  return ways;
};
const summary = (r: Read) => ({ heads: r.heads.map((h) => [h.status, h.statusText, h.headers, h.framing, h.keepAlive]), body: r.body, ended: r.ended, extra: r.extra, error: r.error === null ? null : (r.error as Error).message });

describe("Http1ResponseParser, however the bytes are split", () => {
  const good: Array<[string, string, boolean, string]> = [
    ["GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello", false, "hello"],
    ["GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\nx-t: 1\r\n\r\n", false, "hello!"],
    ["GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX: y\r\n\r\n", false, ""],
    ["HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", false, ""],
    ["GET", "HTTP/1.0 200 OK\r\n\r\nuntil close", true, "until close"],
  ];
  for (const [method, answer, eof, body] of good) {
    test(`reads ${JSON.stringify(answer.slice(0, 40))}… the same every way`, () => {
      const ways = splits(answer).map((pieces) => summary(read(method, pieces, eof)));
      expect(ways[0]!.error).toBeNull();
      expect(ways[0]!.ended).toBe(true);
      expect(ways[0]!.body).toBe(body);
      for (const w of ways) expect(w).toEqual(ways[0]!);
    });
  }

  test("bytes after the end are noticed, however they arrive", () => {
    for (const pieces of splits("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokX")) {
      const r = read("GET", pieces);
      expect([r.body, r.ended, r.extra]).toEqual(["ok", true, true]);
    }
  });

  const bad = [
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: a\rb\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nok",
  ];
  for (const answer of bad) {
    test(`refuses ${JSON.stringify(answer.slice(0, 50))}… every way`, () => {
      for (const pieces of splits(answer)) expect(isGatewayError(read("GET", pieces).error, "E_UPSTREAM")).toBe(true);
    });
  }

  test("a head past maxHeadBytes is refused even when it never ends", () => {
    const r = read("GET", [bytes("HTTP/1.1 200 OK\r\n"), ...Array.from({ length: 100 }, () => bytes("X-Pad: " + "a".repeat(100) + "\r\n"))]);
    expect(isGatewayError(r.error, "E_UPSTREAM")).toBe(true);
    expect((r.error as Error).message).toContain("larger than 4096");
  });
});

test("a head with bare LF line ends is refused as soon as it is seen, not left waiting for a CRLF CRLF that never comes", () => {
  const r = read("GET", [bytes("HTTP/1.1 200 OK\ncontent-length: 2\n\nok")]);
  expect(isGatewayError(r.error, "E_UPSTREAM")).toBe(true);
  expect((r.error as Error).message).toContain("bare LF");
});

import { describe, expect, test } from "bun:test";
import { ChunkedDecoder, ChunkedError } from "./http1-chunked.ts";
import { DEFAULT_HEAD_LIMITS, type ParseResult, type RequestHead, parseRequestHead, readFast, readStrict } from "./http1-request-parser.ts";

const enc = (s: string) => new Uint8Array(Buffer.from(s, "latin1"));
const parse = (s: string): ParseResult => parseRequestHead(enc(s));
const head = (s: string): RequestHead => {
  const r = parse(s);
  if (r.kind !== "head") throw new Error(`not a head: ${JSON.stringify(r)}`);
  return r.head;
};
const refusal = (s: string) => {
  const r = parse(s);
  if (r.kind !== "refused") throw new Error(`not refused: ${JSON.stringify(r)}`);
  return r.refusal;
};

describe("parseRequestHead", () => {
  test("a plain GET: method, target, fields in order, keep-alive, what it used", () => {
    const text = "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-A: 1\r\nx-a:  2 \r\n\r\nNEXT";
    const r = parse(text);
    expect(r.kind).toBe("head");
    if (r.kind !== "head") return;
    expect(r.used).toBe(text.length - 4);
    expect(r.head).toMatchObject({ method: "GET", target: "/a/b?c=1", form: "origin", version: "1.1", host: "example.com:8080", contentLength: null, chunked: false, keepAlive: true, expectContinue: false });
    expect(r.head.headers).toEqual([["host", "example.com:8080"], ["x-a", "1"], ["x-a", "2"]]);
  });

  test("incomplete until the empty line, from any offset; leading empty lines are skipped", () => {
    expect(parse("GET / HTTP/1.1\r\nHost: x\r\n").kind).toBe("incomplete");
    expect(parse("").kind).toBe("incomplete");
    expect(parse("\r\n").kind).toBe("incomplete");
    const buf = enc("xxxx\r\nGET /z HTTP/1.1\r\nHost: x\r\n\r\n");
    const r = parseRequestHead(buf, 4);
    expect(r.kind === "head" && r.head.target === "/z" && r.used === buf.length - 4).toBe(true);
  });

  test("HTTP/1.0: Host optional, keep-alive only when asked", () => {
    expect(head("GET / HTTP/1.0\r\n\r\n")).toMatchObject({ version: "1.0", host: "", keepAlive: false });
    expect(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive).toBe(true);
    expect(head("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n").keepAlive).toBe(false);
  });

  test("absolute-form and asterisk-form (OPTIONS only)", () => {
    expect(head("GET http://h.example/p?q HTTP/1.1\r\nHost: h.example\r\n\r\n")).toMatchObject({ form: "absolute", target: "http://h.example/p?q" });
    expect(head("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").form).toBe("asterisk");
    expect(refusal("GET * HTTP/1.1\r\nHost: x\r\n\r\n").reason).toBe("bad_target");
  });

  test("targets that upstreams read differently are refused with the method and target for the record", () => {
    for (const t of ["\\admin", "admin", "/a\\b", "/a#b", "/a\x01b", "/a\x7fb", "/caf\xe9", "127.0.0.1:1"]) {
      const r = refusal(`GET ${t} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(r).toMatchObject({ status: 400, error: "bad_request", reason: "bad_target", method: "GET" });
    }
    expect(refusal("GET \\admin HTTP/1.1\r\nHost: x\r\n\r\n").message).toContain("a backslash");
    expect(refusal("GET admin?token=SECRET HTTP/1.1\r\nHost: x\r\n\r\n").message).toBe('the request target "admin" must start with "/" (or be an absolute http URL): refused');
    // A space inside the target leaves something that is no version.
    expect(refusal("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n").status).toBe(400);
    expect(refusal("GET  /a HTTP/1.1\r\nHost: x\r\n\r\n").status).toBe(400);
  });

  test("versions: 1.0 and 1.1 only; others 505, garbage 400", () => {
    expect(refusal("GET / HTTP/2.0\r\nHost: x\r\n\r\n")).toMatchObject({ status: 505, error: "http_version_not_supported", method: "GET", target: "/" });
    expect(refusal("GET / HTTP/0.9\r\nHost: x\r\n\r\n").status).toBe(505);
    expect(refusal("GET / HTTP/1.10\r\nHost: x\r\n\r\n").status).toBe(400);
    expect(refusal("GET / http/1.1\r\nHost: x\r\n\r\n").status).toBe(400);
    expect(refusal("G@T / HTTP/1.1\r\nHost: x\r\n\r\n").status).toBe(400);
  });

  test("field syntax: obs-fold, space before the colon, bare CR or LF, NUL, no name", () => {
    const cases: [string, string][] = [
      ["X-A: 1\r\n folded\r\n", "obs-fold"],
      ["Bad Header: 1\r\n", "whitespace"],
      ["X-A : 1\r\n", "before its colon"],
      ["X-A: a\rb\r\n", "bare CR"],
      ["X-A: a\nX-B: b\r\n", "bare LF"],
      ["X-A: a\x00b\r\n", "NUL"],
      [": v\r\n", "no field name"],
      ["X-A\r\n", "holds a byte"],
    ];
    for (const [fields, why] of cases) {
      const r = refusal(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`);
      expect(r.status).toBe(400);
      expect(r.message).toContain(why);
    }
    expect(refusal("GET / HTTP/1.1\nHost: x\r\n\r\n").message).toContain("bare LF");
    // The value is not quoted: it may be a credential.
    expect(refusal("GET / HTTP/1.1\r\nHost: x\r\nAuthorization : Bearer SECRET\r\n\r\n").message).toBe('a header line has whitespace in its name or before its colon: "Authorization "');
  });

  test("Host: exactly one for HTTP/1.1, and a host", () => {
    expect(refusal("GET / HTTP/1.1\r\n\r\n")).toMatchObject({ reason: "bad_host" });
    expect(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").message).toContain("2 Host");
    expect(refusal("GET / HTTP/1.1\r\nHost: a/admin\r\n\r\n").reason).toBe("bad_host");
    expect(refusal("GET / HTTP/1.1\r\nHost: \r\n\r\n").reason).toBe("bad_host");
    expect(head("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").host).toBe("[::1]:80");
  });

  test("framing: one decimal Content-Length; chunked alone and never with Content-Length", () => {
    expect(head("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n").contentLength).toBe(12);
    for (const cl of ["+1", "-1", "1 2", "0x10", "1,1", "", "1234567890123456"]) {
      expect(refusal(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${cl}\r\n\r\n`).reason).toBe("bad_framing");
    }
    expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n").reason).toBe("bad_framing");
    expect(head("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").chunked).toBe(true);
    expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n").message).toContain("smuggling");
    expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n").reason).toBe("bad_framing");
    expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n").reason).toBe("bad_framing");
    expect(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").reason).toBe("bad_framing");
  });

  test("Expect: 100-continue understood, anything else 417", () => {
    expect(head("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expectContinue).toBe(true);
    expect(refusal("POST / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n").status).toBe(417);
  });

  test("size and count limits answer 431 with the gateway's message", () => {
    const big = refusal(`GET /x?q=1 HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(big).toMatchObject({ status: 431, error: "header_fields_too_large", reason: "head_too_large", method: "GET", target: "/x?q=1" });
    expect(big.message).toMatch(/^request header fields too large: the request line and headers take about \d+ bytes; the gateway takes at most 16384$/);
    // Never ends within the scan: refused once 64 KiB have come, without waiting for more.
    const huge = refusal(`GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70_000)}`);
    expect(huge.message).toContain("more than 65536 bytes");
    expect(parse(`GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(30_000)}`).kind).toBe("incomplete");
    // At the limit exactly: taken.
    const line = "GET / HTTP/1.1\r\nHost: x\r\n";
    const pad = 16 * 1024 - line.length - "X-P: \r\n".length;
    expect(head(`${line}X-P: ${"p".repeat(pad)}\r\n\r\n`).headers.length).toBe(2);
    expect(refusal(`${line}X-P: ${"p".repeat(pad + 1)}\r\n\r\n`).status).toBe(431);
    const many = refusal(`GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`);
    expect(many).toMatchObject({ status: 431, reason: "too_many_headers", message: "request header fields too large: 201 header fields; the gateway takes at most 100" });
    expect(head(`GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 99 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`).headers.length).toBe(100);
  });
});

describe("ChunkedDecoder", () => {
  const text = (parts: Uint8Array[]) => Buffer.concat(parts).toString("latin1");

  test("chunks with extensions and trailers, split at every byte, the rest left for the next request", () => {
    const wire = "5;a=b\r\nhello\r\n6 ; x = \"y\"\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /next";
    for (let cut = 1; cut < wire.length; cut++) {
      const d = new ChunkedDecoder();
      const a = d.push(enc(wire.slice(0, cut)));
      const b = d.done ? { data: [], used: 0 } : d.push(enc(wire.slice(cut)));
      expect(d.done).toBe(true);
      expect(text([...a.data, ...b.data])).toBe("hello world");
      const rest = a.used < cut ? wire.slice(a.used) : wire.slice(cut + b.used);
      expect(rest).toBe("GET /next");
    }
  });

  test("malformed framing throws", () => {
    for (const w of ["zz\r\n", "5\r\nhelloX\r\n", "5\nhello\r\n", "-1\r\n", "0x5\r\n", "1234567890123\r\n", "0\r\nbad trailer\r\n\r\n", "5;\x01\r\n"]) {
      expect(() => new ChunkedDecoder().push(enc(w))).toThrow(ChunkedError);
    }
  });
});

describe("the fast reader against the strict one", () => {
  // readFast takes the common case with regexes; whatever it accepts, readStrict (the byte loop
  // that says why it refuses) must accept as the same lines. Random heads built from the bytes
  // that matter (separators, whitespace, CR, LF, NUL, backslash, "#", obs-text), then mutated.
  test("on 30,000 random heads, every head the fast reader takes reads the same strictly", () => {
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const alphabet = ["a", "Z", "0", "-", "/", "?", "%", ":", " ", "\t", "\r", "\n", "\x00", "\\", "#", '"', "\x80", "\xff", "\x7f", ";", "="];
    const pick = <T>(xs: readonly T[]) => xs[rnd(xs.length)]!;
    const word = (n: number) => Array.from({ length: rnd(n) + 1 }, () => (rnd(3) === 0 ? pick(alphabet) : pick(["a", "b", "x", "1"]))).join("");
    let accepted = 0;
    for (let i = 0; i < 30_000; i++) {
      const method = rnd(4) === 0 ? word(4) : pick(["GET", "POST", "OPTIONS", "get"]);
      const target = rnd(3) === 0 ? word(8) : `/${word(6)}`;
      const version = rnd(5) === 0 ? pick(["HTTP/1.2", "HTTP/2.0", "http/1.1", "HTTP/1.1 "]) : pick(["HTTP/1.1", "HTTP/1.0"]);
      const fields = Array.from({ length: rnd(5) }, () => `${rnd(4) === 0 ? word(4) : pick(["Host", "X-A", "content-length"])}${rnd(6) === 0 ? " " : ""}:${pick(["", " ", "\t"])}${word(6)}${pick(["", " ", "\t "])}`);
      let text = `${method} ${target} ${version}\r\n${fields.map((f) => `${f}\r\n`).join("")}\r\n`;
      if (rnd(3) === 0) {
        const at = rnd(text.length - 4);
        text = text.slice(0, at) + pick(alphabet) + text.slice(at + 1);
      }
      const buf = enc(text);
      const end = Buffer.from(buf).indexOf("\r\n\r\n") + 4;
      if (end < 4) continue;
      const fast = readFast(buf, 0, end, DEFAULT_HEAD_LIMITS);
      if (fast === null) continue;
      accepted++;
      expect({ text, lines: readStrict(buf, 0, end, DEFAULT_HEAD_LIMITS) }).toEqual({ text, lines: fast });
    }
    // The generator reaches both sides: many taken fast, many left to the strict reader.
    expect(accepted).toBeGreaterThan(2_000);
    expect(accepted).toBeLessThan(27_000);
  });
});

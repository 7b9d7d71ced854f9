// The gateway's own HTTP/1.1 client against real servers: a Node.js `http` server run with `node`
// (differential against fetch, keep-alive reuse, backpressure, TLS with a client certificate),
// Bun.serve, and a raw TCP server that sends hand-written answers for every malformed framing.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Subprocess, TCPSocketListener } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isGatewayError } from "../core/errors.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { makeServerTls, CLIENT_CERT_CN } from "../../test/helpers/kube-apiserver/tls.ts";
import { Http1Pool, type Http1Answer } from "./http1-client.ts";

// ---------------------------------------------------------------------------------------------
// A Node.js upstream in its own process: routes for the differential test, a connection counter,
// a large paced stream that reports how far it got, and (with TLS_*) https with a client cert.
const NODE_UPSTREAM = String.raw`
const http = require("node:http");
const https = require("node:https");
let connections = 0;
let streamSent = 0;
let streamBlocked = false;
function handler(req, res) {
  const url = new URL(req.url, "http://x");
  const p = url.pathname;
  if (p === "/connections") { res.setHeader("content-type", "text/plain"); return res.end(String(connections)); }
  if (p === "/stream-progress") { return res.end(JSON.stringify({ sent: streamSent, blocked: streamBlocked })); }
  if (p === "/json") { res.setHeader("content-type", "application/json"); return res.end(JSON.stringify({ a: 1, q: url.search, h: req.headers["x-test"] ?? null, host: req.headers.host })); }
  if (p === "/chunked") { res.setHeader("content-type", "text/plain"); res.write("hello "); res.write("chunked "); return res.end("world"); }
  if (p === "/cookies") { res.setHeader("set-cookie", ["a=1", "b=2"]); res.setHeader("x-multi", ["one", "two"]); return res.end("c"); }
  if (p === "/empty") { res.statusCode = 204; return res.end(); }
  if (p === "/not-modified") { res.statusCode = 304; res.setHeader("etag", '"x"'); return res.end(); }
  if (p === "/teapot") { res.statusCode = 418; res.statusMessage = "I'm a teapot"; return res.end("short and stout"); }
  if (p === "/utf8") { res.setHeader("content-type", "text/plain; charset=utf-8"); return res.end("žluťoučký kůň ✓"); }
  if (p === "/big-length") { const b = Buffer.alloc(3 * 1024 * 1024, 97); res.setHeader("content-length", b.length); return res.end(b); }
  if (p === "/big-chunked") { for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024, 48 + (i % 10))); return res.end(); }
  if (p === "/close-delimited") { res.setHeader("connection", "close"); res.removeHeader("transfer-encoding"); res.useChunkedEncodingByDefault = false; res.write("until "); return res.end("close"); }
  if (p === "/slow-stream") {
    // 64 MiB, paced by the reader: write while the socket takes it, then wait for drain.
    const total = 64 * 1024 * 1024, piece = Buffer.alloc(64 * 1024, 120);
    res.setHeader("content-length", total);
    streamSent = 0; streamBlocked = false;
    const pump = () => {
      while (streamSent < total) {
        streamSent += piece.length;
        if (!res.write(piece)) {
          streamBlocked = true;
          return res.once("drain", () => { streamBlocked = false; pump(); });
        }
      }
      res.end();
    };
    return pump();
  }
  if (p === "/never") return; // no answer: for aborts
  res.statusCode = 404; res.end("no");
}
const tls = process.env.TLS_CERT ? { cert: process.env.TLS_CERT, key: process.env.TLS_KEY, ca: process.env.TLS_CA, requestCert: true, rejectUnauthorized: true } : null;
const server = tls
  ? https.createServer(tls, (req, res) => { const c = req.socket.getPeerCertificate(); res.end(JSON.stringify({ cn: c && c.subject ? c.subject.CN : null })); })
  : http.createServer(handler);
server.keepAliveTimeout = 60000;
server.on("connection", () => connections++);
server.listen(0, "127.0.0.1", () => console.log("PORT " + server.address().port));
`;

// Bounds for a loaded machine, not durations under test: 64 MiB streams and child processes.
setDefaultTimeout(60_000);

const dir = mkdtempSync(join(tmpdir(), "http1-client-test-"));
const script = join(dir, "upstream.cjs");
writeFileSync(script, NODE_UPSTREAM);

async function startNode(env: Record<string, string> = {}): Promise<{ port: number; proc: Subprocess<"ignore", "pipe", "inherit"> }> {
  const proc = Bun.spawn(["node", script], { stdout: "pipe", stderr: "inherit", env: { ...process.env, ...env } });
  const reader = proc.stdout.getReader();
  let text = "";
  const port = await waitFor("the Node.js upstream to print its port", async () => {
    const { value, done } = await reader.read();
    if (done) throw new Error("the Node.js upstream exited");
    text += new TextDecoder().decode(value);
    const m = /PORT (\d+)/.exec(text);
    return m ? Number(m[1]) : null;
  });
  reader.releaseLock();
  return { port, proc };
}

const text = (a: Http1Answer): string => new TextDecoder().decode(a.body!);

async function bodyOf(a: Http1Answer): Promise<Uint8Array> {
  if (a.body !== null) return a.body;
  if (a.stream === null) return new Uint8Array(0);
  return new Uint8Array(await new Response(a.stream).arrayBuffer());
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected the request to fail, and it succeeded");
}

let node: { port: number; proc: Subprocess<"ignore", "pipe", "inherit"> };
beforeAll(async () => {
  node = await startNode();
});
afterAll(() => {
  node.proc.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function nodeConnections(): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${node.port}/connections`, { headers: { connection: "close" } });
  return Number(await r.text());
}

describe("against a Node.js http server", () => {
  test("answers equal fetch's: status, headers, body", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: node.port }, { maxWhole: 1024 * 1024 });
    const cases: Array<[string, string]> = [
      ["GET", "/json?x=1&y=%20z"],
      ["GET", "/chunked"],
      ["GET", "/cookies"],
      ["GET", "/empty"],
      ["GET", "/not-modified"],
      ["GET", "/teapot"],
      ["GET", "/utf8"],
      ["GET", "/big-length"],
      ["GET", "/big-chunked"],
      ["HEAD", "/json"],
      ["HEAD", "/big-length"],
      ["DELETE", "/json"],
      ["OPTIONS", "/nothing-here"],
    ];
    for (const [method, path] of cases) {
      const ours = await pool.request(method, path, "x-test: yes\r\naccept: */*\r\n");
      const theirs = await fetch(`http://127.0.0.1:${node.port}${path}`, { method, headers: { "x-test": "yes", accept: "*/*" }, decompress: false } as RequestInit);
      const label = `${method} ${path}`;
      expect(`${label} ${ours.status} ${ours.statusText}`).toBe(`${label} ${theirs.status} ${theirs.statusText}`);
      const ourHeaders = new Headers();
      for (const [n, v] of ours.headers) ourHeaders.append(n, v);
      const drop = (h: Headers): Array<[string, string]> => [...h.entries()].filter(([n]) => n !== "date" && n !== "connection" && n !== "keep-alive");
      expect(drop(ourHeaders)).toEqual(drop(theirs.headers));
      expect(ourHeaders.getSetCookie()).toEqual(theirs.headers.getSetCookie());
      const ourBody = await bodyOf(ours);
      const theirBody = new Uint8Array(await theirs.arrayBuffer());
      expect(ourBody.length).toBe(theirBody.length);
      expect(Buffer.compare(Buffer.from(ourBody), Buffer.from(theirBody))).toBe(0);
      if (method === "HEAD" || ours.status === 204 || ours.status === 304) expect([ours.body, ours.stream]).toEqual([null, null]);
    }
    pool.close();
  });

  test("whole bodies up to maxWhole, streams beyond it (Content-Length and chunked)", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: node.port }, { maxWhole: 1024 * 1024 });
    const small = await pool.request("GET", "/chunked", "");
    expect(small.stream).toBeNull();
    expect(text(small)).toBe("hello chunked world");
    const bigLength = await pool.request("GET", "/big-length", "");
    expect(bigLength.body).toBeNull();
    expect((await bodyOf(bigLength)).length).toBe(3 * 1024 * 1024);
    const bigChunked = await pool.request("GET", "/big-chunked", "");
    expect(bigChunked.body).toBeNull();
    const b = await bodyOf(bigChunked);
    expect(b.length).toBe(40 * 64 * 1024);
    expect(b[0]).toBe(48);
    expect(b[b.length - 1]).toBe(48 + 9);
    pool.close();
  });

  test("the host header is the origin's, or the caller's", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: node.port });
    expect(JSON.parse(text(await pool.request("GET", "/json", ""))).host).toBe(`127.0.0.1:${node.port}`);
    expect(JSON.parse(text(await pool.request("GET", "/json", "", { hostHeader: "api.example" }))).host).toBe("api.example");
    pool.close();
  });

  test("keep-alive: sequential requests reuse one connection, counted at the server", async () => {
    const before = await nodeConnections();
    const pool = new Http1Pool({ host: "127.0.0.1", port: node.port });
    for (let i = 0; i < 25; i++) expect(JSON.parse(text(await pool.request("GET", `/json?i=${i}`, ""))).q).toBe(`?i=${i}`);
    // +1 for the pool's one connection, +1 for nodeConnections' own request
    expect(await nodeConnections()).toBe(before + 2);
    // 8 at once need 8 connections, and then they are reused
    const mid = await nodeConnections();
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 8 }, (_, i) => pool.request("GET", `/json?r=${round}&i=${i}`, "")));
    expect(await nodeConnections()).toBe(mid + 1 + 8 - 1);
    pool.close();
  });

  test("a stream the reader does not pull keeps the upstream blocked; memory stays flat", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: node.port }, { maxWhole: 64 * 1024 });
    const answer = await pool.request("GET", "/slow-stream", "");
    expect(answer.stream).not.toBeNull();
    const reader = answer.stream!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const progress = async (): Promise<{ sent: number; blocked: boolean }> =>
      (await (await fetch(`http://127.0.0.1:${node.port}/stream-progress`, { headers: { connection: "close" } })).json()) as { sent: number; blocked: boolean };
    const stalled = await waitFor("the upstream's write to block on a reader that does not pull", async () => {
      const p = await progress();
      return p.blocked ? p : null;
    });
    // Kernel buffers on both sides plus the stream's 64 KiB high-water mark: a few MiB, not 64.
    // It stays there while the reader does not pull (a client that kept reading the socket
    // would have taken all 64 MiB over loopback within these round trips).
    expect(stalled.sent).toBeLessThan(24 * 1024 * 1024);
    for (let i = 0; i < 30; i++) {
      const p = await progress();
      expect(p.sent).toBeLessThan(24 * 1024 * 1024);
      await Bun.sleep(5); // gives the upstream time to push more if it could; what is asserted does not depend on it
    }
    // Resident size after a full collection on both sides: chunks the reader has finished with
    // are garbage, and without the collection a loaded machine's lagging GC (not the pool) decided
    // the figure (stress-ng --cpu 2: +64 MiB once). What the pool still holds is what remains.
    Bun.gc(true);
    const rssBefore = process.memoryUsage().rss;
    let total = first.value!.length;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      total += value.length;
    }
    expect(total).toBe(64 * 1024 * 1024);
    Bun.gc(true);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(48 * 1024 * 1024);
    // read to its end: the connection is reusable
    const before = await nodeConnections();
    expect(JSON.parse(text(await pool.request("GET", "/json", ""))).a).toBe(1);
    expect(await nodeConnections()).toBe(before + 1); // only nodeConnections' own
    pool.close();
  });

  test("abort: before the answer rejects and closes the connection; mid-stream errors the stream", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: node.port }, { maxWhole: 64 * 1024 });
    const ac = new AbortController();
    const pending = pool.request("GET", "/never", "", { signal: ac.signal });
    await waitFor("the request to reach the server", async () => (await nodeConnections()) > 0);
    ac.abort(new Error("client left"));
    const e = await rejection(pending);
    expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    expect(e.message).toContain("aborted");

    const ac2 = new AbortController();
    const answer = await pool.request("GET", "/slow-stream", "", { signal: ac2.signal });
    const reader = answer.stream!.getReader();
    await reader.read();
    ac2.abort();
    const streamError = await rejection(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    );
    expect(isGatewayError(streamError, "E_UPSTREAM")).toBe(true);
    const already = new AbortController();
    already.abort();
    expect(isGatewayError(await rejection(pool.request("GET", "/json", "", { signal: already.signal })), "E_UPSTREAM")).toBe(true);
    pool.close();
  });

});

describe("TLS", () => {
  const tls = makeServerTls();
  let upstream: { port: number; proc: Subprocess<"ignore", "pipe", "inherit"> };
  beforeAll(async () => {
    upstream = await startNode({ TLS_CERT: tls.certPem, TLS_KEY: tls.keyPem, TLS_CA: tls.caPem });
  });
  afterAll(() => upstream.proc.kill());

  test("with the CA and a client certificate", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: upstream.port, tls: { ca: tls.caPem, cert: tls.clientCertPem, key: tls.clientKeyPem } });
    for (let i = 0; i < 3; i++) {
      const a = await pool.request("GET", "/", "");
      expect(a.status).toBe(200);
      expect(JSON.parse(text(a)).cn).toBe(CLIENT_CERT_CN);
    }
    pool.close();
  });

  test("an upstream certificate the CA did not sign is refused", async () => {
    const other = makeServerTls();
    const pool = new Http1Pool({ host: "127.0.0.1", port: upstream.port, tls: { ca: other.caPem, cert: tls.clientCertPem, key: tls.clientKeyPem } });
    const e = await rejection(pool.request("GET", "/", ""));
    expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    pool.close();
  });

  test("without a client certificate the server refuses, and the request fails", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: upstream.port, tls: { ca: tls.caPem, serverName: "localhost" } });
    const e = await rejection(pool.request("GET", "/", ""));
    expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    pool.close();
  });
});

// ---------------------------------------------------------------------------------------------
// A raw TCP upstream: each connection answers requests with the scripted bytes.
interface Raw {
  port: number;
  connections: number;
  closedConnections: number;
  /** How the n-th request (0-based, across connections) is answered: bytes, or "drop" to close the connection without answering. */
  answer: (n: number, connection: number) => string | "drop" | "silent" | { readonly end: string };
  server: TCPSocketListener<{ id: number; buf: string }>;
}

function startRaw(): Raw {
  let requests = 0;
  const raw: Raw = {
    port: 0,
    connections: 0,
    closedConnections: 0,
    answer: () => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
    server: null as unknown as TCPSocketListener<{ id: number; buf: string }>,
  };
  raw.server = Bun.listen<{ id: number; buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { id: raw.connections++, buf: "" };
      },
      data(s, d) {
        s.data.buf += d.toString("latin1");
        let i: number;
        while ((i = s.data.buf.indexOf("\r\n\r\n")) !== -1) {
          s.data.buf = s.data.buf.slice(i + 4);
          const a = raw.answer(requests++, s.data.id);
          if (a === "drop") return void s.end();
          if (typeof a === "object") return void s.end(a.end);
          if (a !== "silent") s.write(a);
        }
      },
      close() {
        raw.closedConnections++;
      },
    },
  });
  raw.port = raw.server.port;
  return raw;
}

describe("against hand-written answers", () => {
  let raw: Raw;
  beforeAll(() => {
    raw = startRaw();
  });
  afterAll(() => raw.server.stop(true));

  const malformed: Array<[string, string | { end: string }]> = [
    ["a bare LF line ending", "HTTP/1.1 200 OK\ncontent-length: 2\r\n\r\nok"],
    ["obs-fold", "HTTP/1.1 200 OK\r\nx-a: 1\r\n  folded\r\ncontent-length: 2\r\n\r\nok"],
    ["a space before the colon", "HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nok"],
    ["a NUL in a value", "HTTP/1.1 200 OK\r\nx-a: a\0b\r\ncontent-length: 2\r\n\r\nok"],
    ["a bare CR in a value", "HTTP/1.1 200 OK\r\nx-a: a\rb\r\ncontent-length: 2\r\n\r\nok"],
    ["a control character in a value", "HTTP/1.1 200 OK\r\nx-a: a\x01b\r\ncontent-length: 2\r\n\r\nok"],
    ["an empty header name", "HTTP/1.1 200 OK\r\n: x\r\ncontent-length: 2\r\n\r\nok"],
    ["Content-Length with a sign", "HTTP/1.1 200 OK\r\ncontent-length: +2\r\n\r\nok"],
    ["Content-Length in hex", "HTTP/1.1 200 OK\r\ncontent-length: 0x2\r\n\r\nok"],
    ["differing Content-Length values in a list", "HTTP/1.1 200 OK\r\ncontent-length: 2, 3\r\n\r\nok"],
    ["differing Content-Length fields", "HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok"],
    ["an empty Content-Length", "HTTP/1.1 200 OK\r\ncontent-length: \r\n\r\nok"],
    ["Transfer-Encoding gzip", "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nok"],
    ["Transfer-Encoding gzip, chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
    ["Transfer-Encoding chunked, chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
    ["Transfer-Encoding with Content-Length", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 7\r\n\r\n2\r\nok\r\n0\r\n\r\n"],
    ["a chunk size that is not hex", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"],
    ["a chunk size with a sign", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n+2\r\nok\r\n0\r\n\r\n"],
    ["a chunk without its CRLF", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n"],
    ["a chunk-size line ending in a bare LF", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n"],
    ["a chunk size too large for a number", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\nok\r\n0\r\n\r\n"],
    ["a malformed trailer", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nbad trailer\r\n\r\n"],
    ["101 Switching Protocols", "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"],
    ["HTTP/2 status line", "HTTP/2 200 OK\r\ncontent-length: 2\r\n\r\nok"],
    ["a two-digit status", "HTTP/1.1 20 OK\r\ncontent-length: 2\r\n\r\nok"],
    ["a lower-case version", "http/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
    ["two spaces after the version", "HTTP/1.1  200 OK\r\ncontent-length: 2\r\n\r\nok"],
    ["leading empty line", "\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"],
    ["a body shorter than Content-Length, then close", { end: "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort" }],
    ["a chunked body cut off by close", { end: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel" }],
    ["a head cut off by close", { end: "HTTP/1.1 200 OK\r\ncontent-len" }],
    ["a chunked body that ends at a chunk boundary by close", { end: "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n" }],
    ["a head larger than maxHeadBytes", `HTTP/1.1 200 OK\r\nx-big: ${"a".repeat(5000)}\r\ncontent-length: 2\r\n\r\nok`],
  ];

  for (const [name, answer] of malformed) {
    test(`rejected: ${name}`, async () => {
      const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port }, { maxHeadBytes: 4096 });
      // the malformed answer closes its connection so a cut-off one ends
      raw.answer = () => answer;
      const closedBefore = raw.closedConnections;
      const e = await rejection(
        (async () => {
          const a = await pool.request("GET", "/", "");
          await bodyOf(a); // a body cut short fails here when the head was fine
          return a;
        })(),
      );
      expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
      // the connection that carried it is not used again
      raw.answer = () => "drop";
      await waitFor("the connection of the malformed answer to close", () => raw.closedConnections > closedBefore || null);
      pool.close();
    });
  }

  test("well-formed edge cases are read", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port }, { maxWhole: 100 });
    const read = async (answer: string, method = "GET"): Promise<[Http1Answer, string]> => {
      raw.answer = () => answer;
      const a = await pool.request(method, "/", "");
      return [a, new TextDecoder().decode(await bodyOf(a))];
    };
    expect((await read("HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\ncontent-length: 2\r\n\r\nok"))[1]).toBe("ok");
    const [cont, contBody] = await read("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\nnew");
    expect([cont.status, cont.statusText, contBody]).toEqual([201, "Created", "new"]);
    expect(cont.headers).toEqual([["content-length", "3"]]);
    const [ext, extBody] = await read("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n3;name=value\r\nabc\r\n2 ; x\r\nde\r\n0\r\nx-trailer: t\r\n\r\n");
    expect(extBody).toBe("abcde");
    expect(ext.body).not.toBeNull();
    const [noReason] = await read("HTTP/1.1 200\r\ncontent-length: 0\r\n\r\n");
    expect([noReason.status, noReason.statusText, noReason.body?.length]).toEqual([200, "", 0]);
    const [ows, owsBody] = await read("HTTP/1.1 200 OK\r\nx-a: \t spaced \t\r\ncontent-length:2\r\n\r\nok");
    expect(ows.headers[0]).toEqual(["x-a", "spaced"]);
    expect(owsBody).toBe("ok");
    const [head] = await read("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n", "HEAD");
    expect([head.body, head.stream]).toEqual([null, null]);
    pool.close();
  });

  test("no length and not chunked: read to close, as a stream, connection not reused", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    raw.answer = () => "HTTP/1.1 200 OK\r\n\r\n";
    const before = raw.connections;
    // the raw server ends the connection after writing for this one
    raw.answer = () => "drop";
    const p = pool.request("GET", "/", "");
    const e = await rejection(p); // closed before any byte: an error, not an empty body
    expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    const srv = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          s.write("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil ");
          s.end("the end");
        },
      },
    });
    const closePool = new Http1Pool({ host: "127.0.0.1", port: srv.port });
    const a = await closePool.request("GET", "/", "");
    expect(a.body).toBeNull();
    expect(new TextDecoder().decode(await bodyOf(a))).toBe("until the end");
    expect(raw.connections).toBeGreaterThan(before);
    srv.stop(true);
    closePool.close();
    pool.close();
  });

  test("a connection is not reused after Connection: close, HTTP/1.0, or bytes beyond the answer", async () => {
    for (const first of [
      "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
      "HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
      "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA",
    ]) {
      const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
      const before = raw.connections;
      raw.answer = (n, c) => (c === before ? first : "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      expect(text(await pool.request("GET", "/", ""))).toBe("ok");
      expect(text(await pool.request("GET", "/", ""))).toBe("ok");
      expect(raw.connections).toBe(before + 2);
      pool.close();
    }
    // and a well-behaved one is reused
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    const before = raw.connections;
    raw.answer = () => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    for (let i = 0; i < 5; i++) expect(text(await pool.request("GET", "/", ""))).toBe("ok");
    expect(raw.connections).toBe(before + 1);
    pool.close();
  });

  test("bytes that arrive on an idle connection close it", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    let late: (() => void) | null = null;
    const srv = Bun.listen<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
          late = () => s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nlater");
        },
        close() {
          late = null;
          closed++;
        },
      },
    });
    let closed = 0;
    const p2 = new Http1Pool({ host: "127.0.0.1", port: srv.port });
    expect(text(await p2.request("GET", "/", ""))).toBe("ok");
    (late as (() => void) | null)?.();
    await waitFor("the client to close the connection that sent unasked bytes", () => closed > 0 || null);
    expect(text(await p2.request("GET", "/", ""))).toBe("ok");
    srv.stop(true);
    p2.close();
    pool.close();
  });

  test("a reused connection that closes before answering: GET is retried once on a new one, DELETE is not", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    const base = raw.connections;
    // the first connection answers once, then drops the next request unanswered (a stale keep-alive)
    raw.answer = (_n, c) => {
      if (c === base) return seen.has(c) ? "drop" : (seen.add(c), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      return "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nretry";
    };
    const seen = new Set<number>();
    expect(text(await pool.request("GET", "/", ""))).toBe("ok");
    expect(text(await pool.request("GET", "/", ""))).toBe("retry");
    expect(raw.connections).toBe(base + 2);

    pool.close();
    const pool2 = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    const base2 = raw.connections;
    raw.answer = (_n, c) => {
      if (c === base2) return seen.has(c) ? "drop" : (seen.add(c), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
      return "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nretry";
    };
    expect(text(await pool2.request("DELETE", "/", ""))).toBe("ok");
    const e = await rejection(pool2.request("DELETE", "/", ""));
    expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    expect(raw.connections).toBe(base2 + 1);
    pool2.close();

    // a new connection that closes before answering is not retried, even for GET
    const pool3 = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    const base3 = raw.connections;
    raw.answer = () => "drop";
    expect(isGatewayError(await rejection(pool3.request("GET", "/", "")), "E_UPSTREAM")).toBe(true);
    expect(raw.connections).toBe(base3 + 1);
    pool3.close();
  });

  test("an upstream that closes an idle connection: it is dropped and the next request works", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    const srv = Bun.listen<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(s) {
          s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
          s.end();
        },
        close() {
          closed++;
        },
      },
    });
    let closed = 0;
    const p2 = new Http1Pool({ host: "127.0.0.1", port: srv.port });
    expect(text(await p2.request("DELETE", "/", ""))).toBe("ok");
    await waitFor("the pool to drop the connection the upstream closed", () => p2.idleConnections === 0 || null);
    expect(closed).toBe(1);
    expect(text(await p2.request("DELETE", "/", ""))).toBe("ok");
    srv.stop(true);
    p2.close();
    pool.close();
  });

  test("idle connections close after idleTimeoutMs", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port }, { idleTimeoutMs: 30 });
    raw.answer = () => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    const closed = raw.closedConnections;
    expect(text(await pool.request("GET", "/", ""))).toBe("ok");
    expect(pool.idleConnections).toBe(1);
    await waitFor("the idle connection to close at the server", () => raw.closedConnections > closed || null);
    expect(pool.idleConnections).toBe(0);
    expect(text(await pool.request("GET", "/", ""))).toBe("ok");
    pool.close();
  });

  test("maxConnections: requests beyond it wait for a free connection; a waiting one can be aborted", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port }, { maxConnections: 2 });
    const before = raw.connections;
    raw.answer = (n) => `HTTP/1.1 200 OK\r\ncontent-length: ${String(n).length}\r\n\r\n${n}`;
    const answers = await Promise.all(Array.from({ length: 20 }, () => pool.request("GET", "/", "")));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(raw.connections).toBe(before + 2);
    pool.close();

    // one connection, held by a request the upstream does not answer: the next waits, and its abort ends only it
    const one = new Http1Pool({ host: "127.0.0.1", port: raw.port }, { maxConnections: 1 });
    raw.answer = () => "silent";
    const held = one.request("GET", "/held", "");
    const ac = new AbortController();
    const waiting = one.request("GET", "/waiting", "", { signal: ac.signal });
    await waitFor("the held request to reach the upstream", () => raw.connections > before + 2 || null);
    ac.abort();
    expect(isGatewayError(await rejection(waiting), "E_UPSTREAM")).toBe(true);
    one.close();
    expect(isGatewayError(await rejection(held), "E_UPSTREAM")).toBe(true);
  });

  test("requests that would break the request framing are refused before sending", async () => {
    const pool = new Http1Pool({ host: "127.0.0.1", port: raw.port });
    const before = raw.connections;
    for (const [method, target, fields, host] of [
      ["GE T", "/", "", undefined],
      ["GET", "/a b", "", undefined],
      ["GET", "/\r\nx: y", "", undefined],
      ["GET", "/", "x: y\r\n\r\nGET /smuggled HTTP/1.1\r\n", undefined],
      ["GET", "/", "x: y\ninjected: 1\r\n", undefined],
      ["GET", "/", "x: y", undefined],
      ["GET", "/", "", "a\r\nx: y"],
      ["GET", "/", "Host: other\r\n", undefined],
      ["GET", "/", "x: 1\r\ntransfer-encoding: chunked\r\n", undefined],
      ["GET", "/", "Content-Length: 5\r\n", undefined],
      ["GET", "/", "connection: close\r\n", undefined],
    ] as const) {
      const e = await rejection(pool.request(method, target, fields, host === undefined ? {} : { hostHeader: host }));
      expect(isGatewayError(e, "E_UPSTREAM")).toBe(true);
    }
    expect(raw.connections).toBe(before);
    pool.close();
  });

  test("an unreachable upstream, and a closed pool, reject with E_UPSTREAM", async () => {
    const srv = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = srv.port;
    srv.stop(true);
    const pool = new Http1Pool({ host: "127.0.0.1", port });
    expect(isGatewayError(await rejection(pool.request("GET", "/", "")), "E_UPSTREAM")).toBe(true);
    pool.close();
    expect(isGatewayError(await rejection(pool.request("GET", "/", "")), "E_UPSTREAM")).toBe(true);
  });
});

describe("against Bun.serve", () => {
  test("answers equal fetch's", async () => {
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch(req) {
        const u = new URL(req.url);
        if (u.pathname === "/stream") return new Response(new ReadableStream({ pull(c) { c.enqueue(new TextEncoder().encode("part ")); c.close(); } }));
        return Response.json({ path: u.pathname, q: u.search }, { headers: { "x-one": "1" } });
      },
    });
    const pool = new Http1Pool({ host: "127.0.0.1", port: server.port! });
    for (const path of ["/a", "/b?c=d", "/stream"]) {
      const ours = await pool.request("GET", path, "");
      const theirs = await fetch(`http://127.0.0.1:${server.port}${path}`);
      expect(ours.status).toBe(theirs.status);
      expect(new TextDecoder().decode(await bodyOf(ours))).toBe(await theirs.text());
      expect(ours.headers.find(([n]) => n.toLowerCase() === "content-type")?.[1]).toBe(theirs.headers.get("content-type") ?? undefined);
    }
    pool.close();
    server.stop(true);
  });
});

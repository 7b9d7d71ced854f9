import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { signal, within } from "../../test/helpers/wait.ts";
import { type ClientConnection, type Http1Refusal, type Http1Server, serveHttp1 } from "./http1-server.ts";

let server: Http1Server<{ tag: string }>;
const refusals: Http1Refusal[] = [];
const aborted: string[] = [];
/** The request targets the lane was offered. */
const offered: string[] = [];
let slowBody = signal<void>();
let heldAbort = signal<void>();
let holding = signal<void>();
/** What a connection's state held when its onEnd ran. */
let connectionEnded = signal<number>();

/** Counts a request on its connection (the target's state, `local`), and asks to be told of the connection's end. */
function countOn(c: ClientConnection): number {
  const n = ((c.local as number | null) ?? 0) + 1;
  c.local = n;
  if (c.onEnd === null) c.onEnd = () => connectionEnded.resolve(c.local as number);
  return n;
}

beforeAll(() => {
  server = serveHttp1<{ tag: string }>({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req, srv) {
      const url = new URL(req.url);
      if (url.pathname === "/echo") {
        const body = req.body === null ? "" : await req.text();
        return Response.json({ method: req.method, url: req.url, body, ip: srv.requestIP(req)?.address, x: req.headers.get("x-a") });
      }
      if (url.pathname === "/count") {
        let n = 0;
        for await (const c of req.body!) n += c.byteLength;
        return new Response(String(n));
      }
      if (url.pathname === "/stream") {
        // The head must go out before the body has anything to say.
        return new Response(
          new ReadableStream({
            async pull(c) {
              await slowBody.promise;
              c.enqueue(new TextEncoder().encode("late"));
              c.close();
            },
          }),
          { headers: { "content-type": "text/plain" } },
        );
      }
      if (url.pathname === "/hold") {
        req.signal.addEventListener("abort", () => {
          aborted.push(url.pathname);
          heldAbort.resolve();
        });
        holding.resolve();
        await heldAbort.promise;
        return new Response("never");
      }
      if (url.pathname === "/conn") return new Response(`n ${countOn(srv.connectionOf(req)!)}`);
      if (url.pathname === "/nocontent") return new Response(null, { status: 204 });
      if (url.pathname === "/sized") return new Response("hello", { headers: { "content-length": "5", "x-b": "1" } });
      if (url.pathname === "/ws") return srv.upgrade(req, { data: { tag: "t1" } }) ? undefined : new Response("no upgrade", { status: 400 });
      return new Response(`path ${url.pathname}`);
    },
    // Takes /lane/* (a WholeAnswer; /lane/response: a Response), leaves the rest to fetch.
    lane(head, ctx) {
      offered.push(`${head.method} ${head.target}`);
      if (!head.target.startsWith("/lane/")) return undefined;
      if (head.target === "/lane/response") return Promise.resolve(new Response("lane response"));
      if (head.target === "/lane/conn") return Promise.resolve(new Response(`n ${countOn(ctx.connection)}`));
      const body = new TextEncoder().encode(`lane ${head.method} ${head.target} from ${ctx.remoteAddress()}`);
      return Promise.resolve({ status: 200, statusText: "", fields: [["x-lane", "1"]], length: String(body.byteLength), body });
    },
    refused(r) {
      refusals.push(r);
      return Response.json({ error: r.error, message: r.message, reason: r.reason, recorded: true }, { status: r.status });
    },
    websocket: {
      message(ws, msg) {
        ws.send(typeof msg === "string" ? `${ws.data.tag}:${msg}` : msg);
        if (msg === "bye") ws.close(4001, "asked to");
      },
    },
  });
});

afterAll(() => server.stop(true));

/** Writes `text` and reads until the server closes the connection, or `until` holds for what came. */
function exchange(text: string | Uint8Array, until?: (all: string) => boolean): Promise<{ all: string; closed: boolean }> {
  return within(
    "the server's answer",
    new Promise((resolve) => {
      let all = "";
      const s = connect(server.port, "127.0.0.1", () => s.write(text));
      s.on("data", (d: Buffer) => {
        all += d.toString("latin1");
        if (until?.(all)) {
          s.destroy();
          resolve({ all, closed: false });
        }
      });
      s.on("error", () => {});
      s.on("close", () => resolve({ all, closed: true }));
    }),
  );
}

const responses = (all: string) => [...all.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
const bodyOf = (all: string) => all.slice(all.indexOf("\r\n\r\n") + 4);

describe("serveHttp1", () => {
  test("a GET becomes a Request with the Host's URL, its headers and the caller's address", async () => {
    const { all, closed } = await exchange("GET /echo?q=1 HTTP/1.1\r\nHost: api.example:81\r\nX-A: one\r\nConnection: close\r\n\r\n");
    expect(closed).toBe(true);
    expect(all).toStartWith("HTTP/1.1 200 OK\r\n");
    expect(all).toContain("\r\nconnection: close\r\n");
    expect(all).toMatch(/\r\ncontent-length: \d+\r\n/);
    expect(JSON.parse(bodyOf(all))).toEqual({ method: "GET", url: "http://api.example:81/echo?q=1", body: "", ip: "127.0.0.1", x: "one" });
  });

  test("pipelined requests are answered in order on one kept connection", async () => {
    const text = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    const { all, closed } = await exchange(text, (a) => a.endsWith("path /c"));
    expect(closed).toBe(false);
    expect(responses(all)).toEqual([200, 200, 200]);
    expect(all.indexOf("path /a")).toBeLessThan(all.indexOf('"body":"abc"'));
    expect(all.indexOf('"body":"abc"')).toBeLessThan(all.indexOf("path /c"));
  });

  test("the lane is offered origin-form requests with a Host and no body, in order with the others on a kept connection", async () => {
    offered.length = 0;
    const text = [
      "GET /lane/a HTTP/1.1\r\nHost: h\r\n\r\n",
      "POST /lane/b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
      "GET /lane/c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
      "GET /lane/d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      "GET http://h/lane/e HTTP/1.1\r\nHost: h\r\n\r\n",
      "HEAD /lane/f HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /lane/response HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /other HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET /lane/g HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "GET /lane/h HTTP/1.1\r\nHost: h\r\n\r\n",
    ].join("");
    const { all, closed } = await exchange(text, (a) => a.endsWith("lane GET /lane/h from 127.0.0.1"));
    expect(closed).toBe(false);
    expect(offered).toEqual(["GET /lane/a", "HEAD /lane/f", "GET /lane/response", "GET /other", "GET /lane/h"]);
    expect(responses(all)).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200]);
    const order = ["lane GET /lane/a", "path /lane/b", "path /lane/c", "path /lane/d", "path /lane/e", "lane response", "path /other", "path /lane/g", "lane GET /lane/h"].map((t) => all.indexOf(t));
    expect(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!))).toBe(true);
    // The HEAD's answer has the GET's length and no body.
    expect(all).toContain(`x-lane: 1\r\ndate: `);
    expect(all).toContain(`content-length: ${"lane HEAD /lane/f from 127.0.0.1".length}\r\n\r\nHTTP/1.1 200`);
    expect(all).not.toContain("lane HEAD /lane/f from");
  });

  test("refused heads get the refusal callback's JSON and Connection: close; nothing after them is read", async () => {
    refusals.length = 0;
    const cases: [string, number, string][] = [
      ["GET \\admin HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_target"],
      ["GET admin HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_target"],
      ["GET /x HTTP/2.0\r\nHost: h\r\n\r\n", 505, "bad_version"],
      ["GET /x HTTP/1.1\r\nHost: h\r\nBad Header: 1\r\n\r\n", 400, "bad_request"],
      [`GET /x HTTP/1.1\r\nHost: h\r\nX-Big: ${"a".repeat(70_000)}\r\n\r\n`, 431, "head_too_large"],
      [`GET /x HTTP/1.1\r\nHost: h\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`, 431, "too_many_headers"],
      ["POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_framing"],
      ["OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_target"],
    ];
    for (const [text, status, reason] of cases) {
      const { all, closed } = await exchange(text);
      expect(closed).toBe(true);
      expect(responses(all)).toEqual([status]);
      expect(all).toContain("\r\nconnection: close\r\n");
      expect(JSON.parse(bodyOf(all))).toMatchObject({ reason, recorded: true });
    }
    expect(refusals.map((r) => r.reason)).toEqual(cases.map((c) => c[2]));
    expect(refusals[0]).toMatchObject({ method: "GET", target: "\\admin" });
  });

  test("a chunked body and an Expect: 100-continue body reach the handler", async () => {
    const chunked = await exchange("POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n");
    expect(JSON.parse(bodyOf(chunked.all)).body).toBe("abcde");
    const sock: Socket = connect(server.port, "127.0.0.1");
    let text = "";
    const gotContinue = signal<void>();
    const done = signal<void>();
    sock.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (text.startsWith("HTTP/1.1 100 Continue\r\n\r\n")) gotContinue.resolve();
      if (text.includes('"body":"later"')) done.resolve();
    });
    sock.write("POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    await within("100 Continue", gotContinue.promise);
    sock.write("later");
    await within("the echo of the body", done.promise);
    sock.destroy();
    expect(responses(text)).toEqual([100, 200]);
  });

  test("a large body is read whole with backpressure", async () => {
    const size = 8 * 1024 * 1024;
    const body = new Uint8Array(size).fill(97);
    const res = await fetch(`http://127.0.0.1:${server.port}/count`, { method: "POST", body });
    expect(await res.text()).toBe(String(size));
  });

  test("responses: a stream's head before its body (chunked), a stated length, HEAD, 204", async () => {
    slowBody = signal<void>();
    const sock = connect(server.port, "127.0.0.1", () => sock.write("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"));
    let text = "";
    const head = signal<void>();
    const all = signal<void>();
    sock.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (text.includes("\r\n\r\n")) head.resolve();
      if (text.endsWith("0\r\n\r\n")) all.resolve();
    });
    await within("the streamed response's head", head.promise);
    expect(text).toContain("transfer-encoding: chunked\r\n");
    slowBody.resolve();
    await within("the streamed response's end", all.promise);
    expect(bodyOf(text)).toBe("4\r\nlate\r\n0\r\n\r\n");
    sock.destroy();

    const sized = await exchange("GET /sized HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect(sized.all).toContain("content-length: 5\r\n");
    expect(bodyOf(sized.all)).toBe("hello");
    const head2 = await exchange("HEAD /sized HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect(head2.all).toContain("content-length: 5\r\n");
    expect(bodyOf(head2.all)).toBe("");
    const none = await exchange("GET /nocontent HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    expect(none.all).toStartWith("HTTP/1.1 204 No Content\r\n");
    expect(none.all).not.toContain("content-length");
    expect(bodyOf(none.all)).toBe("");
  });

  test("HTTP/1.0: closed after the answer unless keep-alive is asked for; no Host needed", async () => {
    const plain = await exchange("GET /x HTTP/1.0\r\n\r\n");
    expect(plain.closed).toBe(true);
    expect(bodyOf(plain.all)).toBe("path /x");
    const kept = await exchange("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", (a) => a.endsWith("path /x"));
    expect(kept.closed).toBe(false);
    expect(kept.all).toContain("connection: keep-alive\r\n");
  });

  test("the client leaving aborts the request's signal", async () => {
    heldAbort = signal<void>();
    holding = signal<void>();
    const sock = connect(server.port, "127.0.0.1", () => sock.write("GET /hold HTTP/1.1\r\nHost: h\r\n\r\n"));
    sock.on("error", () => {});
    // In the handler, listening for the abort: the client leaves now.
    await within("the handler of /hold", holding.promise);
    sock.destroy();
    await within("the abort of /hold", heldAbort.promise);
    expect(aborted).toContain("/hold");
  });

  test("a target's state on a connection: the same for every request on it (the lane's too), and told once when it ends", async () => {
    connectionEnded = signal<number>();
    const text = "GET /conn HTTP/1.1\r\nHost: h\r\n\r\nGET /lane/conn HTTP/1.1\r\nHost: h\r\n\r\nGET /conn HTTP/1.1\r\nHost: h\r\n\r\n";
    const { all } = await exchange(text, (a) => a.endsWith("n 3"));
    expect([...all.matchAll(/n (\d)/g)].map((m) => m[1])).toEqual(["1", "2", "3"]);
    // The client closed it (exchange destroys its socket): onEnd ran, with the state as the last request left it.
    expect(await within("the connection's onEnd", connectionEnded.promise)).toBe(3);
    // Another connection starts from nothing.
    connectionEnded = signal<number>();
    expect(bodyOf((await exchange("GET /conn HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")).all)).toBe("n 1");
    expect(await within("the second connection's onEnd", connectionEnded.promise)).toBe(1);
  });

  test("a WebSocket upgrade is framed for a handler written for Bun.serve", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
    const got: string[] = [];
    const closed = signal<{ code: number; reason: string }>();
    ws.onmessage = (e) => got.push(String(e.data));
    ws.onclose = (e) => closed.resolve({ code: e.code, reason: e.reason });
    await within("the socket to open", new Promise((r) => (ws.onopen = r)));
    ws.send("hi");
    ws.send("bye");
    expect(await within("the server's close", closed.promise)).toEqual({ code: 4001, reason: "asked to" });
    expect(got).toEqual(["t1:hi", "t1:bye"]);
  });
});

describe("idle connections", () => {
  test("a connection with no request for idleTimeout seconds is closed", async () => {
    const s = serveHttp1({ hostname: "127.0.0.1", port: 0, idleTimeout: 1, fetch: () => new Response("ok") });
    try {
      const closed = await within(
        "the idle connection to be closed",
        new Promise<boolean>((resolve) => {
          const sock = connect(s.port, "127.0.0.1");
          sock.on("close", () => resolve(true));
          sock.on("error", () => {});
        }),
      );
      expect(closed).toBe(true);
    } finally {
      await s.stop(true);
    }
  });

  test("a head trickled in a byte at a time is cut at idleTimeout too", async () => {
    const s = serveHttp1({ hostname: "127.0.0.1", port: 0, idleTimeout: 1, fetch: () => new Response("ok") });
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      const text = "GET /slow HTTP/1.1\r\nHost: h\r\nX-Pad: " + "p".repeat(10_000);
      const closed = await within(
        "the trickling connection to be closed",
        new Promise<number>((resolve) => {
          let sent = 0;
          const sock = connect(s.port, "127.0.0.1", () => {
            // One byte every 100 ms: never idle for a whole second, never a whole head.
            timer = setInterval(() => sock.write(text[sent++ % text.length]!), 100);
          });
          sock.on("close", () => resolve(sent));
          sock.on("error", () => {});
        }),
      );
      expect(closed).toBeGreaterThan(0);
    } finally {
      clearInterval(timer);
      await s.stop(true);
    }
  });
});

describe("quiet WebSockets", () => {
  test("a quiet WebSocket is pinged; one that answers stays, one that does not is cut", async () => {
    const s = serveHttp1<null>({
      hostname: "127.0.0.1",
      port: 0,
      websocketIdleTimeout: 1,
      fetch: (req, srv) => (srv.upgrade(req, { data: null }) ? undefined : new Response("no", { status: 400 })),
      websocket: {},
    });
    try {
      // A WebSocket client answers pings by itself: it is still open after several pings.
      const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`);
      await within("the socket to open", new Promise((r) => (ws.onopen = r)));
      // A raw client that completes the handshake and then says nothing, not even a pong.
      let pings = 0;
      const silentClosed = within(
        "the silent socket to be cut",
        new Promise<void>((resolve) => {
          const sock = connect(s.port, "127.0.0.1", () =>
            sock.write("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
          );
          sock.on("data", (d: Buffer) => {
            // A ping frame: 0x89 and a zero length.
            for (let i = 0; i + 1 < d.length; i++) if (d[i] === 0x89 && d[i + 1] === 0) pings++;
          });
          sock.on("close", () => resolve());
          sock.on("error", () => {});
        }),
      );
      await silentClosed;
      expect(pings).toBe(1);
      expect(ws.readyState).toBe(WebSocket.OPEN);
      ws.close();
    } finally {
      await s.stop(true);
    }
  });
});

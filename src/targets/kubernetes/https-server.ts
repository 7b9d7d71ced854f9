// The Kubernetes target's HTTPS listener, on node:http (with node:tls, below) rather than Bun.serve: Bun.serve holds a
// streamed response's headers until its first body byte, so a watch with nothing to report yet
// (kubectl rollout status, delete --wait, get -w after its list) never got its 200 through the
// gateway (measured: the status line and some headers went out, the end of the head did not).
// Here the head is flushed at once and bodies stream with backpressure (write → drain). It also
// hands the handler the request-target and header lines exactly as received (a repeated
// Impersonate-Group stays two lines), and upgrade requests with their socket, for the relay.
// With certificate files that may be replaced, TLS is ours, not node:https's: Bun's node:https
// reads its certificate once (no setSecureContext, no SNICallback, no reusePort to start a second
// server beside it), so each accepted TCP socket is wrapped with the context current at that
// moment and handed to a node:http server: a replaced certificate is served to the next
// connection. A certificate that never changes (the generated one) is served by node:https itself.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { TLSSocket, type SecureContext } from "node:tls";
import type { Duplex } from "node:stream";
import { wholeBody } from "./whole-response.ts";

export interface Connection {
  /** The request-target as received (path and query). */
  readonly target: string;
  /** Header lines as received, in order. */
  readonly rawHeaders: readonly (readonly [string, string])[];
  readonly remoteAddress: string;
  /** An upgrade request (exec, attach, port-forward): its socket and the bytes read past its head. */
  readonly upgrade?: { readonly socket: Duplex; readonly head: Buffer; /** Set by the relay once it answers on the socket itself. */ taken: boolean };
}

export type Handler = (req: Request, conn: Connection) => Promise<Response>;

/**
 * Asked first for each request that is not an upgrade, before any Request object is made: true
 * when it answers the request itself on `res` (the Kubernetes target's known GETs), false to
 * leave it to the handler. Must not throw.
 */
export type FastLane = (method: string, conn: Connection, res: ServerResponse) => boolean;

export interface HttpsServer {
  readonly port: number;
  /** Stops accepting; with `force`, ends every open connection. */
  close(force: boolean): Promise<void>;
}

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/** A fetch Request for the handler; its body streams from the socket as the handler reads it. */
function requestOf(req: IncomingMessage, signal: AbortSignal, raw: readonly (readonly [string, string])[]): Request {
  const headers = new Headers();
  for (const [k, v] of raw) {
    try {
      headers.append(k, v);
    } catch {
      // A header value fetch refuses (bytes outside Latin-1): dropped here, still in rawHeaders.
    }
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  let body: ReadableStream<Uint8Array> | undefined;
  if (hasBody) {
    const it = req[Symbol.asyncIterator]();
    body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        const { value, done } = await it.next();
        if (done) ctl.close();
        else ctl.enqueue(new Uint8Array(value as Buffer));
      },
      cancel() {
        req.resume();
      },
    });
  }
  // The URL only carries method, headers and body to the handler: it reads the target from Connection.
  return new Request("https://gateway.invalid/", { method, headers, ...(body ? { body, duplex: "half" } : {}), signal } as RequestInit);
}

/** Writes a handler's answer (for a fast lane that ends with a Response after all). */
export function writeAnswer(res: ServerResponse, resp: Response): Promise<void> {
  return writeResponse(res, resp, new AbortController(), false);
}

async function writeResponse(res: ServerResponse, resp: Response, abort: AbortController, head: boolean): Promise<void> {
  const headers: string[] = [];
  resp.headers.forEach((v, k) => void headers.push(k, v));
  const whole = wholeBody(resp);
  if (whole !== undefined) {
    // Read whole already (a get, a list, a masked answer): head and body in one write.
    if (!resp.headers.has("content-length")) headers.push("content-length", String(whole.byteLength));
    res.writeHead(resp.status, headers as unknown as Record<string, string>);
    res.end(head ? undefined : whole);
    return;
  }
  res.writeHead(resp.status, headers as unknown as Record<string, string>);
  // At once: a watch's client waits for this head before its first event.
  res.flushHeaders();
  if (resp.body === null || head) {
    if (resp.body !== null) await resp.body.cancel().catch(() => undefined);
    res.end();
    return;
  }
  const reader = resp.body.getReader();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  abort.signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((r) => res.once("drain", r).once("close", r));
      if (abort.signal.aborted) break;
    }
  } catch {
    // The upstream or the masker ended the stream with an error: cut the response short, so the
    // client sees a broken stream rather than a clean end.
    res.destroy();
    return;
  }
  res.end();
}

/** Writes an answer to an upgrade request that was not upgraded (a Status), then closes. */
async function writeRaw(socket: Duplex, resp: Response): Promise<void> {
  const bytes = Buffer.from(await resp.arrayBuffer());
  const lines = [`HTTP/1.1 ${resp.status} ${resp.statusText || "Error"}`];
  resp.headers.forEach((v, k) => lines.push(`${k}: ${v}`));
  lines.push(`Content-Length: ${bytes.length}`, "Connection: close", "", "");
  socket.end(Buffer.concat([Buffer.from(lines.join("\r\n")), bytes]));
}

export interface ListenHttpsOptions {
  readonly host: string;
  readonly port: number;
  /** Asked at each accepted connection (gate/reloading-tls.ts keeps it current). */
  readonly context: () => SecureContext;
  /**
   * A certificate that never changes (the generated one): served by the runtime's own HTTPS
   * server, whose TLS and HTTP parsing are native (measured ~20 µs less CPU per request than a
   * TLSSocket per connection and the HTTP parser in JavaScript). Without it, `context` is used.
   */
  readonly fixed?: { readonly cert: string; readonly key: string };
  readonly handler: Handler;
  readonly fastLane?: FastLane;
  readonly onError: (e: unknown) => Response;
}

export async function listenHttps(opts: ListenHttpsOptions): Promise<HttpsServer> {
  const sockets = new Set<Duplex>();
  let server: Server;
  let listener: { listen(port: number, host: string, cb: () => void): unknown; once(e: "error", f: (e: Error) => void): unknown; off(e: "error", f: (e: Error) => void): unknown; close(cb: () => void): unknown; address(): unknown };
  if (opts.fixed !== undefined) {
    const native = createHttpsServer({ cert: opts.fixed.cert, key: opts.fixed.key, ALPNProtocols: ["http/1.1"] });
    native.on("secureConnection", (socket: Duplex) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    server = native as unknown as Server;
    listener = native;
  } else {
    server = createHttpServer();
    listener = createNetServer((raw) => {
      sockets.add(raw);
      raw.on("close", () => sockets.delete(raw));
      const tls = new TLSSocket(raw, { isServer: true, secureContext: opts.context(), ALPNProtocols: ["http/1.1"] });
      // A failed handshake (a client that distrusts the certificate) ends only this connection.
      tls.on("error", () => raw.destroy());
      server.emit("connection", tls);
    });
  }
  const run = (req: Request, conn: Connection) => opts.handler(req, conn).catch((e: unknown) => opts.onError(e));
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const raw = pairs(req.rawHeaders);
    const conn: Connection = { target: req.url ?? "/", rawHeaders: raw, remoteAddress: req.socket.remoteAddress ?? "" };
    if (opts.fastLane?.(req.method ?? "GET", conn, res)) return;
    const abort = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) abort.abort();
    });
    void run(requestOf(req, abort.signal, raw), conn).then((resp) => writeResponse(res, resp, abort, req.method === "HEAD"));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const abort = new AbortController();
    socket.on("close", () => abort.abort());
    socket.on("error", () => undefined);
    const raw = pairs(req.rawHeaders);
    const conn: Connection = { target: req.url ?? "/", rawHeaders: raw, remoteAddress: req.socket.remoteAddress ?? "", upgrade: { socket, head, taken: false } };
    void run(requestOf(req, abort.signal, raw), conn).then((resp) => {
      // The relay takes the socket and answers 101 itself (see upgrade.ts).
      if (conn.upgrade?.taken) return undefined;
      if (!socket.destroyed && socket.writable) return writeRaw(socket, resp);
      return undefined;
    });
  });
  server.on("clientError", (_e: Error, socket: Duplex) => {
    if (!socket.writable) return;
    const body = JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "malformed HTTP request", reason: "BadRequest", code: 400 });
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  // Watches and log follows stay open as long as they last.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const port = (listener.address() as AddressInfo).port;
  return {
    port,
    close(force) {
      return new Promise<void>((resolve) => {
        listener.close(() => resolve());
        if (force) for (const s of sockets) s.destroy();
        else (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      });
    },
  };
}

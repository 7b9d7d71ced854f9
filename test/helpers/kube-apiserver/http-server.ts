// node:https glue: an IncomingMessage becomes a fetch Request for the handler, whose Response is
// written back, streamed ones (watch, log follow) with their headers flushed at once and chunked
// bodies as the API server sends them; upgrades become WebSocket sessions or a Status answer.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { STREAM_MARK, handleRequest } from "./handler.ts";
import type { HandlerContext, Upgrader } from "./handler.ts";
import { CLIENT_CERT_CN } from "./tls.ts";
import { handshakeResponse, serveWebSocket } from "./websocket.ts";

function requestOf(req: IncomingMessage, body: Buffer | undefined, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) headers.append(k, x);
  }
  const url = `https://${req.headers.host ?? "127.0.0.1"}${req.url ?? "/"}`;
  return new Request(url, { method: req.method, headers, body: body && body.length ? body : undefined, signal });
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The user of a client certificate the TLS layer verified against this server's CA. Bun's
 * node:tls sockets say whether the peer's certificate verified but do not expose it, so the user
 * is the CN of the one client certificate this CA signs (makeServerTls), not read from the wire.
 */
function peerUser(socket: unknown): string | undefined {
  return (socket as TLSSocket).authorized === true ? CLIENT_CERT_CN : undefined;
}

export async function serveHttp(ctx: HandlerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readAll(req);
  const resp = (await handleRequest(ctx, requestOf(req, body, abort.signal), undefined, peerUser(req.socket)))!;
  const streamed = resp.headers.has(STREAM_MARK);
  const headers: Record<string, string> = {};
  resp.headers.forEach((v, k) => {
    if (k.toLowerCase() !== STREAM_MARK.toLowerCase()) headers[k] = v;
  });
  if (!streamed || !resp.body) {
    const bytes = Buffer.from(await resp.arrayBuffer());
    headers["Content-Length"] = String(bytes.length);
    res.writeHead(resp.status, headers);
    res.end(req.method === "HEAD" ? undefined : bytes);
    return;
  }
  res.writeHead(resp.status, headers);
  res.flushHeaders();
  const reader = resp.body.getReader();
  abort.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((r) => res.once("drain", () => r()).once("close", () => r()));
      if (abort.signal.aborted) break;
    }
  } catch {
    /* the client went away */
  }
  res.end();
}

export async function serveUpgrade(ctx: HandlerContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  let upgraded = false;
  const accept: Upgrader = (protocol, session) => {
    upgraded = true;
    socket.write(handshakeResponse(String(req.headers["sec-websocket-key"] ?? ""), protocol));
    const conn = serveWebSocket(socket, head, { message: (m) => session.message(m), close: () => session.close() });
    session.open(conn);
  };
  const resp = await handleRequest(ctx, requestOf(req, undefined, new AbortController().signal), accept, peerUser(socket));
  if (upgraded || !resp) return;
  // Refused: an ordinary HTTP answer (a Status), then the connection closes.
  const bytes = Buffer.from(await resp.arrayBuffer());
  const lines = [`HTTP/1.1 ${resp.status} ${resp.statusText || "Error"}`];
  resp.headers.forEach((v, k) => lines.push(`${k}: ${v}`));
  lines.push(`Content-Length: ${bytes.length}`, "Connection: close", "", "");
  socket.end(Buffer.concat([Buffer.from(lines.join("\r\n")), bytes]));
}

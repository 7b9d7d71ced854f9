// The gateway's own WebSocket handshake with the API server for an exec, attach or
// port-forward it relays: a TLS (or plain) socket to the upstream, a GET with Upgrade:
// websocket carrying the gateway's credential (never the caller's), the subprotocols the relay
// speaks, and the response head read off the socket. A 101 leaves the socket to the relay; any
// other answer is handed back whole so the caller sees the API server's own Status.
import { connect as tcpConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { GatewayError } from "../../core/errors.ts";
import { acceptKey, newKey } from "../../gate/websocket-codec.ts";
import type { Upstream } from "./upstream.ts";

const MAX_HEAD = 64 * 1024;
const CONNECT_TIMEOUT_MS = 30_000;

export interface UpstreamHandshake {
  readonly socket: Socket;
  readonly status: number;
  /** Header names lower-cased; repeated ones joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  /** The response head as received (status line and headers, with the blank line). */
  readonly head: Buffer;
  /** Bytes read past the head (the first frames, or the start of an error body). */
  readonly rest: Buffer;
  /** The subprotocol the API server chose (101 only). */
  readonly protocol: string;
}

export interface UpstreamWebSocketRequest {
  readonly upstream: Upstream;
  /** Path and query, exactly as decided. */
  readonly target: string;
  /** Headers besides the handshake's own and the credential (impersonation the policy allowed, User-Agent). */
  readonly headers: readonly (readonly [string, string])[];
  readonly protocols: readonly string[];
  readonly signal: AbortSignal;
}

/** Opens the upstream WebSocket. Rejects with E_UPSTREAM when the API server cannot be reached or answers garbage. */
export function openUpstreamWebSocket(r: UpstreamWebSocketRequest): Promise<UpstreamHandshake> {
  const url = new URL(r.upstream.base);
  const secure = url.protocol === "https:";
  const port = Number(url.port || (secure ? 443 : 80));
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const key = newKey();
  return new Promise((resolve, reject) => {
    let settled = false;
    const socket: Socket = secure
      ? tlsConnect({
          host,
          port,
          ...(isIP(host) === 0 ? { servername: host } : {}),
          ...(r.upstream.tls.ca !== undefined ? { ca: r.upstream.tls.ca } : {}),
          ...(r.upstream.tls.cert !== undefined ? { cert: r.upstream.tls.cert, key: r.upstream.tls.key } : {}),
          ALPNProtocols: ["http/1.1"],
        })
      : tcpConnect({ host, port });
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      cleanup();
      socket.destroy();
      reject(new GatewayError("E_UPSTREAM", `the API server's WebSocket upgrade failed: ${why}`));
    };
    const timer = setTimeout(() => fail(`no answer within ${CONNECT_TIMEOUT_MS / 1000} s`), CONNECT_TIMEOUT_MS);
    const onAbort = () => fail("the caller went away");
    r.signal.addEventListener("abort", onAbort, { once: true });
    let buf: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_HEAD) fail(`a response head over ${MAX_HEAD} bytes`);
        return;
      }
      const head = buf.subarray(0, end + 4);
      const rest = buf.subarray(end + 4);
      const lines = head.toString("latin1").split("\r\n");
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
      if (m === null) return fail(`not an HTTP response: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      const status = Number(m[1]);
      let protocol = "";
      if (status === 101) {
        if (headers.get("sec-websocket-accept") !== acceptKey(key)) return fail("Sec-WebSocket-Accept does not match the key sent");
        protocol = headers.get("sec-websocket-protocol") ?? "";
        if (!r.protocols.includes(protocol)) return fail(`the API server chose the subprotocol ${JSON.stringify(protocol)}, which was not offered`);
      }
      settled = true;
      cleanup();
      socket.pause();
      resolve({ socket, status, headers, head: Buffer.from(head), rest: Buffer.from(rest), protocol });
    };
    const onError = (e: Error) => fail(e.message);
    const onClose = () => fail("the connection closed before the answer");
    function cleanup() {
      clearTimeout(timer);
      r.signal.removeEventListener("abort", onAbort);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("close", onClose);
    }
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("close", onClose);
    const lines = [
      `GET ${r.target} HTTP/1.1`,
      `Host: ${url.host}`,
      "Connection: Upgrade",
      "Upgrade: websocket",
      "Sec-WebSocket-Version: 13",
      `Sec-WebSocket-Key: ${key}`,
      `Sec-WebSocket-Protocol: ${r.protocols.join(", ")}`,
      ...(r.upstream.authorization !== null ? [`Authorization: ${r.upstream.authorization}`] : []),
      ...r.headers.map(([k, v]) => `${k}: ${v}`),
      "",
      "",
    ];
    socket.write(lines.join("\r\n"));
  });
}

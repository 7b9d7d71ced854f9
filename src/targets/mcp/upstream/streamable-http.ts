// A Streamable HTTP upstream (MCP 2025-03-26 and later): each message is a POST whose answer is
// 202, one JSON message, or an event stream of messages ending with the response; a GET stream
// carries what the server sends on its own. The server's Mcp-Session-Id is kept and sent back; an
// answer stream cut before its response is resumed with Last-Event-ID.
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import { type JsonRpcId, type JsonRpcMessage, readMessageText, salvageId, writeMessage } from "../json-rpc.ts";
import { readSse, type SseEvent } from "./sse-parser.ts";
import type { Upstream, UpstreamEvents } from "./upstream.ts";

export interface HttpUpstreamOptions {
  readonly url: string;
  /** The gateway's credential and other configured headers, read when each request is sent. */
  readonly headers: () => Record<string, string>;
  readonly maxMessageBytes: number;
  readonly events: UpstreamEvents;
  /** How many times a cut answer stream is resumed (default 3). */
  readonly resumeAttempts?: number;
}

export function httpUpstream(o: HttpUpstreamOptions): Upstream {
  let sessionId: string | null = null;
  let version: string | null = null;
  let closed = false;
  let getStream: AbortController | null = null;
  const abort = new AbortController();

  function headers(extra: Record<string, string>): Record<string, string> {
    return {
      ...o.headers(),
      ...extra,
      ...(sessionId !== null ? { "mcp-session-id": sessionId } : {}),
      ...(version !== null ? { "mcp-protocol-version": version } : {}),
    };
  }

  function deliver(text: string, relatedTo?: JsonRpcId): JsonRpcMessage | null {
    let m: JsonRpcMessage;
    try {
      m = readMessageText(text);
    } catch (e) {
      o.events.unreadable(errorMessage(e), salvageId(text));
      return null;
    }
    o.events.message(m, relatedTo);
    return m;
  }

  /** Reads an event stream; returns the last event id seen and whether the response to `waiting` came. */
  async function readStream(body: ReadableStream<Uint8Array>, waiting: JsonRpcId | undefined, signal: AbortSignal): Promise<{ lastId: string | undefined; answered: boolean }> {
    let lastId: string | undefined;
    let answered = false;
    await readSse(
      body,
      o.maxMessageBytes,
      (e: SseEvent) => {
        if (e.id !== undefined) lastId = e.id;
        if (e.event !== "message" || e.data === "") return;
        const m = deliver(e.data, waiting);
        if (m !== null && m.kind === "response" && waiting !== undefined && m.id === waiting) answered = true;
      },
      signal,
    );
    return { lastId, answered };
  }

  /** A cut answer stream: GET with Last-Event-ID until the response comes or the attempts run out. */
  async function resume(lastId: string, waiting: JsonRpcId): Promise<boolean> {
    for (let attempt = 0; attempt < (o.resumeAttempts ?? 3) && !closed; attempt++) {
      let res: Response;
      try {
        res = await fetch(o.url, { method: "GET", headers: headers({ accept: "text/event-stream", "last-event-id": lastId }), signal: abort.signal });
      } catch {
        continue;
      }
      if (!res.ok || res.body === null) return false;
      try {
        const r = await readStream(res.body, waiting, abort.signal);
        if (r.answered) return true;
        if (r.lastId !== undefined) lastId = r.lastId;
      } catch {
        // cut again: try again from the last event seen
      }
    }
    return false;
  }

  function startGetStream(): void {
    if (getStream !== null || closed || sessionId === null) return;
    const ctl = new AbortController();
    getStream = ctl;
    abort.signal.addEventListener("abort", () => ctl.abort(), { once: true });
    void (async () => {
      let lastId: string | undefined;
      for (let attempt = 0; attempt < 5 && !closed; attempt++) {
        let res: Response;
        try {
          res = await fetch(o.url, { method: "GET", headers: headers({ accept: "text/event-stream", ...(lastId !== undefined ? { "last-event-id": lastId } : {}) }), signal: ctl.signal });
        } catch {
          return;
        }
        // 405: this server has no GET stream; nothing it sends on its own can reach us then.
        if (!res.ok || res.body === null || !(res.headers.get("content-type") ?? "").includes("text/event-stream")) {
          await res.body?.cancel().catch(() => {});
          return;
        }
        try {
          const r = await readStream(res.body, undefined, ctl.signal);
          if (r.lastId !== undefined) lastId = r.lastId;
          attempt = 0;
        } catch {
          // reconnect below
        }
      }
    })();
  }

  return {
    transport: "streamable-http",
    facts: () => ({ url: o.url, ...(sessionId !== null ? { upstream_session: true } : {}) }),
    setProtocolVersion(v) {
      version = v;
    },
    async start() {
      // Nothing to open: the first POST (initialize) starts the upstream session.
    },
    async send(m) {
      if (closed) throw new GatewayError("E_UPSTREAM", "the upstream connection is closed");
      let res: Response;
      try {
        res = await fetch(o.url, {
          method: "POST",
          headers: headers({ "content-type": "application/json", accept: "application/json, text/event-stream" }),
          body: writeMessage(m),
          signal: abort.signal,
        });
      } catch (e) {
        throw new GatewayError("E_UPSTREAM", `upstream ${o.url} failed: ${errorMessage(e)}`);
      }
      const sid = res.headers.get("mcp-session-id");
      if (m.kind === "request" && m.method === "initialize" && sid !== null && res.ok) sessionId = sid;
      if (res.status === 404 && sessionId !== null) {
        await res.body?.cancel().catch(() => {});
        closed = true;
        o.events.closed("the upstream session expired (404)");
        throw new GatewayError("E_UPSTREAM", "the upstream session expired");
      }
      if (!res.ok) {
        const text = await res.text().catch(() => "");
        // A JSON-RPC error in an HTTP error (a 400 for a bad request): relay the error itself.
        if (m.kind === "request" && text.startsWith("{")) {
          const got = deliver(text);
          if (got !== null) return;
        }
        throw new GatewayError("E_UPSTREAM", `upstream answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`);
      }
      if (m.kind === "notification" && m.method === "notifications/initialized") startGetStream();
      if (res.status === 202 || res.body === null) {
        await res.body?.cancel().catch(() => {});
        return;
      }
      const type = res.headers.get("content-type") ?? "";
      if (type.includes("text/event-stream")) {
        const waiting = m.kind === "request" ? m.id : undefined;
        // The stream is read on its own; send() resolves once the message is accepted.
        void (async () => {
          let r: { lastId: string | undefined; answered: boolean } = { lastId: undefined, answered: false };
          try {
            r = await readStream(res.body!, waiting, abort.signal);
          } catch (e) {
            if (closed) return;
            if (!(e instanceof GatewayError) || e.code !== "E_PROTOCOL") r = { lastId: r.lastId, answered: false };
            else {
              o.events.unreadable(e.message, waiting ?? null);
              return;
            }
          }
          if (r.answered || waiting === undefined || closed) return;
          const resumed = r.lastId !== undefined && (await resume(r.lastId, waiting));
          if (!resumed && !closed) o.events.unreadable("the upstream's answer stream ended before its response", waiting);
        })();
        return;
      }
      const bytes = await res.bytes();
      if (bytes.byteLength > o.maxMessageBytes) {
        o.events.unreadable(`the upstream's answer is larger than ${o.maxMessageBytes} bytes`, m.kind === "request" ? m.id : null);
        return;
      }
      let text: string;
      try {
        text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      } catch {
        o.events.unreadable("the upstream's answer is not valid UTF-8", m.kind === "request" ? m.id : null);
        return;
      }
      if (text.trim() === "") return;
      deliver(text, m.kind === "request" ? m.id : undefined);
    },
    async close() {
      if (closed) return;
      closed = true;
      const sid = sessionId;
      abort.abort();
      if (sid !== null) {
        // Ends the upstream session; a server that does not allow it answers 405, which is fine.
        await fetch(o.url, { method: "DELETE", headers: { ...o.headers(), "mcp-session-id": sid, ...(version !== null ? { "mcp-protocol-version": version } : {}) }, signal: AbortSignal.timeout(5000) })
          .then((r) => r.body?.cancel())
          .catch(() => {});
      }
    },
  };
}

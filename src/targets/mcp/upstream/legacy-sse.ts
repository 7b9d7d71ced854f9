// A legacy HTTP+SSE upstream (MCP 2024-11-05): a GET opens the event stream, whose first
// `endpoint` event names where to POST messages; every answer comes back on the stream.
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import { type JsonRpcMessage, readMessageText, salvageId, writeMessage } from "../json-rpc.ts";
import { readSse } from "./sse-parser.ts";
import type { Upstream, UpstreamEvents } from "./upstream.ts";

export interface SseUpstreamOptions {
  readonly url: string;
  readonly headers: () => Record<string, string>;
  readonly maxMessageBytes: number;
  readonly events: UpstreamEvents;
}

export function sseUpstream(o: SseUpstreamOptions): Upstream {
  const abort = new AbortController();
  let endpoint: string | null = null;
  let closed = false;

  return {
    transport: "sse",
    facts: () => ({ url: o.url }),
    setProtocolVersion() {
      // The legacy transport has no version header.
    },
    start() {
      return new Promise<void>((resolve, reject) => {
        void (async () => {
          let res: Response;
          try {
            res = await fetch(o.url, { headers: { ...o.headers(), accept: "text/event-stream" }, signal: abort.signal });
          } catch (e) {
            reject(new GatewayError("E_UPSTREAM", `upstream ${o.url} failed: ${errorMessage(e)}`));
            return;
          }
          if (!res.ok || res.body === null) {
            reject(new GatewayError("E_UPSTREAM", `upstream ${o.url} answered HTTP ${res.status} to the event-stream GET`));
            return;
          }
          try {
            await readSse(
              res.body,
              o.maxMessageBytes,
              (e) => {
                if (e.event === "endpoint") {
                  let u: URL;
                  try {
                    u = new URL(e.data, o.url);
                  } catch {
                    reject(new GatewayError("E_UPSTREAM", "the upstream's endpoint event is not a URL"));
                    return;
                  }
                  // Messages go to the server we were configured with, never elsewhere.
                  if (u.origin !== new URL(o.url).origin) {
                    reject(new GatewayError("E_UPSTREAM", `the upstream's endpoint ${u.origin} is not at ${new URL(o.url).origin}: refused`));
                    abort.abort();
                    return;
                  }
                  endpoint = u.href;
                  resolve();
                  return;
                }
                if (e.event !== "message") return;
                let m: JsonRpcMessage;
                try {
                  m = readMessageText(e.data);
                } catch (err) {
                  o.events.unreadable(errorMessage(err), salvageId(e.data));
                  return;
                }
                o.events.message(m);
              },
              abort.signal,
            );
          } catch (e) {
            if (!closed) o.events.closed(`the upstream's event stream failed: ${errorMessage(e)}`);
            reject(new GatewayError("E_UPSTREAM", errorMessage(e)));
            return;
          }
          if (!closed) o.events.closed("the upstream's event stream ended");
          reject(new GatewayError("E_UPSTREAM", "the upstream's event stream ended before its endpoint event"));
        })();
      });
    },
    async send(m) {
      if (closed || endpoint === null) throw new GatewayError("E_UPSTREAM", "the upstream connection is closed");
      let res: Response;
      try {
        res = await fetch(endpoint, { method: "POST", headers: { ...o.headers(), "content-type": "application/json" }, body: writeMessage(m), signal: abort.signal });
      } catch (e) {
        throw new GatewayError("E_UPSTREAM", `upstream ${o.url} failed: ${errorMessage(e)}`);
      }
      const text = await res.text().catch(() => "");
      if (!res.ok) throw new GatewayError("E_UPSTREAM", `upstream answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`);
    },
    async close() {
      closed = true;
      abort.abort();
    },
  };
}

// Which requests the HTTP target sends on the gateway's own keep-alive client (gate/http1-client.ts)
// rather than fetch, and what makes the two look the same to the upstream: bodiless requests to a
// plain-http upstream; the same header fields fetch would send (it adds Accept and User-Agent when
// the caller sent none). Requests with a body, WebSocket upgrades and https upstreams stay on fetch.
import { Http1Pool } from "../../gate/http1-client.ts";

/** Methods sent without a body here; fetch keeps POST/PUT/PATCH, whose servers may want a length. */
const BODILESS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "DELETE"]);

export interface UpstreamClient {
  readonly pool: Http1Pool;
  /** The Host header fetch would send (URL.host). */
  readonly hostHeader: string;
  /** The request target of an upstream URL this client can send (origin-form), or null: use fetch. */
  requestTarget(url: string): string | null;
  close(): void;
}

/** A client for this upstream, or null when only fetch can reach it (https, credentials in the URL). */
export function upstreamClient(upstream: URL, opts: { maxWhole: number }): UpstreamClient | null {
  if (upstream.protocol !== "http:" || upstream.username !== "" || upstream.password !== "") return null;
  const host = upstream.hostname.startsWith("[") ? upstream.hostname.slice(1, -1) : upstream.hostname;
  const port = upstream.port === "" ? 80 : Number(upstream.port);
  const pool = new Http1Pool({ host, port }, { maxWhole: opts.maxWhole });
  const origin = upstream.origin;
  return {
    pool,
    hostHeader: upstream.host,
    requestTarget(url: string): string | null {
      if (!url.startsWith(origin) || url.charCodeAt(origin.length) !== 47 /* "/" */) return null;
      return url.slice(origin.length);
    },
    close: () => pool.close(),
  };
}

/** A request the client may carry: a bodiless method and no body (no length or coding announced). */
export function bodiless(req: Request, method: string): boolean {
  return BODILESS.has(method) && req.body === null && !req.headers.has("content-length") && !req.headers.has("transfer-encoding");
}

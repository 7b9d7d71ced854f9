// The fast lane's own connections to the API server (gate/http1-client.ts) instead of fetch and
// its client thread: the upstream URL, CA bundle and client certificate as an Http1Origin, made
// again when replaced certificate files are read (upstream.ts), and the upstream request's header
// block from the fields the lane already makes (upstreamFields), with what fetch adds when they
// lack it, so that the API server receives the request the full path (fetch) sends.
import { Http1Pool, upstreamFieldBlock, type Http1Answer, type Http1Origin } from "../../gate/http1-client.ts";
import { upstreamFields, type Upstream, type UpstreamTls } from "./upstream.ts";

/** Where the pool connects, and the path in front of each request-target (the URL's own path). */
export interface UpstreamAddress {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  /** "" or the upstream URL's path without a trailing slash: fetch(base + target) asks for prefix + target. */
  readonly prefix: string;
}

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;

/**
 * The address of an upstream base URL, or null when the pool could not ask for exactly what
 * fetch(base + target) asks for (anything but http/https, user info, a query or fragment, or a
 * base a URL parser would rewrite: the lane then keeps fetch).
 */
export function upstreamAddress(base: string): UpstreamAddress | null {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    return null;
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.username !== "" || u.password !== "" || u.search !== "" || u.hash !== "") return null;
  const prefix = u.pathname === "/" ? "" : u.pathname;
  // The request-targets the lane forwards are in normal form (inNormalForm), so base + target
  // parses to origin + prefix + target exactly when base itself is as a URL parser writes it.
  if (`${u.origin}${prefix}` !== base || prefix.endsWith("/")) return null;
  const secure = u.protocol === "https:";
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port !== "" ? Number(u.port) : secure ? 443 : 80, secure, prefix };
}

/** The origin for Http1Pool: TLS with the upstream's CA and client certificate, the host name verified. */
export function originOf(address: UpstreamAddress, tls: UpstreamTls): Http1Origin {
  if (!address.secure) return { host: address.host, port: address.port };
  return {
    host: address.host,
    port: address.port,
    tls: {
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      // SNI is for names; an IP address is checked against the certificate's IP entries.
      ...(IP_LITERAL.test(address.host) ? {} : { serverName: address.host }),
      rejectUnauthorized: true,
    },
  };
}

/** What the lane sends upstream for a request's header lines. */
export interface LaneHeader {
  /** upstreamFields of the lines (fetch's headers, when the pool is not used). */
  readonly fields: Record<string, string>;
  /** upstreamFieldBlock of those fields: the pool's header block, or null (fetch). */
  readonly block: string | null;
}

/** Line sets kept; past this many, all are forgotten and found again (a client varying a line gains nothing). */
const MAX_KEPT = 256;

/**
 * LaneHeader per header line set, kept: a client sends the same lines with each request, so the
 * fields are made (regular expressions, a join, a sort: measured ~1.8 µs for kubectl's five
 * lines) once per line set and gateway credential rather than per request. The key is both,
 * whole (the lines as JSON, which tells any two line sets apart), so what is kept is exactly
 * what would be made again.
 */
export class LaneHeaders {
  readonly #kept = new Map<string, LaneHeader | null>();

  /** The lane's fields for these lines, or null when the full path must take them (upstreamFields). */
  of(lines: readonly (readonly [string, string])[], upstream: Pick<Upstream, "authorization">): LaneHeader | null {
    const authorization = upstream.authorization;
    const key = `${authorization ?? ""}\n${JSON.stringify(lines)}`;
    const kept = this.#kept.get(key);
    if (kept !== undefined) return kept;
    const fields = upstreamFields(lines, { authorization });
    const made = fields === null ? null : { fields, block: upstreamFieldBlock(fields) };
    if (this.#kept.size >= MAX_KEPT) this.#kept.clear();
    this.#kept.set(key, made);
    return made;
  }
}

export interface UpstreamPool {
  /** A GET of this request-target (as decided) with this header block (upstreamFieldBlock). */
  get(target: string, fields: string, signal: AbortSignal): Promise<Http1Answer>;
  close(): void;
}

/**
 * Keep-alive connections to the API server for the fast lane's GETs, or null when its URL is one
 * the pool cannot address as fetch does (see upstreamAddress). Replaced certificate files (a new
 * `upstream.tls`) start a new pool; the old one's connections finish what they carry and close
 * when idle (its idle timeout), so no request in flight is cut.
 */
export function upstreamPool(upstream: Upstream, opts: { readonly maxWhole: number }): UpstreamPool | null {
  const address = upstreamAddress(upstream.base);
  if (address === null) return null;
  let tls: UpstreamTls | null = null;
  let pool: Http1Pool | null = null;
  let closed = false;
  const current = (): Http1Pool => {
    const now = upstream.tls;
    if (pool === null || now !== tls) {
      tls = now;
      pool = new Http1Pool(originOf(address, now), { maxWhole: opts.maxWhole });
      if (closed) pool.close();
    }
    return pool;
  };
  return {
    get: (target, fields, signal) => current().request("GET", address.prefix + target, fields, { signal }),
    close: () => {
      closed = true;
      pool?.close();
    },
  };
}

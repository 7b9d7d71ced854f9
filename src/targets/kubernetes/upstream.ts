// The hop from the gateway to the API server: the gateway's own credential (a bearer token or a
// client certificate) and the cluster's CA, the request headers cleaned of the caller's
// credential and of every impersonation header, and the Accept header narrowed to JSON when
// the response must be masked (the gateway cannot mask protobuf).
import { readFileSync } from "node:fs";
import type { KubernetesTarget } from "../../config/schema.ts";
import { GatewayError, errorMessage } from "../../core/errors.ts";
import { isImpersonationHeader } from "./impersonation.ts";

export interface UpstreamTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface Upstream {
  /** The API server's base URL without a trailing slash. */
  readonly base: string;
  readonly tls: UpstreamTls;
  /** The Authorization value the gateway sends, or null (client certificate). */
  readonly authorization: string | null;
}

function readPem(value: string, what: string): string {
  if (value.includes("-----BEGIN")) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (e) {
    throw new GatewayError("E_CONFIG_INVALID", `cannot read the ${what} "${value}": ${errorMessage(e)}`);
  }
}

export interface UpstreamOptions {
  /** Asked for the current bearer token each time `authorization` is read (it can rotate). */
  readonly token?: () => string | undefined;
  /**
   * Watches the folders of the CA and client certificate files: a replaced file is read again
   * for the next request. Given the paths, returns what stops the watch.
   */
  readonly watchFiles?: (paths: readonly string[], onChange: () => void) => { close(): void };
  /** A replaced file that cannot be read (the files in use stay in use). */
  readonly onReadError?: (message: string) => void;
}

export interface WatchedUpstream extends Upstream {
  close(): void;
}

export function upstreamOf(cfg: KubernetesTarget["upstream"], opts: UpstreamOptions = {}): WatchedUpstream {
  const readTls = (): UpstreamTls => ({
    ...(cfg.ca !== undefined ? { ca: readPem(cfg.ca, "upstream CA") } : {}),
    ...(cfg.client_cert !== undefined ? { cert: readPem(cfg.client_cert, "upstream client certificate") } : {}),
    ...(cfg.client_key !== undefined ? { key: readPem(cfg.client_key, "upstream client key") } : {}),
  });
  let tls = readTls();
  let stale = false;
  const files = [cfg.ca, cfg.client_cert, cfg.client_key].filter((f): f is string => f !== undefined && !f.includes("-----BEGIN"));
  const watch = opts.watchFiles !== undefined && files.length > 0 ? opts.watchFiles(files, () => void (stale = true)) : null;
  const base = cfg.url.replace(/\/+$/, "");
  const token = opts.token;
  const fixed = cfg.token !== undefined ? `Bearer ${cfg.token}` : null;
  return {
    base,
    // Read again only after a change was seen: the hot path costs one flag test.
    get tls() {
      if (stale) {
        stale = false;
        try {
          tls = readTls();
        } catch (e) {
          opts.onReadError?.(`${errorMessage(e)}; the certificate files read before stay in use`);
        }
      }
      return tls;
    },
    get authorization() {
      if (token === undefined) return fixed;
      const t = token();
      return t !== undefined ? `Bearer ${t}` : null;
    },
    close: () => watch?.close(),
  };
}

// RFC 9110 §7.6.1 connection-specific fields, the caller's credential, and the fields an API
// server behind an authenticating proxy reads as the user (X-Remote-*): none crosses.
const DROPPED: ReadonlySet<string> = new Set(["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host", "authorization", "content-length", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"]);

function dropped(name: string): boolean {
  return DROPPED.has(name) || isImpersonationHeader(name) || name.startsWith("x-remote-");
}

/**
 * The headers sent upstream: the caller's minus what must not cross, plus the gateway's
 * credential, and the impersonation headers the policy allowed (`impersonate`, as received).
 */
export function upstreamHeaders(incoming: Headers, upstream: Upstream, opts: { impersonate: readonly (readonly [string, string])[]; jsonOnly: boolean }): Headers {
  const h = new Headers();
  const connection = (incoming.get("connection") ?? "").toLowerCase().split(",").map((s) => s.trim());
  incoming.forEach((value, name) => {
    if (dropped(name) || connection.includes(name)) return;
    h.set(name, value);
  });
  for (const [name, value] of opts.impersonate) h.append(name, value);
  if (upstream.authorization !== null) h.set("authorization", upstream.authorization);
  if (opts.jsonOnly) {
    h.set("accept", jsonAccept(incoming.get("accept")));
    h.set("accept-encoding", "identity");
  }
  return h;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * upstreamHeaders for the fast lane, from the header lines as received, without a Headers
 * object: the same fields (names in lower case, repeated lines joined with ", " as Headers
 * joins them, in Headers' order) as upstreamHeaders(new Headers(lines), upstream, { impersonate:
 * [], jsonOnly: false }) sends. Null when a line is one a Headers would refuse (the full path
 * then drops it): the caller takes the full path. No impersonation line may be among them.
 */
export function upstreamFields(lines: readonly (readonly [string, string])[], upstream: Pick<Upstream, "authorization">): Record<string, string> | null {
  const joined = new Map<string, string>();
  for (const [rawName, rawValue] of lines) {
    if (!TOKEN.test(rawName) || !FIELD_VALUE.test(rawValue)) return null;
    const name = rawName.toLowerCase();
    const value = rawValue.replace(/^[\t ]+|[\t ]+$/g, "");
    const before = joined.get(name);
    // Headers keeps each Set-Cookie apart (upstreamHeaders' set() keeps the last), and joins Cookie lines with "; ".
    joined.set(name, before === undefined || name === "set-cookie" ? value : `${before}${name === "cookie" ? "; " : ", "}${value}`);
  }
  const connection = (joined.get("connection") ?? "").toLowerCase().split(",").map((t) => t.trim());
  const out: Record<string, string> = {};
  const authorization = upstream.authorization;
  // Headers' order: by name, Set-Cookie last.
  const names = [...joined.keys(), ...(authorization !== null ? ["authorization"] : [])].sort((x, y) => (x === "set-cookie" ? 1 : y === "set-cookie" ? -1 : x < y ? -1 : x > y ? 1 : 0));
  for (const name of names) {
    if (name === "authorization") {
      if (authorization !== null) out[name] = authorization;
      continue;
    }
    if (dropped(name) || connection.includes(name)) continue;
    // set() trims what the join left at the ends (a repeated line that was empty).
    out[name] = joined.get(name)!.replace(/^[\t ]+|[\t ]+$/g, "");
  }
  return out;
}

/**
 * An Accept header that admits only JSON: the caller's JSON entries (so `as=Table;g=...;v=...`
 * stays), or plain application/json when it asked for none.
 */
export function jsonAccept(accept: string | null): string {
  const kept = (accept ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((entry) => entry.split(";")[0]!.trim().toLowerCase() === "application/json");
  return kept.length > 0 ? kept.join(",") : "application/json";
}

/** Whether an Accept header asks for the Table form. */
export function asksForTable(accept: string | null): boolean {
  return /;\s*as=Table/i.test(accept ?? "");
}

/** The request target with includeObject=Object, so that a Table's rows carry what JSON-path masks read. */
export function withFullRowObjects(target: string): string {
  const q = target.indexOf("?");
  if (q < 0) return `${target}?includeObject=Object`;
  const kept = target
    .slice(q + 1)
    .split("&")
    .filter((p) => p !== "" && !/^includeObject(=|$)/i.test(p));
  return `${target.slice(0, q)}?${[...kept, "includeObject=Object"].join("&")}`;
}

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

/** `token`, when given, is asked for the current bearer token each time `authorization` is read (it can rotate). */
export function upstreamOf(cfg: KubernetesTarget["upstream"], token?: () => string | undefined): Upstream {
  const tls: UpstreamTls = {
    ...(cfg.ca !== undefined ? { ca: readPem(cfg.ca, "upstream CA") } : {}),
    ...(cfg.client_cert !== undefined ? { cert: readPem(cfg.client_cert, "upstream client certificate") } : {}),
    ...(cfg.client_key !== undefined ? { key: readPem(cfg.client_key, "upstream client key") } : {}),
  };
  const base = cfg.url.replace(/\/+$/, "");
  if (token === undefined) return { base, tls, authorization: cfg.token !== undefined ? `Bearer ${cfg.token}` : null };
  return {
    base,
    tls,
    get authorization() {
      const t = token();
      return t !== undefined ? `Bearer ${t}` : null;
    },
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

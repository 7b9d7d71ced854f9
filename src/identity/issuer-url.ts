// Where an issuer's signing keys may come from: https anywhere, plain http only on this host.
// Keys fetched over plain http from another host can be swapped by anyone on the path, and
// whoever swaps them can mint any identity; on loopback there is no path to sit on.
import { isIP } from "node:net";

export const LOOPBACK_HOSTS = "127.0.0.0/8, ::1, localhost";

/** A URL's hostname as WHATWG URL gives it (lower case, IPv4 normalised, IPv6 in brackets). */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/**
 * What is wrong with a discovery or JWKS URL, or null. `what` names it in the message
 * (e.g. "jwks_uri"); the URL itself is public configuration, so it is quoted.
 */
export function issuerUrlProblem(value: string, what: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${what} "${value}" is not a URL`;
  }
  if (url.protocol === "https:") return null;
  if (url.protocol !== "http:") return `${what} "${value}" must be an https:// URL`;
  if (isLoopbackHostname(url.hostname)) return null;
  return (
    `${what} "${value}" uses plain http on a host other than this one: anyone on the network path could ` +
    `replace the signing keys and mint tokens; use https (plain http is allowed only on loopback: ${LOOPBACK_HOSTS})`
  );
}

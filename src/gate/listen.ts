// Listen addresses as the configuration gives them ("host:port", "[::1]:5432"), for every target
// and the admin API: split once here, and the loopback rule that lets a target run without TLS.
import { isIP } from "node:net";
import { GatewayError } from "../core/errors.ts";

/** host and port of a `listen:` value; an IPv6 host loses its brackets. */
export function splitListen(listen: string): [host: string, port: number] {
  const i = listen.lastIndexOf(":");
  if (i <= 0) throw new GatewayError("E_CONFIG_INVALID", `listen address "${listen}" must be host:port`);
  let host = listen.slice(0, i);
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  return [host, Number(listen.slice(i + 1))];
}

/** A host only this machine can reach: plaintext logins are allowed there without allow_plaintext. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

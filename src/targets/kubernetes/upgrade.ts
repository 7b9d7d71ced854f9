// Upgrades of exec, attach and port-forward. The WebSocket relay (v5.channel.k8s.io,
// v4.channel.k8s.io, portforward.k8s.io) comes later: `upgradeAnswer` is its one seam. Until
// then an allowed upgrade is answered 501 with a Status that says so; the decision was made and
// audited before this is called, as it will be for the relay.
import type { Connection } from "./https-server.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { detailsOf, statusResponse } from "./status.ts";

/**
 * The answer to an allowed WebSocket upgrade. The relay goes here: it takes `conn.upgrade`'s
 * socket and head, answers 101 itself and relays frames to the API server (the gateway's
 * credential, the request's target); until then a 501 Status, written by the listener.
 */
export function upgradeAnswer(_req: Request, _conn: Connection, facts: KubernetesRequestFacts): Response {
  const what = facts.subresource ?? facts.verb;
  return statusResponse(501, `gatehouse: ${what} over WebSocket is not yet supported by this gateway (the request was allowed and audited)`, detailsOf(facts));
}

/** Why an SPDY upgrade (what kubectl falls back to when a WebSocket upgrade fails) is refused. */
export function spdyRefusal(upgrade: string): string {
  return `SPDY upgrades (${upgrade}) are not relayed: the gateway relays exec, attach and port-forward over WebSocket only, which kubectl 1.30+ uses by default (do not set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false or KUBECTL_PORT_FORWARD_WEBSOCKETS=false; kubectl also falls back to SPDY when the WebSocket upgrade fails)`;
}

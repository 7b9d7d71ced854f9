// `direct-tcpip` channels (ssh -L, ssh -W, ProxyJump through the gateway): each connection the
// caller asks for is a `forward` action to "host:port", decided before the upstream host is
// asked to connect. Denied: the channel open fails as "administratively prohibited" with the
// rule's message. Allowed: the upstream opens the connection from its side (so the destination
// sees the upstream host, as with a direct ssh -L) and bytes are relayed with backpressure.
import type { AcceptConnection, Channel, ClientChannel, Connection, RejectConnection, TcpipRequestInfo } from "ssh2";
import { errorMessage } from "../../core/errors.ts";
import type { SshRequestFacts } from "../../core/types.ts";
import type { ChannelContext } from "./channel-context.ts";
import { relay } from "./relay.ts";
import { OPEN_FAILURE, rejectChannelOpen } from "./ssh-wire.ts";

/** "host:port", with an IPv6 host in brackets, as policy destinations are written. */
export function destinationOf(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function handleDirectTcpip(conn: Connection, accept: AcceptConnection<Channel>, reject: RejectConnection, info: TcpipRequestInfo, ctx: ChannelContext): Promise<void> {
  const destination = destinationOf(info.destIP, info.destPort);
  const facts: SshRequestFacts = { kind: "ssh", action: "forward", user: ctx.account, destination };
  const began = performance.now();
  const verdict = await ctx.decide(facts, { details: { origin: destinationOf(info.srcIP, info.srcPort) }, signal: ctx.gone });
  if (ctx.gone.aborted) return;
  if (!verdict.allowed) {
    rejectChannelOpen(conn, reject, OPEN_FAILURE.ADMINISTRATIVELY_PROHIBITED, `gatehouse: forward to ${destination} denied: ${verdict.message}`);
    return;
  }
  let up: ClientChannel;
  try {
    up = await new Promise<ClientChannel>((resolve, fail) =>
      ctx.upstream.forwardOut(info.srcIP || "127.0.0.1", info.srcPort || 0, info.destIP, info.destPort, (err, ch) => (err ? fail(err) : resolve(ch))),
    );
  } catch (e) {
    rejectChannelOpen(conn, reject, OPEN_FAILURE.CONNECT_FAILED, `gatehouse: the upstream could not connect to ${destination}: ${errorMessage(e)}`);
    ctx.ended(facts, { error: errorMessage(e), duration_ms: Math.round(performance.now() - began) });
    return;
  }
  if (ctx.gone.aborted) {
    up.close();
    return;
  }
  const channel = accept();
  const result = await relay(channel, up, { gone: ctx.gone, relayed: ctx.relayed });
  ctx.ended(facts, { bytes_in: result.bytesIn, bytes_out: result.bytesOut, duration_ms: Math.round(performance.now() - began), ...(result.closedBy === "caller" ? { closed_by: "caller" } : {}) });
}

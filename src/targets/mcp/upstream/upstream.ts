// One upstream MCP server as the session sees it: a channel of JSON-RPC messages, whatever the
// transport (a stdio process the gateway spawned, Streamable HTTP, the legacy HTTP+SSE).
import type { JsonRpcId, JsonRpcMessage } from "../json-rpc.ts";

export interface UpstreamEvents {
  /** A message from the server. `relatedTo`: the upstream id of the request whose answer stream carried it. */
  message(m: JsonRpcMessage, relatedTo?: JsonRpcId): void;
  /** Bytes from the server that are not a readable message (already refused; the session answers the id if it has one). */
  unreadable(reason: string, id: JsonRpcId | null): void;
  /** The connection is gone (the process exited, the session expired upstream). */
  closed(reason: string): void;
}

export interface Upstream {
  readonly transport: "stdio" | "streamable-http" | "sse";
  /** Spawns or connects; rejects with E_UPSTREAM. */
  start(): Promise<void>;
  /** Sends one message; rejects with E_UPSTREAM when it cannot be delivered. */
  send(m: JsonRpcMessage): Promise<void>;
  /** The protocol version the session agreed on (sent as MCP-Protocol-Version over HTTP). */
  setProtocolVersion(v: string): void;
  /** Ends it: kills the process group, or deletes the upstream session. */
  close(): Promise<void>;
  /** Facts for the session's records (pid, command, url). */
  readonly facts: () => Record<string, unknown>;
}

// The MCP SDK's own Client, connected the ways agents connect: Streamable HTTP or legacy SSE to a
// URL (the gateway's, with a Bearer token; or an upstream's directly) or stdio to a command. It
// answers server-initiated requests (sampling, elicitation, roots) and counts each one, so a test
// can prove a denied server request never reached the agent.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type ServerNotification,
} from "@modelcontextprotocol/sdk/types.js";

export interface TestClient {
  readonly client: Client;
  readonly transport: Transport;
  /** Server-initiated requests this client answered, by method. */
  readonly answered: { method: string; params: unknown }[];
  /** Notifications received (list_changed, progress, logging ...). */
  readonly notifications: ServerNotification[];
  close(): Promise<void>;
}

export type ClientTarget =
  | { readonly url: string; readonly token?: string; readonly transport?: "streamable" | "sse"; readonly headers?: Record<string, string> }
  | { readonly command: readonly string[]; readonly env?: Record<string, string> };

/** Connects (initialize + initialized) and returns the client; throws what the SDK threw. */
export async function connectClient(target: ClientTarget, name = "gatehouse-test"): Promise<TestClient> {
  const client = new Client({ name, version: "1.0.0" }, { capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } } });
  const answered: { method: string; params: unknown }[] = [];
  const notifications: ServerNotification[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    answered.push({ method: req.method, params: req.params });
    return { role: "assistant", content: { type: "text", text: "the agent's model answered" }, model: "test-model" };
  });
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    answered.push({ method: req.method, params: req.params });
    return { action: "decline" };
  });
  client.setRequestHandler(ListRootsRequestSchema, async (req) => {
    answered.push({ method: req.method, params: req.params });
    return { roots: [{ uri: "file:///home/agent/private", name: "private" }] };
  });
  client.fallbackNotificationHandler = async (n) => void notifications.push(n as ServerNotification);
  let transport: Transport;
  if ("url" in target) {
    const headers: Record<string, string> = { ...target.headers };
    if (target.token !== undefined) headers["authorization"] = `Bearer ${target.token}`;
    transport =
      target.transport === "sse"
        ? new SSEClientTransport(new URL(target.url), { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } })
        : new StreamableHTTPClientTransport(new URL(target.url), { requestInit: { headers } });
  } else {
    const [command, ...args] = target.command;
    transport = new StdioClientTransport({ command: command!, args, ...(target.env ? { env: target.env } : {}), stderr: "pipe" });
  }
  await client.connect(transport);
  return {
    client,
    transport,
    answered,
    notifications,
    close: async () => {
      await client.close().catch(() => {});
    },
  };
}

/** The text of a tools/call result's content (text items joined by newlines). */
export function resultText(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content
    .filter((c) => c.type === "text")
    .map((c) => c.text ?? "")
    .join("\n");
}

// A hand-written Streamable HTTP MCP server that misbehaves below the JSON-RPC layer, where an SDK
// server never would: a tools/call answered with an SSE event cut off mid-JSON and then nothing,
// with data that is not JSON, with a response to an id nobody asked about, or with an answer that
// also answers another request. initialize, notifications, tools/list behave. Counts the calls it
// gets.

const TOOLS = ["cut_off", "garbage", "wrong_id", "double_answer", "fine"].map((name) => ({ name, description: name, inputSchema: { type: "object", properties: {} } }));

export interface RawUpstream {
  readonly url: string;
  /** tools/call names received, in order. */
  readonly calls: string[];
  stop(): Promise<void>;
}

export function startRawUpstream(): RawUpstream {
  const calls: string[] = [];
  const open: ReadableStreamDefaultController<Uint8Array>[] = [];
  const enc = new TextEncoder();
  const sse = (body: string, keepOpen: boolean) =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(enc.encode(body));
          if (keepOpen) open.push(c);
          else c.close();
        },
      }),
      { headers: { "content-type": "text/event-stream", "mcp-session-id": "raw-1" } },
    );
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      if (req.method !== "POST") return new Response(null, { status: 405 });
      const m = (await req.json()) as { id?: number | string; method: string; params?: { name?: string } };
      const json = (result: unknown) => Response.json({ jsonrpc: "2.0", id: m.id, result }, { headers: { "mcp-session-id": "raw-1" } });
      switch (m.method) {
        case "initialize":
          return json({ protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "raw", version: "1" } });
        case "tools/list":
          return json({ tools: TOOLS });
        case "tools/call": {
          const name = String(m.params?.name);
          calls.push(name);
          const id = JSON.stringify(m.id);
          switch (name) {
            case "cut_off":
              return sse(`event: message\ndata: {"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","te`, true);
            case "garbage":
              return sse("event: message\ndata: this is not JSON at all\n\n", true);
            case "wrong_id":
              return sse(`event: message\ndata: {"jsonrpc":"2.0","id":"not-${m.id}","result":{"content":[{"type":"text","text":"forged"}]}}\n\n`, true);
            case "double_answer":
              return sse(
                `event: message\ndata: {"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"first"}]}}\n\nevent: message\ndata: {"jsonrpc":"2.0","id":${id},"result":{"content":[{"type":"text","text":"second"}]}}\n\n`,
                false,
              );
            default:
              return json({ content: [{ type: "text", text: "fine" }] });
          }
        }
        default:
          return m.id === undefined ? new Response(null, { status: 202 }) : json({});
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}/mcp`,
    calls,
    async stop() {
      for (const c of open.splice(0)) {
        try {
          c.close();
        } catch {}
      }
      await server.stop(true);
    },
  };
}

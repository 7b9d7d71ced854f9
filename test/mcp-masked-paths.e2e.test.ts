// Masks apply on every path a result's data takes to the agent, not only a result's content: a
// JSON-RPC error the upstream answers a masked call with (its message and data), and the progress
// notifications of that call. A stand-in upstream puts a secret on each of those paths.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";

setDefaultTimeout(60_000);

const SECRET = "jane.doe@example.com";

const upstream = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    if (req.method !== "POST") return new Response(null, { status: req.method === "DELETE" ? 200 : 405 });
    const body = (await req.json()) as Record<string, unknown>;
    const id = body["id"];
    const json = (m: Record<string, unknown>) => Response.json({ jsonrpc: "2.0", id, ...m }, { headers: { "mcp-session-id": "up-1" } });
    switch (body["method"]) {
      case "initialize":
        return json({ result: { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "stand-in", version: "1" } } });
      case "tools/list":
        return json({ result: { tools: ["fails", "reports"].map((name) => ({ name, description: name, inputSchema: { type: "object", properties: {} } })) } });
      case "tools/call": {
        const params = body["params"] as { name: string; _meta?: { progressToken?: unknown } };
        if (params.name === "fails") return json({ error: { code: -32603, message: `cannot mail ${SECRET}`, data: { owner: SECRET } } });
        const events = [
          { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: params._meta?.progressToken, progress: 1, message: `reading the mail of ${SECRET}` } },
          { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "done" }] } },
        ];
        return new Response(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(""), { headers: { "content-type": "text/event-stream", "mcp-session-id": "up-1" } });
      }
      default:
        return new Response(null, { status: 202 });
    }
  },
});

let rt: McpRuntime;
let session = "";

beforeAll(async () => {
  rt = await startMcpRuntime(
    { servers: [{ name: "standin", url: `http://127.0.0.1:${upstream.port}/mcp` }] },
    { rules: [{ name: "masked", effect: "allow", methods: ["tools/call"], tools: ["fails", "reports"], detectors: ["email"] }] },
  );
  const c = await rt.client("standin");
  session = (c.transport as unknown as { sessionId: string }).sessionId;
});

afterAll(async () => {
  await rt?.stop();
  await upstream.stop(true);
});

const call = (id: number, name: string, accept: string, meta?: Record<string, unknown>) =>
  fetch(`${rt.url}/mcp/standin`, {
    method: "POST",
    headers: { authorization: "Bearer token-alice", "content-type": "application/json", accept, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {}, ...(meta ? { _meta: meta } : {}) } }),
  });

describe("masks on every path of a masked call", () => {
  test("a JSON-RPC error's message and data are masked", async () => {
    const text = await (await call(1, "fails", "application/json")).text();
    expect(text).toContain('"error"');
    expect(text).not.toContain(SECRET);
    expect(text).toContain("[masked:email]");
  });

  test("the call's progress notifications are masked", async () => {
    const text = await (await call(2, "reports", "application/json, text/event-stream", { progressToken: "p-2" })).text();
    expect(text).toContain("notifications/progress");
    expect(text).toContain('"done"');
    expect(text).not.toContain(SECRET);
  });
});

// Masks apply on every path a result's data takes to the agent, not only a result's content: a
// JSON-RPC error the upstream answers a masked call with (its message and data), and the progress
// notifications of that call, and its result fetched later with tasks/result when the call ran
// as a task (2025-11-25), and a sampling request the server sends the agent while it runs the
// call. A stand-in upstream puts a secret on each of those paths.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";
import { within } from "./helpers/wait.ts";

setDefaultTimeout(60_000);

const SECRET = "jane.doe@example.com";
const sampled = Promise.withResolvers<void>();

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
        return json({ result: { tools: ["fails", "reports", "later", "samples"].map((name) => ({ name, description: name, inputSchema: { type: "object", properties: {} } })) } });
      case "tools/call": {
        const params = body["params"] as { name: string; task?: unknown; _meta?: { progressToken?: unknown } };
        if (params.name === "later" && params.task !== undefined) return json({ result: { task: { taskId: "task-1", status: "working", createdAt: new Date().toISOString(), ttl: 60_000 } } });
        if (params.name === "fails") return json({ error: { code: -32603, message: `cannot mail ${SECRET}`, data: { owner: SECRET } } });
        if (params.name === "samples") {
          // Asks the agent to sample, and answers the call once the agent has answered that.
          const sse = (e: unknown) => new TextEncoder().encode(`data: ${JSON.stringify(e)}\n\n`);
          const stream = new ReadableStream<Uint8Array>({
            async start(ctl) {
              ctl.enqueue(sse({ jsonrpc: "2.0", id: "s-1", method: "sampling/createMessage", params: { messages: [{ role: "user", content: { type: "text", text: `summarise the mail of ${SECRET}` } }], maxTokens: 50 } }));
              await sampled.promise;
              ctl.enqueue(sse({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "asked" }] } }));
              ctl.close();
            },
          });
          return new Response(stream, { headers: { "content-type": "text/event-stream", "mcp-session-id": "up-1" } });
        }
        const events = [
          { jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: params._meta?.progressToken, progress: 1, message: `reading the mail of ${SECRET}` } },
          { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "done" }] } },
        ];
        return new Response(events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(""), { headers: { "content-type": "text/event-stream", "mcp-session-id": "up-1" } });
      }
      case undefined:
        // The agent's answer to the sampling request.
        if (id === "s-1") sampled.resolve();
        return new Response(null, { status: 202 });
      case "tasks/result":
        return json({ result: { content: [{ type: "text", text: `mail ${SECRET}` }], _meta: { "io.modelcontextprotocol/related-task": { taskId: "task-1" } } } });
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
    {
      rules: [
        { name: "masked", effect: "allow", methods: ["tools/call"], tools: ["fails", "reports", "later", "samples"], detectors: ["email"] },
        { name: "sampling", effect: "allow", direction: "server", methods: ["sampling/createMessage"] },
        // Fetching a task's result: allowed by a rule of its own, which masks nothing.
        { name: "tasks", effect: "allow", methods: ["tasks/result", "tasks/get"] },
      ],
    },
  );
  const c = await rt.client("standin");
  session = (c.transport as unknown as { sessionId: string }).sessionId;
});

afterAll(async () => {
  await rt?.stop();
  await upstream.stop(true);
});

const send = (id: number, method: string, params: Record<string, unknown>, accept = "application/json") =>
  fetch(`${rt.url}/mcp/standin`, {
    method: "POST",
    headers: { authorization: "Bearer token-alice", "content-type": "application/json", accept, "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
  });
const call = (id: number, name: string, accept: string, meta?: Record<string, unknown>) => send(id, "tools/call", { name, arguments: {}, ...(meta ? { _meta: meta } : {}) }, accept);

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

  test("a call run as a task keeps its masks when its result is fetched with tasks/result", async () => {
    const created = (await (await send(3, "tools/call", { name: "later", arguments: {}, task: { ttl: 60_000 } })).json()) as { result: { task: { taskId: string } } };
    expect(created.result.task.taskId).toBe("task-1");
    const text = await (await send(4, "tasks/result", { taskId: "task-1" })).text();
    expect(text).toContain('"content"');
    expect(text).not.toContain(SECRET);
    expect(text).toContain("[masked:email]");
  });

  test("a sampling request the server sends during a masked call reaches the agent masked", async () => {
    const res = await call(5, "samples", "application/json, text/event-stream");
    const reader = res.body!.getReader();
    let text = "";
    const decoder = new TextDecoder();
    let answered = false;
    for (;;) {
      const { value, done } = await within("the call's answer stream", reader.read());
      if (done) break;
      text += decoder.decode(value, { stream: true });
      const asked = /"id":"(gh-\d+)","method":"sampling\/createMessage"/.exec(text);
      if (asked !== null && !answered) {
        answered = true;
        // The agent answers the sampling request; the server then answers the call.
        await fetch(`${rt.url}/mcp/standin`, {
          method: "POST",
          headers: { authorization: "Bearer token-alice", "content-type": "application/json", accept: "application/json", "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" },
          body: JSON.stringify({ jsonrpc: "2.0", id: asked[1], result: { role: "assistant", content: { type: "text", text: "a summary" }, model: "test" } }),
        });
      }
    }
    expect(text).toContain("sampling/createMessage");
    expect(text).toContain('"asked"');
    expect(text).not.toContain(SECRET);
  });
});

// listTools against real MCP servers: @modelcontextprotocol/server-everything over stdio, and
// servers written with the SDK over Streamable HTTP and legacy HTTP+SSE.
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SSEServerTransport } from "@modelcontextprotocol/sdk/server/sse.js";
import { z } from "zod";
import { GatewayError } from "../../core/errors.ts";
import { listTools } from "./list-tools.ts";

setDefaultTimeout(60_000);

const EVERYTHING = join(import.meta.dir, "../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");

function sdkServer(): McpServer {
  const s = new McpServer({ name: "pin-test", version: "1" });
  s.registerTool("echo", { description: "Echoes", inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: "text", text }] }));
  s.registerTool("add", { description: "Adds", inputSchema: { a: z.number(), b: z.number() }, annotations: { readOnlyHint: true } }, async ({ a, b }) => ({ content: [{ type: "text", text: String(a + b) }] }));
  return s;
}

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("listTools", () => {
  test("server-everything over stdio, spawned with only its declared environment", async () => {
    const tools = (await listTools({ name: "everything", command: ["node", EVERYTHING, "stdio"], env: { GATEHOUSE_PIN_TEST: "1" } })) as { name: string; inputSchema: unknown }[];
    const names = tools.map((t) => t.name);
    expect(names).toContain("echo");
    expect(names).toContain("get-sum");
    expect(tools.every((t) => typeof t.inputSchema === "object")).toBe(true);
  });

  test("a command that is not there, one that exits, one that writes junk: errors naming the server", async () => {
    await expect(listTools({ name: "nope", command: ["gatehouse-no-such-command-xyz"] })).rejects.toThrow(/MCP server nope: command "gatehouse-no-such-command-xyz" is not on the PATH/);
    await expect(listTools({ name: "quits", command: ["node", "-e", "process.exit(3)"] })).rejects.toThrow(/MCP server quits: exited \(status 3\)/);
    await expect(listTools({ name: "junk", command: ["node", "-e", "process.stdout.write('hello\\n'); setInterval(() => {}, 1000)"] })).rejects.toThrow(/MCP server junk: wrote something other than JSON-RPC/);
    await expect(listTools({ name: "silent", command: ["node", "-e", "setInterval(() => {}, 1000)"] }, { timeoutMs: 500 })).rejects.toThrow(GatewayError);
  });

  test("Streamable HTTP with the upstream credential", async () => {
    const seen: (string | undefined)[] = [];
    const base = await listen(async (req, res) => {
      seen.push(req.headers.authorization);
      if (req.headers.authorization !== "Bearer upstream-secret") {
        res.writeHead(401).end();
        return;
      }
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      await sdkServer().connect(transport);
      await transport.handleRequest(req, res);
    });
    const tools = (await listTools({ name: "http", url: `${base}/mcp`, headers: { authorization: "Bearer upstream-secret" } })) as { name: string; annotations?: unknown }[];
    expect(tools.map((t) => t.name).sort()).toEqual(["add", "echo"]);
    expect(tools.find((t) => t.name === "add")!.annotations).toEqual({ readOnlyHint: true });
    expect(seen.every((a) => a === "Bearer upstream-secret")).toBe(true);
    await expect(listTools({ name: "http", url: `${base}/mcp` })).rejects.toThrow(/MCP server http: HTTP 401/);
  });

  test("legacy HTTP+SSE whose stream names an endpoint on another origin: refused, nothing posted there", async () => {
    let posted = 0;
    const other = await listen((_req, res) => {
      posted++;
      res.writeHead(202).end();
    });
    const base = await listen((req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`event: endpoint\ndata: ${other}/messages?sessionId=x\n\n`);
    });
    await expect(listTools({ name: "moved", url: `${base}/sse`, transport: "sse", headers: { authorization: "Bearer upstream-secret" } }, { timeoutMs: 5_000 })).rejects.toThrow(/on another origin/);
    expect(posted).toBe(0);
  });

  test("a tools/list that never ends its pages, or pages with a cursor that is not text: refused", async () => {
    const base = await listen(async (req, res) => {
      let body = "";
      for await (const chunk of req) body += chunk;
      const m = JSON.parse(body) as { id?: number; method: string; params?: { cursor?: string } };
      if (m.id === undefined) return void res.writeHead(202).end();
      const result =
        m.method === "initialize"
          ? { protocolVersion: "2025-06-18", capabilities: { tools: {} }, serverInfo: { name: "pages", version: "1" } }
          : { tools: [{ name: `t${m.params?.cursor ?? ""}`, inputSchema: { type: "object" } }], nextCursor: req.url === "/bad" ? 7 : `${Number(m.params?.cursor ?? 0) + 1}` };
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result }));
    });
    await expect(listTools({ name: "endless", url: `${base}/endless` })).rejects.toThrow(/more than 100 pages/);
    await expect(listTools({ name: "bad", url: `${base}/bad` })).rejects.toThrow(/nextCursor that is not a string/);
  });

  test("legacy HTTP+SSE", async () => {
    const transports = new Map<string, SSEServerTransport>();
    const base = await listen(async (req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      if (req.method === "GET" && url.pathname === "/sse") {
        const t = new SSEServerTransport("/messages", res);
        transports.set(t.sessionId, t);
        await sdkServer().connect(t);
        return;
      }
      const t = transports.get(url.searchParams.get("sessionId") ?? "");
      if (req.method === "POST" && t !== undefined) await t.handlePostMessage(req, res);
      else res.writeHead(404).end();
    });
    const tools = (await listTools({ name: "legacy", url: `${base}/sse`, transport: "sse" })) as { name: string }[];
    expect(tools.map((t) => t.name).sort()).toEqual(["add", "echo"]);
  });
});

// An MCP server written with the SDK to the "Server Implementation Requirements" that
// @modelcontextprotocol/conformance's server scenarios state (their descriptions, in its dist):
// the test_* tools (text, image, audio, embedded resource, mixed content, logging, progress,
// error, sampling, elicitation with SEP-1034 defaults and SEP-1330 enums, a JSON Schema 2020-12
// input schema, test_reconnection that closes its SSE stream mid-call), the test:// resources and
// template, subscriptions, the test_* prompts and completion; served over Streamable HTTP with an
// event store (Last-Event-ID resumption) and DNS-rebinding protection (only localhost Host
// headers). It passes the suite directly, so the gateway in front of it is measured against a
// server that does everything right.
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { type EventStore, WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  GetPromptRequestSchema,
  type JSONRPCMessage,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  type Tool,
  UnsubscribeRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

// A 1×1 PNG and a tiny WAV (44-byte header, two silent samples).
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = Buffer.concat([
  Buffer.from("RIFF"), Buffer.from([40, 0, 0, 0]), Buffer.from("WAVEfmt "), Buffer.from([16, 0, 0, 0, 1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x80, 0x3e, 0, 0, 2, 0, 16, 0]),
  Buffer.from("data"), Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]),
]).toString("base64");

const noArgs = { type: "object" as const, properties: {} };
const tool = (name: string, description: string, inputSchema: Tool["inputSchema"] = noArgs): Tool => ({ name, description, inputSchema });

const TOOLS: Tool[] = [
  tool("test_simple_text", "Returns simple text"),
  tool("test_image_content", "Returns an image"),
  tool("test_audio_content", "Returns audio"),
  tool("test_embedded_resource", "Returns an embedded resource"),
  tool("test_multiple_content_types", "Returns text, an image and a resource"),
  tool("test_tool_with_logging", "Logs three messages while it runs"),
  tool("test_tool_with_progress", "Reports progress 0, 50, 100 of 100"),
  tool("test_error_handling", "Always fails"),
  tool("test_sampling", "Asks the client's model", { type: "object", properties: { prompt: { type: "string" } }, required: ["prompt"] }),
  tool("test_elicitation", "Asks the user", { type: "object", properties: { message: { type: "string" } }, required: ["message"] }),
  tool("test_elicitation_sep1034_defaults", "Elicitation with defaults for every primitive type"),
  tool("test_elicitation_sep1330_enums", "Elicitation with the five enum forms"),
  tool("test_reconnection", "Closes its SSE stream before answering"),
  {
    name: "json_schema_2020_12_tool",
    description: "Tool with JSON Schema 2020-12 features",
    inputSchema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      $defs: { address: { type: "object", properties: { street: { type: "string" }, city: { type: "string" } } } },
      properties: { name: { type: "string" }, address: { $ref: "#/$defs/address" } },
      additionalProperties: false,
    } as Tool["inputSchema"],
  },
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function makeServer(): Server {
  const server = new Server(
    { name: "conformance-shaped", version: "1.0.0" },
    { capabilities: { tools: {}, resources: { subscribe: true }, prompts: {}, logging: {}, completions: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) => {
    const args = (req.params.arguments ?? {}) as Record<string, unknown>;
    const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });
    switch (req.params.name) {
      case "test_simple_text":
        return text("This is a simple text response for testing.");
      case "test_image_content":
        return { content: [{ type: "image", data: PNG, mimeType: "image/png" }] };
      case "test_audio_content":
        return { content: [{ type: "audio", data: WAV, mimeType: "audio/wav" }] };
      case "test_embedded_resource":
        return { content: [{ type: "resource", resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." } }] };
      case "test_multiple_content_types":
        return {
          content: [
            { type: "text", text: "Multiple content types test:" },
            { type: "image", data: PNG, mimeType: "image/png" },
            { type: "resource", resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: '{"test":"data","value":123}' } },
          ],
        };
      case "test_tool_with_logging":
        for (const [i, data] of ["Tool execution started", "Tool processing data", "Tool execution completed"].entries()) {
          if (i > 0) await sleep(50);
          await extra.sendNotification({ method: "notifications/message", params: { level: "info", data } });
        }
        return text("Tool with logging executed successfully");
      case "test_tool_with_progress": {
        const token = req.params._meta?.progressToken;
        for (const [i, progress] of [0, 50, 100].entries()) {
          if (i > 0) await sleep(50);
          if (token !== undefined) await extra.sendNotification({ method: "notifications/progress", params: { progressToken: token, progress, total: 100 } });
        }
        return text("Tool with progress executed successfully");
      }
      case "test_error_handling":
        return { isError: true, content: [{ type: "text", text: "This tool intentionally returns an error for testing" }] };
      case "test_sampling": {
        const r = await extra.sendRequest(
          { method: "sampling/createMessage", params: { messages: [{ role: "user", content: { type: "text", text: String(args["prompt"]) } }], maxTokens: 100 } },
          CreateMessageResultSchema,
        );
        return text(`LLM response: ${r.content.type === "text" ? r.content.text : JSON.stringify(r.content)}`);
      }
      case "test_elicitation": {
        const r = await extra.sendRequest(
          {
            method: "elicitation/create",
            params: {
              message: String(args["message"]),
              requestedSchema: { type: "object", properties: { username: { type: "string", description: "User's response" }, email: { type: "string", description: "User's email address" } }, required: ["username", "email"] },
            },
          },
          ElicitResultSchema,
        );
        return text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
      }
      case "test_elicitation_sep1034_defaults": {
        const r = await extra.sendRequest(
          {
            method: "elicitation/create",
            params: {
              message: "Defaults for every primitive type",
              requestedSchema: {
                type: "object",
                properties: {
                  name: { type: "string", default: "John Doe" },
                  age: { type: "integer", default: 30 },
                  score: { type: "number", default: 95.5 },
                  status: { type: "string", enum: ["active", "inactive", "pending"], default: "active" },
                  verified: { type: "boolean", default: true },
                },
              },
            },
          },
          ElicitResultSchema,
        );
        return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
      }
      case "test_elicitation_sep1330_enums": {
        const r = await extra.sendRequest(
          {
            method: "elicitation/create",
            params: {
              message: "The five enum forms",
              requestedSchema: {
                type: "object",
                properties: {
                  untitledSingle: { type: "string", enum: ["option1", "option2", "option3"] },
                  titledSingle: { type: "string", oneOf: [{ const: "value1", title: "First Option" }, { const: "value2", title: "Second Option" }, { const: "value3", title: "Third Option" }] },
                  legacyEnum: { type: "string", enum: ["opt1", "opt2", "opt3"], enumNames: ["Option One", "Option Two", "Option Three"] },
                  untitledMulti: { type: "array", items: { type: "string", enum: ["option1", "option2", "option3"] } },
                  titledMulti: { type: "array", items: { anyOf: [{ const: "value1", title: "First Choice" }, { const: "value2", title: "Second Choice" }, { const: "value3", title: "Third Choice" }] } },
                },
              },
            },
          } as never,
          ElicitResultSchema,
        );
        return text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`);
      }
      case "test_reconnection":
        // Close this call's SSE stream first: the client resumes with GET and Last-Event-ID.
        await sleep(50);
        extra.closeSSEStream?.();
        await sleep(200);
        return text("Reconnection test completed successfully");
      case "json_schema_2020_12_tool":
        return text(`hello ${String(args["name"] ?? "")}`);
      default:
        return { isError: true, content: [{ type: "text", text: `unknown tool ${req.params.name}` }] };
    }
  });
  server.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: [
      { uri: "test://static-text", name: "static-text", description: "A static text resource", mimeType: "text/plain" },
      { uri: "test://static-binary", name: "static-binary", description: "A static binary resource", mimeType: "image/png" },
      { uri: "test://watched-resource", name: "watched-resource", description: "A resource to subscribe to", mimeType: "text/plain" },
    ],
  }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [{ uriTemplate: "test://template/{id}/data", name: "template", description: "Data by id", mimeType: "application/json" }],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => {
    const uri = req.params.uri;
    if (uri === "test://static-text") return { contents: [{ uri, mimeType: "text/plain", text: "This is the content of the static text resource." }] };
    if (uri === "test://static-binary") return { contents: [{ uri, mimeType: "image/png", blob: PNG }] };
    if (uri === "test://watched-resource") return { contents: [{ uri, mimeType: "text/plain", text: "watched" }] };
    const m = /^test:\/\/template\/([^/]+)\/data$/.exec(uri);
    if (m) return { contents: [{ uri, mimeType: "application/json", text: JSON.stringify({ id: m[1], templateTest: true, data: `Data for ID: ${m[1]}` }) }] };
    throw new Error(`no resource ${uri}`);
  });
  server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
  server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
  server.setRequestHandler(SetLevelRequestSchema, async () => ({}));
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({
    prompts: [
      { name: "test_simple_prompt", description: "A prompt without arguments" },
      { name: "test_prompt_with_arguments", description: "A prompt with arguments", arguments: [{ name: "arg1", required: true }, { name: "arg2", required: true }] },
      { name: "test_prompt_with_embedded_resource", description: "A prompt embedding a resource", arguments: [{ name: "resourceUri", required: true }] },
      { name: "test_prompt_with_image", description: "A prompt with an image" },
    ],
  }));
  server.setRequestHandler(GetPromptRequestSchema, async (req) => {
    const a = req.params.arguments ?? {};
    switch (req.params.name) {
      case "test_simple_prompt":
        return { messages: [{ role: "user", content: { type: "text", text: "This is a simple prompt for testing." } }] };
      case "test_prompt_with_arguments":
        return { messages: [{ role: "user", content: { type: "text", text: `Prompt with arguments: arg1='${a["arg1"]}', arg2='${a["arg2"]}'` } }] };
      case "test_prompt_with_embedded_resource":
        return {
          messages: [
            { role: "user", content: { type: "resource", resource: { uri: String(a["resourceUri"]), mimeType: "text/plain", text: "Embedded resource content for testing." } } },
            { role: "user", content: { type: "text", text: "Please process the embedded resource above." } },
          ],
        };
      case "test_prompt_with_image":
        return {
          messages: [
            { role: "user", content: { type: "image", data: PNG, mimeType: "image/png" } },
            { role: "user", content: { type: "text", text: "Please analyze the image above." } },
          ],
        };
      default:
        throw new Error(`no prompt ${req.params.name}`);
    }
  });
  server.setRequestHandler(CompleteRequestSchema, async (req) => {
    const v = req.params.argument.value;
    const values = ["paris", "park", "party"].filter((x) => x.startsWith(v));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}

class MemoryEventStore implements EventStore {
  readonly #events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const id = `${stream}_${this.#events.length}`;
    this.#events.push({ id, stream, message });
    return id;
  }
  async getStreamIdForEventId(id: string): Promise<string | undefined> {
    return this.#events.find((e) => e.id === id)?.stream;
  }
  async replayEventsAfter(lastId: string, { send }: { send: (id: string, m: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const at = this.#events.findIndex((e) => e.id === lastId);
    const stream = this.#events[at]?.stream ?? "";
    for (const e of this.#events.slice(at + 1)) if (e.stream === stream) await send(e.id, e.message);
    return stream;
  }
}

export interface ConformanceServer {
  /** http://127.0.0.1:PORT/mcp */
  readonly url: string;
  stop(): Promise<void>;
}

export function startConformanceServer(): ConformanceServer {
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  let port = 0;
  const http = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    async fetch(req) {
      if (new URL(req.url).pathname !== "/mcp") return new Response("not found", { status: 404 });
      const sid = req.headers.get("mcp-session-id");
      if (sid !== null) {
        const t = sessions.get(sid);
        if (!t) return Response.json({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }, { status: 404 });
        return await t.handleRequest(req);
      }
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        eventStore: new MemoryEventStore(),
        retryInterval: 100,
        enableDnsRebindingProtection: true,
        allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`, "127.0.0.1", "localhost"],
        onsessioninitialized: (s) => void sessions.set(s, transport),
        onsessionclosed: (s) => void sessions.delete(s),
      });
      await makeServer().connect(transport);
      return await transport.handleRequest(req);
    },
  });
  port = http.port!;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    async stop() {
      for (const t of sessions.values()) await t.close().catch(() => {});
      await http.stop(true);
    },
  };
}

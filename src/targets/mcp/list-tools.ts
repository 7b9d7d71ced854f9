// A small MCP client that does one thing: connect to an upstream server as the target's config
// describes it (a stdio command the gateway spawns, Streamable HTTP, or legacy HTTP+SSE),
// initialize, and list its tools, for `gatehouse mcp pin`. Our own rather than the SDK's Client:
// the binary then carries no MCP client library (the SDK stays a test dependency), and what the
// pin command runs is only these few requests.
import { spawn } from "node:child_process";
import { GatewayError } from "../../core/errors.ts";
import { parseStrictJson } from "./strict-json.ts";

/** One upstream server of a `kind: mcp` target, as `gatehouse mcp pin` needs it (secrets resolved). */
export interface McpServerSpec {
  readonly name: string;
  /** Streamable HTTP endpoint, or with transport "sse" the legacy /sse endpoint. */
  readonly url?: string;
  readonly transport?: "streamable-http" | "sse";
  readonly headers?: Readonly<Record<string, string>>;
  /** stdio: argv of the server the gateway spawns. */
  readonly command?: readonly string[];
  /** stdio: the server's whole environment (nothing is inherited). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

export interface ListToolsOptions {
  readonly timeoutMs?: number;
  /** stdio: how a bare command name is found (the server's own environment has no PATH unless declared). Default: this process's PATH. */
  readonly which?: (command: string) => string | null;
}

export const PROTOCOL_VERSION = "2025-06-18";
const CLIENT_INFO = { name: "gatehouse-mcp-pin", version: "1" };
const MAX_PAGES = 100;
const MAX_MESSAGE = 16 * 1024 * 1024;

type Json = Record<string, unknown>;

function upstream(server: string, message: string, cause?: unknown): GatewayError {
  return new GatewayError("E_UPSTREAM", `MCP server ${server}: ${message}`, cause === undefined ? {} : { cause });
}

/** A JSON-RPC exchange: send a request, get its result (or throw its error). */
interface Session {
  request(method: string, params: Json): Promise<Json>;
  notify(method: string, params?: Json): Promise<void>;
  close(): Promise<void>;
}

/** initialize, notifications/initialized, then every page of tools/list. */
export async function listTools(spec: McpServerSpec, options: ListToolsOptions = {}): Promise<unknown[]> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const session = spec.command !== undefined ? stdioSession(spec, options) : spec.transport === "sse" ? await sseSession(spec, timeoutMs) : httpSession(spec, timeoutMs);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(upstream(spec.name, `no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([run(session), timeout]);
  } finally {
    clearTimeout(timer);
    await session.close();
  }

  async function run(s: Session): Promise<unknown[]> {
    const init = await s.request("initialize", { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: CLIENT_INFO });
    if (typeof init["protocolVersion"] !== "string") throw upstream(spec.name, "the initialize result has no protocolVersion");
    await s.notify("notifications/initialized");
    const tools: unknown[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const r = await s.request("tools/list", cursor === undefined ? {} : { cursor });
      if (!Array.isArray(r["tools"])) throw upstream(spec.name, "the tools/list result has no tools list");
      tools.push(...r["tools"]);
      const next = r["nextCursor"];
      if (next === undefined || next === null) return tools;
      if (typeof next !== "string") throw upstream(spec.name, "tools/list gave a nextCursor that is not a string");
      cursor = next;
    }
    throw upstream(spec.name, `tools/list has more than ${MAX_PAGES} pages`);
  }
}

/** Matches responses to requests by id; answers a server's own requests with "method not found" (this client offers nothing). */
function createExchange(server: string, send: (msg: Json) => Promise<void>) {
  let nextId = 1;
  const waiting = new Map<number, { resolve: (r: Json) => void; reject: (e: Error) => void }>();
  return {
    async request(method: string, params: Json): Promise<Json> {
      const id = nextId++;
      const answer = new Promise<Json>((resolve, reject) => waiting.set(id, { resolve, reject }));
      await send({ jsonrpc: "2.0", id, method, params });
      return answer;
    },
    async notify(method: string, params?: Json): Promise<void> {
      await send({ jsonrpc: "2.0", method, ...(params === undefined ? {} : { params }) });
    },
    /** One message from the server. */
    receive(value: unknown): void {
      if (value === null || typeof value !== "object" || Array.isArray(value)) return this.fail(upstream(server, "sent a message that is not a JSON-RPC object"));
      const m = value as Json;
      if (typeof m["method"] === "string") {
        if (m["id"] !== undefined) void send({ jsonrpc: "2.0", id: m["id"], error: { code: -32601, message: "gatehouse mcp pin answers no requests" } }).catch(() => {});
        return;
      }
      const id = m["id"];
      const w = typeof id === "number" ? waiting.get(id) : undefined;
      if (w === undefined) return;
      waiting.delete(id as number);
      const error = m["error"] as Json | undefined;
      if (error !== undefined) w.reject(upstream(server, `${String(error["message"] ?? "error")} (code ${String(error["code"])})`));
      else if (m["result"] === null || typeof m["result"] !== "object") w.reject(upstream(server, "answered without a result object"));
      else w.resolve(m["result"] as Json);
    },
    fail(e: Error): void {
      for (const w of waiting.values()) w.reject(e);
      waiting.clear();
    },
  };
}

function stdioSession(spec: McpServerSpec, options: ListToolsOptions): Session {
  const argv = spec.command!;
  if (argv.length === 0) throw upstream(spec.name, "the command is empty");
  const which = options.which ?? ((c: string) => Bun.which(c));
  const file = argv[0]!.includes("/") ? argv[0]! : which(argv[0]!);
  if (file === null) throw upstream(spec.name, `command ${JSON.stringify(argv[0])} is not on the PATH`);
  // The server gets only its declared environment, its own folder and its own process group,
  // as the runtime spawns it: what it lists here is what it would list there.
  const child = spawn(file, argv.slice(1), { env: { ...(spec.env ?? {}) }, cwd: spec.cwd, stdio: ["pipe", "pipe", "pipe"], detached: true });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exchange = createExchange(spec.name, async (msg) => {
    if (!child.stdin.writable) throw upstream(spec.name, "its stdin is closed");
    child.stdin.write(`${JSON.stringify(msg)}\n`);
  });
  let buffer = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d: string) => {
    buffer += d;
    if (buffer.length > MAX_MESSAGE) {
      exchange.fail(upstream(spec.name, `sent a line longer than ${MAX_MESSAGE} bytes`));
      buffer = "";
      return;
    }
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line.trim() === "") continue;
      try {
        exchange.receive(parseStrictJson(line));
      } catch (e) {
        exchange.fail(upstream(spec.name, `wrote something other than JSON-RPC to stdout: ${JSON.stringify(line.slice(0, 80))}`, e));
      }
    }
  });
  child.on("error", (e) => exchange.fail(upstream(spec.name, `cannot start ${JSON.stringify(file)}: ${e.message}`, e)));
  child.on("exit", (code, signal) => exchange.fail(upstream(spec.name, `exited (${signal ?? `status ${code}`}) before answering${stderr ? `; stderr: ${stderr.trim().slice(0, 500)}` : ""}`)));
  return {
    request: (m, p) => exchange.request(m, p),
    notify: (m, p) => exchange.notify(m, p),
    async close() {
      child.stdin.end();
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          // Already gone.
        }
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, "SIGKILL");
          } catch {
            // Already gone.
          }
        }, 2_000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

/** Splits a text/event-stream body into events (data lines joined), calling `on` for each. */
async function readEvents(body: ReadableStream<Uint8Array>, on: (event: string, data: string) => boolean | void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let buffer = "";
  let event = "message";
  let data: string[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    if (buffer.length > MAX_MESSAGE) throw new GatewayError("E_UPSTREAM", "an event stream line is too long");
    let nl: number;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (data.length > 0 && on(event, data.join("\n")) === true) {
          await reader.cancel();
          return;
        }
        event = "message";
        data = [];
      } else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("event:")) event = line.slice(6).trim();
    }
  }
}

function httpSession(spec: McpServerSpec, timeoutMs: number): Session {
  const url = spec.url!;
  let sessionId: string | undefined;
  let version: string | undefined;
  const controller = new AbortController();
  const headers = (): Record<string, string> => ({
    ...(spec.headers ?? {}),
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...(sessionId !== undefined ? { "mcp-session-id": sessionId } : {}),
    ...(version !== undefined ? { "mcp-protocol-version": version } : {}),
  });
  const exchange = createExchange(spec.name, async (msg) => {
    const res = await fetch(url, { method: "POST", headers: headers(), body: JSON.stringify(msg), signal: AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]) });
    const sid = res.headers.get("mcp-session-id");
    if (sid !== null) sessionId = sid;
    if (res.status === 202) return;
    if (!res.ok) {
      const text = (await res.text()).slice(0, 300);
      throw upstream(spec.name, `HTTP ${res.status} from ${url}${text ? `: ${text}` : ""}`);
    }
    const type = res.headers.get("content-type") ?? "";
    if (type.startsWith("text/event-stream")) {
      await readEvents(res.body!, (_event, data) => {
        const value = parseStrictJson(data);
        exchange.receive(value);
        // The stream ends with the response to this request.
        return (value as Json)["id"] === msg["id"] && (value as Json)["method"] === undefined;
      });
    } else if (type.startsWith("application/json")) {
      exchange.receive(parseStrictJson(await res.text()));
    } else if (msg["id"] !== undefined) throw upstream(spec.name, `answered with content type ${JSON.stringify(type)}`);
  });
  return {
    async request(method, params) {
      const r = await exchange.request(method, params);
      if (method === "initialize" && typeof r["protocolVersion"] === "string") version = r["protocolVersion"];
      return r;
    },
    notify: (m, p) => exchange.notify(m, p),
    async close() {
      if (sessionId !== undefined) await fetch(url, { method: "DELETE", headers: headers(), signal: AbortSignal.timeout(5_000) }).catch(() => {});
      controller.abort();
    },
  };
}

/** Legacy HTTP+SSE: GET the stream, whose first event names the URL to POST messages to; answers come on the stream. */
async function sseSession(spec: McpServerSpec, timeoutMs: number): Promise<Session> {
  const controller = new AbortController();
  const res = await fetch(spec.url!, { headers: { ...(spec.headers ?? {}), accept: "text/event-stream" }, signal: AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]) });
  if (!res.ok || res.body === null) throw upstream(spec.name, `HTTP ${res.status} from ${spec.url}`);
  let resolveEndpoint: (u: string) => void = () => {};
  let rejectEndpoint: (e: Error) => void = () => {};
  const endpoint = new Promise<string>((resolve, reject) => {
    resolveEndpoint = resolve;
    rejectEndpoint = reject;
  });
  const exchange = createExchange(spec.name, async (msg) => {
    const post = await endpoint;
    const r = await fetch(post, { method: "POST", headers: { ...(spec.headers ?? {}), "content-type": "application/json" }, body: JSON.stringify(msg), signal: controller.signal });
    if (!r.ok) throw upstream(spec.name, `HTTP ${r.status} posting to ${post}`);
    await r.body?.cancel();
  });
  const base = new URL(spec.url!);
  readEvents(res.body, (event, data) => {
    if (event === "endpoint") {
      const post = new URL(data, base);
      // The messages go where the stream says, but never to another origin (the credential goes with them).
      if (post.origin !== base.origin) rejectEndpoint(upstream(spec.name, `its endpoint ${post.href} is on another origin`));
      else resolveEndpoint(post.href);
    } else if (event === "message") exchange.receive(parseStrictJson(data));
  })
    .catch((e) => {
      if (!controller.signal.aborted) {
        rejectEndpoint(e as Error);
        exchange.fail(upstream(spec.name, `the event stream failed: ${(e as Error).message}`, e));
      }
    })
    .finally(() => {
      if (!controller.signal.aborted) exchange.fail(upstream(spec.name, "the event stream ended"));
    });
  return {
    request: (m, p) => exchange.request(m, p),
    notify: (m, p) => exchange.notify(m, p),
    async close() {
      controller.abort();
    },
  };
}

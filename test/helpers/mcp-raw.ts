// A raw Streamable HTTP client for MCP: exact bytes, exact request target (node:http does not
// normalise `..` or `%2F` the way fetch does), and the answer read as JSON or as an SSE stream of
// JSON-RPC messages. For bypass attempts and protocol checks no SDK client would send.
import { request } from "node:http";
import { waitFor, within } from "./wait.ts";

export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  /** The body as text (SSE included, as received up to the point reading stopped). */
  readonly text: string;
  /** JSON-RPC messages in the body: the JSON body itself (or its members) or each SSE event's data. */
  readonly messages: Record<string, unknown>[];
}

export interface RawRequest {
  readonly url: string;
  /** The request target to send instead of the URL's path (sent exactly as written). */
  readonly path?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /** Send the body in chunks with Transfer-Encoding: chunked and no Content-Length. */
  readonly chunked?: boolean;
  /**
   * Stop reading an SSE body once this holds of the messages so far (default: once every id in
   * `expectIds` has an answer, else at the end of the stream).
   */
  readonly until?: (messages: Record<string, unknown>[]) => boolean;
  /** Ids of the requests in the body: reading stops once each has a response. */
  readonly expectIds?: readonly unknown[];
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** The SSE events' data fields in `text` parsed as JSON (events whose data is not JSON are skipped). */
export function sseMessages(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).replace(/^ /, ""))
      .join("\n");
    if (data.trim() === "") continue;
    try {
      const v = JSON.parse(data) as unknown;
      if (Array.isArray(v)) out.push(...(v as Record<string, unknown>[]));
      else if (v && typeof v === "object") out.push(v as Record<string, unknown>);
    } catch {}
  }
  return out;
}

function jsonMessages(text: string): Record<string, unknown>[] {
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v)) return v as Record<string, unknown>[];
    return v && typeof v === "object" ? [v as Record<string, unknown>] : [];
  } catch {
    return [];
  }
}

const key = (id: unknown) => JSON.stringify(id);

export async function rawPost(r: RawRequest): Promise<RawAnswer> {
  const url = new URL(r.url);
  const body = r.body === undefined ? undefined : typeof r.body === "string" ? Buffer.from(r.body, "utf8") : Buffer.from(r.body);
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    ...r.headers,
  };
  if (body !== undefined && !r.chunked) headers["content-length"] = String(body.length);
  const wanted = new Set((r.expectIds ?? []).map(key));
  const done = (msgs: Record<string, unknown>[]) => {
    if (r.until) return r.until(msgs);
    if (wanted.size === 0) return false;
    const answered = new Set(msgs.filter((m) => "result" in m || "error" in m).map((m) => key(m["id"])));
    return [...wanted].every((w) => answered.has(w));
  };
  const answer = new Promise<RawAnswer>((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: r.path ?? url.pathname + url.search, method: r.method ?? "POST", headers, signal: r.signal },
      (res) => {
        let text = "";
        const isSse = String(res.headers["content-type"] ?? "").includes("text/event-stream");
        const finish = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, messages: isSse ? sseMessages(text) : jsonMessages(text) });
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
          if (isSse && done(sseMessages(text))) {
            finish();
            res.destroy();
          }
        });
        res.on("end", finish);
        res.on("error", (e) => (text === "" ? reject(e) : finish()));
        res.on("close", finish);
      },
    );
    req.on("error", reject);
    if (body !== undefined) {
      if (r.chunked) {
        const step = 64 * 1024;
        for (let i = 0; i < body.length; i += step) req.write(body.subarray(i, i + step));
      } else req.write(body);
    }
    req.end();
  });
  return await within(`an answer to ${r.method ?? "POST"} ${r.path ?? url.pathname}`, answer, { timeoutMs: r.timeoutMs ?? 30_000 });
}

export interface RawSession {
  readonly id: string;
  /** Headers every request of the session carries (authorization, mcp-session-id, protocol version). */
  readonly headers: Record<string, string>;
  close(): Promise<void>;
}

/** initialize + notifications/initialized over raw HTTP, as a client that supports sampling, elicitation and roots. */
export async function openRawSession(url: string, token: string, protocolVersion = "2025-11-25"): Promise<RawSession> {
  const auth = { authorization: `Bearer ${token}` };
  const init = await rawPost({
    url,
    headers: auth,
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 0,
      method: "initialize",
      params: { protocolVersion, capabilities: { sampling: {}, elicitation: { form: {}, url: {} }, roots: { listChanged: true } }, clientInfo: { name: "raw", version: "1" } },
    }),
    expectIds: [0],
  });
  const sid = init.headers["mcp-session-id"];
  if (init.status !== 200 || typeof sid !== "string" || !init.messages.some((m) => m["id"] === 0 && "result" in m)) {
    throw new Error(`initialize on ${url} failed: ${init.status} ${init.text.slice(0, 500)}`);
  }
  const negotiated = (init.messages.find((m) => m["id"] === 0)?.["result"] as { protocolVersion?: string } | undefined)?.protocolVersion ?? protocolVersion;
  const headers = { ...auth, "mcp-session-id": sid, "mcp-protocol-version": negotiated };
  const ack = await rawPost({ url, headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  if (ack.status !== 202 && ack.status !== 200) throw new Error(`notifications/initialized on ${url} got ${ack.status}: ${ack.text}`);
  return {
    id: sid,
    headers,
    async close() {
      await rawPost({ url, method: "DELETE", headers }).catch(() => {});
    },
  };
}

export interface LegacySession {
  /** The path the gateway's `endpoint` event named (/messages/<server>?session_id=…). */
  readonly endpoint: string;
  /** Every JSON-RPC message received on the SSE stream so far. */
  readonly messages: Record<string, unknown>[];
  /** POSTs a message to the endpoint (the answer comes on the stream). */
  post(body: string | Uint8Array, headers?: Readonly<Record<string, string>>): Promise<RawAnswer>;
  close(): void;
}

/**
 * The legacy HTTP+SSE transport, raw: GET <base>/sse/<server> with the token, wait for the
 * endpoint event, then initialize and initialized through it (answers read from the stream).
 */
export async function openLegacyRawSession(base: string, server: string, token: string): Promise<LegacySession> {
  const url = new URL(`${base}/sse/${server}`);
  const messages: Record<string, unknown>[] = [];
  let endpoint = "";
  let buffer = "";
  const ac = new AbortController();
  await new Promise<void>((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "GET", headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" }, signal: ac.signal }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`GET ${url.pathname} got ${res.statusCode}`));
        return;
      }
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        for (let cut = buffer.search(/\r?\n\r?\n/); cut >= 0; cut = buffer.search(/\r?\n\r?\n/)) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
          const event = /^event: ?(.*)$/m.exec(block)?.[1]?.trim() ?? "message";
          const data = block
            .split(/\r?\n/)
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).replace(/^ /, ""))
            .join("\n");
          if (event === "endpoint") {
            endpoint = data.trim();
            resolve();
          } else if (data.trim() !== "") {
            try {
              messages.push(JSON.parse(data) as Record<string, unknown>);
            } catch {}
          }
        }
      });
      res.on("error", () => {});
    });
    req.on("error", (e) => (endpoint === "" ? reject(e) : undefined));
    req.end();
  });
  const target = new URL(endpoint, url);
  const auth = { authorization: `Bearer ${token}` };
  const session: LegacySession = {
    endpoint: target.pathname + target.search,
    messages,
    post: (body, headers = {}) => rawPost({ url: target.href, headers: { ...auth, ...headers }, body }),
    close: () => ac.abort(),
  };
  await session.post(JSON.stringify({ jsonrpc: "2.0", id: "init", method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: { sampling: {}, elicitation: {}, roots: {} }, clientInfo: { name: "raw-legacy", version: "1" } } }));
  await waitFor(`the initialize answer on ${url.pathname}`, () => messages.some((m) => m["id"] === "init"));
  if (!messages.some((m) => m["id"] === "init" && "result" in m)) throw new Error(`initialize over ${url.pathname} failed: ${JSON.stringify(messages)}`);
  await session.post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  return session;
}

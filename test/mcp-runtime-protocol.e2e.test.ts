// The MCP runtime's refusals on the wire, with raw HTTP: what the gateway will not read is
// answered with a JSON-RPC error (and recorded), the session goes on, and the upstream never sees
// it. Also the OAuth resource-server side: 401 with the metadata URL, and the metadata itself.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { EVERYTHING, IDENTITIES, startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";
import { waitFor } from "./helpers/wait.ts";

// Servers start and answer slowly on a loaded machine; waits inside the tests are bounded themselves.
setDefaultTimeout(60_000);

let rt: McpRuntime;
let sid: string;

const H = (extra: Record<string, string> = {}, token = "token-alice") => ({
  authorization: `Bearer ${token}`,
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  ...extra,
});

async function post(body: string | Uint8Array, extra: Record<string, string> = {}, token?: string): Promise<{ status: number; json: Record<string, unknown> | null; headers: Headers }> {
  const res = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: H({ ...(sid ? { "mcp-session-id": sid } : {}), ...extra }, token), body });
  const text = await res.text();
  let json: Record<string, unknown> | null = null;
  try {
    // An event stream: its last message is the response.
    json = JSON.parse((res.headers.get("content-type") ?? "").includes("text/event-stream") ? text.split("\n").filter((l) => l.startsWith("data: ")).at(-1)!.slice(6) : text);
  } catch {
    json = null;
  }
  return { status: res.status, json, headers: res.headers };
}

const err = (r: { json: Record<string, unknown> | null }) => (r.json?.["error"] as { code: number; message: string } | undefined) ?? null;

beforeAll(async () => {
  rt = await startMcpRuntime(
    { servers: [{ name: "everything", command: ["node", EVERYTHING, "stdio"] }], limits: { body_bytes: "4KB" } },
    { rules: [{ name: "echo", effect: "allow", methods: ["tools/call"], tools: ["echo"] }, { name: "hold-sums", effect: "review", methods: ["tools/call"], tools: ["get-sum"] }, { name: "long", effect: "allow", methods: ["tools/call"], tools: ["trigger-long-running-operation"] }] },
  );
  sid = "";
  const init = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }));
  expect(init.status).toBe(200);
  sid = init.headers.get("mcp-session-id")!;
  expect(sid).toMatch(/^mcp_/);
  expect((await post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }))).status).toBe(202);
});

afterAll(async () => {
  await rt?.stop();
});

const echo = (id: number | string, msg = "hi") => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: "echo", arguments: { message: msg } } });

describe("refused before any decision", () => {
  test("an allowed call works on this session", async () => {
    const r = await post(echo(2, "works"));
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.json)).toContain("works");
  });

  test("a batch", async () => {
    const r = await post(`[${echo(3)}]`);
    expect(r.status).toBe(400);
    expect(err(r)!.message).toContain("batches are refused");
  });

  test("duplicate keys (the gateway and the server could read different names)", async () => {
    const r = await post('{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","name":"get-env","arguments":{}}}');
    expect(r.status).toBe(400);
    expect(err(r)!.message).toContain("duplicate key");
  });

  test("invalid UTF-8", async () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"ech'), 0xc3, 0x28, ...new TextEncoder().encode('o"}}')]);
    const r = await post(bytes);
    expect(r.status).toBe(400);
    expect(err(r)!.message).toContain("UTF-8");
  });

  test("routing headers that disagree with the body", async () => {
    const r = await post(echo(6), { "mcp-method": "tools/call", "mcp-name": "get-env" });
    expect(r.status).toBe(400);
    expect(err(r)!.message).toContain("Mcp-Name");
    // The stateless revision's HeaderMismatch code.
    expect(err(r)!.code).toBe(-32020);
    expect((await post(echo(7), { "mcp-method": "tools/call", "mcp-name": "echo", "mcp-param-message": "hi" })).status).toBe(200);
  });

  test("tools/call sent as a notification", async () => {
    const r = await post(JSON.stringify({ jsonrpc: "2.0", method: "tools/call", params: { name: "echo", arguments: { message: "x" } } }));
    expect(r.status).toBe(400);
    expect(err(r)!.message).toContain("sent as a notification");
  });

  test("an oversized body", async () => {
    const r = await post(echo(8, "x".repeat(8000)));
    expect(r.status).toBe(413);
    expect(err(r)!.message).toContain("limits.body_bytes");
  });

  test("an unknown method is denied (recorded as a decision), not passed through", async () => {
    const r = await post(JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/exec", params: {} }));
    expect(err(r)!.message).toContain("not one the gateway knows");
    const rec = await waitFor("the unknown method's decision record", async () => (await rt.records()).find((x) => x.type === "decision" && (x.action as Record<string, unknown>)?.["method"] === "tools/exec") ?? null);
    expect(rec.decision).toMatchObject({ effect: "deny", rule: "builtin:mcp-unknown-method" });
  });

  test("a request id already in flight", async () => {
    // The first is held for approval, so it is surely in flight when the second comes.
    const held = post(JSON.stringify({ jsonrpc: "2.0", id: "dup", method: "tools/call", params: { name: "get-sum", arguments: { a: 1, b: 2 } } }));
    const p = await waitFor("the get-sum call to be held", () => rt.approvals.pending()[0] ?? null);
    const second = await post(JSON.stringify({ jsonrpc: "2.0", id: "dup", method: "tools/call", params: { name: "echo", arguments: { message: "x" } } }));
    expect(err(second)!.message).toContain("already in use");
    await rt.gate.decideApproval(p.id, IDENTITIES["token-lead"]!, { approve: false, reason: "not now" });
    expect(err(await held)!.message).toContain("denied by lead");
  });

  test("an unsupported MCP-Protocol-Version, and the stateless revision recognised", async () => {
    expect(err(await post(echo(10), { "mcp-protocol-version": "1999-01-01" }))!.message).toContain("unsupported MCP-Protocol-Version");
    // As the 2026-07-28 spec answers a version a server does not serve: 400, -32022, the versions it does.
    const header = await post(echo(11), { "mcp-protocol-version": "2026-07-28" });
    expect(header.status).toBe(400);
    expect(err(header)).toMatchObject({ code: -32022 });
    expect(err(header)!.message).toContain("stateless revision");
    expect((header.json?.["error"] as { data: { supported: string[] } }).data.supported).toContain("2025-11-25");
    const meta = await post(JSON.stringify({ jsonrpc: "2.0", id: 12, method: "tools/call", params: { name: "echo", arguments: { message: "x" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } }));
    expect(meta.status).toBe(400);
    expect(err(meta)).toMatchObject({ code: -32022 });
    // A stateless probe without a session gets the same answer, and no session is made.
    const probe = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: H(), body: JSON.stringify({ jsonrpc: "2.0", id: 14, method: "server/discover", params: { _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28" } } }) });
    expect(probe.status).toBe(400);
    expect(probe.headers.get("mcp-session-id")).toBeNull();
    const discover = await post(JSON.stringify({ jsonrpc: "2.0", id: 13, method: "server/discover" }));
    expect((discover.json?.["result"] as Record<string, unknown>)["supportedVersions"]).toContain("2025-11-25");
    expect((discover.json?.["result"] as Record<string, unknown>)["resultType"]).toBe("complete");
  });

  test("the session went on through all of it", async () => {
    const r = await post(echo(20, "still here"));
    expect(JSON.stringify(r.json)).toContain("still here");
  });
});

describe("sessions belong to their caller", () => {
  test("another caller's session id is no session", async () => {
    const r = await post(echo(30), {}, "token-bob");
    expect(r.status).toBe(404);
  });
  test("a request without a session must be initialize", async () => {
    const res = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: H(), body: echo(31) });
    expect(res.status).toBe(400);
  });
});

describe("OAuth 2.1 resource server", () => {
  test("no token: 401 with WWW-Authenticate naming the metadata URL", async () => {
    const res = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: { "content-type": "application/json" }, body: echo(40) });
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate")!;
    expect(challenge).toContain(`resource_metadata="${rt.url}/.well-known/oauth-protected-resource/mcp/everything"`);
    const bad = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: { ...H({}, "nope") }, body: echo(41) });
    expect(bad.status).toBe(401);
    expect(bad.headers.get("www-authenticate")).toContain('error="invalid_token"');
  });
  test("RFC 9728 metadata", async () => {
    const res = await fetch(`${rt.url}/.well-known/oauth-protected-resource/mcp/everything`);
    expect(res.status).toBe(200);
    const m = (await res.json()) as Record<string, unknown>;
    expect(m["resource"]).toBe(`${rt.url}/mcp/everything`);
    expect(m["authorization_servers"]).toEqual(["https://issuer.example"]);
    expect(m["bearer_methods_supported"]).toEqual(["header"]);
    expect((await fetch(`${rt.url}/.well-known/oauth-protected-resource/mcp/nope`)).status).toBe(404);
  });
});

describe("Last-Event-ID resumption", () => {
  test("an agent that lost a call's stream gets the rest of it, response included, from a GET", async () => {
    const abort = new AbortController();
    const res = await fetch(`${rt.url}/mcp/everything`, {
      method: "POST",
      headers: H({ "mcp-session-id": sid }),
      body: JSON.stringify({ jsonrpc: "2.0", id: 50, method: "tools/call", params: { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 4 }, _meta: { progressToken: "p50" } } }),
      signal: abort.signal,
    });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    // Read up to the first progress event, note its id, and drop the connection.
    const reader = res.body!.getReader();
    let text = "";
    let firstId: string | null = null;
    while (firstId === null) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the stream ended before its first progress event");
      text += new TextDecoder().decode(value);
      const m = /id: (\S+)\ndata: ([^\n]*"notifications\/progress"[^\n]*)\n\n/.exec(text);
      if (m) firstId = m[1]!;
    }
    abort.abort();
    const again = await fetch(`${rt.url}/mcp/everything`, { method: "GET", headers: { authorization: "Bearer token-alice", accept: "text/event-stream", "mcp-session-id": sid, "last-event-id": firstId } });
    expect(again.status).toBe(200);
    const rest = await again.text();
    const messages = rest.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
    // Nothing before the id given, nothing twice: the other three progress events, then the response.
    expect(messages.filter((m) => m["method"] === "notifications/progress").length).toBe(3);
    expect(messages.at(-1)!["id"]).toBe(50);
    expect(JSON.stringify(messages.at(-1))).toContain("Long running operation completed");
  });

  test("a Last-Event-ID of no stream of this session is refused", async () => {
    const r = await fetch(`${rt.url}/mcp/everything`, { method: "GET", headers: { authorization: "Bearer token-alice", accept: "text/event-stream", "mcp-session-id": sid, "last-event-id": "mcp_other.p1.abc.1" } });
    expect(r.status).toBe(404);
  });
});

describe("nothing starts for a caller no rule lets in", () => {
  test("initialize is denied before any stdio server is spawned", async () => {
    const saved = rt.rules;
    // Rules that name only alice: lead may not use the target at all.
    rt.rules = saved.map((r) => ({ ...r, subjects: ["alice"] }));
    try {
      const res = await fetch(`${rt.url}/mcp/everything`, {
        method: "POST",
        headers: H({}, "token-lead"),
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }),
      });
      const text = await res.text();
      expect(text).toContain("denied by the gateway");
      const leadSession = res.headers.get("mcp-session-id")!;
      const all = await waitFor("the denied session's end", async () => {
        const recs = await rt.records();
        return recs.some((r) => r.type === "session.end" && r.session === leadSession) ? recs : null;
      });
      expect(all.filter((r) => r.session === leadSession).map((r) => r.type)).toEqual(["session.start", "decision", "session.end"]);
    } finally {
      rt.rules = saved;
    }
  });
});

describe("DNS rebinding protection", () => {
  const init = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
  test("a foreign Origin or Host is refused, even with a token; a loopback one is not", async () => {
    const foreignOrigin = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: H({ origin: "http://evil.example.com" }), body: init });
    expect(foreignOrigin.status).toBe(403);
    expect(await foreignOrigin.text()).toContain("DNS rebinding");
    const foreignHost = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: H({ host: "evil.example.com" }), body: init });
    expect(foreignHost.status).toBe(403);
    const local = await fetch(`${rt.url}/mcp/everything`, { method: "POST", headers: H({ origin: "http://localhost:6274", host: "localhost" }), body: init });
    expect(local.status).toBe(200);
    await local.body?.cancel();
  });
});

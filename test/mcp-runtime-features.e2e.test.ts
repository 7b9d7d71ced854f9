// The MCP runtime's behaviour with real software: server-everything over Streamable HTTP and the
// legacy SSE transport as well as stdio, the SDK client over both agent transports; masking,
// server-initiated requests decided, review held with progress, budgets counted in metrics,
// result size, the stdio server killed with its session.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import type { Subprocess } from "bun";
import { CreateMessageRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { EVERYTHING, IDENTITIES, startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";
import { freePort } from "./helpers/ports.ts";
import { waitFor } from "./helpers/wait.ts";

// Servers start and answer slowly on a loaded machine; waits inside the tests are bounded themselves.
setDefaultTimeout(60_000);

const procs: Subprocess[] = [];

async function startEverything(mode: "streamableHttp" | "sse"): Promise<number> {
  const port = await freePort();
  const p = Bun.spawn(["node", EVERYTHING, mode], { env: { ...process.env, PORT: String(port) }, stdout: "ignore", stderr: "pipe" });
  procs.push(p);
  await waitFor(`server-everything (${mode}) to listen on ${port}`, async () => {
    const r = await fetch(`http://127.0.0.1:${port}/${mode === "sse" ? "nothing" : "mcp"}`, { method: "GET" }).catch(() => null);
    return r !== null;
  });
  return port;
}

let rt: McpRuntime;
let stdioPids: () => Promise<number[]>;

beforeAll(async () => {
  const [httpPort, ssePort] = await Promise.all([startEverything("streamableHttp"), startEverything("sse")]);
  rt = await startMcpRuntime(
    {
      servers: [
        { name: "remote", url: `http://127.0.0.1:${httpPort}/mcp` },
        { name: "legacy", url: `http://127.0.0.1:${ssePort}/sse`, transport: "sse" },
        { name: "local", command: ["node", EVERYTHING, "stdio"], env: { AWS_KEY: "AKIAIOSFODNN7EXAMPLE", NOTE: "mail me at jane.doe@example.com" } },
      ],
      limits: { calls: { max: 1000, window: "1h" }, tool_calls: { max: 3, window: "1h" }, result_bytes: "64KB", call_timeout: "30s" },
    },
    {
      rules: [
        { name: "agents", effect: "allow", methods: ["tools/call"], tools: ["echo", "get-sum", "trigger-long-running-operation", "trigger-sampling-request", "get-tiny-image", "get-structured-content"] },
        { name: "env-masked", effect: "allow", methods: ["tools/call"], tools: ["get-env"], detectors: ["cloud_key", "email"] },
        { name: "read-resources", effect: "allow", methods: ["resources/read"], resources: ["demo://resource/static/document/*"] },
        { name: "approve-sums", effect: "review", subjects: ["bob"], methods: ["tools/call"], tools: ["get-sum"] },
      ],
    },
  );
  stdioPids = async () => {
    const out = await Bun.$`pgrep -f ${EVERYTHING + " stdio"}`.nothrow().text();
    return out.split("\n").filter(Boolean).map(Number);
  };
});

afterAll(async () => {
  await rt?.stop();
  for (const p of procs) p.kill();
});

describe("transports", () => {
  test("Streamable HTTP upstream: calls, lists filtered", async () => {
    const c = await rt.client("remote");
    expect(JSON.stringify((await c.callTool({ name: "echo", arguments: { message: "over http" } })).content)).toContain("over http");
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toContain("echo");
    expect(names).not.toContain("get-resource-links");
    const resources = (await c.listResources()).resources.map((r) => r.uri);
    expect(resources.length).toBeGreaterThan(0);
    expect(resources.every((u) => u.startsWith("demo://resource/static/document/"))).toBe(true);
  });

  test("legacy SSE upstream, legacy SSE agent", async () => {
    const c = await rt.client("legacy", { sse: true });
    expect(JSON.stringify((await c.callTool({ name: "echo", arguments: { message: "old transport" } })).content)).toContain("old transport");
    const denied = await c.callTool({ name: "get-resource-links", arguments: {} }).then(
      () => "allowed",
      (e: Error) => e.message,
    );
    expect(denied).toContain("denied by the gateway");
  });

  test("the stdio server is killed with its session", async () => {
    const before = new Set(await stdioPids());
    const c = await rt.client("local");
    await c.callTool({ name: "echo", arguments: { message: "x" } });
    const mine = await waitFor("the session's stdio server to run", async () => (await stdioPids()).filter((p) => !before.has(p)));
    expect(mine.length).toBeGreaterThan(0);
    // The SDK client ends its session with DELETE.
    await (c.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await waitFor("the stdio server to be gone", async () => {
      const now = new Set(await stdioPids());
      return mine.every((p) => !now.has(p));
    });
    await c.close();
  }, 30_000);
});

describe("outcomes", () => {
  test("mask: detectors over the text of a tool result, envelope intact", async () => {
    const c = await rt.client("local");
    const r = await c.callTool({ name: "get-env", arguments: {} });
    const text = JSON.stringify(r.content);
    expect(text).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(text).not.toContain("jane.doe@example.com");
    expect(text).toContain("AWS_KEY");
    const rec = await waitFor("the masked call's record", async () => (await rt.records()).find((x) => x.type === "mcp.call" && (x.action as Record<string, unknown>)?.["tool"] === "get-env" && (x.details as Record<string, unknown>)?.["masked"] !== undefined) ?? null);
    expect((rec.details as Record<string, unknown>)["masked"]).toBeGreaterThanOrEqual(2);
  });

  test("review: held with progress notifications, released by an approval (single use)", async () => {
    const c = await rt.client("local", { token: "token-bob" });
    const progress: string[] = [];
    const call = c.callTool({ name: "get-sum", arguments: { a: 20, b: 22 } }, undefined, { onprogress: (p) => progress.push(String(p.message)), resetTimeoutOnProgress: true });
    const p = await waitFor("bob's get-sum to be held", () => rt.approvals.pending().find((x) => x.identity.subject === "bob") ?? null);
    // What the approver sees: the server, the tool, the arguments (masked as recorded) and their digest.
    expect(p.request).toMatchObject({ kind: "mcp", server: "local", tool: "get-sum", arguments: { a: 20, b: 22 } });
    expect((p.request as Record<string, unknown>)["arguments_sha256"]).toMatch(/^[0-9a-f]{64}$/);
    await waitFor("a progress notification saying it is held", () => progress.some((m) => m.includes(p.id)));
    await rt.gate.decideApproval(p.id, IDENTITIES["token-lead"]!, { approve: true });
    expect(JSON.stringify((await call).content)).toContain("42");
    // The approval was for that call: the next one is held again.
    const again = c.callTool({ name: "get-sum", arguments: { a: 1, b: 1 } });
    const q = await waitFor("the second call to be held", () => rt.approvals.pending().find((x) => x.identity.subject === "bob" && x.id !== p.id) ?? null);
    await rt.gate.decideApproval(q.id, IDENTITIES["token-lead"]!, { approve: false, reason: "enough" });
    expect(await again.then(() => "ran", (e: Error) => e.message)).toContain("denied by lead: enough");
  });

  test("server-initiated sampling is denied unless a rule allows it", async () => {
    const c = await rt.client("local", { capabilities: { sampling: {} } });
    let sampled = 0;
    c.setRequestHandler(CreateMessageRequestSchema, async () => {
      sampled++;
      return { model: "test-model", role: "assistant", content: { type: "text", text: "sampled answer" } };
    });
    const denied = await c.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
    expect(sampled).toBe(0);
    expect(JSON.stringify(denied)).toContain("denied by the gateway");
    rt.rules = [...rt.rules, { name: "sampling-ok", effect: "allow", direction: "server", methods: ["sampling/createMessage"] }];
    try {
      const allowed = await c.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
      expect(sampled).toBe(1);
      expect(JSON.stringify(allowed)).toContain("sampled answer");
      // The server's request and the agent's answer are one exchange in the log, as the agent's own are.
      const rec = await waitFor("the sampling exchange's record", async () => (await rt.records()).find((r) => r.type === "mcp.call" && (r.action as Record<string, unknown>)["method"] === "sampling/createMessage") ?? null);
      expect(rec.action).toMatchObject({ direction: "server", server: "local" });
      expect(rec.details).toMatchObject({ outcome: "ok" });
    } finally {
      rt.rules = rt.rules.filter((r) => r.name !== "sampling-ok");
    }
  });

  test("progress from the server reaches the agent on the call's stream", async () => {
    const c = await rt.client("remote");
    const seen: number[] = [];
    await c.callTool({ name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } }, undefined, { onprogress: (p) => seen.push(p.progress) });
    expect(seen.length).toBe(3);
  });
});

describe("budgets", () => {
  test("calls per tool and window: refused with a JSON-RPC error and counted in metrics", async () => {
    const c = await rt.client("remote", { token: "token-alice" });
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await c.callTool({ name: "get-structured-content", arguments: { location: "New York" } }).then(() => "ok", (e: Error) => e.message));
    expect(outcomes.filter((o) => o === "ok").length).toBe(3);
    expect(outcomes.at(-1)).toContain("budget spent");
    expect(rt.metrics.render()).toMatch(/gatehouse_mcp_budget_refusals_total\{[^}]*budget="tool_calls"[^}]*\} 2/);
  });

  test("result bytes over the limit are withheld", async () => {
    // bob: alice has spent her echo budget above.
    const c = await rt.client("remote", { token: "token-bob" });
    const r = await c.callTool({ name: "echo", arguments: { message: "y".repeat(70_000) } }).then(() => "ok", (e: Error) => e.message);
    expect(r).toContain("limits.result_bytes");
  });
});

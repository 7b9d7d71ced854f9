// The MCP runtime's limits and its callers: a call's time budget (answered, cancelled upstream,
// counted), OIDC tokens checked for this resource's audience, a time-boxed grant, and a stdio
// server's whole process group ended with its session.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { EVERYTHING, IDENTITIES, startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";
import { waitFor } from "./helpers/wait.ts";

// Servers start and answer slowly on a loaded machine; waits inside the tests are bounded themselves.
setDefaultTimeout(60_000);

let rt: McpRuntime;

// OIDC callers: one token for this MCP server, one for something else.
IDENTITIES["token-oidc-here"] = { method: "oidc", subject: "carol", issuer: "https://issuer.example", groups: ["agents"], claims: { aud: ["https://gw.example/mcp/everything"] } };
IDENTITIES["token-oidc-elsewhere"] = { method: "oidc", subject: "carol", issuer: "https://issuer.example", groups: ["agents"], claims: { aud: "https://other.example" } };

beforeAll(async () => {
  rt = await startMcpRuntime(
    {
      resource_url: "https://gw.example",
      servers: [
        { name: "everything", command: ["node", EVERYTHING, "stdio"] },
        // A server that leaves a child of its own behind: it must go with the session too.
        { name: "forking", command: ["sh", "-c", `sleep 1000 & exec node ${EVERYTHING} stdio`], env: { PATH: process.env["PATH"]! } },
      ],
      limits: { call_timeout: "3s", sessions_per_caller: 2 },
    },
    {
      rules: [
        { name: "agents", effect: "allow", methods: ["tools/call"], tools: ["echo", "trigger-long-running-operation"] },
        { name: "sums-reviewed", effect: "review", methods: ["tools/call"], tools: ["get-sum"] },
      ],
    },
  );
});

afterAll(async () => {
  await rt?.stop();
});

describe("limits", () => {
  test("call_timeout: the agent gets a timeout error (counted, recorded) and the session goes on", async () => {
    const c = await rt.client("everything");
    const err = await c.callTool({ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 2 } }, undefined, { timeout: 60_000 }).then(() => "ran", (e: Error) => e.message);
    expect(err).toContain("limits.call_timeout");
    expect(rt.metrics.render()).toMatch(/gatehouse_mcp_budget_refusals_total\{[^}]*budget="call_timeout"[^}]*\} 1/);
    expect(JSON.stringify((await c.callTool({ name: "echo", arguments: { message: "after" } })).content)).toContain("after");
    const rec = await waitFor("the timed-out call's record", async () => (await rt.records()).find((r) => r.type === "mcp.call" && (r.details as Record<string, unknown>)["outcome"] === "timeout") ?? null);
    expect((rec.action as Record<string, unknown>)["tool"]).toBe("trigger-long-running-operation");
  });
});

describe("callers", () => {
  test("sessions per caller are bounded (each may run a process): the least recently used idle one makes room, busy ones never", async () => {
    // b1: a client that went away without DELETE.
    const b1 = await rt.client("everything", { token: "token-bob" });
    const id1 = (b1.transport as unknown as { sessionId: string }).sessionId;
    await b1.close();
    const b2 = await rt.client("everything", { token: "token-bob" });
    const b3 = await rt.client("everything", { token: "token-bob" });
    const end = await waitFor("the idle session's end", async () => (await rt.records()).find((r) => r.type === "session.end" && r.session === id1) ?? null);
    expect(String((end.details as Record<string, unknown>)["ended"])).toContain("limits.sessions_per_caller");
    // b2 and b3 busy: a call of each held for review. A fourth session is refused, and says why.
    const held = [b2, b3].map((c) => c.callTool({ name: "get-sum", arguments: { a: 1, b: 1 } }).catch((e: Error) => e.message));
    const pending = await waitFor("both calls to be held", () => {
      const p = rt.approvals.pending().filter((x) => x.identity.subject === "bob");
      return p.length === 2 ? p : null;
    });
    const fourth = await rt.client("everything", { token: "token-bob" }).then(() => "opened", (e: Error) => e.message);
    expect(fourth).toContain("all busy");
    for (const p of pending) await rt.gate.decideApproval(p.id, IDENTITIES["token-lead"]!, { approve: false, reason: "not now" });
    expect(await Promise.all(held)).toEqual([expect.stringContaining("denied by lead"), expect.stringContaining("denied by lead")]);
  });

  test("an OIDC token must be meant for this resource (RFC 8707 audience)", async () => {
    const ok = await rt.client("everything", { token: "token-oidc-here" });
    expect(JSON.stringify((await ok.callTool({ name: "echo", arguments: { message: "aud ok" } })).content)).toContain("aud ok");
    const res = await fetch(`${rt.url}/mcp/everything`, {
      method: "POST",
      headers: { authorization: "Bearer token-oidc-elsewhere", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } }),
    });
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate")!;
    expect(challenge).toContain('resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp/everything"');
    expect(challenge).toContain('error="invalid_token"');
    expect(await res.text()).toContain("audience");
  });

  test("a time-boxed grant lets the same caller's next reviewed calls through until it ends", async () => {
    const c = await rt.client("everything", { token: "token-bob" });
    const first = c.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    const p = await waitFor("bob's call to be held", () => rt.approvals.pending().find((x) => x.identity.subject === "bob") ?? null);
    await rt.gate.decideApproval(p.id, IDENTITIES["token-lead"]!, { approve: true, forMs: 600_000 });
    expect(JSON.stringify((await first).content)).toContain("3");
    // Under the grant: not held again.
    expect(JSON.stringify((await c.callTool({ name: "get-sum", arguments: { a: 5, b: 5 } })).content)).toContain("10");
    const rec = await waitFor("the granted call's decision", async () => (await rt.records()).find((r) => r.type === "decision" && (r.details as Record<string, unknown>)?.["grant"] === p.id) ?? null);
    expect(rec.decision?.effect).toBe("allow");
    // Another caller is not covered.
    const alice = await rt.client("everything", { token: "token-alice" });
    const held = alice.callTool({ name: "get-sum", arguments: { a: 1, b: 1 } });
    const q = await waitFor("alice's call to be held", () => rt.approvals.pending().find((x) => x.identity.subject === "alice") ?? null);
    await rt.gate.decideApproval(q.id, IDENTITIES["token-lead"]!, { approve: false, reason: "no" });
    expect(await held.then(() => "ran", (e: Error) => e.message)).toContain("denied by lead");
  });
});

describe("stdio process group", () => {
  test("what the server started goes with the session", async () => {
    const sleeping = async () => (await Bun.$`pgrep -f ${"sleep 1000"}`.nothrow().text()).split("\n").filter(Boolean).map(Number);
    const before = new Set(await sleeping());
    const c = await rt.client("forking");
    await c.callTool({ name: "echo", arguments: { message: "x" } });
    const mine = await waitFor("the server's own child to run", async () => {
      const now = (await sleeping()).filter((p) => !before.has(p));
      return now.length > 0 ? now : null;
    });
    await (c.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await waitFor("the server's child to be gone with the session", async () => {
      const now = new Set(await sleeping());
      return mine.every((p) => !now.has(p));
    });
  }, 30_000);
});

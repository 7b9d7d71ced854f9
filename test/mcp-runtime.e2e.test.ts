// The MCP runtime end to end: the SDK's client over Streamable HTTP, through the gateway, to
// server-everything spawned as a stdio server; allow and deny decided per call, lists filtered,
// and one record per exchange.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { EVERYTHING, startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";
import { waitFor } from "./helpers/wait.ts";
import { replayCommand } from "../src/cli/replay.ts";

// Servers start and answer slowly on a loaded machine; waits inside the tests are bounded themselves.
setDefaultTimeout(60_000);

let rt: McpRuntime;

beforeAll(async () => {
  rt = await startMcpRuntime(
    { servers: [{ name: "everything", command: ["node", EVERYTHING, "stdio"], env: { SECRET_TOKEN: "AKIAABCDEFGHIJKLMNOP" } }] },
    {
      rules: [
        { name: "agents-echo", effect: "allow", methods: ["tools/call"], tools: ["echo", "get-sum", "get-env"] },
        { name: "no-env", effect: "deny", subjects: ["bob"], methods: ["tools/call"], tools: ["get-env"], message: "bob may not read the environment" },
      ],
    },
  );
});

afterAll(async () => {
  await rt?.stop();
});

describe("Streamable HTTP in front of a stdio server", () => {
  test("an allowed call goes through; a denied one gets the rule's message and the session goes on", async () => {
    const c = await rt.client("everything", { token: "token-bob" });
    const r = await c.callTool({ name: "echo", arguments: { message: "hello" } });
    expect(JSON.stringify(r.content)).toContain("hello");
    const denied = await c.callTool({ name: "get-env", arguments: {} }).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(denied).toContain("bob may not read the environment");
    // The session goes on after a denial.
    const again = await c.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } });
    expect(JSON.stringify(again.content)).toContain("5");
  });

  test("tools/list shows only what the caller may call", async () => {
    const c = await rt.client("everything");
    const { tools } = await c.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(["echo", "get-env", "get-sum"]);
    const bob = await rt.client("everything", { token: "token-bob" });
    expect((await bob.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "get-sum"]);
  });

  test("a tool no rule allows is denied (default deny) and recorded", async () => {
    const c = await rt.client("everything");
    const err = await c.callTool({ name: "trigger-long-running-operation", arguments: { duration: 1, steps: 1 } }).then(
      () => null,
      (e: Error) => e.message,
    );
    expect(err).toContain("denied by the gateway");
    const recs = await waitFor("the denial's decision record", async () => {
      const all = await rt.records();
      return all.find((r) => r.type === "decision" && (r.action as Record<string, unknown>)?.["tool"] === "trigger-long-running-operation") ?? null;
    });
    expect(recs.decision?.effect).toBe("deny");
    expect(recs.decision?.rule).toBeNull();
  });

  test("the stdio server gets only the declared environment", async () => {
    const c = await rt.client("everything");
    const r = await c.callTool({ name: "get-env", arguments: {} });
    const text = JSON.stringify(r.content);
    expect(text).toContain("SECRET_TOKEN");
    // Nothing of the gateway's own environment (PATH, HOME) reaches the server.
    expect(text).not.toContain("PATH");
    expect(text).not.toContain("HOME");
  });

  test("each exchange is recorded with its arguments' digest, outcome and size; the spawn is recorded", async () => {
    const c = await rt.client("everything");
    await c.callTool({ name: "echo", arguments: { message: "recorded" } });
    const all = await waitFor("the echo call's mcp.call record", async () => {
      const recs = await rt.records();
      return recs.some((r) => r.type === "mcp.call" && (r.details as Record<string, unknown>)?.["outcome"] === "ok" && (r.action as Record<string, unknown>)?.["tool"] === "echo") ? recs : null;
    });
    const call = all.find((r) => r.type === "mcp.call" && (r.action as Record<string, unknown>)?.["tool"] === "echo")!;
    const d = call.details as Record<string, unknown>;
    expect(d["arguments_sha256"]).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof d["result_bytes"]).toBe("number");
    expect(typeof d["duration_ms"]).toBe("number");
    const spawn = all.find((r) => r.type === "mcp.spawn");
    expect(spawn).toBeDefined();
    expect((spawn!.details as Record<string, unknown>)["env"]).toEqual(["SECRET_TOKEN"]);
  });
});

describe("gatehouse replay", () => {
  test("prints an MCP session as a timeline of its calls", async () => {
    const c = await rt.client("everything", { token: "token-bob" });
    await c.callTool({ name: "echo", arguments: { message: "first" } });
    await c.callTool({ name: "get-env", arguments: { key: "AKIAIOSFODNN7EXAMPLE" } }).catch(() => {});
    const sessionId = (c.transport as unknown as { sessionId: string }).sessionId;
    await (c.transport as unknown as { terminateSession(): Promise<void> }).terminateSession();
    await waitFor("the session's end record", async () => (await rt.records()).some((r) => r.type === "session.end" && r.session === sessionId));
    let out = "";
    const code = await replayCommand.run([sessionId, rt.auditPath], { stdout: (t) => void (out += t), stderr: (t) => void (out += t), color: false, env: {}, signal: new AbortController().signal });
    expect(code).toBe(0);
    const lines = out.split("\n");
    expect(lines[0]).toBe(`MCP session ${sessionId} on tools — bob (agents)`);
    expect(out).toMatch(/START {2}everything over streamable-http \(upstream stdio\)/);
    expect(out).toMatch(/SPAWN {2}\S+node \S+index\.js stdio \(pid \d+/);
    expect(out).toMatch(/#\d+ ALLOW \(builtin:mcp-plumbing\)[^\n]*\n\s+initialize/);
    expect(out).toMatch(/#(\d+) ALLOW \(agents-echo\)[^\n]*\n\s+tools\/call echo \{"message":"first"\}  args sha256 [0-9a-f]{12}/);
    expect(out).toMatch(/#\d+ → ok · \d+ bytes · [\d.]+ ms/);
    // The denied call, its arguments as recorded: the key-shaped value masked.
    expect(out).toMatch(/#\d+ DENY \(no-env\): bob may not read the environment/);
    expect(out).toContain("tools/call get-env");
    expect(out).not.toContain("AKIAIOSFODNN7EXAMPLE");
    expect(out).toMatch(/END {4}after [\d.]+ s: \d+ requests forwarded \(the agent ended it \(DELETE\)\)/);
  });
});

// Pinned tool definitions in the runtime: a pin file written from what server-everything lists,
// then edited: a tool whose definition differs from its pin (changed) or that has none (new) is
// hidden from tools/list and its calls denied, even where a rule allows it; the file is read again
// when it changes; a tool added after list_changed stays hidden until it is pinned.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { listTools } from "../src/targets/mcp/list-tools.ts";
import { toolDigest } from "../src/targets/mcp/pins.ts";
import { createToolPins } from "../src/targets/mcp/target-pins.ts";
import { silentLogger } from "../src/core/logger.ts";
import { EVERYTHING, startMcpRuntime, type McpRuntime } from "./mcp-runtime-setup.ts";
import { waitFor } from "./helpers/wait.ts";

// Servers start and answer slowly on a loaded machine; waits inside the tests are bounded themselves.
setDefaultTimeout(60_000);

let rt: McpRuntime;
let dir: string;
let pinPath: string;
let digests: Record<string, string>;
let first: Awaited<ReturnType<McpRuntime["client"]>>;

function writePins(tools: Record<string, string>): void {
  // A new mtime or size is what makes the gateway read it again; the content differs each time.
  writeFileSync(pinPath, JSON.stringify({ servers: { everything: { tools } } }, null, 2));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-mcp-pins-"));
  pinPath = join(dir, "mcp-pins.json");
  const tools = await listTools({ name: "everything", command: ["node", EVERYTHING, "stdio"], env: {} });
  digests = Object.fromEntries(tools.map((t) => [(t as { name: string }).name, toolDigest(t)]));
  expect(Object.keys(digests)).toContain("echo");
  // echo as listed; get-sum pinned to another definition; get-env never pinned.
  writePins({ echo: digests["echo"]!, "get-sum": "0".repeat(64) });
  rt = await startMcpRuntime(
    { servers: [{ name: "everything", command: ["node", EVERYTHING, "stdio"] }] },
    {
      rules: [{ name: "agents", effect: "allow", methods: ["tools/call"], tools: ["echo", "get-sum", "get-env", "trigger-sampling-request"] }],
      pins: createToolPins(pinPath, silentLogger),
    },
  );
});

afterAll(async () => {
  await rt?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("pinned definitions", () => {
  test("a changed or new tool is hidden and denied although a rule allows it", async () => {
    const c = (first = await rt.client("everything"));
    expect((await c.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
    expect(JSON.stringify((await c.callTool({ name: "echo", arguments: { message: "pinned" } })).content)).toContain("pinned");
    const changed = await c.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } }).then(() => "ran", (e: Error) => e.message);
    expect(changed).toContain('the tool "get-sum" is changed');
    const fresh = await c.callTool({ name: "get-env", arguments: {} }).then(() => "ran", (e: Error) => e.message);
    expect(fresh).toContain('the tool "get-env" is new');
    const rec = await waitFor("the denial's record", async () => (await rt.records()).find((r) => r.type === "decision" && (r.action as Record<string, unknown>)["tool"] === "get-env") ?? null);
    expect(rec.decision).toMatchObject({ effect: "deny", rule: "builtin:mcp-unpinned" });
  });

  test("an updated pin file applies at once, also to a session that listed before", async () => {
    writePins({ echo: digests["echo"]!, "get-sum": digests["get-sum"]!, "get-env": digests["get-env"]! });
    // The session that saw get-sum as changed: its next call is decided under the new file.
    expect(JSON.stringify((await first.callTool({ name: "get-sum", arguments: { a: 2, b: 2 } })).content)).toContain("4");
    const c = await rt.client("everything");
    expect((await c.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "get-env", "get-sum"]);
    expect(JSON.stringify((await c.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } })).content)).toContain("3");
  });

  test("a tool that appears with list_changed is re-listed, hidden and denied until pinned", async () => {
    // With the sampling capability, server-everything adds trigger-sampling-request after
    // initialize and says so with notifications/tools/list_changed.
    const c = await rt.client("everything", { capabilities: { sampling: {} } });
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      changed++;
    });
    await waitFor("the agent to hear of the changed tool list", () => changed > 0 || null);
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).not.toContain("trigger-sampling-request");
    const denied = await c.callTool({ name: "trigger-sampling-request", arguments: { prompt: "x" } }).then(() => "ran", (e: Error) => e.message);
    expect(denied).toContain("is new");
  });
});

// Hostile and careless servers behind the compiled gateway, with the SDK client as the agent:
// a call whose SSE stream stalls ends at limits.call_timeout with a JSON-RPC error and a
// cancellation sent upstream, and the session goes on; a tool whose description carries
// instructions and was never pinned is neither listed nor callable; server-initiated requests
// reach the agent only where a rule allows them (sampling for the research group; URL
// elicitation only to an allowed host); and the real server-filesystem reads inside its root,
// never writes, and never returns what a symlink out of the root points at.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { startAdversaryHttp, type AdversaryHttp } from "./helpers/mcp-adversary.ts";
import { connectClient, resultText, type TestClient } from "./helpers/mcp-client.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { filesystemFixture, type FilesystemFixture } from "./helpers/mcp-servers.ts";
import { startRawUpstream, type RawUpstream } from "./helpers/mcp-raw-upstream.ts";
import { waitFor, within } from "./helpers/wait.ts";

let adv: AdversaryHttp;
let fx: FilesystemFixture;
let g: McpGateway;
/** A second gateway with a short call_timeout, for the stalled stream alone (a spawn on a loaded machine must not hit it). */
let short: McpGateway;
let raw: RawUpstream;

beforeAll(async () => {
  adv = startAdversaryHttp();
  fx = filesystemFixture();
  g = await startMcpGateway({
    servers: [
      { name: "adv", url: adv.url },
      { name: "files", command: fx.command },
    ],
    pins: "mcp-pins.json",
    pinFirst: true,
    editPins: (pins) => void delete pins.servers["adv"]!.tools["poisoned_notes"],
    rules: `
  - name: agents-adv
    groups: [agents, research]
    mcp: { servers: [adv], tools: ["*"] }
    effect: allow
  - name: research-sampling
    groups: [research]
    mcp: { servers: [adv], methods: [sampling/createMessage] }
    effect: allow
  - name: url-elicitation-to-docs
    groups: [agents, research]
    mcp: { servers: [adv], methods: [elicitation/create], arguments: { url: { hosts: [docs.example.com] } } }
    effect: allow
  - name: files-read
    groups: [agents]
    mcp: { servers: [files], tools: [read_text_file, list_directory], arguments: { path: { under: ${JSON.stringify(fx.root)} } } }
    effect: allow
`,
  });
  raw = startRawUpstream();
  short = await startMcpGateway({
    servers: [
      { name: "adv", url: adv.url },
      { name: "raw", url: raw.url },
    ],
    limits: { call_timeout: "2s" },
    rules: `
  - name: agents-adv
    groups: [agents]
    mcp: { servers: [adv], tools: [stall, echo] }
    effect: allow
  - name: agents-raw
    groups: [agents]
    mcp: { servers: [raw] }
    effect: allow
`,
  });
}, 120_000);

afterAll(async () => {
  await short?.stop();
  await raw?.stop();
  await g?.stop();
  await adv?.stop();
  fx?.cleanup();
});

async function as(groups: string[], server = "adv"): Promise<TestClient> {
  return await connectClient({ url: g.url(server), token: await g.token(`agent-${groups.join("-")}`, groups) });
}

const refusal = (p: Promise<unknown>): Promise<McpError> =>
  p.then(
    (v) => {
      throw new Error(`expected a JSON-RPC error, got ${JSON.stringify(v).slice(0, 300)}`);
    },
    (e: unknown) => {
      if (!(e instanceof McpError)) throw e;
      return e;
    },
  );

describe("a stalled stream", () => {
  test("ends at call_timeout with a JSON-RPC error; the server is told to cancel; the session goes on", { timeout: 60_000 }, async () => {
    const c = await connectClient({ url: short.url("adv"), token: await short.token("agent-stall", ["agents"]) });
    try {
      const e = await within("the stalled call to be ended by the gateway", refusal(c.client.callTool({ name: "stall", arguments: {} }, undefined, { timeout: 600_000 })));
      expect(e.message).toMatch(/call_timeout/);
      await waitFor("notifications/cancelled to reach the server", () => adv.adversary.received.some((r) => r.message.method === "notifications/cancelled"));
      expect(resultText(await c.client.callTool({ name: "echo", arguments: { text: "still here" } }))).toBe("still here");
    } finally {
      await c.close();
    }
  });
});

describe("an upstream that breaks the stream below JSON-RPC", () => {
  test("an event cut off mid-JSON, data that is not JSON, an answer to another id: each call ends with a JSON-RPC error, nothing forged reaches the agent, the session goes on", async () => {
    const c = await connectClient({ url: short.url("raw"), token: await short.token("agent-raw", ["agents"]) });
    try {
      for (const name of ["cut_off", "garbage", "wrong_id"]) {
        const e = await within(`the ${name} call to end`, refusal(c.client.callTool({ name, arguments: {} }, undefined, { timeout: 600_000 })));
        expect(e.message).not.toContain("forged");
      }
      expect(raw.calls).toEqual(["cut_off", "garbage", "wrong_id"]);
      expect(resultText(await c.client.callTool({ name: "fine", arguments: {} }))).toBe("fine");
    } finally {
      await c.close();
    }
  }, 60_000);

  test("a second answer to the same call is not relayed", async () => {
    const c = await connectClient({ url: short.url("raw"), token: await short.token("agent-raw-2", ["agents"]) });
    try {
      expect(resultText(await c.client.callTool({ name: "double_answer", arguments: {} }))).toBe("first");
      // The next call gets its own answer, not the stray second one.
      expect(resultText(await c.client.callTool({ name: "fine", arguments: {} }))).toBe("fine");
    } finally {
      await c.close();
    }
  });
});

describe("a poisoned description", () => {
  test("a tool that was never pinned is not listed and not callable", async () => {
    const c = await as(["agents"]);
    try {
      const tools = (await c.client.listTools()).tools;
      expect(tools.map((t) => t.name)).toContain("echo");
      expect(tools.map((t) => t.name)).not.toContain("poisoned_notes");
      expect(JSON.stringify(tools)).not.toContain("<IMPORTANT>");
      const e = await refusal(c.client.callTool({ name: "poisoned_notes", arguments: { note: "x" } }));
      expect(e.message).toContain("pin");
      expect(adv.adversary.toolCalls("poisoned_notes")).toHaveLength(0);
    } finally {
      await c.close();
    }
  });
});

describe("server-initiated requests", () => {
  test("sampling reaches the agent only where a rule allows it", async () => {
    const research = await as(["research"]);
    const agents = await as(["agents"]);
    try {
      expect(resultText(await research.client.callTool({ name: "ask_sampling", arguments: {} }))).toContain("the agent's model answered");
      expect(research.answered.map((a) => a.method)).toEqual(["sampling/createMessage"]);
      const r = await agents.client.callTool({ name: "ask_sampling", arguments: {} });
      expect(r.isError).toBe(true);
      expect(resultText(r)).toContain("denied by the gateway");
      expect(agents.answered).toEqual([]);
      // Roots and form elicitation: no rule allows them for anyone.
      await research.client.callTool({ name: "ask_roots", arguments: {} });
      await research.client.callTool({ name: "ask_elicitation", arguments: {} });
      expect(research.answered.map((a) => a.method)).toEqual(["sampling/createMessage"]);
    } finally {
      await research.close();
      await agents.close();
    }
  });

  test("URL elicitation only to an allowed host", async () => {
    const c = await as(["agents"]);
    try {
      await c.client.callTool({ name: "ask_url_elicitation", arguments: { url: "https://docs.example.com/sign-in" } });
      expect(c.answered.map((a) => (a.params as { url?: string }).url)).toEqual(["https://docs.example.com/sign-in"]);
      const r = await c.client.callTool({ name: "ask_url_elicitation", arguments: { url: "https://evil.example/sign-in" } });
      expect(resultText(r)).toContain("denied by the gateway");
      expect(c.answered).toHaveLength(1);
    } finally {
      await c.close();
    }
  });
});

describe("server-filesystem", () => {
  test("reads inside the root; no write; a symlink out of the root never returns its target", async () => {
    const c = await as(["agents"], "files");
    try {
      expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["list_directory", "read_text_file"]);
      expect(resultText(await c.client.callTool({ name: "read_text_file", arguments: { path: join(fx.root, "report.txt") } }))).toBe(fx.reportText);
      expect(resultText(await c.client.callTool({ name: "list_directory", arguments: { path: fx.root } }))).toContain("report.txt");
      await refusal(c.client.callTool({ name: "write_file", arguments: { path: join(fx.root, "new.txt"), content: "x" } }));
      expect(existsSync(join(fx.root, "new.txt"))).toBe(false);
      await refusal(c.client.callTool({ name: "read_text_file", arguments: { path: join(fx.root, "..", "outside", "secret.txt") } }));
      // Lexically inside the root, so the gateway lets the server decide; the server resolves the link and refuses.
      for (const path of [join(fx.root, "link-secret"), join(fx.root, "link-out", "secret.txt")]) {
        const r = await c.client.callTool({ name: "read_text_file", arguments: { path } });
        expect(r.isError).toBe(true);
        expect(JSON.stringify(r)).not.toContain(fx.secretText);
      }
    } finally {
      await c.close();
    }
  });
});

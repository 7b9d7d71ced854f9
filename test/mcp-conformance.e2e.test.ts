// @modelcontextprotocol/conformance's server scenarios (--suite all) run twice against each of two
// upstreams, directly and through the gateway (an MCP target whose policy allows the agents
// group everything on that server, server-initiated requests included), and the gateway must fail
// no check that passes directly:
//   - server-everything, the reference server the issue names. It is not the suite's own
//     "everything server" (it lacks test_image_content and the other test_* tools), so many
//     scenarios fail directly.
//   - a server written to the suite's stated requirements (helpers/mcp-conformance-server.ts),
//     which passes every scenario directly: through the gateway, every check must pass too.
// The suite's client cannot send a header, so a pass-through proxy adds the Bearer token (and
// keeps Host and Origin as sent).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBearerProxy, type BearerProxy } from "./helpers/mcp-bearer-proxy.ts";
import { type ConformanceServer, startConformanceServer } from "./helpers/mcp-conformance-server.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { BUN, CONFORMANCE_JS, startEverythingHttp, type HttpServerProcess } from "./helpers/mcp-servers.ts";

let everything: HttpServerProcess;
let shaped: ConformanceServer;
let g: McpGateway;
let proxy: BearerProxy;
const out = mkdtempSync(join(tmpdir(), "gatehouse-mcp-conformance-"));

beforeAll(async () => {
  everything = await startEverythingHttp("streamableHttp");
  shaped = startConformanceServer();
  g = await startMcpGateway({
    servers: [
      { name: "everything", url: everything.url },
      { name: "conformance", url: shaped.url },
    ],
    pins: "mcp-pins.json",
    pinFirst: true,
    rules: `
  - name: agents-everything
    groups: [agents]
    mcp: { servers: [everything, conformance] }
    effect: allow
  - name: agents-server-requests
    groups: [agents]
    mcp: { servers: [everything, conformance], methods: [sampling/createMessage, elicitation/create, roots/list] }
    effect: allow
`,
  });
  proxy = startBearerProxy(g.base, await g.token("conformance", ["agents"]));
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await g?.stop();
  await everything?.stop();
  await shaped?.stop();
  rmSync(out, { recursive: true, force: true });
});

interface Check {
  readonly id: string;
  readonly status: string;
  readonly errorMessage?: string;
}

/** Runs every server scenario against `url`; returns scenario/check-id → check (INFO checks left out). */
async function conformance(url: string, label: string): Promise<Map<string, Check>> {
  const dir = join(out, label);
  const p = Bun.spawn([BUN, CONFORMANCE_JS, "server", "--url", url, "--suite", "all", "-o", dir], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
  const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (!existsSync(dir)) throw new Error(`conformance wrote no results for ${label}:\n${stdout}\n${stderr}`);
  const checks = new Map<string, Check>();
  for (const sub of readdirSync(dir)) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T/.exec(sub);
    const file = join(dir, sub, "checks.json");
    if (!m || !existsSync(file)) continue;
    const seen = new Map<string, number>();
    for (const c of JSON.parse(readFileSync(file, "utf8")) as Check[]) {
      if (c.status === "INFO") continue;
      const n = (seen.get(c.id) ?? 0) + 1;
      seen.set(c.id, n);
      checks.set(`${m[1]}/${c.id}${n > 1 ? `#${n}` : ""}`, c);
    }
  }
  return checks;
}

const failed = (c: Check | undefined) => c?.status === "FAILURE" || c?.status === "WARNING";
const passes = (m: Map<string, Check>) => [...m.values()].filter((c) => c.status === "SUCCESS").length;

/**
 * Checks that pass directly and may not through the gateway, each for a reason it must fail with.
 * - A tool server-everything does not have: the server "passes" by answering with an isError
 *   result the suite accepts; the gateway refuses a tool the server does not list with a
 *   JSON-RPC error (builtin:mcp-unknown-tool) and never forwards the call.
 * (DNS rebinding was one until h-mcp-a's e06461b: the gateway now refuses a foreign Origin or
 * Host with 403 after authentication, as the transport spec asks, and 401 before it.)
 */
const EXPECTED: Readonly<Record<string, RegExp>> = {
  "tools-call-simple-text/tools-call-simple-text": /offers no tool "test_simple_text"/,
  "tools-call-error/tools-call-error": /offers no tool "test_error_handling"/,
};

/** Every check that passes directly passes through the gateway (or is an EXPECTED difference). */
async function compare(server: string, directUrl: string): Promise<{ direct: Map<string, Check>; gated: Map<string, Check> }> {
  const direct = await conformance(directUrl, `${server}-direct`);
  const gated = await conformance(`${proxy.url}/mcp/${server}`, `${server}-gateway`);
  const scenarioFailed = (key: string) => [...gated].some(([k, c]) => k.startsWith(`${key.split("/")[0]}/`) && failed(c));
  const lost: string[] = [];
  for (const [k, c] of direct) {
    if (c.status !== "SUCCESS") continue;
    const through = gated.get(k);
    if (through?.status === "SUCCESS") continue;
    if (EXPECTED[k] && EXPECTED[k]!.test(`${through?.errorMessage ?? ""}`)) continue;
    // A check may turn into INFO (the suite's "optional": JSON answers where the server used SSE).
    if (failed(through) || (through === undefined && scenarioFailed(k))) lost.push(`${k}: ${through?.status ?? "missing"} ${through?.errorMessage ?? ""}`);
  }
  expect(lost).toEqual([]);
  console.log(`${server}: conformance checks passed directly ${passes(direct)}/${direct.size}, through the gateway ${passes(gated)}/${gated.size}`);
  return { direct, gated };
}

describe("@modelcontextprotocol/conformance server scenarios", () => {
  test("in front of server-everything: the gateway fails no check the server passes directly", async () => {
    const { direct } = await compare("everything", everything.url);
    // The comparison means something only if the direct run passes a good part of the suite.
    expect(passes(direct)).toBeGreaterThanOrEqual(10);
  }, 300_000);

  test("in front of a server that passes the whole suite: so does the gateway", async () => {
    const { direct, gated } = await compare("conformance", shaped.url);
    // Directly: no failure. (Two WARNINGs of server-sse-polling remain: the suite posts with
    // protocol version 2025-03-26, and the SDK sends SSE priming events only from 2025-11-25.)
    expect([...direct].filter(([, c]) => c.status === "FAILURE").map(([k, c]) => `${k}: ${c.errorMessage}`)).toEqual([]);
    expect(passes(direct)).toBeGreaterThanOrEqual(40);
    expect(passes(gated)).toBe(passes(direct));
    const notPassed = [...gated].filter(([k, c]) => failed(c) && !EXPECTED[k] && direct.get(k)?.status !== c.status).map(([k, c]) => `${k}: ${c.status} ${c.errorMessage ?? ""}`);
    expect(notPassed).toEqual([]);
  }, 300_000);

  test("DNS rebinding: without a token, a request with a foreign Host and Origin gets 401 and nothing", async () => {
    const r = await fetch(g.url("conformance"), {
      method: "POST",
      headers: { host: "evil.example.com", origin: "http://evil.example.com", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } }),
    });
    expect(r.status).toBe(401);
    expect(await r.text()).not.toContain("protocolVersion");
  });

  test("DNS rebinding: with a token, a foreign Origin gets 403", async () => {
    const token = await g.token("rebind", ["agents"]);
    const r = await fetch(g.url("conformance"), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, origin: "http://evil.example.com", "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } }),
    });
    expect(r.status).toBe(403);
    expect(await r.text()).not.toContain("protocolVersion");
  });
});

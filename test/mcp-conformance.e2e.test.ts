// @modelcontextprotocol/conformance's server scenarios run against server-everything twice: directly
// and through the gateway (an MCP target whose policy allows the agents group everything on that
// server). server-everything is not the suite's own "everything server" (it lacks test_image_content
// and the other test_* tools), so some scenarios fail directly; the gateway must fail nothing that
// passes directly: every check that succeeds directly succeeds through it. The suite's client
// cannot send a header, so a pass-through proxy adds the Bearer token (and keeps Host and Origin,
// for the DNS-rebinding scenario).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBearerProxy, type BearerProxy } from "./helpers/mcp-bearer-proxy.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { BUN, CONFORMANCE_JS, startEverythingHttp, type HttpServerProcess } from "./helpers/mcp-servers.ts";

let up: HttpServerProcess;
let g: McpGateway;
let proxy: BearerProxy;
const out = mkdtempSync(join(tmpdir(), "gatehouse-mcp-conformance-"));

beforeAll(async () => {
  up = await startEverythingHttp("streamableHttp");
  g = await startMcpGateway({
    servers: [{ name: "everything", url: up.url }],
    pins: "mcp-pins.json",
    pinFirst: true,
    rules: `
  - name: agents-everything
    groups: [agents]
    mcp: { servers: [everything] }
    effect: allow
  - name: agents-server-requests
    groups: [agents]
    mcp: { servers: [everything], methods: [sampling/createMessage, elicitation/create, roots/list] }
    effect: allow
`,
  });
  proxy = startBearerProxy(g.base, await g.token("conformance", ["agents"]));
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await g?.stop();
  await up?.stop();
  rmSync(out, { recursive: true, force: true });
});

interface Check {
  readonly id: string;
  readonly status: string;
  readonly errorMessage?: string;
}

/** Runs every active server scenario against `url`; returns scenario/check-id → check. */
async function conformance(url: string, label: string): Promise<Map<string, Check>> {
  const dir = join(out, label);
  const p = Bun.spawn([BUN, CONFORMANCE_JS, "server", "--url", url, "-o", dir], { stdout: "pipe", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
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

/**
 * Checks server-everything "passes" only because it answers a call of a tool it does not have
 * with an isError result, which the suite accepts; the gateway refuses a tool the server does not
 * list with a JSON-RPC error (rule builtin:mcp-unknown-tool) and never forwards the call. Each
 * entry must fail through the gateway for exactly that reason.
 */
const MISSING_TOOL_ARTIFACTS: Readonly<Record<string, RegExp>> = {
  "tools-call-simple-text/tools-call-simple-text": /offers no tool "test_simple_text"/,
  "tools-call-error/tools-call-error": /offers no tool "test_error_handling"/,
};

const failed = (c: Check | undefined) => c?.status === "FAILURE" || c?.status === "WARNING";

test("the gateway fails no conformance check that server-everything passes directly", async () => {
  const direct = await conformance(up.url, "direct");
  const gated = await conformance(`${proxy.url}/mcp/everything`, "gateway");
  const passedDirect = [...direct].filter(([, c]) => c.status === "SUCCESS").map(([k]) => k);
  // The comparison means something only if the direct run passes a good part of the suite.
  expect(passedDirect.length).toBeGreaterThanOrEqual(10);
  const scenarioFailed = (key: string) => [...gated].some(([k, c]) => k.startsWith(`${key.split("/")[0]}/`) && failed(c));
  const lost: string[] = [];
  for (const k of passedDirect) {
    const c = gated.get(k);
    if (MISSING_TOOL_ARTIFACTS[k]) {
      expect(`${c?.status} ${c?.errorMessage}`).toMatch(MISSING_TOOL_ARTIFACTS[k]!);
      continue;
    }
    // A check may turn into INFO (the suite's own "optional": JSON answers where the server used SSE).
    if (failed(c) || (c === undefined && scenarioFailed(k))) lost.push(`${k}: ${c?.status ?? "missing"} ${c?.errorMessage ?? ""}`);
  }
  expect(lost).toEqual([]);
  const passes = (m: Map<string, Check>) => [...m.values()].filter((c) => c.status === "SUCCESS").length;
  console.log(`conformance checks passed: direct ${passes(direct)}/${direct.size}, through the gateway ${passes(gated)}/${gated.size}`);
  const gained = [...gated].filter(([k, c]) => c.status === "SUCCESS" && direct.get(k)?.status !== "SUCCESS").map(([k]) => k);
  if (gained.length > 0) console.log(`passed through the gateway only: ${gained.join(", ")}`);
}, 300_000);

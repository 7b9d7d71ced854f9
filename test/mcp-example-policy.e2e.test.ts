// policies/mcp-agents, the example MCP policy, served as written in front of real servers: its
// YAML is copied with only the machine-specific strings replaced (listed in `localise`) beside a
// file with this test's gateway, audit and identity sections. Files under /srv/data are read
// (server-filesystem), never its keys/ folder or anything outside; SQL reads sales.* and nothing
// else (server-postgres on a real PostgreSQL); fetches go to the docs hosts only; a deploy waits
// for a lead's `gatehouse approve` (the web server is the SDK adversary, which has fetch and
// deploy tools and counts every call).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { startAdversaryHttp, type AdversaryHttp } from "./helpers/mcp-adversary.ts";
import { connectClient, resultText, type TestClient } from "./helpers/mcp-client.ts";
import { FILESYSTEM_JS, NODE, POSTGRES_MCP_JS, seedMcpPostgres } from "./helpers/mcp-servers.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";
import { waitFor, within } from "./helpers/wait.ts";

const EXAMPLE = resolve(import.meta.dir, "../policies/mcp-agents/gatehouse.yaml");
const dir = mkdtempSync(join(tmpdir(), "gatehouse-mcp-example-"));
const data = join(dir, "srv-data");
let pg: PostgresInstance;
let web: AdversaryHttp;
let gw: GatewayProcess;
let base: string;

function localise(yaml: string): string {
  const replacements: [string, string][] = [
    ["listen: 127.0.0.1:7450", "listen: 127.0.0.1:0"],
    ["/usr/bin/node", NODE],
    ["/opt/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", FILESYSTEM_JS],
    ["/opt/mcp/node_modules/@modelcontextprotocol/server-postgres/dist/index.js", POSTGRES_MCP_JS],
    ["/srv/data", data],
    ["postgresql://mcp_reader@db.internal:5432/sales", `postgresql://${encodeURIComponent(pg.user)}:${encodeURIComponent(pg.password)}@127.0.0.1:${pg.port}/postgres`],
    ["http://10.0.0.7:3001/mcp", web.url],
  ];
  let out = yaml;
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`policies/mcp-agents no longer holds ${from}: update localise()`);
    out = out.replaceAll(from, to);
  }
  return out;
}

beforeAll(async () => {
  pg = await startPostgres();
  await seedMcpPostgres(pg);
  web = startAdversaryHttp();
  mkdirSync(join(data, "keys"), { recursive: true });
  writeFileSync(join(data, "report.txt"), "Quarterly report: revenue up 4%.");
  writeFileSync(join(data, "keys", "deploy.pem"), "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n");
  writeFileSync(join(dir, "00-gateway.yaml"), `gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }\naudit: { path: ./state/audit/audit.log }\nidentity: { dev_issuer: true }\n`);
  writeFileSync(join(dir, "gatehouse.yaml"), localise(readFileSync(EXAMPLE, "utf8")));
  const pin = await runCli(["mcp", "pin", "tools", "--config", dir], { cwd: dir });
  if (pin.code !== 0) throw new Error(`gatehouse mcp pin failed: ${pin.stderr}${pin.stdout}`);
  gw = await startGatewayProcess({ dir, files: {} });
  base = `http://127.0.0.1:${gw.port("tools")}`;
}, 120_000);

afterAll(async () => {
  gw?.cleanup();
  await web?.stop();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const token = async (sub: string, groups: string) => (await runCli(["token", "--state-dir", join(dir, "state"), "--sub", sub, "--groups", groups])).stdout.trim();
const agent = async (server: string): Promise<TestClient> => await connectClient({ url: `${base}/mcp/${server}`, token: await token("bot", "agents") });
const denied = async (p: Promise<unknown>): Promise<string> =>
  await p.then(
    (v) => {
      throw new Error(`expected a denial, got ${JSON.stringify(v).slice(0, 200)}`);
    },
    (e: unknown) => {
      if (!(e instanceof McpError)) throw e;
      return e.message;
    },
  );

test("files: read and list under /srv/data; never its keys, nothing outside, no deleting", async () => {
  const c = await agent("files");
  try {
    expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["list_directory", "read_multiple_files", "read_text_file"]);
    expect(resultText(await c.client.callTool({ name: "read_text_file", arguments: { path: join(data, "report.txt") } }))).toContain("revenue up 4%");
    expect(resultText(await c.client.callTool({ name: "read_multiple_files", arguments: { paths: [join(data, "report.txt")] } }))).toContain("revenue up 4%");
    expect(await denied(c.client.callTool({ name: "read_text_file", arguments: { path: join(data, "keys", "deploy.pem") } }))).toContain("The keys under");
    expect(await denied(c.client.callTool({ name: "read_text_file", arguments: { path: join(data, "notes", "..", "keys", "deploy.pem") } }))).toContain("The keys under");
    expect(await denied(c.client.callTool({ name: "read_multiple_files", arguments: { paths: [join(data, "report.txt"), join(data, "keys", "deploy.pem")] } }))).toContain("The keys under");
    await denied(c.client.callTool({ name: "read_text_file", arguments: { path: join(data, "..", "00-gateway.yaml") } }));
    expect(await denied(c.client.callTool({ name: "move_file", arguments: { source: join(data, "report.txt"), destination: join(data, "r.txt") } }))).toContain("Agents do not delete or move files");
  } finally {
    await c.close();
  }
}, 60_000);

test("sales-db: reads of sales.* with e-mails masked; COMMIT; DROP and other schemas denied", async () => {
  const c = await agent("sales-db");
  try {
    const r = resultText(await c.client.callTool({ name: "query", arguments: { sql: "SELECT name, email FROM sales.customers ORDER BY id" } }));
    expect(r).toContain("Ann");
    expect(r).toContain("[masked:email]");
    await denied(c.client.callTool({ name: "query", arguments: { sql: "COMMIT; DROP TABLE sales.orders" } }));
    await denied(c.client.callTool({ name: "query", arguments: { sql: "SELECT key FROM secret.api_keys" } }));
    expect((await pg.psql("SELECT count(*) FROM sales.orders")).trim()).toBe("2");
  } finally {
    await c.close();
  }
}, 60_000);

test("web: fetches to the docs hosts only; a deploy waits for a lead's approval", async () => {
  const c = await agent("web");
  try {
    expect(resultText(await c.client.callTool({ name: "fetch", arguments: { url: "https://docs.example.com/guide" } }))).toBe("fetched https://docs.example.com/guide");
    expect(resultText(await c.client.callTool({ name: "fetch", arguments: { url: "https://api.docs.example.com/x", max_length: 5000 } }))).toContain("fetched");
    await denied(c.client.callTool({ name: "fetch", arguments: { url: "https://evil.example/x" } }));
    await denied(c.client.callTool({ name: "fetch", arguments: { url: "https://docs.example.com/x", max_length: 10_000_000 } }));
    expect(web.adversary.toolCalls("fetch")).toHaveLength(2);

    const lead = await token("lead", "leads");
    const cli = (args: string[]) => runCli([...args, "--admin", gw.adminUrl], { env: { GATEHOUSE_TOKEN: lead } });
    const held = c.client.callTool({ name: "deploy", arguments: { env: "staging" } }, undefined, { timeout: 600_000, resetTimeoutOnProgress: true, onprogress: () => {} });
    const id = await waitFor("the deploy to be held", async () => (await cli(["requests", "--ids"])).stdout.trim().split("\n").filter(Boolean)[0] ?? null);
    expect((await cli(["requests"])).stdout).toContain('tools/call web/deploy {"env":"staging"}');
    expect(web.adversary.toolCalls("deploy")).toHaveLength(0);
    expect((await cli(["approve", id])).code).toBe(0);
    expect(resultText(await within("the approved deploy", held))).toBe("deployed to staging");
    // An env the rule does not name is not held but refused.
    await denied(c.client.callTool({ name: "deploy", arguments: { env: "prod-eu" } }));
    expect(web.adversary.toolCalls("deploy")).toHaveLength(1);
  } finally {
    await c.close();
  }
}, 60_000);

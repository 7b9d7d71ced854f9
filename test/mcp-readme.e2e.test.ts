// The README's MCP section, run: its gatehouse.yaml block is served as written, with only the
// machine-specific strings replaced (the issuer becomes the test OpenID provider, the public URL
// and ports the ones bound here, the servers' paths and URLs the local ones: the replacements are
// listed in `localise`), and its commands and client configs are used as the section gives them:
// gatehouse mcp pin (and --check), gatehouse explain of COMMIT; DROP, mcp-remote with the header
// from an environment variable and with client-credentials OAuth, the review shown by gatehouse
// requests and released by gatehouse approve.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { connectClient, resultText } from "./helpers/mcp-client.ts";
import { FILESYSTEM_JS, MCP_REMOTE_JS, NODE, POSTGRES_MCP_JS, seedMcpPostgres, startEverythingHttp, type HttpServerProcess } from "./helpers/mcp-servers.ts";
import { startOidcProvider, type OidcProviderHandle } from "./helpers/oidc-provider.ts";
import { onFreePort } from "./helpers/ports.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";
import { waitFor, within } from "./helpers/wait.ts";

const README = readFileSync(resolve(import.meta.dir, "../README.md"), "utf8");

/** The fenced block right after the marker comment. */
function exampleBlock(): string {
  const at = README.indexOf("<!-- mcp-example: gatehouse.yaml");
  if (at < 0) throw new Error("README.md has no <!-- mcp-example: gatehouse.yaml --> block");
  const m = /```yaml\n([\s\S]*?)```/.exec(README.slice(at));
  if (!m) throw new Error("no yaml block after the mcp-example marker");
  return m[1]!;
}

let pg: PostgresInstance;
let up: HttpServerProcess;
let idp: OidcProviderHandle;
let gw: GatewayProcess;
let base: string;
const dir = mkdtempSync(join(tmpdir(), "gatehouse-mcp-readme-"));
const data = join(dir, "srv-data");

function localise(yaml: string, port: number): string {
  const replacements: [string, string][] = [
    ["/var/lib/gatehouse", join(dir, "state")],
    ['"127.0.0.1:7400"', '"127.0.0.1:0"'],
    ["https://login.example.com", idp.issuer],
    ["https://mcp.example.com", `http://127.0.0.1:${port}`],
    ["127.0.0.1:7450", `127.0.0.1:${port}`],
    ["/usr/bin/node", NODE],
    ["/opt/mcp/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", FILESYSTEM_JS],
    ["/opt/mcp/node_modules/@modelcontextprotocol/server-postgres/dist/index.js", POSTGRES_MCP_JS],
    ["/srv/data", data],
    ["postgresql://mcp_reader@db.internal:5432/sales", `postgresql://${pg.user}@127.0.0.1:${pg.port}/postgres`],
    ["/etc/gatehouse/pg-password", join(dir, "pg-password")],
    ["http://10.0.0.5:3001/mcp", up.url],
  ];
  let out = yaml;
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`the README's example no longer holds ${from}: update localise()`);
    out = out.replaceAll(from, to);
  }
  return out;
}

beforeAll(async () => {
  [pg, up, idp] = await Promise.all([startPostgres(), startEverythingHttp("streamableHttp"), startOidcProvider({ groups: ["agents"] })]);
  await seedMcpPostgres(pg);
  mkdirSync(data);
  writeFileSync(join(data, "report.txt"), "Quarterly report: revenue up 4%.");
  writeFileSync(join(dir, "pg-password"), pg.password, { mode: 0o600 });
  const env = { EVERYTHING_TOKEN: "upstream-credential" };
  // The public URL (the OAuth resource and the tokens' audience) names the target's port, so the
  // port is picked before the gateway binds it (see helpers/ports.ts).
  gw = await onFreePort(async (port) => {
    base = `http://127.0.0.1:${port}`;
    writeFileSync(join(dir, "gatehouse.yaml"), localise(exampleBlock(), port));
    const pin = await runCli(["mcp", "pin", "tools", "--config", join(dir, "gatehouse.yaml")], { env });
    if (pin.code !== 0) throw new Error(`gatehouse mcp pin failed: ${pin.stderr}${pin.stdout}`);
    return await startGatewayProcess({ dir, files: {}, env });
  });
}, 120_000);

afterAll(async () => {
  gw?.cleanup();
  await Promise.all([pg?.stop(), up?.stop(), idp?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const remoteEnv = (home: string, extra: Record<string, string> = {}) => ({ PATH: process.env["PATH"] ?? "/usr/bin", HOME: home, MCP_REMOTE_CONFIG_DIR: home, ...extra });

test("gatehouse mcp pin --check agrees with the servers", async () => {
  const r = await runCli(["mcp", "pin", "tools", "--config", join(dir, "gatehouse.yaml"), "--check"], { env: { EVERYTHING_TOKEN: "upstream-credential" } });
  expect(r.code).toBe(0);
});

test("gatehouse explain denies COMMIT; DROP on sales-db", async () => {
  const r = await runCli(["explain", "--config", join(dir, "gatehouse.yaml"), "--as", "ann", "--groups", "agents", "--target", "tools", "--server", "sales-db", "--tool", "query", "--args", '{"sql": "COMMIT; DROP TABLE sales.orders"}']);
  if (process.env["MCP_SHOW"]) console.log(r.stdout, r.stderr);
  expect(r.stdout).toContain("ddl.drop.table of sales.orders");
  expect(r.stdout).toMatch(/^decision: deny/m);
});

test("mcp-remote with the header from an environment variable (the mcpServers snippet)", async () => {
  const home = mkdtempSync(join(dir, "home-"));
  // The example has no dev issuer: the agent's token comes from the OpenID provider, for this server's URL.
  const oidcToken = await idp.getToken({ audience: `${base}/mcp/files` });
  const c = await connectClient({ command: [NODE, MCP_REMOTE_JS, `${base}/mcp/files`, "--header", "Authorization:${GATEHOUSE_AUTH}"], env: remoteEnv(home, { GATEHOUSE_AUTH: `Bearer ${oidcToken}` }) });
  try {
    expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["list_directory", "read_text_file"]);
    expect(resultText(await c.client.callTool({ name: "read_text_file", arguments: { path: join(data, "report.txt") } }))).toContain("revenue up 4%");
    await expect(c.client.callTool({ name: "read_text_file", arguments: { path: "/etc/passwd" } })).rejects.toThrow(McpError);
  } finally {
    await c.close();
  }
}, 60_000);

test("mcp-remote with client-credentials OAuth on sales-db: reads run, COMMIT; DROP is denied", async () => {
  const home = mkdtempSync(join(dir, "home-"));
  const info = `{"client_id":"${idp.clientId}","client_secret":"\${AGENT_SECRET}"}`;
  const c = await connectClient({ command: [NODE, MCP_REMOTE_JS, `${base}/mcp/sales-db`, "--client-credentials", "--static-oauth-client-info", info], env: remoteEnv(home, { AGENT_SECRET: idp.clientSecret }) });
  try {
    const r = resultText(await c.client.callTool({ name: "query", arguments: { sql: "SELECT name, email FROM sales.customers ORDER BY id" } }));
    expect(r).toContain("Ann");
    expect(r).toContain("[masked:email]");
    await expect(c.client.callTool({ name: "query", arguments: { sql: "COMMIT; DROP TABLE sales.orders" } })).rejects.toThrow(McpError);
    expect((await pg.psql("SELECT count(*) FROM sales.orders")).trim()).toBe("2");
  } finally {
    await c.close();
  }
}, 60_000);

test("everything: get-env is denied with the message; the long job is held, shown to the lead, approved", async () => {
  const token = await idp.getToken({ audience: `${base}/mcp/everything` });
  // Another person than the requester (every plain token of the test provider has its client's sub).
  const lead = await idp.getToken({ platform: { claims: { sub: "lead-1", aud: `${base}/mcp/everything`, groups: ["leads"] } } });
  const c = await connectClient({ url: `${base}/mcp/everything`, token });
  try {
    expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "get-sum", "trigger-long-running-operation"]);
    await expect(c.client.callTool({ name: "get-env", arguments: {} })).rejects.toThrow(/the environment holds credentials; ask the platform team/);
    const held = c.client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 1, steps: 1 } }, undefined, { timeout: 600_000, resetTimeoutOnProgress: true, onprogress: () => {} });
    const cli = (args: string[]) => runCli([...args, "--admin", gw.adminUrl], { env: { GATEHOUSE_TOKEN: lead } });
    const id = await waitFor("the long job to be held", async () => (await cli(["requests", "--ids"])).stdout.trim().split("\n").filter(Boolean)[0] ?? null);
    expect((await cli(["requests"])).stdout).toContain('tools/call everything/trigger-long-running-operation {"duration":1,"steps":1}');
    const approved = await cli(["approve", id]);
    expect(approved.stderr + approved.stdout).toContain("approved");
    expect(approved.code).toBe(0);
    expect(resultText(await within("the approved long job to finish", held))).toContain("completed");
  } finally {
    await c.close();
  }
}, 90_000);

// SQL through MCP: the reference @modelcontextprotocol/server-postgres (stdio, spawned by the
// gateway through the recording wrapper) against a real PostgreSQL, its `query` tool's `sql`
// argument declared as SQL in the target. "Analysts read sales.*" means over MCP what it means
// over the wire protocol: reads of sales tables run (e-mails masked), a DROP is denied, and
// `COMMIT; DROP …`, which escapes server-postgres's own read-only transaction when it runs
// directly (mcp-upstreams.e2e.test.ts shows it does), is denied before it reaches the server.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { connectClient, resultText, type TestClient } from "./helpers/mcp-client.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { loggedToolCalls, PG_SECRET, postgresMcpCommand, recordingCommand, seedMcpPostgres } from "./helpers/mcp-servers.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";

let pg: PostgresInstance;
let g: McpGateway;
let c: TestClient;
const tmp = mkdtempSync(join(tmpdir(), "gatehouse-mcp-pg-"));
const log = join(tmp, "db.jsonl");

beforeAll(async () => {
  pg = await startPostgres();
  await seedMcpPostgres(pg);
  g = await startMcpGateway({
    servers: [{ name: "db", command: recordingCommand(log, postgresMcpCommand(pg)), sql: { tool: "query", argument: "sql" } }],
    pins: "mcp-pins.json",
    pinFirst: true,
    rules: `
  - name: analysts-read-sales
    groups: [analysts]
    mcp: { servers: [db], tools: [query], sql: { classes: [read], tables: ["sales.*"] } }
    effect: allow
    mask: { detectors: [email] }
`,
  });
  c = await connectClient({ url: g.url("db"), token: await g.token("ann", ["analysts"]) });
}, 120_000);

afterAll(async () => {
  await c?.close();
  await g?.stop();
  await pg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function denied(sql: string): Promise<string> {
  const before = loggedToolCalls(log, "query").length;
  const e = await c.client.callTool({ name: "query", arguments: { sql } }).then(
    (r) => {
      throw new Error(`expected a denial for ${sql}, got ${JSON.stringify(r).slice(0, 300)}`);
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(McpError);
  expect(loggedToolCalls(log, "query").length).toBe(before);
  return (e as McpError).message;
}

test("reads of sales.* run, with e-mail addresses masked", async () => {
  const r = resultText(await c.client.callTool({ name: "query", arguments: { sql: "SELECT id, name, email FROM sales.customers ORDER BY id" } }));
  expect(r).toContain("Ann");
  expect(r).toContain("[masked:email]");
  expect(r).not.toContain("ann@example.com");
  const join = resultText(await c.client.callTool({ name: "query", arguments: { sql: "SELECT c.name, o.amount FROM sales.customers c JOIN sales.orders o ON o.customer_id = c.id ORDER BY o.id" } }));
  expect(join).toContain("99.50");
  expect(loggedToolCalls(log, "query").length).toBe(2);
});

test("DROP is denied and never reaches the server", async () => {
  expect(await denied("DROP TABLE sales.orders")).toMatch(/denied/);
});

test("COMMIT; DROP … is denied as a whole: the DROP never runs", async () => {
  expect(await denied("COMMIT; DROP TABLE public.canary")).toMatch(/denied/);
  expect(await denied("SELECT * FROM sales.customers; COMMIT; DROP TABLE public.canary")).toMatch(/denied/);
  expect((await pg.psql("SELECT count(*) FROM public.canary")).trim()).toBe("1");
});

test("reads outside sales.* are denied: the secret table never comes back", async () => {
  await denied("SELECT key FROM secret.api_keys");
  await denied("SELECT name FROM sales.customers UNION ALL SELECT key FROM secret.api_keys");
  await denied("WITH k AS (SELECT key FROM secret.api_keys) SELECT * FROM k");
});

test("writes hidden in a read, and SQL the parser cannot read, are denied", async () => {
  await denied("WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d");
  await denied("SELECT pg_read_file('/etc/passwd')");
  await denied("SELEC name FROM sales.customers");
  expect((await pg.psql("SELECT count(*) FROM sales.orders")).trim()).toBe("2");
});

test("the server never sent the secret: nothing it wrote (the wrapper's log of both directions) holds it", () => {
  const all = readFileSync(log, "utf8");
  expect(all).toContain('"out"');
  expect(all).not.toContain(PG_SECRET);
});

// SQL over MCP with the database's catalog behind it: the compiled gateway in front of
// @modelcontextprotocol/server-postgres and a real PostgreSQL, one server entry with
// sql.catalog (the gateway's own catalog connection) and one without. "Analysts read sales.*"
// then refuses a view in sales over a table outside it, and a function that runs user code,
// only where the catalog is there to show them; both refuse COMMIT; DROP … and pg_read_file.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { connectClient, resultText, type TestClient } from "./helpers/mcp-client.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { PG_SECRET, postgresMcpCommand, seedMcpPostgres } from "./helpers/mcp-servers.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";

setDefaultTimeout(180_000);

let pg: PostgresInstance;
let gw: McpGateway;
let withCatalog: TestClient;
let without: TestClient;

beforeAll(async () => {
  pg = await startPostgres();
  await seedMcpPostgres(pg);
  await pg.psql(`
    CREATE VIEW sales.key_mirror AS SELECT * FROM secret.api_keys;
    CREATE FUNCTION public.wipe_canary() RETURNS int LANGUAGE sql AS 'DELETE FROM public.canary; SELECT 1';
    CREATE TABLE sales.notes (id int, n int DEFAULT public.wipe_canary());
  `);
  const catalog = { host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password };
  gw = await startMcpGateway({
    servers: [
      { name: "db", command: postgresMcpCommand(pg), sql: { tool: "query", argument: "sql", catalog } },
      { name: "db-plain", command: postgresMcpCommand(pg), sql: { tool: "query", argument: "sql" } },
    ],
    rules: `  - name: analysts-read-sales
    groups: [analysts]
    mcp: { servers: [db, db-plain], tools: [query], sql: { classes: [read, insert], tables: ["sales.*"] } }
    effect: allow
`,
  });
  const token = await gw.token("ana", ["analysts"]);
  withCatalog = await connectClient({ url: gw.url("db"), token });
  without = await connectClient({ url: gw.url("db-plain"), token });
});
afterAll(async () => {
  await withCatalog?.close();
  await without?.close();
  await gw?.stop();
  await pg?.stop();
});

async function query(c: TestClient, sql: string): Promise<{ ok: boolean; text: string }> {
  try {
    const r = await c.client.callTool({ name: "query", arguments: { sql } });
    return { ok: r.isError !== true, text: resultText(r) };
  } catch (e) {
    return { ok: false, text: e instanceof Error ? e.message : String(e) };
  }
}

describe("SQL over MCP with the catalog", () => {
  test("reads of sales go through on both", async () => {
    for (const c of [withCatalog, without]) {
      const r = await query(c, "SELECT name FROM sales.customers ORDER BY id");
      expect(r.ok).toBe(true);
      expect(r.text).toContain("Ann");
    }
  });

  test("a view in sales over secret.api_keys: refused with the catalog, read without it (the gap the catalog closes)", async () => {
    const r = await query(withCatalog, "SELECT * FROM sales.key_mirror");
    expect(r.ok).toBe(false);
    expect(r.text).toContain("denied by the gateway");
    expect(r.text).not.toContain(PG_SECRET);
    const plain = await query(without, "SELECT * FROM sales.key_mirror");
    expect(plain.text).toContain(PG_SECRET);
  });

  test("a write whose default runs user code: refused with the catalog, and the canary stays", async () => {
    const r = await query(withCatalog, "INSERT INTO sales.notes (id) VALUES (1)");
    expect(r.ok).toBe(false);
    expect(r.text).toContain("public.wipe_canary");
    expect((await pg.psql("SELECT count(*) FROM public.canary")).trim()).toBe("1");
  });

  test("both refuse what the SQL text shows: COMMIT; DROP …, pg_read_file, a twin SQL argument", async () => {
    for (const c of [withCatalog, without]) {
      expect((await query(c, "COMMIT; DROP TABLE public.canary")).ok).toBe(false);
      expect((await query(c, "SELECT pg_read_file('/etc/passwd')")).ok).toBe(false);
      const twin = await c.client.callTool({ name: "query", arguments: { sql: "SELECT 1 FROM sales.orders", SQL: "DROP TABLE public.canary" } }).then(
        (r) => r.isError === true,
        () => true,
      );
      expect(twin).toBe(true);
    }
    expect((await pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'canary'")).trim()).toBe("1");
  });
});

// classifySqlWithCatalog against a real PostgreSQL holding the bypass corpus's schema
// (fixtures/sql/bypass-schema.sql and the corpus's FIXTURES), with the postgres target's Catalog
// on it, decided under the corpus's intent written as mcp rules. The whole corpus runs in
// test/bypass/mcp-sql-corpus.test.ts.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startPostgres, type PostgresInstance } from "../../../test/helpers/postgres.ts";
import { fixtureSql } from "../../../test/helpers/fixtures.ts";
import { FIXTURES, type Who } from "../../../test/bypass/corpus.ts";
import { silentLogger } from "../../core/logger.ts";
import type { Action, Decision, Identity, McpRequestFacts } from "../../core/types.ts";
import { loadConfigFromSources } from "../../config/load.ts";
import { compilePolicy, type Policy } from "../../policy/compile.ts";
import { Catalog } from "../postgres/catalog/catalog.ts";
import { loadSqlParser, type SqlParser } from "../postgres/sql/sql-parser.ts";
import { mcpSqlBuiltins } from "./sql-builtins.ts";
import { classifySqlWithCatalog, createCatalogSqlClassifier } from "./sql-catalog.ts";

setDefaultTimeout(120_000);

let pg: PostgresInstance;
let catalog: Catalog;
let parser: SqlParser;
let policy: Policy;
let adjust: (d: Decision, a: Action) => Decision;
let classify: ReturnType<typeof createCatalogSqlClassifier>;

const RULES = `rules:
  - name: block-drop-database
    mcp: { sql: { classes: [ddl.drop.database] } }
    effect: deny
  - name: analysts-read-sales
    groups: [analysts]
    mcp:
      servers: [db]
      tools: [query]
      sql:
        classes: [read, set, show, transaction, explain, prepare, execute, deallocate, declare_cursor, fetch, move, close, discard]
        tables: ["sales.*"]
    effect: allow
  - name: support-update-sales
    groups: [support]
    mcp: { servers: [db], tools: [query], sql: { classes: [read, update, transaction], tables: ["sales.*"] } }
    effect: allow
  - name: exporters-copy-sales
    groups: [exporters]
    mcp: { servers: [db], tools: [query], sql: { classes: [read, copy.to], tables: ["sales.*"] } }
    effect: allow
  - name: dbas
    groups: [dbas]
    mcp: { servers: [db], tools: [query] }
    effect: allow
`;
const GROUPS: Record<Who, string> = { analyst: "analysts", support: "support", exporter: "exporters", dba: "dbas" };

beforeAll(async () => {
  parser = await loadSqlParser();
  pg = await startPostgres();
  await pg.psql(`${fixtureSql("bypass-schema.sql")}
CREATE FUNCTION public.read_secret_file() RETURNS text LANGUAGE sql AS $$SELECT 'x'$$;
${FIXTURES}`);
  catalog = new Catalog({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password }, silentLogger);
  // Nothing here runs the SQL it classifies: the catalog does not change, so its cache holds.
  classify = createCatalogSqlClassifier(parser, catalog, { freshForMs: 0 });
  const config = await loadConfigFromSources([{ file: "p.yaml", text: RULES }], { baseDir: "/tmp", env: {} });
  policy = compilePolicy(config);
  adjust = mcpSqlBuiltins({ ruleSql: (name) => config.rules.find((r) => r.name === name)?.mcp?.sql });
});
afterAll(async () => {
  catalog?.close();
  await pg?.stop();
});

async function decideCall(who: Who, sql: string): Promise<{ effect: string; why: string }> {
  const c = await classify(sql);
  if (!c.ok) return { effect: "deny", why: c.reason };
  const identity: Identity = { method: "oidc", subject: who, issuer: "https://idp.example", groups: [GROUPS[who]] };
  const request: McpRequestFacts = { kind: "mcp", direction: "client", method: "tools/call", server: "db", tool: "query", arguments: { sql }, sql: c.sql };
  const action: Action = { identity, target: "tools", request, time: 0 };
  const d = adjust(policy.decide(action), action);
  return { effect: d.effect, why: `${d.rule}: ${d.message}` };
}

describe("classifySqlWithCatalog", () => {
  test("views count as their base tables, parents as their children, and user code as user functions", async () => {
    const view = await classifySqlWithCatalog(parser, catalog, "SELECT * FROM sales.hr_mirror");
    expect(view.ok && view.sql.relations).toContain("hr.salaries");
    const parent = await classifySqlWithCatalog(parser, catalog, "SELECT * FROM sales.events");
    expect(parent.ok && parent.sql.relations).toContain("hr.orders");
    const trigger = await classifySqlWithCatalog(parser, catalog, "UPDATE sales.tickets SET status = 'x'");
    expect(trigger.ok && trigger.sql.userFunctions).toContain("public.tickets_audit");
    const fn = await classifySqlWithCatalog(parser, catalog, "SELECT lower(name) FROM sales.customers");
    expect(fn.ok && fn.sql.userFunctions).toEqual([]);
    const defined = await classifySqlWithCatalog(parser, catalog, "CREATE FUNCTION public.fresh() RETURNS int LANGUAGE sql AS 'SELECT 1'; SELECT public.fresh()");
    expect(defined.ok && defined.sql.userFunctions).toContain("public.fresh");
  });

  test("calls sent at once are classified in turn, each on the catalog as it is", async () => {
    const all = await Promise.all(Array.from({ length: 6 }, (_, i) => classify(i % 2 === 0 ? "SELECT * FROM sales.hr_mirror" : "UPDATE sales.tickets SET status = 'x'")));
    expect(all.every((r) => r.ok)).toBe(true);
  });

  test("after a call made a view over user code, the next call reading it is refused (r4-block-view-over-user-function, one call each)", async () => {
    const fresh = createCatalogSqlClassifier(parser, catalog, { freshForMs: 60_000 });
    const dba = async (sql: string) => {
      const c = await fresh(sql);
      if (!c.ok) return `refused: ${c.reason}`;
      const identity: Identity = { method: "oidc", subject: "dba", issuer: "https://idp.example", groups: ["dbas"] };
      const action: Action = { identity, target: "tools", request: { kind: "mcp", direction: "client", method: "tools/call", server: "db", tool: "query", arguments: { sql }, sql: c.sql }, time: 0 };
      const d = adjust(policy.decide(action), action);
      return `${d.effect} ${d.rule}`;
    };
    // Read before the view exists (and cached), then made upstream by an allowed call, then read again.
    expect(await dba("SELECT * FROM public.r4_v")).toBe("allow dbas");
    const make = "CREATE VIEW public.r4_v AS SELECT public.wipe_canary() AS x";
    expect(await dba(make)).toBe("allow dbas");
    await pg.psql(make);
    try {
      expect(await dba("SELECT * FROM public.r4_v")).toBe("deny builtin:user-function");
    } finally {
      await pg.psql("DROP VIEW public.r4_v");
    }
  });

  test("a catalog that cannot be read refuses the call", async () => {
    const broken = { objectsOf: () => Promise.reject(new Error("connection refused")) };
    const r = await classifySqlWithCatalog(parser, broken, "SELECT * FROM sales.orders");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain("cannot read the database catalog");
    const refused = await classifySqlWithCatalog(parser, catalog, "SELEC 1");
    expect(refused.ok).toBe(false);
  });

  test("controls: what the rules mean to allow is allowed", async () => {
    expect((await decideCall("analyst", "SELECT id, amount FROM sales.orders")).effect).toBe("allow");
    expect((await decideCall("analyst", "SELECT name FROM sales.customer_contacts")).effect).toBe("allow");
    expect((await decideCall("support", "UPDATE sales.orders SET amount = 1 WHERE id = 10")).effect).toBe("allow");
    expect((await decideCall("dba", "CREATE TABLE public.t (id int)")).effect).toBe("allow");
  });

});

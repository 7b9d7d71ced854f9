// classifySqlWithCatalog against a real PostgreSQL holding the bypass corpus's schema
// (fixtures/sql/bypass-schema.sql and the corpus's FIXTURES), with the postgres target's Catalog
// on it, decided under the corpus's intent written as mcp rules. The whole corpus runs in
// test/bypass/mcp-sql-corpus.test.ts.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startMcpSqlFixture, type McpSqlFixture } from "../../../test/helpers/mcp-sql-fixture.ts";
import type { PostgresInstance } from "../../../test/helpers/postgres.ts";
import type { Who } from "../../../test/bypass/corpus.ts";
import type { Action, Identity } from "../../core/types.ts";
import type { Catalog } from "../postgres/catalog/catalog.ts";
import type { SqlParser } from "../postgres/sql/sql-parser.ts";
import { classifySqlWithCatalog, createCatalogSqlClassifier } from "./sql-catalog.ts";

setDefaultTimeout(120_000);

let fx: McpSqlFixture;
let pg: PostgresInstance;
let catalog: Catalog;
let parser: SqlParser;
let classify: McpSqlFixture["classify"];

beforeAll(async () => {
  fx = await startMcpSqlFixture();
  ({ pg, catalog, parser, classify } = fx);
});
afterAll(async () => {
  await fx?.close();
});

const decideCall = (who: Who, sql: string) => fx.decideCall(who, sql);

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
      const d = fx.decide(action);
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

// A real PostgreSQL holding the PostgreSQL bypass corpus's schema (fixtures/sql/bypass-schema.sql
// and the corpus's FIXTURES), the postgres target's Catalog on it, and the corpus policy's intent
// written as mcp rules: what the MCP SQL tests (src/targets/mcp/sql-catalog.test.ts and
// test/bypass/mcp-sql-corpus.test.ts) decide calls against, as the MCP runtime does
// (sql-catalog.ts, decide, sql-builtins.ts), never running the SQL.
import { FIXTURES, type Who } from "../bypass/corpus.ts";
import { loadConfigFromSources } from "../../src/config/load.ts";
import { silentLogger } from "../../src/core/logger.ts";
import type { Action, Decision, Identity, McpRequestFacts } from "../../src/core/types.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { mcpSqlBuiltins } from "../../src/targets/mcp/sql-builtins.ts";
import { createCatalogSqlClassifier } from "../../src/targets/mcp/sql-catalog.ts";
import { Catalog } from "../../src/targets/postgres/catalog/catalog.ts";
import { loadSqlParser, type SqlParser } from "../../src/targets/postgres/sql/sql-parser.ts";
import { fixtureSql } from "./fixtures.ts";
import { startPostgres, type PostgresInstance } from "./postgres.ts";

export const MCP_SQL_RULES = `rules:
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

export interface McpSqlFixture {
  readonly pg: PostgresInstance;
  readonly catalog: Catalog;
  readonly parser: SqlParser;
  /** The catalog classifier the calls go through (its cache never expires: nothing runs the SQL). */
  readonly classify: ReturnType<typeof createCatalogSqlClassifier>;
  /** The policy's decision with the SQL built-ins applied, as the runtime makes it. */
  decide(action: Action): Decision;
  /** A tools/call of the db server's query tool by `who`, classified with the catalog and decided. */
  decideCall(who: Who, sql: string): Promise<{ effect: string; why: string }>;
  close(): Promise<void>;
}

export async function startMcpSqlFixture(): Promise<McpSqlFixture> {
  const parser = await loadSqlParser();
  const pg = await startPostgres();
  await pg.psql(`${fixtureSql("bypass-schema.sql")}
CREATE FUNCTION public.read_secret_file() RETURNS text LANGUAGE sql AS $$SELECT 'x'$$;
${FIXTURES}`);
  const catalog = new Catalog({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password }, silentLogger);
  // Nothing here runs the SQL it classifies: the catalog does not change, so its cache holds.
  const classify = createCatalogSqlClassifier(parser, catalog, { freshForMs: 0 });
  const config = await loadConfigFromSources([{ file: "p.yaml", text: MCP_SQL_RULES }], { baseDir: "/tmp", env: {} });
  const policy = compilePolicy(config);
  const adjust = mcpSqlBuiltins({ ruleSql: (name) => config.rules.find((r) => r.name === name)?.mcp?.sql });
  const decide = (action: Action) => adjust(policy.decide(action), action);
  return {
    pg,
    catalog,
    parser,
    classify,
    decide,
    async decideCall(who, sql) {
      const c = await classify(sql);
      if (!c.ok) return { effect: "deny", why: c.reason };
      const identity: Identity = { method: "oidc", subject: who, issuer: "https://idp.example", groups: [GROUPS[who]] };
      const request: McpRequestFacts = { kind: "mcp", direction: "client", method: "tools/call", server: "db", tool: "query", arguments: { sql }, sql: c.sql };
      const action: Action = { identity, target: "tools", request, time: 0 };
      const d = decide(action);
      return { effect: d.effect, why: `${d.rule}: ${d.message}` };
    },
    async close() {
      catalog.close();
      await pg.stop();
    },
  };
}

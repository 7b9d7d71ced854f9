// The PostgreSQL bypass corpus (corpus.ts) through an MCP SQL tool with the database's catalog
// behind it: a real PostgreSQL holding the corpus's schema, the postgres target's Catalog on it,
// and the corpus policy's intent written as mcp rules. Each attempt is classified and decided as
// the MCP runtime does (sql-catalog.ts, decide, sql-builtins.ts), never run. What the catalog
// shows (views, inheritance, user code) is denied; what is left needs column masks (an MCP
// result is masked by detectors over its text) or startup parameters (an MCP caller sends none).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startPostgres, type PostgresInstance } from "../helpers/postgres.ts";
import { fixtureSql } from "../helpers/fixtures.ts";
import { CORPUS, FIXTURES, type Who } from "./corpus.ts";
import { silentLogger } from "../../src/core/logger.ts";
import type { Action, Decision, Identity, McpRequestFacts } from "../../src/core/types.ts";
import { loadConfigFromSources } from "../../src/config/load.ts";
import { compilePolicy, type Policy } from "../../src/policy/compile.ts";
import { Catalog } from "../../src/targets/postgres/catalog/catalog.ts";
import { loadSqlParser, type SqlParser } from "../../src/targets/postgres/sql/sql-parser.ts";
import { mcpSqlBuiltins } from "../../src/targets/mcp/sql-builtins.ts";
import { createCatalogSqlClassifier } from "../../src/targets/mcp/sql-catalog.ts";

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

describe("the PostgreSQL bypass corpus through an MCP SQL tool, with the catalog", () => {
  test("the corpus: every denied attempt is denied, except those whose denial needs column masks or startup parameters", async () => {
    const fill = (sql: string) => sql.replaceAll("$SENTINEL", "/tmp/sentinel").replaceAll("$SECRET_FILE", "/tmp/secret");
    const attempts = CORPUS.filter((a) => a.expect === "denied" && (a.client ?? "wire") === "wire" && "steps" in a && a.steps.every((s) => "sql" in s));
    expect(attempts.length).toBeGreaterThan(250);
    // Masks: MCP results are masked by detectors over their text, not by column; this policy has no masks.
    const GAPS = new Set(["masked-copy", "copy", "literal-divergence"]);
    // Sent one call each, its view is refused only once the first call has made it: the next test runs that.
    const RUN_FIRST = new Set(["r4-block-view-over-user-function"]);
    const through: string[] = [];
    const gaps: Record<string, number> = {};
    const catalogFailures: string[] = [];
    for (const a of attempts) {
      if (!("steps" in a)) continue;
      const sqls = a.steps.map((s) => fill((s as { sql: string }).sql));
      const joined = await decideCall(a.who, sqls.join(";\n"));
      // Sent at once, as agents may: the classifier takes them in turn.
      const each = sqls.length === 1 ? [joined] : await Promise.all(sqls.map((s) => decideCall(a.who, s)));
      for (const d of [joined, ...each]) if (d.why.includes("cannot read the database catalog")) catalogFailures.push(`${a.id}: ${d.why}`);
      if (joined.effect === "deny" && each.some((e) => e.effect === "deny")) continue;
      if (GAPS.has(a.category)) gaps[a.category] = (gaps[a.category] ?? 0) + 1;
      else if (RUN_FIRST.has(a.id)) continue;
      else through.push(`${a.id} (${a.who}, ${a.category}): ${JSON.stringify(sqls).slice(0, 160)} → ${joined.effect} ${joined.why}`);
    }
    // A denial because the catalog could not be read would make this test pass for the wrong reason.
    expect(catalogFailures).toEqual([]);
    expect(through).toEqual([]);
    expect(gaps).toEqual({ "masked-copy": 19, copy: 7, "literal-divergence": 3 });
  }, 900_000);
});

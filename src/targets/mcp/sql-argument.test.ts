import { beforeAll, describe, expect, test } from "bun:test";
import { MCP_SQL_RULES } from "../../../test/helpers/mcp-sql-fixture.ts";
import type { Action, Decision, Identity, McpRequestFacts } from "../../core/types.ts";
import { loadConfigFromSources } from "../../config/load.ts";
import { compilePolicy, type Policy } from "../../policy/compile.ts";
import { loadSqlParser, type SqlParser } from "../postgres/sql/sql-parser.ts";
import { CORPUS, type Who } from "../../../test/bypass/corpus.ts";
import { builtinFunctionCount } from "./pg-builtin-functions.ts";
import { classifySqlArgument, classifySqlCall, createSqlClassifier, mcpSqlBuiltins, userFunctionsOf } from "./sql-argument.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

const classify = (text: unknown) => classifySqlArgument(parser, text);

describe("classifySqlArgument", () => {
  test("every statement counts, never only the first", () => {
    const r = classify("COMMIT; DROP TABLE sales.orders");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.sql.classes).toEqual(["transaction", "ddl.drop.table"]);
    expect(r.sql.relations).toEqual(["sales.orders"]);
  });

  test("relations, functions, and unqualified names over the path with the user unknown", () => {
    const r = classify("select lower(c.name) from customers c join sales.orders o on o.customer = c.id");
    expect(r.ok && r.sql).toMatchObject({ classes: ["read"], relations: ["$user.customers", "public.customers", "sales.orders"], functions: ["$user.lower", "pg_catalog.lower", "public.lower"] });
    const known = classifySqlArgument(parser, "select * from orders", { user: "analyst", searchPath: ["sales"] });
    expect(known.ok && known.sql.relations).toEqual(["sales.orders"]);
  });

  test("what cannot be classified is refused, with the reason", () => {
    const refused = (text: unknown, why: RegExp) => {
      const r = classify(text);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(why);
    };
    refused("SELEC * FROM x", /cannot be parsed/);
    refused("select 1; selec", /cannot be parsed/);
    refused("", /no statement/);
    refused("-- only a comment", /no statement/);
    refused(42, /not text/);
    refused(null, /null/);
    refused(["select 1"], /a list/);
    refused("select 1\u0000; drop table x", /NUL/);
    refused("EXECUTE cached_delete", /prepared statement/);
    refused("EXPLAIN ANALYZE EXECUTE cached_delete", /prepared statement/);
    refused("FETCH ALL FROM c", /cursor c/);
    refused("MOVE NEXT IN c", /cursor c/);
    refused("SET search_path = hr", /setting search_path/);
    refused("select 1; RESET ALL", /setting/);
    refused("SELECT set_config('search_path', 'hr', false)", /setting search_path/);
    refused("DISCARD ALL", /setting|DISCARD/);
    refused("x".repeat(300 * 1024), /longer/);
    refused("CREATE TEMP TABLE t (id int)", /temporary object pg_temp.t/);
    refused("SELECT * FROM pg_temp.t", /temporary object/);
  });

  test("a call: the SQL argument must be there, once", () => {
    expect(classifySqlCall(parser, { sql: "select 1" }, "sql").ok).toBe(true);
    expect(classifySqlCall(parser, undefined, "sql").ok).toBe(false);
    expect(classifySqlCall(parser, { query: "select 1" }, "sql").ok).toBe(false);
    expect(classifySqlCall(parser, { sql: "select 1", SQL: "drop table x" }, "sql").ok).toBe(false);
    expect(classifySqlCall(parser, { sql: 5 }, "sql").ok).toBe(false);
    expect(classifySqlCall(parser, { sql: "select 1", "s\u200bql": "drop table x" }, "sql").ok).toBe(false);
    expect(classifySqlCall(parser, { sql: "select 1", "ｓｑｌ": "drop table x" }, "sql").ok).toBe(false);
  });

  test("the runtime's classifier throws the refusal's reason", () => {
    const c = createSqlClassifier(parser);
    expect(c("select 1").classes).toEqual(["read"]);
    expect(() => c("COMMIT; DRO TABLE x")).toThrow(/cannot be parsed/);
  });

  test("a PREPARE or DECLARE in the same text is followed", () => {
    const p = classify("PREPARE d AS DELETE FROM sales.orders; EXECUTE d");
    expect(p.ok && p.sql.classes).toEqual(["delete", "prepare", "execute"]);
    const c = classify("DECLARE c CURSOR FOR SELECT * FROM hr.salaries; FETCH ALL FROM c");
    expect(c.ok && c.sql.relations).toEqual(["hr.salaries"]);
  });

  test("possible user functions: other schemas, and unqualified names that are not built-ins", () => {
    expect(builtinFunctionCount()).toBeGreaterThan(2000);
    expect(userFunctionsOf(["pg_catalog.lower", "public.lower"])).toEqual([]);
    expect(userFunctionsOf(["public.lower"])).toEqual(["public.lower"]);
    expect(userFunctionsOf(["pg_catalog.read_secret", "public.read_secret"])).toEqual(["pg_catalog.read_secret", "public.read_secret"]);
    expect(userFunctionsOf(["pg_catalog.set_config(search_path)"])).toEqual([]);
  });
});

// The PostgreSQL bypass corpus (test/bypass/corpus.ts) through an MCP SQL tool, under the same
// intent as its policy (test/bypass/policy.ts) written as mcp rules.
const RULES = MCP_SQL_RULES;
const GROUPS: Record<Who, string> = { analyst: "analysts", support: "support", exporter: "exporters", dba: "dbas" };

describe("the PostgreSQL bypass corpus through an MCP SQL tool", () => {
  let policy: Policy;
  let adjust: (d: Decision, a: Action) => Decision;
  beforeAll(async () => {
    const config = await loadConfigFromSources([{ file: "p.yaml", text: RULES }], { baseDir: "/tmp", env: {} });
    policy = compilePolicy(config);
    adjust = mcpSqlBuiltins({ ruleSql: (name) => config.rules.find((r) => r.name === name)?.mcp?.sql });
  });

  /** The runtime's path for one call: classify (a refusal denies), decide, then the built-ins. */
  function decideCall(who: Who, sql: string): { effect: string; why: string } {
    const c = classify(sql);
    if (!c.ok) return { effect: "deny", why: c.reason };
    const identity: Identity = { method: "oidc", subject: who, issuer: "https://idp.example", groups: [GROUPS[who]] };
    const request: McpRequestFacts = { kind: "mcp", direction: "client", method: "tools/call", server: "db", tool: "query", arguments: { sql }, sql: c.sql };
    const action: Action = { identity, target: "tools", request, time: 0 };
    const d = adjust(policy.decide(action), action);
    return { effect: d.effect, why: `${d.rule}: ${d.message}` };
  }

  const fill = (sql: string) => sql.replaceAll("$SENTINEL", "/tmp/sentinel").replaceAll("$SECRET_FILE", "/tmp/secret");
  const attempts = CORPUS.filter((a) => a.expect === "denied" && (a.client ?? "wire") === "wire" && "steps" in a && a.steps.every((s) => "sql" in s));

  test("the corpus is there", () => {
    expect(attempts.length).toBeGreaterThan(250);
  });

  /**
   * Categories of the corpus whose denial needs what an MCP SQL tool does not have. Column masks
   * and COPY's unmaskable data: MCP results are masked by detectors over their text, not by
   * column (these attempts smuggle masked values; this policy has no masks). Startup parameters:
   * an MCP caller sends none. The database's catalog: views' base tables, inheritance children
   * and partitions, and the user code that triggers, defaults, domains, casts, operators and
   * indexes run, which the postgres target looks up in the catalog and an MCP SQL tool cannot
   * (without servers[].sql.catalog the target has no connection of its own to the server's
   * database; sql-catalog.test.ts runs the corpus with one).
   */
  const GAPS: Readonly<Record<string, string>> = {
    "masked-copy": "column masks",
    copy: "column masks (COPY data cannot be masked); cp3-exporter-cast-to-builtin: a user cast (catalog)",
    "literal-divergence": "startup parameters",
    "views-functions": "catalog: views' base tables",
    inheritance: "catalog: inheritance children and partitions",
    "user-code": "catalog: user code run by triggers, defaults, domains, casts, operators, indexes",
    catalog: "catalog: objects named with control characters or parentheses",
  };

  test("every denied attempt is denied: its statements sent in one call, and at least one of them sent one call each", () => {
    const through: string[] = [];
    const gaps: string[] = [];
    for (const a of attempts) {
      if (!("steps" in a)) continue;
      const sqls = a.steps.map((s) => fill((s as { sql: string }).sql));
      const joined = decideCall(a.who, sqls.join(";\n"));
      const each = sqls.map((s) => decideCall(a.who, s));
      if (joined.effect === "deny" && each.some((e) => e.effect === "deny")) continue;
      if (a.category in GAPS) gaps.push(a.id);
      else through.push(`${a.id} (${a.who}): ${JSON.stringify(sqls).slice(0, 200)} → ${joined.effect} ${joined.why}`);
    }
    expect(through).toEqual([]);
    // The attempts that need a catalog or masks, counted so that a change either way is seen.
    const byCategory: Record<string, number> = {};
    for (const id of gaps) {
      const c = CORPUS.find((a) => a.id === id)!.category;
      byCategory[c] = (byCategory[c] ?? 0) + 1;
    }
    expect(byCategory).toEqual({ "masked-copy": 19, copy: 8, "literal-divergence": 3, "views-functions": 2, inheritance: 15, "user-code": 28, catalog: 2 });
  });

  test("what the rules mean to allow is allowed (a denial corpus needs its controls)", () => {
    expect(decideCall("analyst", "SELECT id, total FROM sales.orders WHERE total > 10").effect).toBe("allow");
    expect(decideCall("analyst", "select lower(name), count(*) from sales.customers group by 1").effect).toBe("allow");
    expect(decideCall("analyst", "BEGIN; SELECT * FROM sales.orders; COMMIT").effect).toBe("allow");
    expect(decideCall("support", "UPDATE sales.orders SET total = 1 WHERE id = 10").effect).toBe("allow");
    expect(decideCall("dba", "CREATE TABLE public.t (id int)").effect).toBe("allow");
    expect(decideCall("analyst", "COMMIT; DROP TABLE sales.orders").effect).toBe("deny");
    expect(decideCall("dba", "select pg_read_file('/etc/passwd')").why).toContain("builtin:dangerous-function");
    expect(decideCall("dba", "select public.read_secret()").why).toContain("builtin:user-function");
    expect(decideCall("dba", "select read_secret()").why).toContain("builtin:user-function");
  });
});

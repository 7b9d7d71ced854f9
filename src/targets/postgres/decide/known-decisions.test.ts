// The fast path's key must be at least as strong as what a decision depends on, or it is a
// bypass. Differential test against a real PostgreSQL: every SQL statement of the bypass corpus
// (and variants with other literal values, which share their shape) is decided by the slow path
// (StatementGate.check, catalog look-ups and the policy) for each identity of the corpus, while
// StatementGate.known() answers from its cache wherever it has an entry; each of its answers
// must equal the slow path's. Between rounds, what a decision depends on changes: the policy is
// reloaded, a table becomes a view over hr (DDL, catalog invalidated), the session defines a
// function. A key without one of those parts makes this test fail.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CORPUS, FIXTURES, type Who } from "../../../../test/bypass/corpus.ts";
import { BYPASS_RULES } from "../../../../test/bypass/policy.ts";
import { fixtureSql } from "../../../../test/helpers/fixtures.ts";
import { startPostgres, type PostgresInstance } from "../../../../test/helpers/postgres.ts";
import { createMetrics } from "../../../admin/metrics.ts";
import { Approvals } from "../../../approvals/approvals.ts";
import { openAuditLog, type AuditLog } from "../../../audit/log.ts";
import { loadConfig } from "../../../config/load.ts";
import type { Config, PostgresTarget } from "../../../config/schema.ts";
import { silentLogger } from "../../../core/logger.ts";
import type { Identity } from "../../../core/types.ts";
import { Gate } from "../../../gate/gate.ts";
import { compileDetectors } from "../../../masking/detectors.ts";
import { compilePolicy, type Policy } from "../../../policy/compile.ts";
import { Catalog } from "../catalog/catalog.ts";
import type { StatementInfo } from "../sql/analysis.ts";
import { createAnalysisCache, type AnalysisCache } from "../sql/analysis-cache.ts";
import { LITERAL_POOL, prng, withLiterals } from "../sql/lexer-corpus.ts";
import { shapeKey } from "../sql/lexer.ts";
import { loadSqlParser } from "../sql/sql-parser.ts";
import { postgresBuiltins } from "./builtins.ts";
import { StatementGate, type CheckedStatement } from "./statement-gate.ts";
import { createMayUseTarget } from "../../../gate/target-access.ts";
import { createRuleClasses, createRuleFunctions } from "./target-access.ts";

setDefaultTimeout(600_000);

// The bypass corpus's policy (test/bypass/postgres-bypass.e2e.test.ts), and a reload of it.
const RULES = BYPASS_RULES;
// After the reload: analysts lose their masks and support may read hr too; nothing else changes.
const RELOADED = RULES.replace("    mask: { columns: [email, sales.customers.email] }\n", "").replace(`tables: ["sales.*"] }\n    effect: allow\n    mask: { columns: [email] }`, `tables: ["sales.*", "hr.*"] }\n    effect: allow`);

// The bypass corpus's schema (fixtures/sql/bypass-schema.sql), a table of its own and a stand-in
// for the server-file function the corpus defines, then the corpus's objects.
const SCHEMA = `${fixtureSql("bypass-schema.sql")}
CREATE TABLE sales.board (n text);
CREATE FUNCTION public.read_secret_file() RETURNS text LANGUAGE sql AS 'SELECT 1::text';
${FIXTURES}`;

const GROUPS: Record<Who, string> = { analyst: "analysts", support: "support", exporter: "exporters", dba: "dbas" };
const CTX = { searchPath: ["$user", "public"], user: "postgres" };

let pg: PostgresInstance;
let dir: string;
let audit: AuditLog;
let configs: { first: Config; reloaded: Config };
let policy: Policy;
let gate: Gate;
let catalog: Catalog;
let analyzer: AnalysisCache;
let approvals: Approvals;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql(SCHEMA);
  dir = mkdtempSync(join(tmpdir(), "gatehouse-known-"));
  const load = async (name: string, rules: string) => {
    writeFileSync(
      join(dir, name),
      `targets:\n  - name: sales-db\n    kind: postgres\n    listen: 127.0.0.1:5999\n    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }\nrules:\n${rules.replace(/^\n+/, "")}`,
    );
    return loadConfig(join(dir, name));
  };
  configs = { first: await load("first.yaml", RULES), reloaded: await load("reloaded.yaml", RELOADED) };
  policy = compilePolicy(configs.first);
  const clock = { now: () => Date.now() };
  audit = await openAuditLog({ path: join(dir, "audit.log"), clock });
  approvals = new Approvals({ clock, onExpire: () => {} });
  gate = new Gate({ policy: () => policy, audit: { append: (e) => audit.append(e as Parameters<AuditLog["append"]>[0]) }, approvals, clock, metrics: createMetrics(), log: silentLogger });
  catalog = new Catalog((configs.first.targets[0] as PostgresTarget).upstream, silentLogger);
  analyzer = createAnalysisCache(await loadSqlParser(), { maxEntries: 5000 });
});

afterAll(async () => {
  catalog?.close();
  approvals?.close();
  await audit?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await pg?.stop();
});

function statementGate(who: Who): StatementGate {
  const identity: Identity = { method: "dev", subject: who, issuer: "dev", groups: [GROUPS[who]] };
  const config = () => (policy.hash === configs.first.hash ? configs.first : configs.reloaded);
  return new StatementGate({
    gate,
    target: "sales-db",
    identity,
    session: `s-${who}`,
    clock: { now: () => Date.now() },
    adjust: postgresBuiltins({
      mayUseTarget: createMayUseTarget(() => config().rules, (rule, t) => policy.rules.find((r) => r.name === rule)?.matchesTarget(t) ?? false),
      ruleFunctions: createRuleFunctions(() => config().rules),
      ruleClasses: createRuleClasses(() => config().rules),
    }),
    catalog,
    compileDetectors,
    onHold: () => {},
  });
}

/** Each identity's simple-query statements of the corpus, and for each with literals a variant with other values (same shape key). */
function workload(): Map<Who, string[]> {
  const rand = prng(10);
  const out = new Map<Who, Set<string>>((["analyst", "support", "exporter", "dba"] as const).map((w) => [w, new Set<string>()]));
  for (const a of CORPUS) {
    if (a.client === "psql" || a.client === "driver") continue;
    const mine = out.get(a.who)!;
    for (const step of a.steps) {
      if (!("sql" in step) || step.sql.includes("$SENTINEL") || step.sql.includes("$SECRET_FILE")) continue;
      mine.add(step.sql);
      const key = shapeKey(step.sql);
      if (!key.sure || key.literals.length === 0) continue;
      mine.add(withLiterals(step.sql, key.literals, (kind) => LITERAL_POOL[kind][Math.floor(rand() * LITERAL_POOL[kind].length)] as string));
    }
  }
  // The catalog look-ups of a few hundred new names take minutes on a loaded machine: every
  // identity takes an even spread of at most PER_IDENTITY of its statements.
  // The shapes of a read-mostly workload (pgbench -S and the like), for everyone.
  const common: string[] = [];
  for (let i = 0; i < 5; i++) common.push(`SELECT public.later_fn(${i})`);
  for (let i = 0; i < 5; i++) common.push(`SELECT id, name, email FROM sales.customers WHERE id = ${i}`, `SELECT n FROM sales.board WHERE n = '${i}'`, `UPDATE sales.orders SET note = 'x${i}' WHERE id = ${i}`);
  return new Map([...out].map(([w, set]) => [w, [...spread([...set], PER_IDENTITY), ...common]]));
}

const PER_IDENTITY = 90;

function spread<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  const step = xs.length / n;
  return Array.from({ length: n }, (_, i) => xs[Math.floor(i * step)] as T);
}

/** A comparable view of a decision: what the client and the audit log get. */
function view(c: CheckedStatement): unknown {
  const v = c.verdict;
  return { facts: c.facts, allowed: v.allowed, decision: v.decision, message: v.message, masks: v.masks, policy: v.policyHash, spec: c.spec };
}

interface Tally {
  compared: number;
  differ: string[];
}

/** Decides every statement through the slow path, first asking known(); every answer known() gives must be the slow path's. */
async function round(gates: Map<Who, StatementGate>, work: Map<Who, string[]>, t: Tally, extra: readonly string[] = []): Promise<void> {
  // The identities side by side; each one's statements in order.
  await Promise.all([...gates].map(([who, sg]) => roundOf(who, sg, [...(work.get(who) ?? []), ...extra], t)));
}

async function roundOf(who: Who, sg: StatementGate, statements: readonly string[], t: Tally): Promise<void> {
  {
    for (const sql of statements) {
      const a = analyzer.analyze(sql, CTX);
      if (!a.ok || a.statements.length !== 1) continue;
      const info: StatementInfo = a.statements[0]!;
      if (info.executes !== undefined || info.fetches !== undefined) continue;
      const shape = analyzer.shapeOf(info);
      const fast = sg.known(shape, info);
      const slow = await sg.check(info, { protocol: "simple" }, undefined, false, shape);
      if (fast === null) continue;
      t.compared += 1;
      if (!Bun.deepEquals(view(fast), view(slow), true)) t.differ.push(`${who}: ${JSON.stringify(sql)}: fast ${JSON.stringify(view(fast))} vs slow ${JSON.stringify(view(slow))}`);
    }
  }
}

test("known() answers as the slow path does over the bypass corpus, across a reload, DDL and definitions", async () => {
  const statements = workload();
  const total = [...statements.values()].reduce((n, l) => n + l.length, 0);
  const gates = new Map<Who, StatementGate>((["analyst", "support", "exporter", "dba"] as const).map((w) => [w, statementGate(w)]));
  const t: Tally = { compared: 0, differ: [] };
  await round(gates, statements, t);
  await round(gates, statements, t);
  const steady = t.compared;

  // A reload: analysts' masks and support's tables change.
  policy = compilePolicy(configs.reloaded);
  await round(gates, statements, t);
  policy = compilePolicy(configs.first);
  await round(gates, statements, t);

  // DDL: sales.board becomes a view over hr (the relay invalidates the catalog once DDL is answered).
  await pg.psql("DROP TABLE sales.board; CREATE VIEW sales.board AS SELECT note AS n FROM hr.salaries;");
  catalog.invalidate();
  await round(gates, statements, t);
  await pg.psql("DROP VIEW sales.board; CREATE TABLE sales.board (n text);");
  catalog.invalidate();
  await round(gates, statements, t);

  // The session defines a relation and a function (decided, not run): later statements naming
  // the view count what it reads, and a call of the function is a call of a user function.
  for (const sg of gates.values()) {
    for (const sql of ["CREATE VIEW public.canary AS SELECT * FROM hr.salaries", "CREATE FUNCTION public.later_fn(int) RETURNS int LANGUAGE sql AS 'SELECT 1'"]) {
      const a = analyzer.analyze(sql, CTX);
      if (a.ok) await sg.check(a.statements[0]!, { protocol: "simple" });
    }
  }
  await round(gates, statements, t, ["SELECT * FROM public.canary WHERE id = 1", "SELECT * FROM public.canary WHERE id = 2"]);

  console.log(`known decisions: ${total} statements, ${t.compared} fast-path answers compared with the slow path (${steady} before the first change), ${t.differ.length} differ`);
  expect(t.differ.slice(0, 10)).toEqual([]);
  // The comparison must have exercised the fast path, in steady state and after each change.
  expect(steady).toBeGreaterThan(100);
  expect(t.compared).toBeGreaterThan(steady + 200);
});

// Two statements with one shape key must never get different decisions. The cache may reuse an
// analysis for a key only when that analysis is constant-free (sql-parser.ts: one DML/SELECT
// statement, no literal's value read), so: for every statement of the corpora (and a list of
// statements whose analysis does read literals), make variants with other literal values of the
// same kinds, check they share the key, and whenever one side's analysis is constant-free,
// check the real parser and analysis give the other side the same StatementInfo (apart from its
// text) and call it constant-free too.
import { beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { AnalysisContext, StatementInfo } from "./analysis.ts";
import { corpusStatements, LITERAL_POOL as POOL, prng, withLiterals } from "./lexer-corpus.ts";
import { shapeKey, type LiteralKind } from "./lexer.ts";
import { loadSqlParser, type SqlParser } from "./sql-parser.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

const CTX: AnalysisContext = { searchPath: ["$user", "public"], user: "alice" };
const ROOT = join(import.meta.dir, "../../../..");

/** Statements whose analysis reads a literal (or whose grammar does): the key must never be reused for them. */
const READS_LITERALS = [
  "SELECT nextval('s')",
  "SELECT 'pg_authid'::regclass",
  "SELECT * FROM t WHERE oid = 'pg_authid'::regclass",
  "SELECT 'nextval'::regproc",
  "SELECT set_config('search_path', 'x', false)",
  "SELECT set_config('application_name', 'x', false)",
  "SELECT x::float(10) FROM t",
  "SELECT CAST(x AS float(30)) FROM t",
  "SET search_path = 'public'",
  "SET ROLE 'alice'",
];

/** More statements with literals in places a policy might care about; decided by names, not values. */
const CONSTANT_SENSITIVE = [
  ...READS_LITERALS,
  "SELECT current_setting('search_path')",
  "SELECT pg_read_file('/etc/passwd')",
  "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)",
  "SELECT query_to_xml('SELECT * FROM pg_authid', true, true, '')",
  "SELECT to_regclass('pg_authid')",
  "SELECT pg_catalog.format('%s', 1)",
  "SELECT lo_import('/etc/passwd')",
  "SELECT 1 FROM t WHERE a = $q$x$q$ AND b = E'\\n' AND c = B'1' AND d = X'1' AND e = N'x' AND f = U&'x'",
  "INSERT INTO t VALUES (1, 'a', 1.5) RETURNING *",
  "UPDATE t SET a = 'x' WHERE id = 1",
  "DELETE FROM t WHERE id = 1",
  "SELECT * FROM t LIMIT 5 OFFSET 10",
  "SELECT * FROM t ORDER BY 1",
  "SELECT x::varchar(10), y::numeric(10,2), z::int[5], interval '1' second(3) FROM t",
];

function withoutText(s: StatementInfo): Omit<StatementInfo, "text"> {
  const { text: _, ...rest } = s;
  return rest;
}

interface Analyzed {
  readonly ok: boolean;
  readonly constantFree: boolean;
  readonly statements: readonly Omit<StatementInfo, "text">[];
  readonly texts: readonly string[];
  readonly error?: string;
}

function analyze(sql: string): Analyzed {
  const parsed = parser.parse(sql);
  if (!parsed.ok) return { ok: false, constantFree: false, statements: [], texts: [], error: parsed.analysis.error };
  const { analysis, constantFree } = parser.analyzeParsed(parsed, CTX);
  if (!analysis.ok) return { ok: false, constantFree: false, statements: [], texts: [], error: analysis.error };
  return { ok: true, constantFree, statements: analysis.statements.map(withoutText), texts: analysis.statements.map((s) => s.text) };
}

/** `sql` with each literal replaced by a value of its kind from the pool; `pick` chooses. */
function variant(sql: string, pick: (kind: LiteralKind, k: number) => string): string | null {
  const r = shapeKey(sql);
  return !r.sure || r.literals.length === 0 ? null : withLiterals(sql, r.literals, pick);
}

test("statements that share a key get the same constant-free analysis", () => {
  const rand = prng(20261206);
  const statements = [...CONSTANT_SENSITIVE, ...corpusStatements(ROOT, ["test", "src", "bench"])];
  let pairs = 0;
  let reusable = 0;
  let withLiterals = 0;
  const problems: string[] = [];
  for (const sql of statements) {
    const key = shapeKey(sql);
    if (!key.sure || key.literals.length === 0) continue;
    withLiterals += 1;
    const a = analyze(sql);
    const variants = new Set<string>();
    // Every literal the first value of its pool, every literal the last, then random picks.
    variants.add(variant(sql, (kind) => POOL[kind][0] as string) ?? "");
    variants.add(variant(sql, (kind) => POOL[kind][POOL[kind].length - 1] as string) ?? "");
    for (let v = 0; v < 6; v++) variants.add(variant(sql, (kind) => POOL[kind][Math.floor(rand() * POOL[kind].length)] as string) ?? "");
    for (const other of variants) {
      if (other === "" || other === sql) continue;
      const otherKey = shapeKey(other);
      if (!otherKey.sure || otherKey.key !== key.key) {
        problems.push(`${JSON.stringify(other)}: not the key of ${JSON.stringify(sql)}`);
        continue;
      }
      pairs += 1;
      const b = analyze(other);
      if (!a.constantFree && !b.constantFree) continue;
      reusable += 1;
      // One of the two would be cached and reused for the other: both must be the same analysis.
      if (!a.ok || !b.ok || a.constantFree !== b.constantFree) {
        problems.push(`${JSON.stringify(sql)} (${a.error ?? `constant-free ${a.constantFree}`}) vs ${JSON.stringify(other)} (${b.error ?? `constant-free ${b.constantFree}`})`);
        continue;
      }
      try {
        expect(b.statements).toEqual(a.statements);
      } catch {
        problems.push(`${JSON.stringify(sql)} vs ${JSON.stringify(other)}: ${JSON.stringify(a.statements)} vs ${JSON.stringify(b.statements)}`);
      }
    }
  }
  console.log(`key decisions: ${withLiterals} statements with literals, ${pairs} pairs sharing a key, ${reusable} where an analysis would be reused, ${problems.length} problems`);
  expect(problems.slice(0, 10)).toEqual([]);
  // The test must have compared something.
  expect(reusable).toBeGreaterThan(100);
});

test("the statements whose analysis reads a literal are never reusable, or the lexer is unsure of them", () => {
  const reused: string[] = [];
  for (const sql of READS_LITERALS) {
    const key = shapeKey(sql);
    if (key.sure && analyze(sql).constantFree) reused.push(sql);
  }
  expect(reused).toEqual([]);
});

test("the lexer's statement span is the text the parser gives a reusable analysis", () => {
  // A cache hit must give the statement its own text without parsing: the lexer's span must be it.
  let compared = 0;
  const wrong: string[] = [];
  const statements = [...CONSTANT_SENSITIVE, ...corpusStatements(ROOT, ["test", "src", "bench"])];
  for (const base of statements) {
    for (const sql of [base, `  /* lead */ ${base} -- trail`, `;${base};\n`, `${base} ;;`]) {
      const key = shapeKey(sql);
      if (!key.sure) continue;
      const a = analyze(sql);
      // The cache reuses only one-statement analyses (a text of only ; has none, vacuously constant-free).
      if (!a.constantFree || a.statements.length !== 1) continue;
      compared += 1;
      const text = key.statement === null ? null : sql.slice(key.statement.start, key.statement.end);
      if (text !== a.texts[0]) wrong.push(`${JSON.stringify(sql)}: lexer ${JSON.stringify(text)}, parser ${JSON.stringify(a.texts[0])}`);
    }
  }
  console.log(`statement spans: ${compared} reusable analyses compared, ${wrong.length} wrong`);
  expect(wrong.slice(0, 10)).toEqual([]);
  expect(compared).toBeGreaterThan(100);
});

// The analysis cache with its shape cache (lexer keys, no parse on a hit) must answer exactly as
// the cache without it: every statement of the corpora, the same statements with other literal
// values, other whitespace and comments, and generated statements, through two caches side by
// side, under two contexts (search_path and user are part of every key).
import { beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import type { Analysis, AnalysisContext } from "./analysis.ts";
import { createAnalysisCache } from "./analysis-cache.ts";
import { corpusStatements, generatedStatements, LITERAL_POOL as POOL, prng, respaced, withLiterals } from "./lexer-corpus.ts";
import { lexTokens, shapeKey } from "./lexer.ts";
import { loadSqlParser, type SqlParser } from "./sql-parser.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

const ROOT = join(import.meta.dir, "../../../..");
const CONTEXTS: readonly AnalysisContext[] = [
  { searchPath: ["$user", "public"], user: "alice" },
  { searchPath: ["sales", "public"], user: "bob" },
];

/** Each statement, then variants that share its key (other literals, other gaps), interleaved so that hits happen. */
function workload(): string[] {
  const rand = prng(20261207);
  const base = [...corpusStatements(ROOT, ["test", "src", "bench"]), ...generatedStatements(7, 1500, true), ...generatedStatements(8, 500)];
  const out: string[] = [];
  for (const sql of base) {
    out.push(sql);
    const key = shapeKey(sql);
    if (!key.sure) continue;
    for (let v = 0; v < 3; v++) out.push(withLiterals(sql, key.literals, (kind) => POOL[kind][Math.floor(rand() * POOL[kind].length)] as string));
    const tokens = lexTokens(sql);
    if (tokens.sure) out.push(respaced(sql, tokens.tokens, rand));
  }
  return out;
}

test("the cache with the lexer gives the same analyses as the cache without it", () => {
  const statements = workload();
  // Small enough that entries are dropped and found again during the run.
  const withLexer = createAnalysisCache(parser, { maxEntries: 512 });
  const without = createAnalysisCache(parser, { maxEntries: 512, lexer: false });
  const differ: string[] = [];
  const same = (a: Analysis, b: Analysis) => Bun.deepEquals(a, b, true);
  let compared = 0;
  for (const ctx of CONTEXTS) {
    for (const sql of statements) {
      const a = withLexer.analyze(sql, ctx);
      const b = without.analyze(sql, ctx);
      compared += 1;
      if (!same(a, b)) differ.push(`${JSON.stringify(sql)} under ${JSON.stringify(ctx)}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  }
  const s = withLexer.stats();
  console.log(`lexer cache: ${compared} analyses compared, ${s.shapeHits} shape hits, ${s.structureHits} structure hits, ${s.exactHits} exact hits, ${s.misses} misses; ${differ.length} differ`);
  expect(differ.slice(0, 10)).toEqual([]);
  // The comparison must have exercised the shape cache, not only parses.
  expect(s.shapeHits).toBeGreaterThan(1000);
  expect(without.stats().shapeHits).toBe(0);
}, 300_000);

test("a shape hit skips the parser; a NUL or a lone surrogate never takes the shape cache", () => {
  let parses = 0;
  const counting: SqlParser = { ...parser, parse: (sql) => ((parses += 1), parser.parse(sql)) };
  const cache = createAnalysisCache(counting, { maxEntries: 100 });
  const ctx = CONTEXTS[0] as AnalysisContext;
  cache.analyze("SELECT * FROM t WHERE id = 1", ctx);
  expect(parses).toBe(1);
  const hit = cache.analyze("select *  from t where id = 42 -- x", ctx);
  expect(parses).toBe(1);
  expect(cache.stats().shapeHits).toBe(1);
  expect(hit.ok && hit.statements[0]?.text).toBe("select *  from t where id = 42 -- x");
  expect(cache.analyze("SELECT * FROM t WHERE id = '\0'", ctx).ok).toBe(false);
  expect(cache.analyze("SELECT * FROM t WHERE id = '\ud800'", ctx).ok).toBe(false);
  expect(parses).toBe(3);
});

// Quick loop: µs per shape key from the lexer, against the parse + structure-key path it is meant
// to replace on a cache hit (and the whole structure hit through the cache, for scale).
// Run: bun src/targets/postgres/sql/lexer-bench.ts   (numbers for bench/README.md, not for tests)
import { createAnalysisCache } from "./analysis-cache.ts";
import { shapeKey } from "./lexer.ts";
import { loadSqlParser } from "./sql-parser.ts";
import { structureKey } from "./structure-key.ts";

const PGBENCH = (aid: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`;
const UPDATE = (n: number): string => `UPDATE pgbench_accounts SET abalance = abalance + ${n % 5000} WHERE aid = ${n};`;
const INSERT = (n: number): string =>
  `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${n % 10}, ${n % 3}, ${n}, ${n % 5000}, CURRENT_TIMESTAMP);`;
const JOIN = (n: number): string => `SELECT o.id, o.created_at, c.name, c.email, p.title, p.price
FROM sales.orders o
JOIN sales.customers c ON c.id = o.customer_id -- the buyer
JOIN catalog.products p ON p.id = o.product_id
WHERE o.created_at >= now() - interval '30 days'
  AND c.region IN ('eu', 'us') AND p.price > ${n} AND o.status <> 'cancelled'
ORDER BY o.created_at DESC
LIMIT 100`;

const parser = await loadSqlParser();
const ctx = { searchPath: ["public"] };

// Interleaved short batches, as in analysis-bench.ts, so load and GC fall on every variant alike.
function compare(title: string, make: (i: number) => string, batch: number): void {
  const cache = createAnalysisCache(parser, { maxEntries: 10_000 });
  cache.analyze(make(0), ctx);
  const variants: Record<string, (i: number) => unknown> = {
    "lexer shape key": (i) => shapeKey(make(i)),
    "parse + structure key": (i) => {
      const p = parser.parse(make(i));
      return p.ok ? structureKey(p.json) : null;
    },
    "structure hit via the cache": (i) => cache.analyze(make(i), ctx),
    "make the text only": (i) => make(i),
  };
  const total: Record<string, number> = {};
  let k = 1_000;
  const rounds = 40;
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(variants)) {
      const t0 = performance.now();
      for (let i = 0; i < batch; i++) run(k++);
      if (round >= 10) total[name] = (total[name] ?? 0) + (performance.now() - t0);
    }
  }
  console.log(title);
  for (const [name, ms] of Object.entries(total)) {
    console.log(`  ${name.padEnd(30)} ${((ms * 1000) / ((rounds - 10) * batch)).toFixed(2).padStart(8)} µs`);
  }
}

compare("pgbench -S select", PGBENCH, 4_000);
compare("pgbench update", UPDATE, 4_000);
compare("pgbench insert", INSERT, 4_000);
compare("8-line join", JOIN, 1_000);

// Quick loop: µs per analysis, cold (parse + walk) and through the cache (exact text, structure).
// Run: bun src/targets/postgres/sql/analysis-bench.ts   (numbers for bench/README.md, not for tests)
import { createAnalysisCache } from "./analysis-cache.ts";
import { loadSqlParser } from "./sql-parser.ts";

const PGBENCH = (aid: number): string => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`;
const JOIN = (n: number): string => `SELECT o.id, o.created_at, c.name, c.email, p.title, p.price,
  li.quantity, li.unit_price, s.status, s.updated_at, w.name AS warehouse
FROM sales.orders o
JOIN sales.customers c ON c.id = o.customer_id
JOIN sales.line_items li ON li.order_id = o.id
JOIN catalog.products p ON p.id = li.product_id
LEFT JOIN logistics.shipments s ON s.order_id = o.id
LEFT JOIN logistics.warehouses w ON w.id = s.warehouse_id
WHERE o.created_at >= now() - interval '30 days'
  AND c.region IN ('eu', 'us')
  AND p.price > ${n}
  AND EXISTS (SELECT 1 FROM sales.refunds r WHERE r.order_id = o.id)
  AND o.status <> 'cancelled'
  AND li.quantity BETWEEN 1 AND 100
GROUP BY o.id, o.created_at, c.name, c.email, p.title, p.price,
  li.quantity, li.unit_price, s.status, s.updated_at, w.name
HAVING sum(li.quantity) > 0
ORDER BY o.created_at DESC
LIMIT 100`;

const parser = await loadSqlParser();
const ctx = { searchPath: ["public"] };

// The variants run interleaved in short batches, so that load from other processes, GC and JIT
// state fall on all of them alike; run back to back, the same code measured up to 2x apart.
function compare(title: string, make: (i: number) => string, batch: number): void {
  const exact = createAnalysisCache(parser, { maxEntries: 10_000 });
  const fixed = make(1);
  exact.analyze(fixed, ctx);
  const structure = createAnalysisCache(parser, { maxEntries: 10_000 });
  structure.analyze(make(0), ctx);
  const textOnly = createAnalysisCache(parser, { maxEntries: 10_000, structure: false });
  const variants: Record<string, (i: number) => unknown> = {
    "parse only (WASM + copy out)": (i) => parser.parse(make(i)),
    "cold parse + analyze": (i) => parser.analyze(make(i), ctx),
    "exact-text hit": () => exact.analyze(fixed, ctx),
    "cache miss, structure off": (i) => textOnly.analyze(make(i), ctx),
    "structure hit (new constant)": (i) => structure.analyze(make(i), ctx),
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
    console.log(`  ${name.padEnd(32)} ${((ms * 1000) / ((rounds - 10) * batch)).toFixed(2).padStart(8)} µs`);
  }
  const s = structure.stats();
  console.log(`  (structure cache: ${s.structureHits} structure hits, ${s.misses} misses)`);
}

compare("pgbench -S select", PGBENCH, 2_000);
compare("20-line join", JOIN, 300);

// Audit log throughput and acknowledgement latency: N concurrent writers, each awaiting its
// append before the next, on a temp file. Run: bun bench/audit-bench.ts
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog, type Durability } from "../src/audit/log.ts";
import { loadOrCreateSigningKey } from "../src/audit/signing-key.ts";
import type { AuditEventInput } from "../src/audit/record.ts";

const event: AuditEventInput = {
  type: "decision",
  session: "s-5f2c9a",
  identity: { method: "oidc", subject: "alice@example.com", issuer: "https://idp.example.com/realms/corp", groups: ["eng", "oncall"] },
  target: "orders-api",
  action: { kind: "http", method: "GET", path: "/v1/orders/8812?expand=items" },
  decision: { effect: "allow", rule: "read-orders", message: "" },
  policy: "3f1a9c2b7d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
};

interface Result {
  durability: Durability;
  /** Signed checkpoints every 1000 records, as the gateway writes them. */
  checkpoints: boolean;
  writers: number;
  records: number;
  perSecond: number;
  medianMs: number;
  p99Ms: number;
  bytesPerRecord: number;
}

async function run(durability: Durability, writers: number, records: number, checkpoints = false): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
  const path = join(dir, "audit.log");
  try {
    const key = checkpoints ? await loadOrCreateSigningKey(join(dir, "key", "ed25519.pem")) : undefined;
    const log = await openAuditLog({ path, durability, ...(key ? { checkpoints: { key, everyRecords: 1000 } } : {}) });
    const perWriter = Math.ceil(records / writers);
    const latencies = new Float64Array(perWriter * writers);
    let k = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async () => {
        for (let i = 0; i < perWriter; i++) {
          const t = performance.now();
          await log.append(event);
          latencies[k++] = performance.now() - t;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    await log.close();
    const sorted = latencies.slice(0, k).sort();
    return {
      durability,
      checkpoints,
      writers,
      records: k,
      perSecond: k / seconds,
      medianMs: sorted[Math.floor(k * 0.5)]!,
      p99Ms: sorted[Math.floor(k * 0.99)]!,
      bytesPerRecord: statSync(path).size / k,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const plan: Array<[Durability, number, number, boolean?]> = [
  ["batch", 1, 50_000],
  ["batch", 1, 50_000, true],
  ["batch", 100, 300_000],
  ["batch", 100, 300_000, true],
  ["batch", 1000, 300_000],
  ["batch", 1000, 300_000, true],
  ["strict", 100, 30_000],
  ["strict", 100, 30_000, true],
];

// Warm the JIT so the first row is not measuring compilation.
await run("batch", 100, 100_000);

const results: Result[] = [];
for (const [durability, writers, records, checkpoints] of plan) results.push(await run(durability, writers, records, checkpoints));

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(`audit log, ${new Date().toISOString().slice(0, 10)}, Bun ${Bun.version}, ${cpus().length} CPU, ${tmpdir()}, ~${fmt(results[0]!.bytesPerRecord)} bytes/record\n`);
console.log("| durability | checkpoints | writers | records | records/s | ack median | ack p99 |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.durability} | ${r.checkpoints ? "every 1,000" : "off"} | ${fmt(r.writers)} | ${fmt(r.records)} | ${fmt(r.perSecond)} | ${fmt(r.medianMs, 3)} ms | ${fmt(r.p99Ms, 3)} ms |`);
}

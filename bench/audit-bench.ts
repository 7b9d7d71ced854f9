// Audit log throughput and acknowledgement latency: N concurrent writers, each awaiting its
// append before the next, on a temp file; then the record path of a PostgreSQL statement,
// append() against appendSync()+flush() from fragments, in interleaved rounds.
// Run: bun bench/audit-bench.ts
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog, type Durability } from "../src/audit/log.ts";
import { loadOrCreateSigningKey } from "../src/audit/signing-key.ts";
import type { AuditEventInput } from "../src/audit/record.ts";
import { ObjectTemplate, RecordTemplate } from "../src/audit/record-template.ts";

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

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
// --paths: only the record-path table at the end.
if (!process.argv.includes("--paths")) {
// Warm the JIT so the first row is not measuring compilation.
await run("batch", 100, 100_000);

const results: Result[] = [];
for (const [durability, writers, records, checkpoints] of plan) results.push(await run(durability, writers, records, checkpoints));

console.log(`audit log, ${new Date().toISOString().slice(0, 10)}, Bun ${Bun.version}, ${cpus().length} CPU, ${tmpdir()}, ~${fmt(results[0]!.bytesPerRecord)} bytes/record\n`);
console.log("| durability | checkpoints | writers | records | records/s | ack median | ack p99 |");
console.log("|---|---|---:|---:|---:|---:|---:|");
for (const r of results) {
  console.log(`| ${r.durability} | ${r.checkpoints ? "every 1,000" : "off"} | ${fmt(r.writers)} | ${fmt(r.records)} | ${fmt(r.perSecond)} | ${fmt(r.medianMs, 3)} ms | ${fmt(r.p99Ms, 3)} ms |`);
}
}

// ---- the record path: old append() against fragments, one PostgreSQL statement record each ----

const identity = { method: "oidc", subject: "alice@example.com", issuer: "https://idp.example.com/realms/corp", groups: ["eng", "oncall"] };
const policyHash = "3f1a9c2b7d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";
const sqlOf = (i: number) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${i};`;
const shapeFacts = { kind: "postgres", classes: ["read"], relations: ["public.pgbench_accounts"], functions: [] };
const decisionOf = { effect: "allow", rule: "read-bench", message: "allowed by rule read-bench" } as const;
const statementEvent = (i: number): AuditEventInput => ({
  type: "decision",
  session: "pg_5f2c9a01d3e4b5c6",
  identity,
  target: "orders-db",
  action: { ...shapeFacts, sql: sqlOf(i) },
  decision: decisionOf,
  policy: policyHash,
  details: { protocol: "simple", n: i },
});

type PathKind = "append" | "fragments" | "fragments×8";
interface PathResult {
  kind: PathKind;
  perSecond: number;
  wallUs: number;
  cpuUs: number;
  writesPerK: number;
  fsyncsPerK: number;
}

async function runPath(kind: PathKind, records: number): Promise<PathResult> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
  try {
    const log = await openAuditLog({ path: join(dir, "audit.log") });
    // What a session builds once, and once per statement shape.
    const session = { session: "pg_5f2c9a01d3e4b5c6", identity, target: "orders-db" };
    const template = new RecordTemplate([session, { policy: policyHash }, { type: "decision", decision: decisionOf }]);
    const action = new ObjectTemplate(shapeFacts, ["sql"]);
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    // Each input chunk in a turn of its own, as socket reads come.
    const nextTurn = () => new Promise<void>((r) => setImmediate(r));
    if (kind === "append") {
      for (let i = 0; i < records; i++) {
        await log.append(statementEvent(i));
        await nextTurn();
      }
    } else {
      // One input chunk: its records, one write just before it would be forwarded, then a turn.
      const chunk = kind === "fragments" ? 1 : 8;
      for (let i = 0; i < records; ) {
        for (let j = 0; j < chunk; j++, i++) log.appendSync(template, { action: action.fill({ sql: sqlOf(i) }), details: { protocol: "simple", n: i } });
        const flushed = log.flush();
        if (flushed) await flushed;
        await nextTurn();
      }
    }
    const wall = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    const stats = log.stats;
    await log.close();
    return {
      kind,
      perSecond: records / (wall / 1000),
      wallUs: (wall * 1000) / records,
      cpuUs: (cpu.user + cpu.system) / records,
      writesPerK: (stats.writes * 1000) / records,
      fsyncsPerK: (stats.fsyncs * 1000) / records,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kinds: PathKind[] = ["append", "fragments", "fragments×8"];
const rounds = 5;
const byKind = new Map<PathKind, PathResult[]>(kinds.map((k) => [k, []]));
await runPath("append", 20_000);
await runPath("fragments", 20_000);
for (let r = 0; r < rounds; r++) for (const k of r % 2 === 0 ? kinds : [...kinds].reverse()) byKind.get(k)!.push(await runPath(k, 100_000));
const range = (xs: number[], digits = 0) => {
  const s = [...xs].sort((a, b) => a - b);
  return `${fmt(s[Math.floor(s.length / 2)]!, digits)} (${fmt(s[0]!, digits)}–${fmt(s[s.length - 1]!, digits)})`;
};
console.log(`\nrecord path, one writer, PostgreSQL decision record (~${fmt(Buffer.byteLength(JSON.stringify(statementEvent(1))) + 180)} bytes), batch, fsync interval 10 ms, ${rounds} interleaved rounds of 100,000: median (min–max)\n`);
console.log("| path | records/s | wall µs/record | CPU µs/record | write(2) per 1,000 | fsyncs per 1,000 |");
console.log("|---|---:|---:|---:|---:|---:|");
const label: Record<PathKind, string> = {
  append: "append() awaited, one record per turn",
  fragments: "appendSync + flush, one record per turn",
  "fragments×8": "appendSync + flush, 8 records per turn",
};
for (const k of kinds) {
  const rs = byKind.get(k)!;
  console.log(`| ${label[k]} | ${range(rs.map((r) => r.perSecond))} | ${range(rs.map((r) => r.wallUs), 2)} | ${range(rs.map((r) => r.cpuUs), 2)} | ${range(rs.map((r) => r.writesPerK))} | ${range(rs.map((r) => r.fsyncsPerK), 1)} |`);
}

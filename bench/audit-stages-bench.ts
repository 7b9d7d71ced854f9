// Per-stage cost of one audit record on the old path (prepareRecord + hash + encode + write),
// µs per record, for a PostgreSQL statement record as the gateway writes it.
// Run: bun bench/audit-stages-bench.ts
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canonicalCopy } from "../src/audit/canonical-json.ts";
import { encodeRecord, prepareRecord, unhashedSchemaProblem, type AuditEventInput } from "../src/audit/record.ts";
import { ObjectTemplate, RecordTemplate } from "../src/audit/record-template.ts";

export const statementEvent = (i: number): AuditEventInput => ({
  type: "decision",
  session: "pg_5f2c9a01d3e4b5c6",
  identity: { method: "oidc", subject: "alice@example.com", issuer: "https://idp.example.com/realms/corp", groups: ["eng", "oncall"] },
  target: "orders-db",
  action: { kind: "postgres", classes: ["read"], relations: ["public.pgbench_accounts"], functions: [], sql: `SELECT abalance FROM pgbench_accounts WHERE aid = ${i};` },
  decision: { effect: "allow", rule: "read-bench", message: "allowed by rule read-bench" },
  policy: "3f1a9c2b7d4e6f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
  details: { protocol: "simple" },
});

const N = 200_000;
const events = Array.from({ length: 1000 }, (_, i) => statementEvent(i));
const prev = "a".repeat(64);
const time = new Date().toISOString();
const hasher = new Bun.CryptoHasher("sha256");

function time_(label: string, f: (i: number) => void): number {
  for (let i = 0; i < 20_000; i++) f(i); // warm
  const t = performance.now();
  for (let i = 0; i < N; i++) f(i);
  const us = ((performance.now() - t) * 1000) / N;
  console.log(`| ${label} | ${us.toFixed(2)} |`);
  return us;
}

const dir = mkdtempSync(join(tmpdir(), "gatehouse-stages-"));
const fd = openSync(join(dir, "audit.log"), "a");
try {
  const full = { ...statementEvent(1), seq: 1, time, prev };
  const copied = canonicalCopy(full);
  const canonical = JSON.stringify(copied);
  const hash = hasher.update(canonical).digest("hex");
  const line = encodeRecord(canonical, hash);
  const buf = Buffer.from(line);
  console.log(`old path, PostgreSQL decision record (${line.length} bytes), µs per record, Bun ${Bun.version}\n`);
  console.log("| stage | µs |");
  console.log("|---|---:|");
  time_("deep copy with sorted keys (canonicalCopy)", (i) => canonicalCopy({ ...events[i % 1000]!, seq: i + 1, time, prev }));
  time_("schema check (TypeBox, compiled)", () => unhashedSchemaProblem(copied));
  time_("canonical JSON (JSON.stringify of the copy)", () => JSON.stringify(copied));
  time_("SHA-256 (one hasher, reused)", () => hasher.update(canonical).digest("hex"));
  time_("line (hash appended)", () => encodeRecord(canonical, hash));
  time_("utf-8 buffer of the line", () => Buffer.from(line, "utf8"));
  time_("write(2), one line per call", () => writeSync(fd, buf));
  time_("prepareRecord (copy + schema + JSON)", (i) => prepareRecord(events[i % 1000]!, i + 1, time, prev));

  // The fragment path: the same record from a session fragment, a shape template and the SQL.
  const e = statementEvent(0) as Record<string, unknown>;
  const template = new RecordTemplate([{ session: e["session"], identity: e["identity"], target: e["target"], policy: e["policy"] } as never, { type: "decision", decision: e["decision"] } as never]);
  const action = new ObjectTemplate({ kind: "postgres", classes: ["read"], relations: ["public.pgbench_accounts"], functions: [] }, ["sql"]);
  const sqls = events.map((ev) => (ev.action as { sql: string }).sql);
  const details = { protocol: "simple" };
  const filled = action.fill({ sql: sqls[1]! });
  const text = template.canonical(1, time, prev, { action: filled, details });
  if (text !== canonical) throw new Error("fragment path differs from the old path");
  console.log("\nfragment path, same record\n\n| stage | µs |\n|---|---:|");
  time_("action from its shape template (SQL quoted)", (i) => action.fill({ sql: sqls[i % 1000]! }));
  time_("record from fragments (details canonicalised)", (i) => template.canonical(i + 1, time, prev, { action: filled, details }));
  time_("both, then SHA-256 and the line", (i) => {
    const c = template.canonical(i + 1, time, prev, { action: action.fill({ sql: sqls[i % 1000]! }), details });
    encodeRecord(c, hasher.update(c).digest("hex"));
  });
} finally {
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
}

// The PostgreSQL target in process, for tests that need to look inside: the real gate, audit
// log, approvals, compiled policy and SQL parser, with tokens mapped to fixed identities.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMetrics } from "../../src/admin/metrics.ts";
import { Approvals } from "../../src/approvals/approvals.ts";
import { openAuditLog, type AuditLog } from "../../src/audit/log.ts";
import { readRecords } from "../../src/audit/reader.ts";
import type { AuditRecord } from "../../src/audit/record.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { PostgresTarget } from "../../src/config/schema.ts";
import { silentLogger } from "../../src/core/logger.ts";
import type { Identity } from "../../src/core/types.ts";
import { Gate, type AuditSink } from "../../src/gate/gate.ts";
import { compileDetectors } from "../../src/masking/detectors.ts";
import { compilePolicy } from "../../src/policy/compile.ts";
import { startPostgresTarget, type RunningPostgresTarget } from "../../src/targets/postgres/postgres-target.ts";
import { createAnalysisCache } from "../../src/targets/postgres/sql/analysis-cache.ts";
import { loadSqlParser } from "../../src/targets/postgres/sql/sql-parser.ts";
import { createMayUseTarget } from "../../src/gate/target-access.ts";
import { createRuleFunctions } from "../../src/targets/postgres/decide/target-access.ts";
import { startPostgres, type PostgresInstance } from "./postgres.ts";

export interface InProcessTarget {
  readonly target: RunningPostgresTarget;
  readonly gate: Gate;
  readonly audit: AuditLog;
  readonly auditPath: string;
  /** Every audit record so far (after an fsync), in order. */
  records(): Promise<AuditRecord[]>;
  stop(): Promise<void>;
}

/**
 * Serves one postgres target named `db` in front of `pg`. `rules` is the YAML of the rules
 * list; `target` adds lines to the target (indented four spaces); `wrapCheck` may wrap the
 * gate's check (to see holds, or to slow a decision down).
 */
export async function startInProcessTarget(
  pg: { port: number; user: string; password: string },
  opts: {
    rules: string;
    identities: Record<string, Identity>;
    target?: string[];
    wrapCheck?: (check: Gate["check"]) => Gate["check"];
    /** The gate gets the whole log (appendSync, flush: the record path the gateway uses), not only append. */
    wholeLog?: boolean;
    /** What the gate gets instead of the log (a test's wrapper around the whole log). */
    wrapAudit?: (audit: AuditLog) => AuditSink;
    /** How long a statement's completion waits for the session's next decision record (default 5 ms). */
    completionWaitMs?: number;
  },
): Promise<InProcessTarget> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-pg-inprocess-"));
  const extra = (opts.target ?? []).map((line) => `    ${line}\n`).join("");
  writeFileSync(
    join(dir, "gatehouse.yaml"),
    `
targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:0
${extra}    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
rules:
${opts.rules.replace(/^\n+/, "")}`,
  );
  const config = await loadConfig(join(dir, "gatehouse.yaml"));
  const policy = compilePolicy(config);
  const clock = { now: () => Date.now() };
  const auditPath = join(dir, "audit.log");
  const audit = await openAuditLog({ path: auditPath, clock });
  const metrics = createMetrics();
  let gate: Gate | undefined;
  const approvals = new Approvals({ clock, onExpire: (p) => gate?.expire(p) });
  gate = new Gate({ policy: () => policy, audit: opts.wrapAudit !== undefined ? opts.wrapAudit(audit) : opts.wholeLog === true ? audit : { append: (e) => audit.append(e as Parameters<AuditLog["append"]>[0]) }, approvals, clock, metrics, log: silentLogger });
  if (opts.wrapCheck) gate.check = opts.wrapCheck(gate.check.bind(gate));
  const target = await startPostgresTarget(config.targets[0] as PostgresTarget, {
    gate,
    authenticate: async (t) => {
      const i = opts.identities[t];
      if (!i) throw new Error("unknown test token");
      return i;
    },
    authFailureReason: () => "invalid",
    analyzer: createAnalysisCache(await loadSqlParser(), { maxEntries: 1000 }),
    mayUseTarget: createMayUseTarget(() => config.rules, (rule, t) => policy.rules.find((r) => r.name === rule)?.matchesTarget(t) ?? false),
    ruleFunctions: createRuleFunctions(() => config.rules),
    compileDetectors,
    clock,
    metrics,
    log: silentLogger,
    ...(opts.completionWaitMs !== undefined ? { completionWaitMs: opts.completionWaitMs } : {}),
  });
  return {
    target,
    gate,
    audit,
    auditPath,
    async records() {
      await audit.sync();
      const out: AuditRecord[] = [];
      for await (const { record } of readRecords(auditPath, { onTornTail: () => {} })) out.push(record);
      return out;
    },
    async stop() {
      await target.stop();
      approvals.close();
      await audit.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The identity a test token maps to: a dev login as `subject`, in `groups`. */
export const devIdentity = (subject: string, ...groups: string[]): Identity => ({ method: "dev", subject, issuer: "dev", groups });

/** An in-process target that owns the PostgreSQL behind it: stop() stops both. */
export interface PostgresWithTarget extends InProcessTarget {
  readonly pg: PostgresInstance;
}

/**
 * Starts a test PostgreSQL, runs `sql` on it (the schema and rows a test file needs) and
 * serves the target in front of it, with `opts` as for startInProcessTarget. If a step fails,
 * the PostgreSQL is stopped before the error is thrown, so that no server is left running.
 */
export async function startPostgresWithTarget(sql: string, opts: Parameters<typeof startInProcessTarget>[1]): Promise<PostgresWithTarget> {
  const pg = await startPostgres();
  try {
    await pg.psql(sql);
    const harness = await startInProcessTarget(pg, opts);
    return {
      ...harness,
      pg,
      async stop() {
        await harness.stop();
        await pg.stop();
      },
    };
  } catch (e) {
    await pg.stop();
    throw e;
  }
}

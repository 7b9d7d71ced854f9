// Gate.queueKnown: the decision records of known statements of many sessions in one event-loop
// turn go out with one write(2) at the end of the turn, and each `written` resolves only once
// its record is in the file; a failed write rejects every waiter and is reported (refused).
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { Health } from "../admin/health.ts";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals } from "../approvals/approvals.ts";
import { tempLogs } from "../audit/audit-test-helpers.ts";
import { openAuditLog, type AuditLog } from "../audit/log.ts";
import { verifyLog } from "../audit/verify.ts";
import { silentLogger } from "../core/logger.ts";
import type { Action, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { auditIdentity, Gate, type DecidingPolicy, type Verdict } from "./gate.ts";
import { SessionRecords } from "./session-records.ts";
import { canonicalArray, canonicalValue, type CanonicalValue } from "../audit/record-template.ts";

const tempLog = tempLogs("gatehouse-queue-known-");
let now = Date.UTC(2026, 11, 7, 2, 0, 0);
const clock = { now: () => now };
const policy: DecidingPolicy = { hash: "h1", timeDependent: false, decide: () => ({ effect: "allow", rule: "read", message: "allowed by rule read", masks: NO_MASKS }) };
const known: Verdict = { allowed: true, decision: policy.decide(null as unknown as Action), message: "allowed by rule read", masks: NO_MASKS, policyHash: "h1" };
const FROZEN_DETAILS = Object.freeze({ protocol: "simple" });
const who = (subject: string): Identity => ({ method: "oidc", subject, issuer: "https://idp", groups: ["eng"] });

function setup(audit: AuditLog) {
  const health = new Health();
  const metrics = createMetrics();
  const gate = new Gate({ policy: () => policy, audit, approvals: new Approvals({ clock, onExpire: () => {} }), clock, metrics, log: silentLogger, health });
  const sessions = ["pg_1", "pg_2", "pg_3"].map((session, i) => {
    const identity = who(`u${i}`);
    return { session, identity, records: new SessionRecords({ session, identity: auditIdentity(identity), target: "db" }) };
  });
  const queue = (s: (typeof sessions)[number], sql: string, completed?: CanonicalValue) =>
    gate.queueKnown({ identity: s.identity, target: "db", request: { kind: "postgres", classes: ["read"], relations: ["public.t"], functions: [], sql }, time: clock.now() }, known, {
      session: s.session,
      details: FROZEN_DETAILS,
      records: s.records,
      ...(completed !== undefined ? { completed } : {}),
    });
  return { gate, health, metrics, sessions, queue };
}

test("the records of one turn's known statements, from several sessions, go out with one write once the turn ends", async () => {
  const path = tempLog();
  const log = await openAuditLog({ path, clock });
  const { sessions, queue } = setup(log);
  const before = log.stats.writes;
  const queued = sessions.map((s, i) => queue(s, `SELECT ${i}`)!);
  for (const q of queued) expect(q.verdict.allowed).toBe(true);
  // Nothing is written yet: the statements wait for the turn's write.
  expect(log.stats.writes).toBe(before);
  const inFile = () => readFileSync(path, "utf8").split("\n").filter((l) => l.includes('"type":"decision"')).length;
  expect(inFile()).toBe(0);
  // Every session waits on the same write.
  expect(new Set(queued.map((q) => q.written)).size).toBe(1);
  await queued[0]!.written;
  expect(log.stats.writes).toBe(before + 1);
  expect(inFile()).toBe(3);
  await log.close();
  const v = await verifyLog(path);
  expect(v.ok).toBe(true);
});

test("a turn's write that fails rejects every statement waiting on it and is reported", async () => {
  const path = tempLog();
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync("/dev/full", path);
  const log = await openAuditLog({ path });
  const { sessions, queue, health, metrics } = setup(log);
  const queued = sessions.map((s, i) => queue(s, `SELECT ${i}`)!);
  for (const q of queued) expect(q.verdict.allowed).toBe(true);
  const results = await Promise.allSettled(queued.map((q) => q.written!));
  expect(results.map((r) => r.status)).toEqual(["rejected", "rejected", "rejected"]);
  expect(health.unhealthy()).toContain("ENOSPC");
  expect(metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="refused",record="decision"}');
  // The log is failed now: the next statement is denied at once, not queued.
  const next = queue(sessions[0]!, "SELECT 9")!;
  expect(next.verdict.allowed).toBe(false);
  expect(next.verdict.auditFailed).toBe(true);
  expect(next.written).toBeNull();
  await log.close().catch(() => {});
});

test("a decision record carries the completions it is given in details.completed, canonically", async () => {
  const path = tempLog();
  const log = await openAuditLog({ path, clock });
  const { sessions, queue } = setup(log);
  const first = queue(sessions[0]!, "SELECT 1")!;
  await first.written;
  const done = canonicalArray([canonicalValue({ decision: 1, rows: 1, outcome: "complete", tag: "SELECT 1", duration_ms: 0.2 })]);
  const second = queue(sessions[1]!, "SELECT 2", done)!;
  await second.written;
  await log.close();
  const records = readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { type: string; details?: Record<string, unknown> });
  const decisions = records.filter((r) => r.type === "decision");
  expect(decisions.map((r) => r.details)).toEqual([{ protocol: "simple" }, { protocol: "simple", completed: [{ decision: 1, rows: 1, outcome: "complete", tag: "SELECT 1", duration_ms: 0.2 }] }]);
  expect((await verifyLog(path)).ok).toBe(true); // every hash recomputed from the parsed record: the text was canonical
});

test("the completions a failed record carried are counted as lost", async () => {
  const path = tempLog();
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync("/dev/full", path);
  const log = await openAuditLog({ path });
  const { sessions, queue, metrics } = setup(log);
  const done = canonicalArray([canonicalValue({ decision: 1, rows: 1, outcome: "complete" })]);
  const q = queue(sessions[0]!, "SELECT 1", done)!;
  await expect(q.written!).rejects.toThrow();
  expect(metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="completion"}');
  await log.close().catch(() => {});
});

test("a session alone writes its records at once (recordKnown): queued only while other sessions' statements come too", async () => {
  const log = await openAuditLog({ path: tempLog(), clock });
  const { sessions, queue } = setup(log);
  const q1 = queue(sessions[0]!, "SELECT 1");
  expect(q1).not.toBeNull(); // the first: nothing known yet
  await q1!.written;
  now += 10;
  expect(queue(sessions[0]!, "SELECT 2")).toBeNull(); // only this session for 10 ms
  expect(queue(sessions[1]!, "SELECT 3")).not.toBeNull(); // another session's statement
  expect(queue(sessions[0]!, "SELECT 4")).not.toBeNull();
  await log.close();
});

test("strict mode is not queued: its records wait for their fsync (recordKnown)", async () => {
  const log = await openAuditLog({ path: tempLog(), clock, durability: "strict" });
  const { sessions, queue } = setup(log);
  expect(queue(sessions[0]!, "SELECT 1")).toBeNull();
  await log.close();
});

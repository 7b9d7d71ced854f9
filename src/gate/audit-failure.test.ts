// An audit write that fails is never swallowed: against a real log on a full device
// (/dev/full), a record an action waits for refuses the action, and one nothing waits for
// (a completion, a session's end, an approval's expiry) is logged at error level, counted in
// /metrics and makes /healthz report unhealthy.
import { expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { dirname } from "node:path";
import { Health } from "../admin/health.ts";
import { createAdminApp } from "../admin/admin-app.ts";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals } from "../approvals/approvals.ts";
import { bindingOf } from "../approvals/binding.ts";
import { tempLogs } from "../audit/audit-test-helpers.ts";
import { openAuditLog } from "../audit/log.ts";
import { isGatewayError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { Gate } from "./gate.ts";
import { waitFor } from "../../test/helpers/wait.ts";

const tempLog = tempLogs("gatehouse-gate-audit-", "audit.log");
const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] };
const allow: Decision = { effect: "allow", rule: "r", message: "allowed by rule r", masks: NO_MASKS };

async function gateOnFullDevice() {
  const path = tempLog();
  mkdirSync(dirname(path), { recursive: true });
  symlinkSync("/dev/full", path);
  const audit = await openAuditLog({ path });
  const errors: { msg: string; fields?: Record<string, unknown> }[] = [];
  const log: Logger = { debug() {}, info() {}, warn() {}, error: (msg, fields) => void errors.push({ msg, ...(fields ? { fields } : {}) }) };
  const clock = { now: () => Date.now() };
  const metrics = createMetrics();
  const health = new Health();
  const approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  const gate = new Gate({ policy: () => ({ hash: "h1", decide: () => allow }), audit, approvals, clock, metrics, log, health });
  const admin = createAdminApp({ gate, approvals, authenticate: async () => alice, metrics, clock, notReady: () => null, unhealthy: () => health.unhealthy() });
  return { gate, audit, metrics, health, errors, admin, approvals };
}

test("a completion record that cannot be written: logged at error level, counted, and /healthz turns unhealthy", async () => {
  const { gate, audit, errors, admin } = await gateOnFullDevice();
  expect((await admin.request("/healthz")).status).toBe(200);
  // Never rejects: the request it records has happened.
  await gate.recordLater({ type: "request", session: "req_1", target: "api", details: { status: 200 } });
  expect(errors).toHaveLength(1);
  expect(errors[0]!.msg).toBe("audit record lost: the request record could not be written");
  expect(errors[0]!.fields).toMatchObject({ session: "req_1", target: "api" });
  expect(String(errors[0]!.fields!["error"])).toContain("ENOSPC");
  const metrics = await (await admin.request("/metrics")).text();
  expect(metrics).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="request"} 1');
  const health = await admin.request("/healthz");
  expect(health.status).toBe(503);
  const body = (await health.json()) as { status: string; reason: string };
  expect(body.status).toBe("unhealthy");
  expect(body.reason).toContain("audit log write failed");
  expect(body.reason).toContain("ENOSPC");
  await audit.close().catch(() => {});
});

test("a record of a reload or a stop (recordHappened) that cannot be written is reported the same way, and never rejects", async () => {
  const { gate, audit, errors, metrics, health } = await gateOnFullDevice();
  await gate.recordHappened({ type: "policy.loaded", policy: "h2" });
  expect(errors.map((e) => e.msg)).toEqual(["audit record lost: the policy.loaded record could not be written"]);
  expect(metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="policy.loaded"} 1');
  expect(health.unhealthy()).toContain("ENOSPC");
  await audit.close().catch(() => {});
});

test("a record an action waits for: record() rejects, check() refuses with auditFailed, and both are counted", async () => {
  const { gate, audit, errors, metrics, health } = await gateOnFullDevice();
  const refused = await gate.record({ type: "auth.rejected", target: "api" }).catch((e: unknown) => e);
  expect(isGatewayError(refused, "E_AUDIT_WRITE")).toBe(true);
  const v = await gate.check({ identity: alice, target: "api", request: { kind: "http", method: "GET", path: "/ok" }, time: Date.now() });
  expect(v).toMatchObject({ allowed: false, auditFailed: true });
  expect(v.message).toContain("audit log unavailable, request denied");
  const text = metrics.render();
  expect(text).toContain('gatehouse_audit_write_failures_total{outcome="refused",record="auth.rejected"} 1');
  expect(text).toContain('gatehouse_audit_write_failures_total{outcome="refused",record="decision"} 1');
  expect(errors.map((e) => e.msg)).toEqual(["audit write failed; the action is refused (auth.rejected record)", "audit write failed; the action is refused (decision record)"]);
  expect(health.unhealthy()).toContain("audit log write failed");
  await audit.close().catch(() => {});
});

test("an approval's expiry that cannot be recorded is counted as lost, and the waiter is still released", async () => {
  const { gate, audit, errors, metrics, approvals } = await gateOnFullDevice();
  const { pending, wait } = approvals.request({
    expiresAt: Date.now() + 60_000,
    identity: { method: "dev", subject: "alice", issuer: "dev", groups: [] },
    target: "api",
    request: { kind: "http", method: "POST", path: "/w" },
    rule: "w",
    approvers: ["approvers"],
    maxGrantMs: 60_000,
    binding: bindingOf({ subject: "alice", issuer: "dev", groups: [] }, []),
  });
  gate.expire(pending, "approval.cancelled", "test");
  approvals.resolve(pending.id, { outcome: "cancelled", reason: "test" });
  expect((await wait).outcome).toBe("cancelled");
  await audit.sync().catch(() => {});
  await waitFor("the lost approval.cancelled record to be logged", () => errors.length > 0);
  expect(metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="approval.cancelled"} 1');
  approvals.close();
  await audit.close().catch(() => {});
});

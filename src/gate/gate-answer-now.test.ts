// Gate.check's answer mode (answerNow) and the approval of one retried request (approved).
import { expect, test } from "bun:test";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals, type PendingRequest, type Resolution } from "../approvals/approvals.ts";
import { bindingOf } from "../approvals/binding.ts";
import { silentLogger } from "../core/logger.ts";
import type { Action, Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { type AuditEvent, Gate } from "./gate.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] };
const sam: Identity = { method: "dev", subject: "sam", issuer: "dev", groups: ["sre"] };
const action: Action = { identity: alice, target: "k8s", request: { kind: "kubernetes", verb: "create", resource: "configmaps", namespace: "production" }, time: Date.now() };
const review: Decision = { effect: "review", rule: "w", message: "needs approval", masks: NO_MASKS, review: { approvers: ["sre"], maxGrantMs: 3_600_000, timeoutMs: 60_000 } };
const deny: Decision = { effect: "deny", rule: "d", message: "nope", masks: NO_MASKS };

function setup(decide: () => Decision) {
  const events: AuditEvent[] = [];
  const clock = { now: () => Date.now() };
  const approvals = new Approvals({ clock });
  const gate = new Gate({ policy: () => ({ hash: "h", decide }), audit: { append: async (e) => (events.push(e), { seq: events.length }) }, approvals, clock, metrics: createMetrics(), log: silentLogger });
  return { gate, events, approvals };
}

test("answerNow: the approval is requested and audited, check returns at once, pending, and `settled` tells how it ended", async () => {
  const { gate, events, approvals } = setup(() => review);
  let seen: { p: PendingRequest; settled: Promise<Resolution> } | undefined;
  const v = await gate.check(action, { answerNow: (rule) => (rule === "w" ? (p, settled) => void (seen = { p, settled }) : undefined) });
  expect(v).toMatchObject({ allowed: false, pending: true });
  expect(v.message).toContain(`gatehouse approve ${v.approvalId}`);
  expect(events.map((e) => e.type)).toEqual(["decision", "approval.requested"]);
  expect(approvals.get(v.approvalId!)).toBeDefined();
  await gate.decideApproval(v.approvalId!, sam, { approve: true });
  expect(await seen!.settled).toMatchObject({ outcome: "approved", approver: "sam" });
});

test("answerNow returning undefined for a rule holds as before", async () => {
  const { gate } = setup(() => review);
  const held = gate.check(action, { answerNow: () => undefined, onHold: (p) => void gate.decideApproval(p.id, sam, { approve: true }) });
  expect(await held).toMatchObject({ allowed: true, message: "approved by sam" });
});

test("approved: a review decision is allowed under that approval (audited with details.approval); a deny stands", async () => {
  const r = setup(() => review);
  const v = await r.gate.check(action, { approved: { id: "apr_1", rule: "w", binding: bindingOf(alice, []) } });
  expect(v).toMatchObject({ allowed: true, approvalId: "apr_1", message: "allowed by approval apr_1" });
  expect(r.events[0]).toMatchObject({ type: "decision", decision: { effect: "allow", rule: "w" }, details: { approval: "apr_1" } });
  const d = setup(() => deny);
  expect(await d.gate.check(action, { approved: { id: "apr_1", rule: "w", binding: bindingOf(alice, []) } })).toMatchObject({ allowed: false, message: "nope" });
  // An approval under one rule does not pass a review of another.
  const other = setup(() => review);
  expect(await other.gate.check(action, { approved: { id: "apr_1", rule: "other", binding: bindingOf(alice, []) }, answerNow: () => () => undefined })).toMatchObject({ allowed: false, pending: true });
});

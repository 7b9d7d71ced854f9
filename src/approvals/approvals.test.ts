import { expect, test } from "bun:test";
import type { Identity } from "../core/types.ts";
import { Approvals } from "./approvals.ts";

const requester = { method: "dev", subject: "alice", issuer: "gatehouse-dev", groups: ["developers"] };
const bob: Identity = { method: "dev", subject: "bob", issuer: "gatehouse-dev", groups: ["approvers"] };
const mallory: Identity = { method: "dev", subject: "mallory", issuer: "gatehouse-dev", groups: ["developers"] };

function held(a: Approvals, now = 0) {
  return a.request({
    expiresAt: now + 60_000,
    identity: requester,
    target: "api",
    request: { kind: "http", method: "POST", path: "/x" },
    rule: "writes",
    approvers: ["approvers"],
    maxGrantMs: 3_600_000,
  });
}

test("an approver releases the waiter; --for creates a grant for the same identity, rule and target", async () => {
  let now = 1000;
  const a = new Approvals({ clock: { now: () => now } });
  const { pending, wait } = held(a, now);
  expect(a.pending().map((p) => p.id)).toEqual([pending.id]);
  a.authorize(pending.id, bob, 1_800_000);
  a.resolve(pending.id, { outcome: "approved", approver: "bob", grantUntil: now + 1_800_000 });
  expect(await wait).toEqual({ outcome: "approved", approver: "bob", grantUntil: now + 1_800_000 });
  expect(a.pending()).toEqual([]);
  expect(a.grantFor(requester, "writes", "api", now)?.approvalId).toBe(pending.id);
  expect(a.grantFor(requester, "other-rule", "api", now)).toBeUndefined();
  expect(a.grantFor({ subject: "alice", issuer: "elsewhere" }, "writes", "api", now)).toBeUndefined();
  now += 1_800_000;
  expect(a.grantFor(requester, "writes", "api", now)).toBeUndefined();
  a.close();
});

test("the requester, a non-approver, an unknown id and an over-long grant are refused", () => {
  const a = new Approvals({ clock: { now: () => 0 } });
  const { pending } = held(a);
  expect(() => a.authorize(pending.id, { ...bob, subject: "alice" })).toThrow(/cannot approve/);
  expect(() => a.authorize(pending.id, mallory)).toThrow(/not in an approver group/);
  expect(() => a.authorize("apr_nope", bob)).toThrow(/no pending request/);
  expect(() => a.authorize(pending.id, bob, 7_200_000)).toThrow(/exceeds/);
  a.close();
});

test("a request expires at its deadline and the expiry callback runs", async () => {
  let expired = "";
  const a = new Approvals({ clock: { now: () => Date.now() }, onExpire: (p) => (expired = p.id) });
  const { pending, wait } = a.request({
    expiresAt: Date.now() + 20,
    identity: requester,
    target: "api",
    request: { kind: "http", method: "POST", path: "/x" },
    rule: "writes",
    approvers: ["approvers"],
    maxGrantMs: 1000,
  });
  expect((await wait).outcome).toBe("expired");
  expect(expired).toBe(pending.id);
});

test("state is rebuilt from audit records (snake_case keys, ISO times): pending requests and live grants survive a restart", () => {
  const a = new Approvals({ clock: { now: () => 5000 } });
  const base = { time: new Date(1000).toISOString(), identity: requester, target: "api", decision: { rule: "writes" } };
  const iso = (ms: number) => new Date(ms).toISOString();
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_1", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_2", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_3", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_1", approver: "bob", grant_until: iso(60_000) } });
  a.applyRecord({ ...base, type: "approval.denied", identity: { ...bob }, details: { approval: "apr_2", approver: "bob" } });
  expect(a.pending().map((p) => [p.id, p.expiresAt, p.maxGrantMs])).toEqual([["apr_3", 90_000, 10_000]]);
  expect(a.grantFor(requester, "writes", "api", 5000)).toMatchObject({ approvalId: "apr_1", until: 60_000 });
  expect(a.grantFor(requester, "writes", "api", 60_000)).toBeUndefined();
  a.close();
});

test("a one-shot approval (no grant_until) releases its request and grants nothing", () => {
  const a = new Approvals({ clock: { now: () => 5000 } });
  const base = { time: new Date(1000).toISOString(), identity: requester, target: "api", decision: { rule: "writes" } };
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_1", approvers: ["approvers"], expires_at: new Date(90_000).toISOString(), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_1", approver: "bob" } });
  expect(a.pending()).toEqual([]);
  expect(a.grantFor(requester, "writes", "api", 5000)).toBeUndefined();
  a.close();
});

test("an old log (camelCase keys, ms numbers) still rebuilds pending requests and live grants", () => {
  const a = new Approvals({ clock: { now: () => 5000 } });
  const base = { time: new Date(1000).toISOString(), identity: requester, target: "api", decision: { rule: "writes" } };
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_1", approvers: ["approvers"], expiresAt: 90_000, maxGrantMs: 10_000 } });
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_2", approvers: ["approvers"], expiresAt: 90_000, maxGrantMs: 10_000 } });
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_3", approvers: ["approvers"], expiresAt: 90_000, maxGrantMs: 10_000 } });
  a.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_1", approver: "bob", grantUntil: 60_000 } });
  a.applyRecord({ ...base, type: "approval.denied", identity: { ...bob }, details: { approval: "apr_2", approver: "bob" } });
  expect(a.pending().map((p) => p.id)).toEqual(["apr_3"]);
  expect(a.pending()[0]!.approvers).toEqual(["approvers"]);
  expect(a.grantFor(requester, "writes", "api", 5000)?.approvalId).toBe("apr_1");
  a.close();
});

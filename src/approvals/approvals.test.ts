import { expect, test } from "bun:test";
import type { Identity } from "../core/types.ts";
import { Approvals } from "./approvals.ts";
import { bindingOf, bindingRecord } from "./binding.ts";

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
    binding: bindingOf(requester, []),
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
  expect(a.grantFor(requester, "writes", "api", now, [])?.approvalId).toBe(pending.id);
  expect(a.grantFor(requester, "other-rule", "api", now, [])).toBeUndefined();
  expect(a.grantFor({ ...requester, issuer: "elsewhere" }, "writes", "api", now, [])).toBeUndefined();
  now += 1_800_000;
  expect(a.grantFor(requester, "writes", "api", now, [])).toBeUndefined();
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
    binding: bindingOf(requester, []),
  });
  expect((await wait).outcome).toBe("expired");
  expect(expired).toBe(pending.id);
});

test("state is rebuilt from audit records (snake_case keys, ISO times): pending requests and live grants survive a restart", () => {
  const a = new Approvals({ clock: { now: () => 5000 } });
  const base = { time: new Date(1000).toISOString(), identity: requester, target: "api", decision: { rule: "writes" } };
  const iso = (ms: number) => new Date(ms).toISOString();
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_1", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 10_000, binding: bindingRecord(bindingOf(requester, [])) } });
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_2", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_3", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_1", approver: "bob", grant_until: iso(60_000) } });
  a.applyRecord({ ...base, type: "approval.denied", identity: { ...bob }, details: { approval: "apr_2", approver: "bob" } });
  expect(a.pending().map((p) => [p.id, p.expiresAt, p.maxGrantMs])).toEqual([["apr_3", 90_000, 10_000]]);
  expect(a.grantFor(requester, "writes", "api", 5000, [])).toMatchObject({ approvalId: "apr_1", until: 60_000 });
  expect(a.grantFor(requester, "writes", "api", 60_000, [])).toBeUndefined();
  a.close();
});

test("a one-shot approval (no grant_until) releases its request and grants nothing", () => {
  const a = new Approvals({ clock: { now: () => 5000 } });
  const base = { time: new Date(1000).toISOString(), identity: requester, target: "api", decision: { rule: "writes" } };
  a.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_1", approvers: ["approvers"], expires_at: new Date(90_000).toISOString(), max_grant_ms: 10_000 } });
  a.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_1", approver: "bob" } });
  expect(a.pending()).toEqual([]);
  expect(a.grantFor(requester, "writes", "api", 5000, [])).toBeUndefined();
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
  expect(a.grantFor(requester, "writes", "api", 5000, [])?.approvalId).toBe("apr_1");
  a.close();
});

// GitLab: a protected and an unprotected job of one ref name share `sub`; a rule on ref_protected tells them apart.
const gitlab = "https://gitlab.example.com";
const claimsOf = (refProtected: string, jti: string) => ({ sub: "project_path:acme/app:ref_type:branch:ref:main", project_path: "acme/app", ref_protected: refProtected, jti });
const protectedJob: Identity = { method: "oidc", subject: "project_path:acme/app:ref_type:branch:ref:main", issuer: gitlab, groups: [], claims: claimsOf("true", "j1") };
const unprotectedJob: Identity = { ...protectedJob, claims: claimsOf("false", "j2") };

function grantedTo(a: Approvals, who: Identity, claimPaths: readonly string[], now: number): string {
  const { pending } = a.request({
    expiresAt: now + 60_000,
    identity: who,
    target: "api",
    request: { kind: "http", method: "POST", path: "/deploy" },
    rule: "deploys",
    approvers: ["approvers"],
    maxGrantMs: 3_600_000,
    binding: bindingOf(who, claimPaths),
  });
  a.resolve(pending.id, { outcome: "approved", approver: "bob", grantUntil: now + 1_800_000 });
  return pending.id;
}

test("a grant covers only callers the policy cannot tell from the requester: not the same sub with another value of a claim a rule names, nor other groups", () => {
  const a = new Approvals({ clock: { now: () => 0 } });
  const paths = ["project_path", "ref_protected"];
  const id = grantedTo(a, protectedJob, paths, 0);
  expect(a.grantFor(protectedJob, "deploys", "api", 1, paths)?.approvalId).toBe(id);
  // Another token of the same job (another jti, a claim no rule names): the policy cannot tell them apart.
  expect(a.grantFor({ ...protectedJob, claims: claimsOf("true", "j9") }, "deploys", "api", 1, paths)?.approvalId).toBe(id);
  expect(a.grantFor(unprotectedJob, "deploys", "api", 1, paths)).toBeUndefined();
  expect(a.grantFor({ ...protectedJob, claims: { sub: protectedJob.subject, project_path: "acme/app" } }, "deploys", "api", 1, paths)).toBeUndefined();
  expect(a.grantFor({ ...protectedJob, groups: ["admins"] }, "deploys", "api", 1, paths)).toBeUndefined();
  // A machine key with the same subject and issuer has no claims at all.
  const { claims: _none, ...noClaims } = protectedJob;
  expect(a.grantFor(noClaims, "deploys", "api", 1, paths)).toBeUndefined();
  a.close();
});

test("after a policy change: a grant holds while the policy names no claim path the approval did not see, and ends when it names a new one", () => {
  const a = new Approvals({ clock: { now: () => 0 } });
  grantedTo(a, protectedJob, ["project_path", "ref_protected"], 0);
  // Fewer claim paths named: the binding is finer than the policy, the requester still passes, the other job still does not.
  expect(a.grantFor(protectedJob, "deploys", "api", 1, ["ref_protected"])).toBeDefined();
  expect(a.grantFor(protectedJob, "deploys", "api", 1, [])).toBeDefined();
  expect(a.grantFor(unprotectedJob, "deploys", "api", 1, [])).toBeUndefined();
  // A new claim path: the requester's value of it was never kept, so the grant covers nobody.
  expect(a.grantFor(protectedJob, "deploys", "api", 1, ["environment", "project_path", "ref_protected"])).toBeUndefined();
  // A grant made while no rule named a claim ends once one does.
  const b = new Approvals({ clock: { now: () => 0 } });
  grantedTo(b, protectedJob, [], 0);
  expect(b.grantFor(unprotectedJob, "deploys", "api", 1, [])).toBeDefined();
  expect(b.grantFor(protectedJob, "deploys", "api", 1, ["ref_protected"])).toBeUndefined();
  a.close();
  b.close();
});

test("grants rebuilt from the audit log keep their binding (a hash, no claim values); one written before bindings covers its identity only while no rule names a claim; a malformed one covers nobody", () => {
  const paths = ["project_path", "ref_protected"];
  const binding = bindingRecord(bindingOf(protectedJob, paths));
  expect(JSON.stringify(binding)).not.toContain("true");
  expect(binding).toEqual({ claim_paths: paths, key: expect.stringMatching(/^[0-9a-f]{64}$/) });
  const a = new Approvals({ clock: { now: () => 5000 } });
  const iso = (ms: number) => new Date(ms).toISOString();
  const base = { time: iso(1000), identity: { method: "oidc", subject: protectedJob.subject, issuer: gitlab, groups: [] }, target: "api", decision: { rule: "deploys" } };
  const grant = (approval: string, extra: Record<string, unknown>) => {
    a.applyRecord({ ...base, type: "approval.requested", details: { approval, approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 3_600_000, ...extra } });
    a.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval, approver: "bob", grant_until: iso(60_000) } });
  };
  grant("apr_1", { binding });
  expect(a.grantFor(protectedJob, "deploys", "api", 5000, paths)?.approvalId).toBe("apr_1");
  expect(a.grantFor(unprotectedJob, "deploys", "api", 5000, paths)).toBeUndefined();
  const b = new Approvals({ clock: { now: () => 5000 } });
  const old = { ...base, identity: { ...base.identity, groups: ["developers"] } };
  b.applyRecord({ ...old, type: "approval.requested", details: { approval: "apr_2", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 3_600_000 } });
  b.applyRecord({ ...old, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_2", approver: "bob", grant_until: iso(60_000) } });
  const oldCaller = { ...unprotectedJob, groups: ["developers"] };
  expect(b.grantFor(oldCaller, "deploys", "api", 5000, [])?.approvalId).toBe("apr_2");
  expect(b.grantFor({ ...oldCaller, groups: ["developers", "admins"] }, "deploys", "api", 5000, [])).toBeUndefined();
  expect(b.grantFor(oldCaller, "deploys", "api", 5000, ["ref_protected"])).toBeUndefined();
  // A binding that is not one: listed, but it covers nobody.
  const c = new Approvals({ clock: { now: () => 5000 } });
  c.applyRecord({ ...base, type: "approval.requested", details: { approval: "apr_3", approvers: ["approvers"], expires_at: iso(90_000), max_grant_ms: 3_600_000, binding: { claim_paths: [], key: "x" } } });
  c.applyRecord({ ...base, type: "approval.granted", identity: { ...bob }, details: { approval: "apr_3", approver: "bob", grant_until: iso(60_000) } });
  expect(c.liveGrants(5000).map((g) => g.approvalId)).toEqual(["apr_3"]);
  expect(c.grantFor(protectedJob, "deploys", "api", 5000, [])).toBeUndefined();
  for (const x of [a, b, c]) x.close();
});

import { describe, expect, test } from "bun:test";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals } from "../approvals/approvals.ts";
import { GatewayError } from "../core/errors.ts";
import { silentLogger } from "../core/logger.ts";
import type { Action, Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { loadConfigFromSources } from "../config/load.ts";
import { compilePolicy } from "../policy/compile.ts";
import { signal, waitFor, within } from "../../test/helpers/wait.ts";
import { type AuditEvent, type DecidingPolicy, Gate } from "./gate.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] };
const bob: Identity = { method: "dev", subject: "bob", issuer: "dev", groups: ["approvers"] };
const action = (path: string): Action => ({ identity: alice, target: "api", request: { kind: "http", method: "POST", path }, time: Date.now() });

function setup(decide: (a: Action) => Decision, append?: (e: AuditEvent) => Promise<{ seq: number }>, whole?: DecidingPolicy) {
  const events: AuditEvent[] = [];
  const clock = { now: () => Date.now() };
  const approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  const gate = new Gate({
    policy: () => whole ?? { hash: "h1", decide },
    audit: { append: append ?? (async (e) => (events.push(e), { seq: events.length })) },
    approvals,
    clock,
    metrics: createMetrics(),
    log: silentLogger,
  });
  return { gate, events, approvals };
}

const allow: Decision = { effect: "allow", rule: "r", message: "allowed by rule r", masks: { json: [], columns: [], detectors: ["email"] } };
const deny: Decision = { effect: "deny", rule: "d", message: "nope", masks: NO_MASKS };
const review: Decision = { effect: "review", rule: "w", message: "needs approval", masks: NO_MASKS, review: { approvers: ["approvers"], maxGrantMs: 3_600_000, timeoutMs: 60_000 } };

test("allow and deny are audited before the verdict, with the policy hash", async () => {
  const { gate, events } = setup((a) => (a.request.kind === "http" && a.request.path === "/ok" ? allow : deny));
  const v1 = await gate.check(action("/ok"), { session: "s1" });
  expect(v1.allowed).toBe(true);
  expect(v1.masks.detectors).toEqual(["email"]);
  const v2 = await gate.check(action("/no"));
  expect(v2).toMatchObject({ allowed: false, message: "nope" });
  expect(events.map((e) => [e.type, e.decision?.effect, e.policy])).toEqual([
    ["decision", "allow", "h1"],
    ["decision", "deny", "h1"],
  ]);
  expect(events[0]!.identity).toEqual({ method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] });
});

test("an audit write failure denies, whatever the policy said", async () => {
  const { gate } = setup(() => allow, async () => {
    throw new GatewayError("E_AUDIT_WRITE", "disk full");
  });
  const v = await gate.check(action("/ok"));
  expect(v.allowed).toBe(false);
  expect(v.message).toContain("audit log unavailable");
});

test("a policy that throws denies", async () => {
  const { gate } = setup(() => {
    throw new Error("boom");
  });
  const v = await gate.check(action("/ok"));
  expect(v).toMatchObject({ allowed: false });
  expect(v.message).toContain("policy evaluation failed: boom");
});

test("review holds until an approver decides; a grant then lets the same request through", async () => {
  const { gate, events, approvals } = setup(() => review);
  const held = signal<string>();
  const verdict = gate.check(action("/w"), { onHold: (p) => held.resolve(p.id) });
  const heldId = await within("the request to be held for review", held.promise);
  await expect(gate.decideApproval(heldId, alice, { approve: true })).rejects.toThrow(/cannot approve/);
  await gate.decideApproval(heldId, bob, { approve: true, forMs: 60_000 });
  expect((await verdict).allowed).toBe(true);
  expect(events.map((e) => e.type)).toEqual(["decision", "approval.requested", "approval.granted"]);
  expect(approvals.pending()).toEqual([]);
  const again = await gate.check(action("/w"));
  expect(again).toMatchObject({ allowed: true, approvalId: heldId });
  expect(events.at(-1)!.details).toEqual({ grant: heldId });
});

test("a held request whose client goes away is cancelled and audited", async () => {
  const { gate, events } = setup(() => review);
  const ac = new AbortController();
  const held = signal();
  const verdict = gate.check(action("/w"), { signal: ac.signal, onHold: () => held.resolve() });
  await within("the request to be held for review", held.promise);
  ac.abort();
  const v = await verdict;
  expect(v.allowed).toBe(false);
  expect(v.message).toContain("cancelled");
  // The cancellation is audited without the verdict waiting for the record.
  await waitFor("an approval.cancelled audit record", () => events.some((e) => e.type === "approval.cancelled"));
});

test("the adjust hook replaces the policy's decision before it is audited", async () => {
  const { gate, events } = setup(() => deny);
  const v = await gate.check(action("/x"), { adjust: () => ({ ...allow, rule: "builtin:catalog-read" }) });
  expect(v.allowed).toBe(true);
  expect(events[0]!.decision?.rule).toBe("builtin:catalog-read");
});

describe("masks of an approved request or one let through by a grant", () => {
  const yaml = `rules:
  - { name: read-api, effect: allow, http: { methods: [GET], paths: ["/api/**"] }, mask: { detectors: [email] } }
  - { name: export, effect: review, approvers: [approvers], http: { methods: [GET], paths: ["/api/export/**", "/unlisted/**"] } }
`;
  const get = (path: string): Action => ({ identity: alice, target: "api", request: { kind: "http", method: "GET", path }, time: Date.now() });
  async function policy() {
    const config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
    return compilePolicy(config);
  }

  test("are the masks of the matching allow rules, after approval and under the grant", async () => {
    const p = await policy();
    const { gate } = setup((a) => p.decide(a));
    const held = signal<string>();
    const verdict = gate.check(get("/api/export/all"), { onHold: (h) => held.resolve(h.id) });
    const heldId = await within("the request to be held for review", held.promise);
    await gate.decideApproval(heldId, bob, { approve: true, forMs: 60_000 });
    const approved = await verdict;
    expect(approved).toMatchObject({ allowed: true, approvalId: heldId });
    expect(approved.masks).toEqual({ json: [], columns: [], detectors: ["email"] });
    const granted = await gate.check(get("/api/export/all"));
    expect(granted).toMatchObject({ allowed: true, approvalId: heldId, message: `allowed by grant ${heldId}` });
    expect(granted.masks).toEqual({ json: [], columns: [], detectors: ["email"] });
  });

  test("are none when no allow rule matches", async () => {
    const p = await policy();
    const { gate } = setup((a) => p.decide(a));
    const held = signal<string>();
    const verdict = gate.check(get("/unlisted/x"), { onHold: (h) => held.resolve(h.id) });
    const heldId = await within("the request to be held for review", held.promise);
    await gate.decideApproval(heldId, bob, { approve: true });
    const approved = await verdict;
    expect(approved.allowed).toBe(true);
    expect(approved.masks).toEqual(NO_MASKS);
  });

  test("a review decision's masks are what the approved and granted verdicts carry", async () => {
    const masked: Decision = { ...review, masks: { json: ["$.ssn"], columns: ["email"], detectors: [] } };
    const { gate } = setup(() => masked);
    const held = signal<string>();
    const verdict = gate.check(action("/w"), { onHold: (h) => held.resolve(h.id) });
    const heldId = await within("the request to be held for review", held.promise);
    await gate.decideApproval(heldId, bob, { approve: true, forMs: 60_000 });
    expect((await verdict).masks).toEqual(masked.masks);
    expect((await gate.check(action("/w"))).masks).toEqual(masked.masks);
  });

  test("a denied or expired review has no masks", async () => {
    const masked: Decision = { ...review, masks: { json: [], columns: [], detectors: ["email"] } };
    const { gate } = setup(() => masked);
    const held = signal<string>();
    const verdict = gate.check(action("/w"), { onHold: (h) => held.resolve(h.id) });
    const heldId = await within("the request to be held for review", held.promise);
    await gate.decideApproval(heldId, bob, { approve: false, reason: "no" });
    expect(await verdict).toMatchObject({ allowed: false, masks: NO_MASKS });
  });
});

test("a default deny is audited and answered with what the gateway saw and why nothing allowed it", async () => {
  const config = await loadConfigFromSources(
    [{ file: "p.yaml", text: `rules:\n  - { name: office, effect: allow, http: { paths: ["/api/**"] }, when: { days: [mon-fri], hours: "09:00-17:00" } }\n  - { name: no, effect: deny, http: { paths: ["/secret"] }, message: never }\n` }],
    { baseDir: "/tmp", env: {} },
  );
  const p = compilePolicy(config);
  const { gate, events } = setup((a) => p.decide(a), undefined, p);
  const saturday = Date.parse("2026-03-07T12:00:00Z");
  const late = await gate.check({ ...action("/api/x"), time: saturday });
  expect(late).toMatchObject({ allowed: false, message: "no rule allows this request" });
  expect(late.decision.detail).toBe("POST /api/x; rule office allows it only mon-fri 09:00-17:00 UTC");
  const none = await gate.check(action("/other"));
  expect(none.decision.detail).toBe("POST /other; no rule allows it for you");
  const explicit = await gate.check(action("/secret"));
  expect(explicit).toMatchObject({ allowed: false, message: "never" });
  expect(explicit.decision.detail).toBeUndefined();
  expect(events.map((e) => e.details?.["denial"])).toEqual(["POST /api/x; rule office allows it only mon-fri 09:00-17:00 UTC", "POST /other; no rule allows it for you", undefined]);
  expect(events.map((e) => e.decision?.message)).toEqual(["no rule allows this request", "no rule allows this request", "never"]);
});

describe("approvals and grants bind to the caller as the policy sees it (issuer, subject, groups, the claims rules name)", () => {
  // GitLab: a protected and an unprotected job of ref main share `sub`; only ref_protected tells them apart.
  const yaml = `rules:
  - { name: deploys, effect: review, approvers: [approvers], claims: { project_path: acme/deploy }, http: { methods: [POST], paths: ["/deploy/**"] } }
  - { name: protected-status, effect: allow, claims: { ref_protected: true }, http: { methods: [GET], paths: ["/status"] } }
`;
  const sub = "project_path:acme/deploy:ref_type:branch:ref:main";
  const job = (refProtected: string, jti: string): Identity => ({ method: "oidc", subject: sub, issuer: "https://gitlab.example", groups: [], claims: { sub, project_path: "acme/deploy", ref: "main", ref_protected: refProtected, jti } });
  const protectedJob = job("true", "j1");
  const unprotectedJob = job("false", "j2");
  const deploy = (identity: Identity): Action => ({ identity, target: "api", request: { kind: "http", method: "POST", path: "/deploy/prod" }, time: Date.now() });
  async function policy(text = yaml) {
    return compilePolicy(await loadConfigFromSources([{ file: "p.yaml", text }], { baseDir: "/tmp", env: {} }));
  }
  /** Checks without waiting: held requests are answered at once (answer mode) and the approval left pending. */
  const now = { answerNow: () => () => undefined };

  test("a grant for the protected job's token does not let the unprotected job's token (same sub) through; another token of the protected job passes", async () => {
    const p = await policy();
    const { gate, events } = setup((a) => p.decide(a), undefined, p);
    const first = await gate.check(deploy(protectedJob), now);
    expect(first).toMatchObject({ allowed: false, pending: true });
    const requested = events.find((e) => e.type === "approval.requested")!;
    // The record binds the request by a hash: the claim paths, never their values.
    expect(requested.details!["binding"]).toEqual({ claim_paths: ["project_path", "ref_protected"], key: expect.stringMatching(/^[0-9a-f]{64}$/) });
    await gate.decideApproval(first.approvalId!, bob, { approve: true, forMs: 30 * 60_000 });
    expect(await gate.check(deploy(job("true", "j3")))).toMatchObject({ allowed: true, approvalId: first.approvalId, message: `allowed by grant ${first.approvalId}` });
    const other = await gate.check(deploy(unprotectedJob), now);
    expect(other).toMatchObject({ allowed: false, pending: true });
    expect(other.approvalId).not.toBe(first.approvalId);
    expect(events.at(-1)).toMatchObject({ type: "approval.requested", identity: { subject: sub } });
  });

  test("grants rebuilt from the audit records at a restart keep their binding", async () => {
    const p = await policy();
    const before = setup((a) => p.decide(a), undefined, p);
    const first = await before.gate.check(deploy(protectedJob), now);
    await before.gate.decideApproval(first.approvalId!, bob, { approve: true, forMs: 30 * 60_000 });
    // A restart: a new Approvals rebuilt from the records (as JSON, as the log keeps them).
    const after = setup((a) => p.decide(a), undefined, p);
    for (const e of before.events) after.approvals.applyRecord({ ...JSON.parse(JSON.stringify(e)), time: new Date().toISOString() });
    expect(after.approvals.liveGrants(Date.now()).map((g) => g.approvalId)).toEqual([first.approvalId!]);
    expect(await after.gate.check(deploy(protectedJob))).toMatchObject({ allowed: true, approvalId: first.approvalId });
    expect(await after.gate.check(deploy(unprotectedJob), now)).toMatchObject({ allowed: false, pending: true });
  });

  test("a policy that names a claim path the approval did not see ends the grant; one that names fewer keeps it", async () => {
    let p = await policy();
    // The policy in force, swapped below as a reload does.
    const withPolicy = setup((a) => p.decide(a), undefined, { get hash() { return p.hash; }, decide: (a) => p.decide(a), get claimPaths() { return p.claimPaths; } });
    const first = await withPolicy.gate.check(deploy(protectedJob), now);
    await withPolicy.gate.decideApproval(first.approvalId!, bob, { approve: true, forMs: 30 * 60_000 });
    // Fewer claim paths: the protected-status rule is gone; the grant still covers the requester only.
    p = await policy(yaml.split("\n").slice(0, 2).join("\n") + "\n");
    expect(p.claimPaths).toEqual(["project_path"]);
    expect(await withPolicy.gate.check(deploy(protectedJob))).toMatchObject({ allowed: true, approvalId: first.approvalId });
    expect(await withPolicy.gate.check(deploy(unprotectedJob), now)).toMatchObject({ allowed: false, pending: true });
    // A new claim path (environment): the grant covers nobody; the requester asks anew.
    p = await policy(yaml + `  - { name: prod-env, effect: allow, claims: { environment: production }, http: { methods: [GET], paths: ["/env"] } }\n`);
    expect(await withPolicy.gate.check(deploy(protectedJob), now)).toMatchObject({ allowed: false, pending: true });
  });

  test("an approval of one request (approved, the Kubernetes answer mode) passes only a caller its binding covers", async () => {
    const p = await policy();
    const { gate, approvals } = setup((a) => p.decide(a), undefined, p);
    const first = await gate.check(deploy(protectedJob), now);
    const pending = approvals.get(first.approvalId!)!;
    await gate.decideApproval(first.approvalId!, bob, { approve: true });
    const approved = { id: pending.id, rule: pending.rule, binding: pending.binding };
    expect(await gate.check(deploy(unprotectedJob), { approved, ...now })).toMatchObject({ allowed: false, pending: true });
    expect(await gate.check(deploy(protectedJob), { approved })).toMatchObject({ allowed: true, approvalId: first.approvalId, message: `allowed by approval ${first.approvalId}` });
    // What the Kubernetes target keys remembered answers by differs too.
    expect(gate.approvalKey(unprotectedJob)).not.toBe(gate.approvalKey(protectedJob));
    expect(gate.approvalKey(job("true", "j9"))).toBe(gate.approvalKey(protectedJob));
  });
});

describe("approvals_required: 2", () => {
  const two: Decision = { ...review, review: { ...review.review!, approvalsRequired: 2 } };
  const carol: Identity = { method: "dev", subject: "carol", issuer: "dev", groups: ["approvers"] };

  test("the first approval is recorded and the request stays held; a second, different approver releases it", async () => {
    const { gate, events, approvals } = setup(() => two);
    const held = signal<string>();
    let released = false;
    const verdict = gate.check(action("/w"), { onHold: (p) => held.resolve(p.id) }).then((v) => ((released = true), v));
    const id = await within("the request to be held for review", held.promise);
    expect(events.at(-1)!.details).toMatchObject({ approval: id, approvals_required: 2 });
    const first = await gate.decideApproval(id, bob, { approve: true, forMs: 60_000 });
    expect(Gate.stillHeld(first)).toBe(true);
    expect(approvals.get(id)?.approvals?.map((a) => a.approver)).toEqual(["bob"]);
    expect(events.at(-1)).toMatchObject({ type: "approval.reviewed", details: { approval: id, approver: "bob", approvals: 1, approvals_required: 2, for_ms: 60_000 } });
    // The same approver twice is still one approval; the requester never counts.
    await expect(gate.decideApproval(id, bob, { approve: true })).rejects.toThrow(/already approved/);
    await expect(gate.decideApproval(id, alice, { approve: true })).rejects.toThrow(/cannot approve/);
    await Promise.resolve();
    expect(released).toBe(false);
    const second = await gate.decideApproval(id, carol, { approve: true, forMs: 30_000 });
    expect(Gate.stillHeld(second)).toBe(false);
    expect((await verdict).allowed).toBe(true);
    // Both agreed to a grant: the shorter one is what they both agreed to.
    const granted = events.at(-1)!;
    expect(granted).toMatchObject({ type: "approval.granted", details: { approval: id, approver: "carol", approved_by: ["bob", "carol"] } });
    const until = Date.parse(String(granted.details!.grant_until));
    expect(until - Date.now()).toBeLessThanOrEqual(30_000);
  });

  test("one approver who released this request only means no grant", async () => {
    const { gate, events } = setup(() => two);
    const held = signal<string>();
    const verdict = gate.check(action("/w"), { onHold: (p) => held.resolve(p.id) });
    const id = await within("the request to be held for review", held.promise);
    await gate.decideApproval(id, bob, { approve: true });
    await gate.decideApproval(id, carol, { approve: true, forMs: 60_000 });
    expect((await verdict).allowed).toBe(true);
    expect(events.at(-1)!.details!.grant_until).toBeUndefined();
  });

  test("a deny after the first approval ends it", async () => {
    const { gate } = setup(() => two);
    const held = signal<string>();
    const verdict = gate.check(action("/w"), { onHold: (p) => held.resolve(p.id) });
    const id = await within("the request to be held for review", held.promise);
    await gate.decideApproval(id, bob, { approve: true });
    await gate.decideApproval(id, carol, { approve: false, reason: "not now" });
    expect(await verdict).toMatchObject({ allowed: false, message: `approval ${id} denied by carol: not now` });
  });

  test("decisions on one request are taken one at a time: the same approver sent twice at once counts once, two approvers at once release it", async () => {
    const three: Decision = { ...review, review: { ...review.review!, approvalsRequired: 3 } };
    const dave: Identity = { method: "dev", subject: "dave", issuer: "dev", groups: ["approvers"] };
    const { gate, approvals } = setup(() => three);
    const held = signal<string>();
    let released = false;
    const verdict = gate.check(action("/w"), { onHold: (p) => held.resolve(p.id) }).then((v) => ((released = true), v));
    const id = await within("the request to be held for review", held.promise);
    // A double submit (two tabs, the console and the CLI): both are in flight before either is recorded.
    const twice = await Promise.allSettled([gate.decideApproval(id, bob, { approve: true }), gate.decideApproval(id, bob, { approve: true })]);
    expect(twice.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(approvals.get(id)?.approvals?.map((a) => a.approver)).toEqual(["bob"]);
    // Bob and carol are two of the three: still held.
    await gate.decideApproval(id, carol, { approve: true });
    await Promise.resolve();
    expect(released).toBe(false);
    expect(approvals.get(id)).toBeDefined();
    await gate.decideApproval(id, dave, { approve: true });
    expect((await verdict).allowed).toBe(true);

    // Two different approvers at once, the last two needed: the request goes on (it is not left held with none missing).
    const { gate: g2 } = setup(() => two);
    const held2 = signal<string>();
    const verdict2 = g2.check(action("/w"), { onHold: (p) => held2.resolve(p.id) });
    const id2 = await within("the second request to be held for review", held2.promise);
    await Promise.all([g2.decideApproval(id2, bob, { approve: true }), g2.decideApproval(id2, carol, { approve: true })]);
    expect((await within("the request approved by two at once to go on", verdict2)).allowed).toBe(true);
  });

  test("a restart keeps the first approval (rebuilt from the records)", async () => {
    const { gate, events } = setup(() => two);
    const held = signal<string>();
    void gate.check(action("/w"), { onHold: (p) => held.resolve(p.id) });
    const id = await within("the request to be held for review", held.promise);
    await gate.decideApproval(id, bob, { approve: true });
    const rebuilt = new Approvals({ clock: { now: () => Date.now() } });
    for (const e of events) rebuilt.applyRecord({ ...e, time: new Date().toISOString() } as Parameters<Approvals["applyRecord"]>[0]);
    const p = rebuilt.get(id)!;
    expect(p.approvalsRequired).toBe(2);
    expect(p.approvals?.map((a) => a.approver)).toEqual(["bob"]);
    expect(() => rebuilt.authorize(id, bob)).toThrow(/already approved/);
    rebuilt.close();
  });
});

test("a held request carries the caller's address from its session's start record, and the approval record keeps it", async () => {
  const { gate, events, approvals } = setup(() => review);
  await gate.record({ type: "session.start", session: "pg_1", target: "api", details: { remote: "192.0.2.9:51000" } });
  const held = signal<string>();
  void gate.check(action("/w"), { session: "pg_1", onHold: (p) => held.resolve(p.id) });
  const id = await within("the request to be held for review", held.promise);
  expect(approvals.get(id)?.remote).toBe("192.0.2.9:51000");
  expect(events.find((e) => e.type === "approval.requested")?.details).toMatchObject({ remote: "192.0.2.9:51000" });
  // A target without session records (an HTTP request) gives the address with the check.
  const second = signal<string>();
  void gate.check(action("/w2"), { remote: "198.51.100.4:40000", onHold: (p) => second.resolve(p.id) });
  expect(approvals.get(await within("the second request to be held", second.promise))?.remote).toBe("198.51.100.4:40000");
  approvals.close();
});

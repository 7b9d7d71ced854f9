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

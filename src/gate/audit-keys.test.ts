// Audit records name their fields in one style, snake_case, whatever the TypeScript names are.
import { expect, test } from "bun:test";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals, type PendingRequest } from "../approvals/approvals.ts";
import { silentLogger } from "../core/logger.ts";
import type { Action, Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { type AuditEvent, Gate } from "./gate.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] };
const bob: Identity = { method: "dev", subject: "bob", issuer: "dev", groups: ["approvers"] };
const review: Decision = { effect: "review", rule: "w", message: "needs approval", masks: NO_MASKS, review: { approvers: ["approvers"], maxGrantMs: 3_600_000, timeoutMs: 60_000 } };

function setup(decide: (a: Action) => Decision) {
  const events: AuditEvent[] = [];
  const clock = { now: () => Date.now() };
  const approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  const gate = new Gate({
    policy: () => ({ hash: "h1", decide }),
    audit: { append: async (e) => (events.push(e), { seq: events.length }) },
    approvals,
    clock,
    metrics: createMetrics(),
    log: silentLogger,
  });
  return { gate, events, approvals };
}

/** Every key of objects inside `value`, with its path. */
function keysOf(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keysOf(v, `${path}[${i}]`));
  if (value === null || typeof value !== "object") return [];
  return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...keysOf(v, `${path}.${k}`)]);
}

const camel = (keys: string[]) => keys.filter((k) => /[A-Z]/.test(k.split(".").at(-1)!));

test("approval records: details are snake_case, times ISO; a held request's record names its grant limit", async () => {
  const { gate, events } = setup(() => review);
  let held!: (p: PendingRequest) => void;
  const heldNow = new Promise<PendingRequest>((r) => (held = r));
  const verdict = gate.check({ identity: alice, target: "api", request: { kind: "http", method: "POST", path: "/w" }, time: Date.now() }, { onHold: (p) => held(p) });
  const p = await heldNow;
  await gate.decideApproval(p.id, bob, { approve: true, forMs: 1_800_000 });
  expect((await verdict).allowed).toBe(true);
  const requested = events.find((e) => e.type === "approval.requested")!;
  expect(requested.details).toEqual({ approval: p.id, approvers: ["approvers"], expires_at: new Date(p.expiresAt).toISOString(), max_grant_ms: 3_600_000, binding: { claim_paths: [], key: expect.stringMatching(/^[0-9a-f]{64}$/) } });
  const granted = events.find((e) => e.type === "approval.granted")!;
  expect(Object.keys(granted.details!).sort()).toEqual(["approval", "approver", "grant_until", "requester"]);
  expect(Date.parse(String(granted.details!.grant_until))).toBeGreaterThan(Date.now());
  expect(camel(events.flatMap((e) => keysOf(e)))).toEqual([]);
});

test("request facts go into the record with snake_case keys (user_functions, api_group)", async () => {
  const { gate, events } = setup(() => ({ effect: "deny", rule: null, message: "no", masks: NO_MASKS }));
  await gate.check({
    identity: alice,
    target: "db",
    request: { kind: "postgres", classes: ["read"], relations: [], functions: ["public.f"], userFunctions: ["public.f"], sql: "SELECT public.f()" },
    time: Date.now(),
  });
  await gate.check({ identity: alice, target: "k8s", request: { kind: "kubernetes", verb: "get", resource: "deployments", apiGroup: "apps" }, time: Date.now() });
  expect(events[0]!.action).toEqual({ kind: "postgres", classes: ["read"], relations: [], functions: ["public.f"], user_functions: ["public.f"], sql: "SELECT public.f()" });
  expect(events[1]!.action).toEqual({ kind: "kubernetes", verb: "get", resource: "deployments", api_group: "apps" });
  expect(camel(events.flatMap((e) => keysOf(e)))).toEqual([]);
});

// Audit records name their fields in one style, snake_case, whatever the TypeScript names are.
import { expect, test } from "bun:test";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals, type PendingRequest } from "../approvals/approvals.ts";
import { silentLogger } from "../core/logger.ts";
import type { Action, Decision, Identity, RequestFacts } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { auditAction, type AuditEvent, Gate } from "./gate.ts";
import { SessionRecords } from "./session-records.ts";

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

// Every fact a target passes in camelCase, as each kind has it in memory (core/types.ts).
const kubePatch = { kind: "kubernetes", verb: "patch", resource: "deployments", namespace: "prod", name: "web", apiGroup: "apps", apiVersion: "v1", patchType: "strategic" } as const;
const sftpRename = { kind: "ssh", action: "sftp", user: "ops", operation: "rename", path: "/srv/a", toPath: "/srv/b" } as const;
const kubeSnake = { kind: "kubernetes", verb: "patch", resource: "deployments", namespace: "prod", name: "web", api_group: "apps", api_version: "v1", patch_type: "strategic" };
const sftpSnake = { kind: "ssh", action: "sftp", user: "ops", operation: "rename", path: "/srv/a", to_path: "/srv/b" };

test("Kubernetes (api_version, patch_type) and SFTP (to_path) facts go into decision records in snake_case", async () => {
  const { gate, events } = setup(() => ({ effect: "allow", rule: "r", message: "ok", masks: NO_MASKS }));
  await gate.check({ identity: alice, target: "k8s", request: kubePatch, time: Date.now() });
  await gate.check({ identity: alice, target: "ssh", request: sftpRename, time: Date.now() });
  expect(events.map((e) => e.action)).toEqual([kubeSnake, sftpSnake]);
  expect(camel(events.flatMap((e) => keysOf(e)))).toEqual([]);
});

test("records a target writes itself with its facts as the action (a request's completion, an SFTP operation's end) are snake_case too", async () => {
  const { gate, events } = setup(() => review);
  const identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] };
  await gate.record({ type: "decision", identity, target: "k8s", action: { ...kubePatch } });
  await gate.recordLater({ type: "request", identity, target: "k8s", action: { ...kubePatch }, details: { status: 200 } });
  await gate.recordHappened({ type: "sftp", identity, target: "ssh", action: { ...sftpRename }, details: { status: 0 } });
  const records = new SessionRecords({ session: "k8s_1", identity, target: "k8s" });
  await gate.recordLaterFrom(records.template("request", { effect: "allow", rule: "r" }), { action: { ...kubePatch }, details: { status: 200 } }, "request");
  expect(events.map((e) => e.action)).toEqual([kubeSnake, kubeSnake, sftpSnake, kubeSnake]);
  expect(camel(events.flatMap((e) => keysOf(e)))).toEqual([]);
});

test("an MCP call's SQL facts name user_functions; arguments keep the caller's own keys", async () => {
  const { gate, events } = setup(() => ({ effect: "allow", rule: "r", message: "ok", masks: NO_MASKS }));
  const request = {
    kind: "mcp",
    direction: "client",
    method: "tools/call",
    server: "db",
    tool: "query",
    arguments: { sqlText: "SELECT f()" },
    sql: { classes: ["read"], relations: [], functions: ["public.f"], userFunctions: ["public.f"], text: "SELECT f()" },
  } as const;
  await gate.check({ identity: alice, target: "mcp", request, time: Date.now() });
  const action = events[0]!.action as Record<string, unknown>;
  expect(action["sql"]).toEqual({ classes: ["read"], relations: [], functions: ["public.f"], user_functions: ["public.f"], text: "SELECT f()" });
  expect(action["arguments"]).toEqual({ sqlText: "SELECT f()" });
});

test("auditAction is idempotent: facts read back from a record (an approval rebuilt at start) come out the same", () => {
  for (const facts of [kubePatch, sftpRename]) {
    const once = auditAction(facts as unknown as RequestFacts);
    expect(auditAction(once as unknown as RequestFacts)).toEqual(once);
  }
});

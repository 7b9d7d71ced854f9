// Approval webhooks against real HTTP receivers (Bun.serve on port 0) and a real Gate.
import { afterEach, expect, test } from "bun:test";
import { createMetrics } from "../admin/metrics.ts";
import { silentLogger } from "../core/logger.ts";
import type { Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { type AuditEvent, Gate } from "../gate/gate.ts";
import { signal, waitFor, within } from "../../test/helpers/wait.ts";
import { Approvals } from "./approvals.ts";
import { ApprovalWebhooks, jsonPayload, SIGNATURE_HEADER, verifyWebhookSignature, type WebhookConfig, type WebhookRecord } from "./webhooks.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"], name: "Alice <admin>" };
const bob: Identity = { method: "dev", subject: "bob", issuer: "dev", groups: ["approvers"] };
const review: Decision = { effect: "review", rule: "prod-writes", message: "needs approval", masks: NO_MASKS, review: { approvers: ["approvers"], maxGrantMs: 3_600_000, timeoutMs: 60_000 } };
const SECRET = "whsec_0123456789abcdef";

const servers: { stop(force?: boolean): unknown }[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
  for (const s of servers.splice(0)) s.stop(true);
});

interface Received {
  readonly headers: Headers;
  readonly body: string;
}

/** A receiver: answers each delivery with what `answer` says (a status, or a promise that never settles). */
function receiver(answer: (n: number, r: Received) => number | Promise<number>) {
  const got: Received[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const r = { headers: req.headers, body: await req.text() };
      got.push(r);
      return new Response("ok", { status: await answer(got.length, r) });
    },
  });
  servers.push(server);
  return { url: `http://127.0.0.1:${server.port}/hook`, got };
}

function setup(hooks: WebhookConfig[], opts: { backoffMs?: number } = {}) {
  const records: WebhookRecord[] = [];
  const audit: AuditEvent[] = [];
  const clock = { now: () => Date.now() };
  const webhooks = new ApprovalWebhooks({ hooks: () => hooks, consoleUrl: () => "https://gatehouse.example:9443/", record: (r) => records.push(r), clock, log: silentLogger, backoffMs: opts.backoffMs ?? 5 });
  cleanups.push(() => webhooks.close());
  const approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  const gate = new Gate({
    policy: () => ({ hash: "h1", decide: () => review }),
    audit: { append: async (e) => (audit.push(e), { seq: audit.length }) },
    approvals,
    clock,
    metrics: createMetrics(),
    log: silentLogger,
    onApproval: (n) => webhooks.notify(n),
  });
  cleanups.push(async () => approvals.close());
  return { gate, webhooks, records, audit };
}

/** Holds one SQL statement for review; resolves with the approval id once it is held, and the verdict's promise. */
async function hold(gate: Gate, sql = "delete from orders where id = 7") {
  const held = signal<string>();
  const verdict = gate.check({ identity: alice, target: "prod", request: { kind: "postgres", sql, classes: ["write"], relations: ["orders"], functions: [] } as never, time: Date.now() }, { session: "pg_1", onHold: (p) => held.resolve(p.id) });
  return { id: await within("the statement to be held for review", held.promise), verdict };
}

test("json: each event is POSTed signed (t=…,v1=…), and the receiver's check of the signature passes; a tampered body fails it", async () => {
  const r = receiver(() => 200);
  const { gate, records } = setup([{ name: "ops", url: r.url, format: "json", secret: SECRET }]);
  const { id, verdict } = await hold(gate);
  await gate.decideApproval(id, bob, { approve: true, forMs: 600_000 });
  expect((await verdict).allowed).toBe(true);
  await waitFor("two deliveries", () => r.got.length >= 2 && records.filter((x) => x.type === "webhook.delivered").length >= 2);
  const now = Math.floor(Date.now() / 1000);
  for (const g of r.got) {
    const sig = g.headers.get(SIGNATURE_HEADER)!;
    expect(sig).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(SECRET, sig, g.body, now)).toBe(true);
    expect(verifyWebhookSignature(SECRET, sig, g.body.replace("orders", "orderz"), now)).toBe(false);
    expect(verifyWebhookSignature("another secret!!", sig, g.body, now)).toBe(false);
    expect(verifyWebhookSignature(SECRET, sig, g.body, now + 3600)).toBe(false); // replayed an hour later
  }
  const [requested, decided] = r.got.map((g) => JSON.parse(g.body));
  expect(requested.type).toBe("approval.requested");
  expect(requested.approval).toMatchObject({ id, target: "prod", rule: "prod-writes", approvers: ["approvers"], url: `https://gatehouse.example:9443/approvals?id=${id}` });
  expect(requested.approval.request.sql).toBe("delete from orders where id = 7");
  expect(decided).toMatchObject({ type: "approval.decided", outcome: "approved", approver: "bob" });
  expect(decided.grant_until).toBeString();
  expect(records.every((x) => x.type === "webhook.delivered" && x.details["webhook"] === "ops" && x.details["status"] === 200)).toBe(true);
});

test("slack: an incoming-webhook message with a link to the approval page, the requester's text escaped", async () => {
  const r = receiver(() => 200);
  const { gate } = setup([{ name: "slack", url: r.url, format: "slack", events: ["requested"] }]);
  const { id } = await hold(gate, "select '<!channel>' from t");
  await waitFor("the Slack delivery", () => r.got.length >= 1);
  const msg = JSON.parse(r.got[0]!.body);
  expect(Object.keys(msg)).toEqual(["text"]);
  expect(msg.text).toContain(`<https://gatehouse.example:9443/approvals?id=${id}|Open the approval>`);
  expect(msg.text).toContain("Alice &lt;admin&gt;");
  expect(msg.text).toContain("&lt;!channel&gt;");
  expect(msg.text).not.toContain("<!channel>");
  expect(r.got[0]!.headers.get(SIGNATURE_HEADER)).toBeNull();
});

test("a receiver that fails twice gets the delivery on the third attempt; each failure and the delivery are recorded", async () => {
  const r = receiver((n) => (n <= 2 ? 503 : 200));
  const { gate, records } = setup([{ name: "flaky", url: r.url, format: "json", secret: SECRET, events: ["requested"] }]);
  await hold(gate);
  await waitFor("the delivery after two failures", () => records.find((x) => x.type === "webhook.delivered"));
  expect(records.map((x) => [x.type, x.details["attempt"], x.details["error"] ?? x.details["status"], x.details["final"]])).toEqual([
    ["webhook.failed", 1, "HTTP 503", false],
    ["webhook.failed", 2, "HTTP 503", false],
    ["webhook.delivered", 3, 200, undefined],
  ]);
  // The same delivery id each time, so a receiver can drop a duplicate.
  expect(new Set(r.got.map((g) => g.headers.get("gatehouse-delivery"))).size).toBe(1);
});

test("a receiver that is down: every attempt fails and the last says final", async () => {
  const r = receiver(() => 200);
  servers.pop()!.stop(true); // nothing listens there now
  const { gate, records } = setup([{ name: "down", url: r.url, format: "json", events: ["requested"] }]);
  await hold(gate);
  await waitFor("the final failure", () => records.find((x) => x.details["final"] === true));
  expect(records.length).toBe(5);
  expect(records.every((x) => x.type === "webhook.failed")).toBe(true);
});

test("a receiver that hangs does not delay the hold, the decision or the caller; its attempt times out and is recorded", async () => {
  const hung = signal<void>();
  const r = receiver(() => new Promise<number>(() => hung.resolve()));
  const { gate, records, webhooks } = setup([{ name: "hangs", url: r.url, format: "json", timeoutMs: 200 }]);
  const { id, verdict } = await hold(gate);
  await within("the hanging receiver to get the request", hung.promise);
  // The receiver holds the delivery open: the decision and the caller's verdict come all the same.
  await gate.decideApproval(id, bob, { approve: false, reason: "not now" });
  const v = await within("the caller's verdict while the receiver hangs", verdict);
  expect(v.allowed).toBe(false);
  expect(v.message).toContain("denied by bob: not now");
  expect(webhooks.pending).toBeGreaterThan(0);
  await waitFor("the hanging attempt to time out", () => records.find((x) => x.type === "webhook.failed" && String(x.details["error"]).includes("no answer within 200 ms")));
});

test("a full queue drops new deliveries (recorded), never grows without bound", async () => {
  const hung = signal<void>();
  const r = receiver(() => new Promise<number>(() => hung.resolve()));
  const records: WebhookRecord[] = [];
  const webhooks = new ApprovalWebhooks({ hooks: () => [{ name: "q", url: r.url, format: "json", timeoutMs: 60_000 }], record: (x) => records.push(x), clock: { now: () => Date.now() }, log: silentLogger, maxQueue: 3, concurrency: 1 });
  cleanups.push(() => webhooks.close().catch(() => {}));
  const pending = { id: "apr_1", requestedAt: 0, expiresAt: 1, identity: { method: "dev", subject: "alice", issuer: "dev", groups: [] }, target: "prod", request: {}, rule: "r", approvers: [], maxGrantMs: 0 };
  for (let i = 0; i < 10; i++) webhooks.notify({ type: "approval.requested", pending, time: Date.now() });
  // One in flight, three waiting, six dropped.
  expect(records.filter((x) => x.details["error"] === "queue full: the receivers are behind; this delivery is dropped").length).toBe(6);
  expect(webhooks.pending).toBe(4);
});

test("json: the held request is in the audit log's keys (api_group, to_path), not the facts' camelCase", () => {
  const base = { id: "apr_1", requestedAt: 0, expiresAt: 1, identity: { method: "dev", subject: "alice", issuer: "dev", groups: [] }, target: "prod", rule: "r", approvers: [], maxGrantMs: 0 };
  const kube = jsonPayload({ type: "approval.requested", pending: { ...base, request: { kind: "kubernetes", verb: "patch", resource: "deployments", apiGroup: "apps", apiVersion: "v1", patchType: "merge" } }, time: 0 }, "d1", undefined);
  expect((kube["approval"] as Record<string, unknown>)["request"]).toEqual({ kind: "kubernetes", verb: "patch", resource: "deployments", api_group: "apps", api_version: "v1", patch_type: "merge" });
  const sftp = jsonPayload({ type: "approval.requested", pending: { ...base, request: { kind: "ssh", action: "sftp", user: "u", operation: "rename", path: "/a", toPath: "/b" } }, time: 0 }, "d2", undefined);
  expect((sftp["approval"] as Record<string, unknown>)["request"]).toEqual({ kind: "ssh", action: "sftp", user: "u", operation: "rename", path: "/a", to_path: "/b" });
});

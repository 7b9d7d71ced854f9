// requests / approve / deny against the real admin app, gate and approvals (in memory), served
// on a real port: what an approver sees and what each way of approving lets through after.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAdminApp } from "../admin/admin-app.ts";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals, type PendingRequest } from "../approvals/approvals.ts";
import { GatewayError } from "../core/errors.ts";
import { silentLogger } from "../core/logger.ts";
import type { Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { type AuditEvent, Gate, type Verdict } from "../gate/gate.ts";
import { clockTime, createApprovalCommands, relativeDuration } from "./approvals.ts";
import type { Io } from "./command.ts";

const T0 = Date.parse("2026-12-06T13:35:00.000Z");
const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["developers"] };
const bob: Identity = { method: "dev", subject: "bob", issuer: "dev", groups: ["approvers"] };
const carol: Identity = { method: "dev", subject: "carol", issuer: "dev", groups: ["approvers"] };
// Another issuer's "alice": not the requester alice, and no approver.
const otherAlice: Identity = { method: "oidc", subject: "alice", issuer: "https://other.example", groups: ["developers"] };
const TOKENS: Record<string, Identity> = { "alice-token": alice, "bob-token": bob, "carol-token": carol, "other-alice-token": otherAlice };
const review: Decision = {
  effect: "review",
  rule: "order-writes",
  message: "needs approval",
  masks: NO_MASKS,
  review: { approvers: ["approvers"], maxGrantMs: 3_600_000, timeoutMs: 15 * 60_000 },
};

let server: ReturnType<typeof Bun.serve>;
let gate: Gate;
let approvals: Approvals;
let events: AuditEvent[];
let fetches = 0;
let dir: string;
let nextId = 0;
const clock = { now: () => T0 };
const cli = createApprovalCommands({
  clock: { now: () => T0 + 60_000 },
  fetch: (url, init) => (fetches++, fetch(url, init)),
});

beforeEach(() => {
  // Fresh state for each test: a grant one test makes must not let another's request through.
  events = [];
  approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p), newId: () => `apr_test${++nextId}` });
  gate = new Gate({
    policy: () => ({ hash: "h1", decide: () => review }),
    audit: { append: async (e) => (events.push(e), { seq: events.length }) },
    approvals,
    clock,
    metrics: createMetrics(),
    log: silentLogger,
  });
});

afterEach(() => approvals.close());

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-approvals-cli-"));
  const app = createAdminApp({
    get gate() {
      return gate;
    },
    get approvals() {
      return approvals;
    },
    clock,
    metrics: createMetrics(),
    notReady: () => null,
    authenticate: async (t) => {
      const who = TOKENS[t];
      if (!who) throw new GatewayError("E_AUTH_MALFORMED", "not a valid token");
      return who;
    },
  });
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
});

afterAll(() => {
  server.stop(true);
  rmSync(dir, { recursive: true, force: true });
});

const admin = () => `http://127.0.0.1:${server.port}`;

function io(env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const value: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env, signal: new AbortController().signal };
  return { io: value, out: () => out, err: () => err };
}

/** alice POSTs /api/orders/new; resolves once the gate holds it (or decides it without holding). */
async function aliceAsks(): Promise<{ held: PendingRequest | null; verdict: Promise<Verdict> }> {
  let onHeld!: (p: PendingRequest | null) => void;
  const held = new Promise<PendingRequest | null>((r) => (onHeld = r));
  const verdict = gate.check({ identity: alice, target: "api", request: { kind: "http", method: "POST", path: "/api/orders/new" }, time: T0 }, { onHold: (p) => onHeld(p) });
  void verdict.then(() => onHeld(null));
  return { held: await held, verdict };
}

describe("gatehouse requests", () => {
  test("shows who asked what, as tail does, with the id first and the expiry relative", async () => {
    const { held } = await aliceAsks();
    const t = io();
    expect(await cli.requests.run(["--admin", admin(), "--token", "bob-token"], t.io)).toBe(0);
    expect(t.out()).toBe(`${held!.id} 2026-12-06T13:35:00.000Z alice api POST /api/orders/new rule=order-writes expires in 14m\n`);
    // The requester sees their own, marked as not theirs to decide.
    const mine = io();
    expect(await cli.requests.run(["--admin", admin(), "--token", "alice-token"], mine.io)).toBe(0);
    expect(mine.out()).toEndWith("expires in 14m (your own request; approvers: approvers)\n");
  });

  test("a caller with a display name (a CI job) is shown by it; --json has it as requester_name beside the subject", async () => {
    const ci: Identity = { method: "oidc", subject: "repo:acme/deploy:ref:refs/heads/main", issuer: "https://ci", groups: [], name: "github:acme/deploy@refs/heads/main", recordClaims: { run_id: "7" } };
    let onHeld!: (p: PendingRequest) => void;
    const held = new Promise<PendingRequest>((r) => (onHeld = r));
    void gate.check({ identity: ci, target: "api", request: { kind: "http", method: "POST", path: "/api/orders/new" }, time: T0 }, { onHold: (p) => onHeld(p) });
    const p = await held;
    const t = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin()], t.io)).toBe(0);
    expect(t.out()).toBe(`${p.id} 2026-12-06T13:35:00.000Z github:acme/deploy@refs/heads/main api POST /api/orders/new rule=order-writes expires in 14m\n`);
    const json = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin(), "--json"], json.io)).toBe(0);
    expect(JSON.parse(json.out()).requests).toMatchObject([{ id: p.id, requester: "repo:acme/deploy:ref:refs/heads/main", requester_name: "github:acme/deploy@refs/heads/main" }]);
    // The approval.requested record carries the name and record claims too.
    expect(events.find((e) => e.type === "approval.requested")?.identity).toMatchObject({ name: "github:acme/deploy@refs/heads/main", claims: { run_id: "7" } });
  });

  test("--ids prints the ids alone and --json the API's answer, for scripts; not both", async () => {
    const { held } = await aliceAsks();
    const ids = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin(), "--ids"], ids.io)).toBe(0);
    expect(ids.out()).toBe(`${held!.id}\n`);
    const json = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin(), "--json"], json.io)).toBe(0);
    expect(JSON.parse(json.out()).requests).toMatchObject([{ id: held!.id, requester: "alice", rule: "order-writes", can_decide: true }]);
    const both = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin(), "--json", "--ids"], both.io)).toBe(2);
    expect(both.err()).toBe("gatehouse requests: --json and --ids exclude each other\nRun 'gatehouse requests --help' for usage.\n");
  });

  test("--json shows the request facts with the audit log's snake_case keys", async () => {
    let onHeld!: (p: PendingRequest) => void;
    const held = new Promise<PendingRequest>((r) => (onHeld = r));
    void gate.check(
      { identity: alice, target: "db", request: { kind: "postgres", classes: ["read"], relations: [], functions: ["public.f"], userFunctions: ["public.f"], sql: "SELECT public.f()" }, time: T0 },
      { onHold: (p) => onHeld(p) },
    );
    await held;
    const json = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin(), "--json"], json.io)).toBe(0);
    expect(JSON.parse(json.out()).requests[0].request).toEqual({ kind: "postgres", classes: ["read"], relations: [], functions: ["public.f"], user_functions: ["public.f"], sql: "SELECT public.f()" });
    const line = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", admin()], line.io)).toBe(0);
    expect(line.out()).toContain(" alice db SELECT public.f() rule=order-writes expires in 14m");
  });

  test("--config takes a folder of YAML files (or one file) and finds gateway.admin.listen in it", async () => {
    await aliceAsks();
    const folder = join(dir, "conf");
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, "00-gateway.yaml"), `gateway:\n  admin:\n    listen: "0.0.0.0:${server.port}"\n`);
    writeFileSync(join(folder, "10-rules.yaml"), "rules: []\n");
    const t = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--config", folder, "--ids"], t.io)).toBe(0);
    expect(t.out()).toMatch(/^apr_test\d+\n$/);
    const f = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--config", join(folder, "00-gateway.yaml"), "--ids"], f.io)).toBe(0);
    expect(f.out()).toBe(t.out());
    // A configuration without an admin API says so instead of guessing.
    writeFileSync(join(dir, "no-admin.yaml"), "rules: []\n");
    const none = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--config", join(dir, "no-admin.yaml")], none.io)).toBe(1);
    expect(none.err()).toContain("no gateway.admin.listen");
  });

  test("a missing token is a usage error (exit 2) that says so, and nothing is sent", async () => {
    const before = fetches;
    for (const c of [cli.requests, cli.approve, cli.deny]) {
      const t = io();
      expect(await c.run(c.name === "requests" ? ["--admin", admin()] : ["apr_x", "--admin", admin()], t.io)).toBe(2);
      expect(t.err()).toBe(`gatehouse ${c.name}: missing token: pass --token TOKEN or set GATEHOUSE_TOKEN (your own token, as an approver)\nRun 'gatehouse ${c.name} --help' for usage.\n`);
    }
    expect(fetches).toBe(before);
  });

  test("an admin API that is not there is a failure (exit 1) naming the address", async () => {
    const t = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.requests.run(["--admin", "http://127.0.0.1:1"], t.io)).toBe(1);
    expect(t.err()).toStartWith("gatehouse requests: cannot reach the admin API at http://127.0.0.1:1/v1/requests");
  });
});

describe("gatehouse approve", () => {
  test("approve ID releases that one request: the next one like it is held again", async () => {
    const first = await aliceAsks();
    const t = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([first.held!.id, "--admin", admin()], t.io)).toBe(0);
    expect(t.out()).toBe(
      `approved ${first.held!.id}: alice's request POST /api/orders/new on api runs this once; the next one is held for approval again (approve with --for 30m to grant the rule for a while)\n`,
    );
    expect((await first.verdict).allowed).toBe(true);
    expect(approvals.liveGrants(T0)).toEqual([]);
    const granted = events.findLast((e) => e.type === "approval.granted")!;
    expect(granted.details).not.toHaveProperty("grant_until");
    const second = await aliceAsks();
    expect(second.held).not.toBeNull();
    expect(second.held!.id).not.toBe(first.held!.id);
  });

  test("approve ID --for 30m grants alice the whole rule on the target for 30m and says so; the next request is let through", async () => {
    const first = await aliceAsks();
    const t = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([first.held!.id, "--for", "30m", "--admin", admin()], t.io)).toBe(0);
    expect(t.out()).toBe(`approved ${first.held!.id}: alice may now run anything rule order-writes allows on target api for 30m, until 14:05 UTC\n`);
    expect((await first.verdict).allowed).toBe(true);
    const second = await aliceAsks();
    expect(second.held).toBeNull();
    expect(await second.verdict).toMatchObject({ allowed: true, approvalId: first.held!.id });
    // The grant as the admin API lists it: snake_case like every other field of the API and the log.
    const r = await fetch(`${admin()}/v1/grants`, { headers: { authorization: "Bearer bob-token" } });
    expect(((await r.json()) as { grants: unknown[] }).grants).toEqual([
      { approval_id: first.held!.id, subject: "alice", issuer: expect.any(String), rule: "order-writes", target: "api", approver: "bob", until: expect.stringMatching(/T14:05:00\.000Z$/) },
    ]);
  });

  test("what the API refuses is exit 1 with its reason; a bad --for or no id is exit 2", async () => {
    const { held } = await aliceAsks();
    const own = io({ GATEHOUSE_TOKEN: "alice-token" });
    expect(await cli.approve.run([held!.id, "--admin", admin()], own.io)).toBe(1);
    expect(own.err()).toContain("cannot approve or deny it");
    const long = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([held!.id, "--for", "2h", "--admin", admin()], long.io)).toBe(1);
    expect(long.err()).toBe(`gatehouse approve: a grant of 2h exceeds the limit of rule "order-writes" (grant_max 1h)\n`);
    const bad = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([held!.id, "--for", "half an hour", "--admin", admin()], bad.io)).toBe(2);
    expect(bad.err()).toStartWith(`gatehouse approve: invalid duration: "half an hour"`);
    const zero = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([held!.id, "--for", "0m", "--admin", admin()], zero.io)).toBe(2);
    const noId = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run(["--admin", admin()], noId.io)).toBe(2);
    expect(noId.err()).toBe("gatehouse approve: missing request id\nRun 'gatehouse approve --help' for usage.\n");
    const badToken = io({ GATEHOUSE_TOKEN: "forged" });
    expect(await cli.approve.run([held!.id, "--admin", admin()], badToken.io)).toBe(1);
    expect(badToken.err()).toContain("the admin API did not accept your token");
    expect(approvals.pending().map((p) => p.id)).toEqual([held!.id]);
  });
});

test("the admin API refuses a grant length it cannot read instead of approving without one", async () => {
  const { held } = await aliceAsks();
  for (const body of [{ for: 1_800_000 }, { for: "0m" }, { for: "soon" }]) {
    const r = await fetch(`${admin()}/v1/requests/${held!.id}/approve`, { method: "POST", headers: { authorization: "Bearer bob-token" }, body: JSON.stringify(body) });
    expect(r.status).toBe(400);
  }
  expect(approvals.pending().map((p) => p.id)).toEqual([held!.id]);
});

test("the admin API shows a requester their own held requests, not those of the same subject at another issuer", async () => {
  const { held } = await aliceAsks();
  const list = async (token: string) => ((await (await fetch(`${admin()}/v1/requests`, { headers: { authorization: `Bearer ${token}` } })).json()) as { requests: { id: string }[] }).requests.map((r) => r.id);
  expect(await list("alice-token")).toEqual([held!.id]);
  expect(await list("other-alice-token")).toEqual([]);
});

describe("approvals_required: 2 through the CLI and API", () => {
  test("bob's approval is recorded and shown; alice stays held until carol approves too", async () => {
    const two: Decision = { ...review, review: { ...review.review!, approvalsRequired: 2 } };
    gate = new Gate({ policy: () => ({ hash: "h1", decide: () => two }), audit: { append: async (e) => (events.push(e), { seq: events.length }) }, approvals, clock, metrics: createMetrics(), log: silentLogger });
    const { held, verdict } = await aliceAsks();
    let settled = false;
    void verdict.then(() => (settled = true));
    const b = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([held!.id, "--admin", admin()], b.io)).toBe(0);
    expect(b.out()).toBe(`approval recorded for ${held!.id} (1 of 2): alice's request POST /api/orders/new on api stays held until 1 more approver(s) approve it\n`);
    expect(settled).toBe(false);
    const again = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.approve.run([held!.id, "--admin", admin()], again.io)).toBe(1);
    expect(again.err()).toContain("has already approved");
    const list = io({ GATEHOUSE_TOKEN: "carol-token" });
    expect(await cli.requests.run(["--admin", admin()], list.io)).toBe(0);
    expect(list.out()).toContain("approvals=1/2 (bob)");
    const c = io({ GATEHOUSE_TOKEN: "carol-token" });
    expect(await cli.approve.run([held!.id, "--admin", admin()], c.io)).toBe(0);
    expect(c.out()).toStartWith(`approved ${held!.id}: alice's request`);
    expect((await verdict).allowed).toBe(true);
  });
});

describe("gatehouse deny", () => {
  test("denies with the reason, which the caller gets", async () => {
    const { held, verdict } = await aliceAsks();
    const t = io({ GATEHOUSE_TOKEN: "bob-token" });
    expect(await cli.deny.run([held!.id, "--reason", "not today", "--admin", admin()], t.io)).toBe(0);
    expect(t.out()).toBe(`denied ${held!.id}: alice's request POST /api/orders/new on api is refused\n`);
    expect((await verdict).message).toContain("not today");
  });
});

test("relative durations and clock times read as people say them", () => {
  expect(relativeDuration(45_000)).toBe("45s");
  expect(relativeDuration(14 * 60_000 + 59_000)).toBe("14m");
  expect(relativeDuration(65 * 60_000)).toBe("1h 5m");
  expect(relativeDuration(2 * 3_600_000)).toBe("2h");
  expect(relativeDuration(51 * 3_600_000)).toBe("2d 3h");
  expect(clockTime(Date.parse("2026-12-06T14:05:00Z"), T0)).toBe("14:05 UTC");
  expect(clockTime(Date.parse("2026-12-07T00:05:00Z"), T0)).toBe("2026-12-07 00:05 UTC");
});

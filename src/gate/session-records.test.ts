import { expect, test } from "bun:test";
import { readFileSync, symlinkSync } from "node:fs";
import { createMetrics } from "../admin/metrics.ts";
import { Approvals } from "../approvals/approvals.ts";
import { tempLogs } from "../audit/audit-test-helpers.ts";
import { openAuditLog, type AuditLog } from "../audit/log.ts";
import { verifyLog } from "../audit/verify.ts";
import { silentLogger } from "../core/logger.ts";
import type { Action, Decision, Identity } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { auditAction, auditIdentity, type AuditEvent, type DecidingPolicy, Gate } from "./gate.ts";
import { RecordsByIdentity, SessionRecords } from "./session-records.ts";

const tempLog = tempLogs("gatehouse-session-records-");
const clock = { now: () => Date.UTC(2026, 11, 6, 12, 0, 0) };
const alice: Identity = { method: "oidc", subject: "alice", issuer: "https://idp", groups: ["eng", "é"] };
const mallory: Identity = { method: "oidc", subject: "mallory", issuer: "https://idp", groups: ["eng", "é"] };

const policy: DecidingPolicy = {
  hash: "h1",
  decide: (a) => {
    const sql = a.request.kind === "postgres" ? (a.request.sql ?? "") : "";
    if (sql.startsWith("SELECT")) return { effect: "allow", rule: "read", message: "allowed by rule read", masks: NO_MASKS };
    if (sql.startsWith("DROP")) return { effect: "deny", rule: "no-drop", message: `no "drop": ${sql}`, masks: NO_MASKS };
    return { effect: "deny", rule: null, message: "no rule allows it", masks: NO_MASKS };
  },
  describeDenial: (_a, d: Decision) => (d.rule === null ? { ...d, detail: "saw: write; no rule allows writes" } : d),
};

function gateOn(audit: AuditLog | { append(e: AuditEvent): Promise<{ seq: number }> }): Gate {
  const approvals = new Approvals({ clock, onExpire: () => {} });
  return new Gate({ policy: () => policy, audit, approvals, clock, metrics: createMetrics(), log: silentLogger });
}

const statement = (identity: Identity, sql: string): Action => ({
  identity,
  target: "db",
  request: { kind: "postgres", classes: ["read"], relations: ["public.t"], functions: [], userFunctions: ["public.f"], sql },
  time: clock.now(),
});

const SQL = ["SELECT 1", "SELECT 'a\"b\\\\c'\n", "DROP TABLE t", "INSERT INTO t VALUES (1)", "SELECT \ud83d\ude00", "SELECT 1"];

/** The same checks and completions through one gate, with or without the session's templates. */
async function run(path: string, withRecords: boolean): Promise<boolean[]> {
  const log = await openAuditLog({ path, clock });
  const gate = gateOn(log);
  const records = new SessionRecords({ session: "pg_1", identity: auditIdentity(alice), target: "db" });
  const allowed: boolean[] = [];
  for (const [i, sql] of SQL.entries()) {
    // Every third statement by another identity in the same session id: never the session's template.
    const who = i % 3 === 2 ? mallory : alice;
    const ctx = { session: "pg_1", details: { protocol: i % 2 === 0 ? "simple" : "extended" }, ...(withRecords ? { records } : {}) };
    const v = await gate.check(statement(who, sql), ctx);
    allowed.push(v.allowed);
    const completion = { action: auditAction(statement(alice, sql).request), details: { outcome: "complete", rows: i, duration_ms: 0.25 } };
    if (withRecords) await gate.recordLaterFrom(records.template("statement", { effect: "allow", rule: v.decision.rule }), completion);
    else await gate.recordLater({ type: "statement", session: "pg_1", identity: auditIdentity(alice), target: "db", decision: { effect: "allow", rule: v.decision.rule }, ...completion });
  }
  await log.close();
  return allowed;
}

test("decision and completion records from the session's templates are byte for byte those of the plain path", async () => {
  const plain = tempLog();
  const fast = tempLog();
  const a = await run(plain, false);
  const b = await run(fast, true);
  expect(b).toEqual(a);
  expect(a).toEqual([true, true, false, false, true, true]);
  const text = readFileSync(fast, "utf8");
  expect(text).toBe(readFileSync(plain, "utf8"));
  expect(text.split("\n").length - 1).toBe(SQL.length * 2);
  expect(await verifyLog(fast)).toEqual({ ok: true, records: SQL.length * 2 });
});

test("the decision record is in the file when check() returns (flushed, not left for the tick's end)", async () => {
  const path = tempLog();
  const log = await openAuditLog({ path, clock });
  const gate = gateOn(log);
  const records = new SessionRecords({ session: "pg_1", identity: auditIdentity(alice), target: "db" });
  const before = log.stats.writes;
  const v = await gate.check(statement(alice, "SELECT 1"), { session: "pg_1", records });
  expect(v.allowed).toBe(true);
  expect(log.stats.writes).toBe(before + 1);
  expect(readFileSync(path, "utf8")).toContain('"type":"decision"');
  await log.close();
});

test("an audit log that cannot write denies on the template path too", async () => {
  const path = tempLog();
  symlinkSync("/dev/full", path);
  const log = await openAuditLog({ path, clock });
  const gate = gateOn(log);
  const records = new SessionRecords({ session: "pg_1", identity: auditIdentity(alice), target: "db" });
  const v = await gate.check(statement(alice, "SELECT 1"), { session: "pg_1", records });
  expect(v.allowed).toBe(false);
  expect(v.message).toContain("audit log unavailable");
  // A completion has happened already: its lost record is counted, not thrown at the session.
  const metrics = createMetrics();
  const counting = new Gate({ policy: () => policy, audit: log, approvals: new Approvals({ clock, onExpire: () => {} }), clock, metrics, log: silentLogger });
  await counting.recordLaterFrom(records.template("statement"), {}, "statement");
  expect(metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="statement"} 1');
  await log.close().catch(() => {});
});

test("a sink without appendSync gets the same event through append()", async () => {
  const events: AuditEvent[] = [];
  const gate = gateOn({ append: async (e: AuditEvent) => (events.push(e), { seq: events.length }) });
  const records = new SessionRecords({ session: "pg_1", identity: auditIdentity(alice), target: "db" });
  await gate.check(statement(alice, "SELECT 1"), { session: "pg_1", records });
  await gate.recordLaterFrom(records.template("statement", { effect: "allow", rule: "read" }), { details: { rows: 1 } });
  expect(events[0]).toMatchObject({ type: "decision", session: "pg_1", policy: "h1", decision: { effect: "allow", rule: "read" } });
  expect(events[1]).toEqual({ type: "statement", session: "pg_1", identity: auditIdentity(alice), target: "db", decision: { effect: "allow", rule: "read", message: undefined }, details: { rows: 1 } } as AuditEvent);
});

test("templates are cached per type, decision and policy; a changed group array does not change the records", () => {
  const groups = ["eng"];
  const records = new SessionRecords({ session: "s", identity: { method: "oidc", subject: "a", issuer: "i", groups }, target: "t" });
  const t1 = records.template("decision", { effect: "allow", rule: "r", message: "m" }, "h1");
  expect(records.template("decision", { effect: "allow", rule: "r", message: "m" }, "h1")).toBe(t1);
  expect(records.template("decision", { effect: "allow", rule: "r", message: "m" }, "h2")).not.toBe(t1);
  expect(records.template("decision", { effect: "allow", rule: null, message: "m" }, "h1")).not.toBe(t1);
  expect(records.template("decision", { effect: "allow", rule: "null", message: "m" }, "h1")).not.toBe(records.template("decision", { effect: "allow", rule: null, message: "m" }, "h1"));
  groups.push("admin");
  expect(t1.event({})).toMatchObject({ identity: { groups: ["eng"] } });
  expect(records.matches("s", { method: "oidc", subject: "a", issuer: "i", groups: ["eng"] }, "t")).toBe(true);
  expect(records.matches("s", { method: "oidc", subject: "a", issuer: "i", groups: ["eng", "admin"] }, "t")).toBe(false);
  expect(records.matches("s2", { method: "oidc", subject: "a", issuer: "i", groups: ["eng"] }, "t")).toBe(false);
});

test("strict mode: the template path's decision record is fsync'd before check() returns", async () => {
  const path = tempLog();
  const log = await openAuditLog({ path, clock, durability: "strict" });
  const gate = gateOn(log);
  const records = new SessionRecords({ session: "pg_1", identity: auditIdentity(alice), target: "db" });
  for (let i = 0; i < 5; i++) {
    const v = await gate.check(statement(alice, `SELECT ${i}`), { session: "pg_1", records });
    expect(v.allowed).toBe(true);
    expect(log.durableSeq).toBe(log.lastSeq);
  }
  await log.close();
});

test("appendRecord + flushRecords: batch writes at once (no promise); a sink without appendSync gives a promise to await", async () => {
  const path = tempLog();
  const log = await openAuditLog({ path, clock });
  const gate = gateOn(log);
  const records = new SessionRecords({ session: "s", identity: auditIdentity(alice), target: "db" });
  const t = records.template("request", { effect: "allow", rule: "r" }, "h1");
  expect(gate.appendRecord(t, { details: { n: 1 } }, { lazy: true })).toBe(1);
  expect(gate.appendRecord(t, { details: { n: 2 } })).toBe(2);
  expect(gate.flushRecords()).toBeUndefined();
  expect(readFileSync(path, "utf8").split("\n").length - 1).toBe(2);
  await log.close();

  const events: AuditEvent[] = [];
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const slow = gateOn({ append: async (e: AuditEvent) => (await held, events.push(e), { seq: events.length }) });
  expect(slow.appendRecord(t, { details: { n: 1 } })).toBe(-1);
  const flushed = slow.flushRecords();
  expect(flushed).toBeInstanceOf(Promise);
  let done = false;
  void flushed!.then(() => (done = true));
  await Promise.resolve();
  expect(done).toBe(false);
  release();
  await flushed;
  expect(events).toHaveLength(1);
});

const httpRequest = (identity: Identity, method: string, path: string, query?: string): Action => ({
  identity,
  target: "api",
  request: { kind: "http", method, path, ...(query !== undefined ? { query } : {}) },
  time: clock.now(),
});

const httpPolicy: DecidingPolicy = {
  hash: "h2",
  decide: (a) => {
    const r = a.request;
    if (r.kind === "http" && r.method === "GET") return { effect: "allow", rule: "read", message: "allowed by rule read", masks: NO_MASKS };
    return { effect: "deny", rule: null, message: "no rule allows it", masks: NO_MASKS };
  },
  describeDenial: (a, d: Decision) => (d.rule === null && a.request.kind === "http" ? { ...d, detail: `saw: ${a.request.method} ${a.request.path}` } : d),
};

/** HTTP's shape: each request its own session id, one SessionRecords per identity (session per record). */
async function runHttp(path: string, withRecords: boolean): Promise<boolean[]> {
  const log = await openAuditLog({ path, clock });
  const gate = new Gate({ policy: () => httpPolicy, audit: log, approvals: new Approvals({ clock, onExpire: () => {} }), clock, metrics: createMetrics(), log: silentLogger });
  const perIdentity = new Map<string, SessionRecords>();
  const recordsOf = (i: Identity) => {
    let r = perIdentity.get(i.subject);
    if (r === undefined) perIdentity.set(i.subject, (r = new SessionRecords({ identity: auditIdentity(i), target: "api" }, { sessionPerRecord: true })));
    return r;
  };
  const requests: [Identity, string, string, string?][] = [
    [alice, "GET", "/items", "a=1"],
    [mallory, "GET", "/items/\"é\"/\ud83d\ude00"],
    [alice, "DELETE", "/items/1"],
    [alice, "GET", "/items", "a=2&token=[redacted]"],
    [mallory, "POST", "/x"],
  ];
  const allowed: boolean[] = [];
  for (const [n, [who, method, p, q]] of requests.entries()) {
    const id = `req_${n}`;
    const action = httpRequest(who, method, p, q);
    const ctx = { session: id, ...(n === 3 ? { details: { websocket: true } } : {}), ...(withRecords ? { records: recordsOf(who) } : {}) };
    const v = await gate.check(action, ctx);
    allowed.push(v.allowed);
    const details = { status: v.allowed ? 200 : 403, bytes_out: n * 10, duration_ms: 0.125, outcome: "ok" };
    if (withRecords) await gate.recordLaterFrom(recordsOf(who).template("request"), { session: id, action: action.request, details }, "request");
    else await gate.recordLater({ type: "request", session: id, identity: auditIdentity(who), target: "api", action: action.request as unknown as Record<string, unknown>, details });
  }
  // A record without a session id at all (left out, as the plain path leaves it out).
  const noSession = httpRequest(alice, "GET", "/none");
  await gate.check(noSession, withRecords ? { records: recordsOf(alice) } : {});
  await log.close();
  return allowed;
}

test("HTTP shape: per-identity templates with the request id per record write the plain path's bytes", async () => {
  const plain = tempLog();
  const fast = tempLog();
  const a = await runHttp(plain, false);
  const b = await runHttp(fast, true);
  expect(b).toEqual(a);
  expect(a).toEqual([true, true, false, true, false]);
  const text = readFileSync(fast, "utf8");
  expect(text).toBe(readFileSync(plain, "utf8"));
  expect(text).toContain('"session":"req_4"');
  expect(text.split("\n").length - 1).toBe(11);
  expect(await verifyLog(fast)).toEqual({ ok: true, records: 11 });
});

test("session per record: matches any session id of its identity, and a session id must be a string", () => {
  const records = new SessionRecords({ identity: auditIdentity(alice), target: "api" }, { sessionPerRecord: true });
  expect(records.matches("req_1", auditIdentity(alice), "api")).toBe(true);
  expect(records.matches("req_2", auditIdentity(alice), "api")).toBe(true);
  expect(records.matches("req_2", auditIdentity(mallory), "api")).toBe(false);
  expect(records.matches("req_2", auditIdentity(alice), "db")).toBe(false);
  const t = records.template("request");
  expect(t.canonical(1, "2026-12-06T12:00:00.000Z", "0".repeat(64), { session: "req_1", details: {} })).toContain('"session":"req_1"');
  expect(() => t.canonical(1, "2026-12-06T12:00:00.000Z", "0".repeat(64), { session: 5 as unknown as string })).toThrow("/session: Expected string");
  expect(() => new SessionRecords({ session: "s", identity: auditIdentity(alice), target: "api" }, { sessionPerRecord: true })).toThrow();
  // A fixed-session template ignores a session given per record (matches() kept it to its own).
  const fixed = new SessionRecords({ session: "s", identity: auditIdentity(alice), target: "api" }).template("request");
  expect(fixed.canonical(1, "2026-12-06T12:00:00.000Z", "0".repeat(64), { session: "other" })).toContain('"session":"s"');
});

test("RecordsByIdentity: one SessionRecords per identity, found again by object or by fields, bounded", () => {
  const byIdentity = new RecordsByIdentity("api", 2);
  const a = byIdentity.for(alice);
  expect(byIdentity.for(alice)).toBe(a);
  // Another object with the same fields (a fresh authentication): the same templates.
  expect(byIdentity.for({ ...alice, groups: [...alice.groups] })).toBe(a);
  // A group more is another identity, never alice's templates.
  const more = byIdentity.for({ ...alice, groups: [...alice.groups, "admin"] });
  expect(more).not.toBe(a);
  expect(more.fields.identity.groups).toEqual(["eng", "é", "admin"]);
  // The same object changed after its templates were built: looked up again by its fields.
  const changing: Identity = { ...mallory, groups: ["eng"] };
  const m1 = byIdentity.for(changing);
  (changing.groups as string[]).push("ops");
  const m2 = byIdentity.for(changing);
  expect(m2).not.toBe(m1);
  expect(m2.matches("req_9", auditIdentity(changing), "api")).toBe(true);
  expect(byIdentity.size).toBe(2);
});

test("a completion queued while the log was writable, dropped when its write fails, is counted as lost", async () => {
  const path = tempLog();
  symlinkSync("/dev/full", path);
  const log = await openAuditLog({ path, clock });
  const metrics = createMetrics();
  const errors: string[] = [];
  const gate = new Gate({ policy: () => policy, audit: log, approvals: new Approvals({ clock, onExpire: () => {} }), clock, metrics, log: { ...silentLogger, error: (msg: string) => void errors.push(msg) } });
  const records = new RecordsByIdentity("api").for(auditIdentity(alice));
  // Queued at once (the log has not failed yet); written with the next write, which fails.
  await gate.recordLaterFrom(records.template("request"), { session: "req_1", details: { status: 200 } }, "request");
  expect(metrics.render()).not.toContain('record="request"');
  await log.sync().catch(() => {});
  expect(metrics.render()).toContain('gatehouse_audit_write_failures_total{outcome="lost",record="request"} 1');
  expect(errors).toContain("audit record lost: the request record could not be written");
  await log.close().catch(() => {});
});

test("RecordsByIdentity: identities that differ only in a verified claim get different templates (what is kept per template, the HTTP known routes, may depend on it); display name and record_claims are in their records", () => {
  const byIdentity = new RecordsByIdentity("api");
  const ci = (ref: string): Identity => ({
    method: "oidc",
    subject: "repo:acme/deploy",
    issuer: "https://ci",
    groups: [],
    claims: Object.freeze({ sub: "repo:acme/deploy", ref }),
    name: "github:acme/deploy",
    recordClaims: Object.freeze({ repository: "acme/deploy" }),
  });
  const main = byIdentity.for(ci("refs/heads/main"));
  const branch = byIdentity.for(ci("refs/heads/feature"));
  expect(branch).not.toBe(main);
  expect(byIdentity.for(ci("refs/heads/main"))).toBe(main);
  expect(main.fields.identity).toEqual({ method: "oidc", subject: "repo:acme/deploy", issuer: "https://ci", groups: [], name: "github:acme/deploy", claims: { repository: "acme/deploy" } });
  // A record for an identity with another display name or other record claims is not these templates'.
  expect(main.matches(undefined, ci("refs/heads/main"), "api")).toBe(true);
  expect(main.matches(undefined, { ...ci("refs/heads/main"), name: "github:other" }, "api")).toBe(false);
  expect(main.matches(undefined, { ...ci("refs/heads/main"), recordClaims: { repository: "other" } }, "api")).toBe(false);
  expect(main.matches(undefined, { ...ci("refs/heads/main"), recordClaims: { repository: "acme/deploy" } }, "api")).toBe(true);
});

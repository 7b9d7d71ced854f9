import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../audit/log.ts";
import { renderTranscript, replayCommand } from "./replay.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-replay-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["analysts"] };

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await replayCommand.run(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env: {}, signal: new AbortController().signal });
  return { code, out, err };
}

/**
 * One psql-like session in the log at `path`. `folded`: the first statement's completion rides
 * in the next decision record's details.completed, as the hot path writes it; its time slot is
 * kept so that both logs have the same times.
 */
async function writeSession(path: string, folded: boolean): Promise<void> {
  let t = Date.parse("2026-03-02T10:00:00.000Z");
  // Each record 250 ms after the one before. The clock moves only here: the log also reads it
  // for its own timing (the fsync interval), as often as it needs to.
  const log0 = await openAuditLog({ path, clock: { now: () => t } });
  const log = { append: (e: Parameters<typeof log0.append>[0]) => ((t += 250), log0.append(e)), close: () => log0.close() };
  const sql = (s: string, classes: string[]) => ({ kind: "postgres", classes, relations: ["sales.customers"], functions: [], sql: s });
  await log.append({ type: "session.start", session: "pg_1", identity, target: "db", details: { remote: "127.0.0.1:5000", tls: true, user: "alice", parameters: { application_name: "psql" } } });
  await log.append({ type: "session.start", session: "pg_2", identity, target: "db", details: {} });
  const select = await log.append({ type: "decision", session: "pg_1", identity, target: "db", action: sql("SELECT\n  email FROM sales.customers", ["read"]), decision: { effect: "allow", rule: "analysts", message: "ok" } });
  const completion = { outcome: "complete", tag: "SELECT 2", rows: 2, duration_ms: 1.5, masked_cells: 2 };
  if (folded) t += 250;
  else await log.append({ type: "statement", session: "pg_1", identity, target: "db", action: sql("SELECT\n  email FROM sales.customers", ["read"]), decision: { effect: "allow", rule: "analysts" }, details: completion });
  await log.append({ type: "decision", session: "pg_1", identity, target: "db", action: sql("DROP DATABASE x", ["ddl.drop.database"]), decision: { effect: "deny", rule: "no-drop", message: "blocked by the operator" }, ...(folded ? { details: { completed: [{ ...completion, decision: select.seq }] } } : {}) });
  await log.append({ type: "decision", session: "pg_1", identity, target: "db", action: sql("SELECT 1/0", ["read"]), decision: { effect: "allow", rule: "analysts", message: "ok" } });
  await log.append({ type: "statement", session: "pg_1", identity, target: "db", action: sql("SELECT 1/0", ["read"]), decision: { effect: "allow", rule: "analysts" }, details: { outcome: "error", error: { code: "22012", message: "division by zero" }, rows: 0, duration_ms: 0.4 } });
  await log.append({ type: "session.end", session: "pg_1", identity, target: "db", details: { duration_ms: 2100, statements: 2, bytes_in: 300, bytes_out: 900 } });
  await log.close();
}

for (const folded of [false, true]) {
  test(`a session's records become a transcript; other sessions are left out (${folded ? "a completion folded into the next decision" : "standalone statement records"})`, async () => {
    const path = join(dir, folded ? "folded.log" : "audit.log");
    await writeSession(path, folded);
    const r = await run(["pg_1", path]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toBe(
      [
        "session pg_1 on db — alice (analysts)",
        "2026-03-02T10:00:00.250Z  START  from 127.0.0.1:5000, TLS, user alice, application_name=psql",
        "10:00:00.750  #1 ALLOW (analysts)",
        "                 SELECT email FROM sales.customers",
        "                 → SELECT 2 · 2 rows · 1.5 ms · 2 cells masked",
        "10:00:01.250  #2 DENY (no-drop): blocked by the operator",
        "                 DROP DATABASE x",
        "10:00:01.500  #3 ALLOW (analysts)",
        "                 SELECT 1/0",
        "                 → ERROR 22012: division by zero · 0 rows · 0.4 ms",
        "10:00:02.000  END    after 2.1 s: 2 statements, 300 bytes in, 900 bytes out",
        "",
      ].join("\n"),
    );
    const json = await run(["pg_2", path, "--json"]);
    expect(json.out.trim().split("\n").map((l) => JSON.parse(l).type)).toEqual(["session.start"]);
  });
}

test("an HTTP request's completion carried by the decision record of its connection's next request (another session) is in its transcript, and not in that one's", async () => {
  const path = join(dir, "http.log");
  const log = await openAuditLog({ path });
  const get = (p: string) => ({ kind: "http", method: "GET", path: p });
  const allow = { effect: "allow" as const, rule: "read", message: "ok" };
  const first = await log.append({ type: "decision", session: "req_1", identity, target: "api", action: get("/a"), decision: allow });
  await log.append({ type: "decision", session: "req_2", identity, target: "api", action: get("/b"), decision: allow, details: { completed: [{ decision: first.seq, session: "req_1", status: 200, bytes_out: 12, duration_ms: 0.5, outcome: "ok" }] } });
  await log.append({ type: "request", session: "req_2", identity, target: "api", action: get("/b"), details: { status: 404, bytes_out: 0, duration_ms: 0.2, outcome: "ok" } });
  await log.close();
  const one = await run(["req_1", path]);
  expect(one.code).toBe(0);
  const lines = one.out.trim().split("\n");
  expect(lines[0]).toBe("session req_1 on api — alice (analysts)");
  expect(lines.slice(1)).toEqual([expect.stringMatching(/  #1 ALLOW \(read\)$/), "                 GET /a", "                 → status 200 · 0.5 ms"]);
  expect(one.out).not.toContain("/b");
  // The other request's transcript has its own completion only.
  const two = await run(["req_2", path]);
  expect(two.out).not.toContain("GET /a");
  expect(two.out).toContain("→ status 404");
  // --json: the request's records as stored, and the one that carries its completion.
  const json = await run(["req_1", path, "--json"]);
  expect(json.out.trim().split("\n").map((l) => JSON.parse(l).session)).toEqual(["req_1", "req_2"]);
});

test("a folded completion whose decision record is not in the log names the decision's seq", () => {
  const rec = { seq: 9, time: "2026-03-02T10:00:00.000Z", prev: "0".repeat(64), hash: "0".repeat(64), session: "pg_1", target: "db" };
  const out = renderTranscript([{ ...rec, type: "decision", action: { kind: "postgres", sql: "SELECT 2" }, decision: { effect: "allow", rule: "r" }, details: { completed: [{ decision: 4, outcome: "complete", tag: "SELECT 1", rows: 1 }] } }]);
  expect(out.split("\n").slice(1, 3)).toEqual(["10:00:00.000  (run) (decision #4)", "                 → SELECT 1 · 1 row"]);
});

test("an unknown session, or missing arguments, say so", async () => {
  const none = await run(["pg_nope", join(dir, "audit.log")]);
  expect(none.code).toBe(1);
  expect(none.err).toContain("no records of session pg_nope");
  const usage = await run([]);
  expect(usage.code).toBe(2);
  expect(usage.err).toContain("give the session id");
  expect(renderTranscript([{ seq: 1, time: "2026-03-02T10:00:00.000Z", prev: "0".repeat(64), hash: "0".repeat(64), type: "request", session: "h", target: "api", action: { kind: "http", method: "GET", path: "/x" }, details: { status: 200, duration_ms: 3 } }])).toContain("(run) GET /x");
});

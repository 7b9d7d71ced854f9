import { expect, test } from "bun:test";
import { Hono } from "hono";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { openAuditLog } from "../../audit/log.ts";
import { tempLogs } from "../../audit/audit-test-helpers.ts";
import type { Identity } from "../../core/types.ts";
import type { AuditEvent } from "../../gate/gate.ts";
import { LiveSessionRegistry, type EndedBy } from "../../gate/live-sessions.ts";
import { createAuditPages } from "../audit/audit-pages.ts";
import { VerifyRunner } from "../audit/verify-runner.ts";
import type { ConsoleEnv, ConsoleRole, RenderPage } from "../console-env.ts";
import { createSessionPages } from "./session-pages.ts";
import { waitFor } from "../../../test/helpers/wait.ts";

const newLog = tempLogs("gatehouse-console-");
const render: RenderPage = (_v, title, body) => `<!doctype html><title>${title}</title><main>${body}</main>`;
const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["dba"] };
const who = { method: "dev", subject: "bob", issuer: "dev", groups: ["analysts"] };
const EVIL_SQL = `select '<script>alert(1)</script>' from "t"`;

/**
 * `folded`: the log also holds session pg_f, pg_1's statement with its completion folded into the
 * next decision record; and HTTP requests req_a and req_b on one connection, req_a's completion
 * carried by req_b's decision record (another session), req_b's a request record of its own.
 */
async function setUp(roles: ConsoleRole[], folded = false) {
  const path = newLog();
  const recordings = join(dirname(path), "recordings");
  mkdirSync(recordings);
  const cast = join(recordings, "ssh_1-1.cast");
  writeFileSync(cast, '{"version":2,"width":80,"height":24}\n[0.1,"o","hello\\r\\n"]\n');
  let now = Date.parse("2026-12-07T01:00:00.000Z");
  const log = await openAuditLog({ path, clock: { now: () => (now += 10) } });
  await log.append({ type: "session.start", session: "pg_1", identity: who, target: "prod" });
  await log.append({ type: "statement", session: "pg_1", identity: who, target: "prod", action: { kind: "postgres", sql: EVIL_SQL }, decision: { effect: "allow", rule: "read" }, details: { rows: 3, duration_ms: 1.5, masked_cells: 2 } });
  await log.append({ type: "decision", session: "pg_1", identity: who, target: "prod", action: { kind: "postgres", sql: "drop table t" }, decision: { effect: "deny", rule: null, message: "no rule allows drop" } });
  await log.append({ type: "session.end", session: "pg_1", identity: who, target: "prod", details: { duration_ms: 30, statements: 2 } });
  if (folded) {
    // The same statement with its completion folded into the session's next decision record (the hot path).
    await log.append({ type: "session.start", session: "pg_f", identity: who, target: "prod" });
    const allowed = await log.append({ type: "decision", session: "pg_f", identity: who, target: "prod", action: { kind: "postgres", sql: EVIL_SQL }, decision: { effect: "allow", rule: "read" } });
    await log.append({ type: "decision", session: "pg_f", identity: who, target: "prod", action: { kind: "postgres", sql: "drop table t" }, decision: { effect: "deny", rule: null, message: "no rule allows drop" }, details: { completed: [{ decision: allowed.seq, rows: 3, duration_ms: 1.5, masked_cells: 2 }] } });
    await log.append({ type: "session.end", session: "pg_f", identity: who, target: "prod", details: { duration_ms: 30, statements: 2 } });
    const get = (p: string) => ({ kind: "http", method: "GET", path: p });
    const a = await log.append({ type: "decision", session: "req_a", identity: who, target: "api", action: get("/api/a"), decision: { effect: "allow", rule: "read-api", message: "ok" } });
    const carried = { decision: a.seq, session: "req_a", status: 200, bytes_out: 12, duration_ms: 0.5, outcome: "ok" };
    await log.append({ type: "decision", session: "req_b", identity: { ...who, subject: "alice" }, target: "api", action: get("/api/b"), decision: { effect: "allow", rule: "read-api", message: "ok" }, details: { completed: [carried] } });
    await log.append({ type: "request", session: "req_b", identity: { ...who, subject: "alice" }, target: "api", action: get("/api/b"), details: { status: 201, bytes_out: 0, duration_ms: 0.2, outcome: "ok" } });
  }
  await log.append({ type: "request", session: "req_1", identity: who, target: "api", action: { kind: "http", method: "GET", path: "/<img src=x onerror=alert(1)>" }, decision: { effect: "deny", rule: null }, details: { status: 403 } });
  await log.append({ type: "session.start", session: "ssh_1", identity: who, target: "web" });
  await log.append({ type: "channel.end", session: "ssh_1", identity: who, target: "web", action: { kind: "ssh", action: "shell", user: "deploy" }, details: { recording: { file: cast, sha256: "0".repeat(64), bytes: 10, events: 1, truncated: false } } });
  await log.append({ type: "session.end", session: "ssh_1", identity: who, target: "web", details: { duration_ms: 20, channels: 1 } });
  // An exec without a terminal: its captured output.
  writeFileSync(join(recordings, "ssh_3-1.stdout"), "<b>out</b>\n");
  await log.append({ type: "channel.end", session: "ssh_3", identity: who, target: "web", action: { kind: "ssh", action: "exec", command: "echo '<b>out</b>'" }, details: { exit_status: 0, output: { stdout: { file: join(recordings, "ssh_3-1.stdout"), bytes: 11, captured_bytes: 11, sha256: "0".repeat(64), truncated: false }, stderr: { bytes: 0, captured_bytes: 0, sha256: "0".repeat(64), truncated: false } } } });
  // A record whose recording points outside the recordings folder (a damaged or forged log): never served.
  await log.append({ type: "channel.end", session: "ssh_2", identity: who, target: "web", action: { kind: "ssh", action: "shell" }, details: { recording: { file: join(recordings, "..", "audit.log"), sha256: "0".repeat(64), bytes: 1, events: 1, truncated: false } } });
  await log.close();

  const live = new LiveSessionRegistry();
  const ended: EndedBy[] = [];
  live.add({ info: { id: "pg_live", target: "prod", kind: "postgres", identity: who, startedAt: now, remote: "127.0.0.1:5000", what: "database app" }, end: (by) => ended.push(by) });
  const records: AuditEvent[] = [];
  const app = new Hono<ConsoleEnv>();
  // Stands in for the login middleware (h-con-a): a fixed viewer with a CSRF token.
  app.use("*", async (c, next) => {
    c.set("viewer", { identity: alice, roles: new Set(roles), csrf: "token-123" });
    await next();
  });
  app.route("/sessions", createSessionPages({ render, auditPath: () => path, live, record: async (e) => void records.push(e), recordingsDir: () => recordings, clock: { now: () => now } }));
  app.route("/audit", createAuditPages({ render, auditPath: () => path, checkpoint: () => null, verify: new VerifyRunner(() => path, () => [], { now: () => now }) }));
  return { app, live, ended, records, path };
}

const form = (fields: Record<string, string>) => ({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });

test("the list shows live and past sessions; filters narrow both", async () => {
  const { app } = await setUp(["view"]);
  const page = await (await app.request("/sessions")).text();
  expect(page).toContain("pg_live");
  expect(page).toContain('data-session="pg_1"');
  expect(page).toContain('data-session="ssh_1"');
  expect(page).not.toContain('data-session="req_1"'); // a plain request is no session to list
  expect(page).not.toContain("End</button>"); // view only
  const filtered = await (await app.request("/sessions?target=web")).text();
  expect(filtered).not.toContain('data-session="pg_1"');
  expect(filtered).not.toContain("pg_live");
  expect(filtered).toContain('data-session="ssh_1"');
  const byTime = await (await app.request("/sessions?until=2026-12-07T00:59")).text();
  expect(byTime).not.toContain('data-session="pg_1"');
});

test("a session page lists its records in order, with script in a statement or path escaped", async () => {
  const { app } = await setUp(["view"]);
  const page = await (await app.request("/sessions/pg_1")).text();
  const order = ["session.start", "statement", "decision", "session.end"].map((t) => page.indexOf(`<td>${t}</td>`));
  expect(order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1]!))).toBe(true);
  expect(page).not.toContain("<script>alert(1)</script>");
  expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  expect(page).toContain("2 cells masked");
  expect(page).toContain("no rule allows drop");
  const audit = await (await app.request("/audit?target=api")).text();
  expect(audit).not.toContain("<img src=x");
  expect(audit).toContain("&lt;img src=x onerror=alert(1)&gt;");
});

test("a completion folded into the next decision record shows as the statement row a standalone record gives", async () => {
  const { app } = await setUp(["view"], true);
  const rowOf = (page: string) => /<tr class="rec-statement">([\s\S]*?)<\/tr>/.exec(page)?.[1]?.replace(/<time[^>]*>[^<]*<\/time>/, "");
  const standalone = await (await app.request("/sessions/pg_1")).text();
  const folded = await (await app.request("/sessions/pg_f")).text();
  // The same cells: type, rule, the statement (escaped), rows, duration, outcome.
  expect(rowOf(folded)).toBeDefined();
  expect(rowOf(folded)).toBe(rowOf(standalone)!);
  expect(folded).toContain("2 cells masked");
  expect(folded).not.toContain("<script>alert(1)</script>");
  // After its decision, before the decision that carried it.
  const order = ["session.start", "decision", "statement", "decision", "session.end"];
  let at = 0;
  for (const t of order) {
    const i = folded.indexOf(`<td>${t}</td>`, at);
    expect({ t, found: i >= 0 }).toEqual({ t, found: true });
    at = i + 1;
  }
  expect(folded).toContain('<span class="count">5</span>');
});

test("an HTTP request's page shows its completion, carried by the decision record of the connection's next request; that request's page does not", async () => {
  const { app } = await setUp(["view"], true);
  const rowsOf = (page: string) => [...page.matchAll(/<tr class="rec-([a-z-]+)">([\s\S]*?)<\/tr>/g)].map((m) => [m[1], m[2]!.replace(/<time[^>]*>[^<]*<\/time>/, "").replace(/\s+/g, " ")]);
  const a = await (await app.request("/sessions/req_a")).text();
  const rows = rowsOf(a);
  expect(rows.map(([t]) => t)).toEqual(["decision", "request"]);
  expect(rows[1]![1]).toContain("GET /api/a");
  expect(rows[1]![1]).toContain("read-api");
  expect(rows[1]![1]).toContain("HTTP 200");
  expect(a).not.toContain("/api/b");
  expect(a).toContain("bob"); // its caller, not the carrier's
  const b = await (await app.request("/sessions/req_b")).text();
  expect(rowsOf(b).map(([t]) => t)).toEqual(["decision", "request"]);
  expect(b).toContain("HTTP 201");
  expect(b).not.toContain("/api/a");
});

test("the audit search for statement records finds a completion folded into a decision record, as a statement row", async () => {
  const { app } = await setUp(["view"], true);
  const rowsOf = (page: string) => [...page.matchAll(/<tr>\s*<td>(\d+)<\/td>[\s\S]*?<\/tr>/g)].map((m) => m[0].replace(/\s+/g, " "));
  const all = rowsOf(await (await app.request("/audit?type=statement")).text());
  expect(all).toHaveLength(2);
  // Newest first: pg_f's folded completion, then pg_1's standalone record; the same cells but seq, time and session.
  expect(all.every((r) => r.includes("<td>statement</td>") && r.includes('<span class="badge allow">allow</span> read') && r.includes("&lt;script&gt;alert(1)&lt;/script&gt;"))).toBe(true);
  expect(all[0]).toContain(">pg_f</a>");
  expect(all[1]).toContain(">pg_1</a>");
  expect(rowsOf(await (await app.request("/audit?type=statement&session=pg_f")).text())).toHaveLength(1);
  expect(rowsOf(await (await app.request("/audit?type=statement&rule=read")).text())).toHaveLength(2);
  expect(rowsOf(await (await app.request("/audit?type=statement&rule=other")).text())).toHaveLength(0);
  expect(rowsOf(await (await app.request("/audit?type=statement&effect=deny")).text())).toHaveLength(0);
  expect(rowsOf(await (await app.request("/audit?type=statement&text=" + encodeURIComponent('from "t"'))).text())).toHaveLength(2);
  expect(rowsOf(await (await app.request("/audit?type=statement&text=nowhere")).text())).toHaveLength(0);
  // An HTTP request's completion, carried by another request's decision record, is found by its own session.
  const a = rowsOf(await (await app.request("/audit?type=request&session=req_a")).text());
  expect(a).toHaveLength(1);
  expect(a[0]).toContain(">req_a</a>");
  expect(a[0]).toContain("/api/a");
  expect(rowsOf(await (await app.request("/audit?type=request&session=req_b")).text()).map((r) => r.includes("/api/b"))).toEqual([true]);
  expect(rowsOf(await (await app.request("/audit?type=request")).text())).toHaveLength(3); // and req_1's
  // The decision records stay decision rows in a search by type decision.
  expect(rowsOf(await (await app.request("/audit?type=decision&session=pg_f")).text())).toHaveLength(2);
});

test("an SSH session's recording is played from the recordings folder, and the player is served", async () => {
  const { app } = await setUp(["view"]);
  const page = await (await app.request("/sessions/ssh_1")).text();
  const m = /data-cast="([^"]+)"/.exec(page);
  expect(m).not.toBeNull();
  const cast = await app.request(m![1]!.replace(/&amp;/g, "&"));
  expect(cast.status).toBe(200);
  expect(await cast.text()).toContain('"hello\\r\\n"');
  const js = await app.request("/sessions/assets/asciinema-player.js");
  expect(js.headers.get("content-type")).toContain("javascript");
  expect(await js.text()).toContain("AsciinemaPlayer");
  expect((await app.request("/sessions/assets/asciinema-player.css")).status).toBe(200);
  const outside = /data-cast="([^"]+)"/.exec(await (await app.request("/sessions/ssh_2")).text())![1]!;
  const refused = await app.request(outside.replace(/&amp;/g, "&"));
  expect(refused.status).toBe(404);
  expect(await refused.text()).not.toContain('"seq"');
});

test("an exec's captured output is linked from its session page and served as plain text", async () => {
  const { app } = await setUp(["view"]);
  const page = await (await app.request("/sessions/ssh_3")).text();
  expect(page).toContain("echo &#39;&lt;b&gt;out&lt;/b&gt;&#39;");
  const link = /href="(\/sessions\/ssh_3\/output\/\d+\/stdout[^"]*)"/.exec(page)![1]!.replace(/&amp;/g, "&");
  expect(page).not.toContain("/stderr"); // nothing captured on stderr
  const res = await app.request(link);
  expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(await res.text()).toBe("<b>out</b>\n");
  expect((await app.request(link.replace("/stdout", "/other"))).status).toBe(404);
});

test("ending a live session needs end_sessions and the CSRF token; the console's record comes first", async () => {
  const viewOnly = await setUp(["view"]);
  expect((await viewOnly.app.request("/sessions/pg_live/end", form({ _csrf: "token-123" }))).status).toBe(403);
  expect(viewOnly.ended).toEqual([]);

  const { app, ended, records, live } = await setUp(["view", "end_sessions"]);
  expect(await (await app.request("/sessions")).text()).toContain("End</button>");
  expect((await app.request("/sessions/pg_live/end", form({}))).status).toBe(403);
  expect((await app.request("/sessions/pg_live/end", form({ _csrf: "token-12" }))).status).toBe(403);
  expect((await app.request("/sessions/pg_live/end", { method: "POST", headers: { "x-csrf-token": "wrong" } })).status).toBe(403);
  expect(ended).toEqual([]);
  const res = await app.request("/sessions/pg_live/end", form({ _csrf: "token-123" }));
  expect(res.status).toBe(303);
  expect(ended).toEqual([{ subject: "alice", issuer: "dev" }]);
  expect(records.map((r) => [r.type, r.identity?.subject, r.session])).toEqual([["console.session_end", "alice", "pg_live"]]);
  expect(live.get("pg_live")).toBeUndefined();
  expect((await app.request("/sessions/pg_live/end", { method: "POST", headers: { "x-csrf-token": "token-123" } })).status).toBe(404);
});

test("the audit page searches by effect and text, and verify runs in the background on demand", async () => {
  const { app } = await setUp(["view"]);
  const denied = await (await app.request("/audit?effect=deny")).text();
  expect(denied).toContain("drop table t");
  expect(denied).not.toContain("<td>session.start</td>");
  expect(denied).toContain("2 records");
  const text = await (await app.request("/audit?text=" + encodeURIComponent('from "t"'))).text();
  expect(text).toContain("&lt;script&gt;");
  expect(text).toContain("1 record ");
  expect((await app.request("/audit/verify", form({}))).status).toBe(403);
  expect((await app.request("/audit/verify", form({ _csrf: "token-123" }))).status).toBe(303);
  const page = await waitFor("the background verify to report the chain intact", async () => {
    const p = await (await app.request("/audit/verify")).text();
    return p.includes("intact") ? p : null;
  });
  expect(page).toContain("intact");
  expect(page).toContain("10 records"); // every record the log holds
});

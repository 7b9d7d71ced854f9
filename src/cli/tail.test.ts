import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../audit/log.ts";
import { listLogFiles } from "../audit/reader.ts";
import type { AuditEventInput } from "../audit/record.ts";
import type { Io } from "./command.ts";
import { createTailCommand, parseSince } from "./tail.ts";
import { waitFor } from "../../test/helpers/wait.ts";

const T0 = Date.UTC(2026, 10, 28, 9, 0, 0);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-tail-"));
  dirs.push(dir);
  return dir;
}

const decision = (subject: string, target: string, effect: "allow" | "deny" | "review", path: string): AuditEventInput => ({
  type: "decision",
  identity: { method: "oidc", subject, issuer: "https://idp", groups: [] },
  target,
  action: { kind: "http", method: "GET", path },
  decision: { effect, rule: effect === "allow" ? "read" : "guard", message: `${effect} ${path}` },
});

/** A log written at known times: minute i holds record i. */
async function sampleLog(dir: string, rotateSize?: number): Promise<string> {
  const path = join(dir, "audit.log");
  let now = T0;
  const log = await openAuditLog({ path, clock: { now: () => now }, ...(rotateSize ? { rotateSize } : {}) });
  const events: AuditEventInput[] = [
    { type: "gateway.start", details: { version: "0.1.0" } },
    decision("alice", "api", "allow", "/a"),
    decision("bob", "api", "deny", "/b"),
    decision("alice", "db", "deny", "/c"),
    decision("alice", "api", "review", "/d"),
    { type: "approval.requested", identity: { method: "oidc", subject: "alice", issuer: "https://idp", groups: [] }, target: "api" },
  ];
  for (const [i, e] of events.entries()) {
    now = T0 + i * 60_000;
    await log.append(e);
  }
  await log.close();
  return path;
}

function io(signal = new AbortController().signal) {
  const out: string[] = [];
  const err: string[] = [];
  const value: Io = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), color: false, env: {}, signal };
  return { io: value, out, err, lines: () => out.join("").split("\n").filter((l) => l !== "") };
}

const tail = createTailCommand({ clock: { now: () => T0 + 10 * 60_000 } });

describe("gatehouse tail", () => {
  test("prints every record as one readable line", async () => {
    const path = await sampleLog(tempDir());
    const t = io();
    expect(await tail.run([path], t.io)).toBe(0);
    expect(t.lines()).toEqual([
      '2026-11-28T09:00:00.000Z gateway.start {"version":"0.1.0"}',
      "2026-11-28T09:01:00.000Z decision allow alice api GET /a rule=read",
      '2026-11-28T09:02:00.000Z decision deny bob api GET /b rule=guard "deny /b"',
      '2026-11-28T09:03:00.000Z decision deny alice db GET /c rule=guard "deny /c"',
      "2026-11-28T09:04:00.000Z decision review alice api GET /d rule=guard",
      "2026-11-28T09:05:00.000Z approval.requested alice api",
    ]);
  });

  test("filters combine with AND", async () => {
    const path = await sampleLog(tempDir());
    const run = async (...args: string[]) => {
      const t = io();
      expect(await tail.run([path, ...args], t.io)).toBe(0);
      return t.lines().map((l) => l.split(" ").slice(0, 5).join(" "));
    };
    expect(await run("--effect", "deny")).toEqual([
      "2026-11-28T09:02:00.000Z decision deny bob api",
      "2026-11-28T09:03:00.000Z decision deny alice db",
    ]);
    expect(await run("--effect", "deny", "--identity", "alice")).toEqual(["2026-11-28T09:03:00.000Z decision deny alice db"]);
    expect(await run("--identity", "alice", "--target", "api", "--type", "decision")).toEqual([
      "2026-11-28T09:01:00.000Z decision allow alice api",
      "2026-11-28T09:04:00.000Z decision review alice api",
    ]);
    expect(await run("--type", "approval.*")).toEqual(["2026-11-28T09:05:00.000Z approval.requested alice api"]);
    // The clock says 09:10, so 7m back is 09:03.
    expect((await run("--since", "7m")).length).toBe(3);
    expect((await run("--since", "2026-11-28T09:04:00Z")).length).toBe(2);
    expect(await run("--target", "nowhere")).toEqual([]);
  });

  test("--json prints the stored records", async () => {
    const path = await sampleLog(tempDir());
    const t = io();
    expect(await tail.run([path, "--json", "--effect", "review"], t.io)).toBe(0);
    const recs = t.lines().map((l) => JSON.parse(l));
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ seq: 5, type: "decision", decision: { effect: "review" }, hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  test("a completion folded into a later decision record prints as the same statement line as a standalone one, before that record", async () => {
    const path = join(tempDir(), "audit.log");
    let now = T0;
    const log = await openAuditLog({ path, clock: { now: () => now } });
    const append = (e: AuditEventInput) => ((now += 1000), log.append(e));
    const who = { method: "dev", subject: "alice", issuer: "dev", groups: [] };
    const sql = (text: string) => ({ kind: "postgres", sql: text, classes: ["read"], relations: [], functions: [] });
    const base = { session: "pg_1", identity: who, target: "db" };
    await append({ ...base, type: "decision", action: sql("SELECT 1"), decision: { effect: "allow", rule: "read" } });
    await append({ ...base, type: "statement", action: sql("SELECT 1"), decision: { effect: "allow", rule: "read" }, details: { outcome: "complete", rows: 1 } });
    await append({ ...base, type: "decision", action: sql("SELECT 2"), decision: { effect: "allow", rule: "read" } });
    await append({ ...base, type: "decision", action: sql("SELECT 3"), decision: { effect: "allow", rule: "read" }, details: { completed: [{ decision: 3, outcome: "complete", rows: 1 }] } });
    await log.close();
    const t = io();
    expect(await tail.run([path], t.io)).toBe(0);
    expect(t.lines()).toEqual([
      "2026-11-28T09:00:01.000Z decision allow alice db SELECT 1 rule=read",
      "2026-11-28T09:00:02.000Z statement allow alice db SELECT 1 rule=read",
      "2026-11-28T09:00:03.000Z decision allow alice db SELECT 2 rule=read",
      "2026-11-28T09:00:04.000Z statement allow alice db SELECT 2 rule=read",
      "2026-11-28T09:00:04.000Z decision allow alice db SELECT 3 rule=read",
    ]);
    const statements = io();
    expect(await tail.run([path, "--type", "statement"], statements.io)).toBe(0);
    expect(statements.lines().map((l) => l.split(" ").slice(1, 7).join(" "))).toEqual(["statement allow alice db SELECT 1", "statement allow alice db SELECT 2"]);
    // --json stays the log as stored: the folded completion is inside its decision record.
    const json = io();
    expect(await tail.run([path, "--json", "--type", "statement"], json.io)).toBe(0);
    expect(json.lines().map((l) => JSON.parse(l).seq)).toEqual([2]);
  });

  test("an HTTP request's completion carried by another caller's request on the same connection prints as its own caller's request line", async () => {
    const path = join(tempDir(), "audit.log");
    let now = T0;
    const log = await openAuditLog({ path, clock: { now: () => now } });
    const append = (e: AuditEventInput) => ((now += 1000), log.append(e));
    const person = (subject: string) => ({ method: "dev", subject, issuer: "dev", groups: [] });
    const get = (p: string) => ({ kind: "http", method: "GET", path: p });
    const a = await append({ session: "req_a", identity: person("alice"), target: "api", type: "decision", action: get("/a"), decision: { effect: "allow", rule: "read" } });
    await append({ session: "req_b", identity: person("bob"), target: "api", type: "decision", action: get("/b"), decision: { effect: "allow", rule: "read" }, details: { completed: [{ decision: a.seq, session: "req_a", status: 200, bytes_out: 2, duration_ms: 0.1, outcome: "ok" }] } });
    await log.close();
    const t = io();
    expect(await tail.run([path], t.io)).toBe(0);
    expect(t.lines().map((l) => l.split(" ").slice(1, 7).join(" "))).toEqual(["decision allow alice api GET /a", "request allow alice api GET /a", "decision allow bob api GET /b"]);
    const alices = io();
    expect(await tail.run([path, "--identity", "alice", "--type", "request"], alices.io)).toBe(0);
    expect(alices.lines().map((l) => l.split(" ").slice(1, 7).join(" "))).toEqual(["request allow alice api GET /a"]);
  });

  test("reads across rotated files in chain order", async () => {
    const path = await sampleLog(tempDir(), 600);
    expect((await listLogFiles(path)).length).toBeGreaterThan(2);
    const t = io();
    expect(await tail.run([path, "--json"], t.io)).toBe(0);
    expect(t.lines().map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test("takes the log from audit.path of --config, relative to the config's folder", async () => {
    const dir = tempDir();
    mkdirSync(join(dir, "conf"));
    mkdirSync(join(dir, "conf", "logs"));
    await sampleLog(join(dir, "conf", "logs"));
    writeFileSync(join(dir, "conf", "gatehouse.yaml"), "gateway:\n  state_dir: ./state\naudit:\n  path: logs/audit.log\n");
    const t = io();
    expect(await tail.run(["--config", join(dir, "conf", "gatehouse.yaml"), "--effect", "deny"], t.io)).toBe(0);
    expect(t.lines()).toHaveLength(2);
    const folder = io();
    expect(await tail.run(["--config", join(dir, "conf"), "--type", "gateway.start"], folder.io)).toBe(0);
    expect(folder.lines()).toHaveLength(1);

    writeFileSync(join(dir, "conf", "gatehouse.yaml"), "targets: []\n");
    const missing = io();
    expect(await tail.run(["--config", join(dir, "conf", "gatehouse.yaml")], missing.io)).toBe(1);
    expect(missing.err.join("")).toContain("no audit.path");
  });

  test("bad usage exits 2, an unreadable log exits 1", async () => {
    for (const args of [[], ["--effect", "maybe", "x"], ["--since", "yesterday", "x"], ["a", "b"], ["--bogus", "x"]]) {
      const t = io();
      expect(await tail.run(args, t.io)).toBe(2);
      // The one line that is wrong and a pointer to --help, not the whole help.
      expect(t.err.join("")).toMatch(/^gatehouse tail: [^\n]+\nRun 'gatehouse tail --help' for usage\.\n$/);
    }
    const t = io();
    expect(await tail.run([join(tempDir(), "none.log")], t.io)).toBe(1);
    expect(t.err.join("")).toContain("no audit log at");
    const h = io();
    expect(await tail.run(["--help"], h.io)).toBe(0);
    expect(h.out.join("")).toContain("-f, --follow");
  });

  test("-f prints records as they are appended, across rotation, until the signal aborts", async () => {
    const dir = tempDir();
    const path = join(dir, "audit.log");
    const log = await openAuditLog({ path, rotateSize: 1500 });
    await log.append(decision("old", "api", "allow", "/before"));
    const ac = new AbortController();
    const t = io(ac.signal);
    const running = tail.run(["-f", path, "--identity", "carol"], t.io);
    // Keep writing until the follower shows the first new record; then write across rotations.
    let n = 0;
    await waitFor("tail -f to show a record appended after it started", async () => {
      await log.append(decision("carol", "api", "deny", `/p${n++}`));
      return t.lines().length > 0;
    }, { intervalMs: 5 });
    for (let i = 0; i < 20; i++) {
      await log.append(decision("dave", "api", "allow", `/x${i}`));
      await log.append(decision("carol", "api", "allow", `/q${i}`));
    }
    await waitFor("tail -f to show /q19, written after two rotations", () => t.lines().some((l) => l.includes("/q19")), { intervalMs: 10 });
    ac.abort();
    expect(await running).toBe(0);
    await log.close();
    expect((await listLogFiles(path)).length).toBeGreaterThan(3);
    const lines = t.lines();
    expect(lines.every((l) => l.includes(" carol "))).toBe(true);
    expect(lines.some((l) => l.includes("/before"))).toBe(false);
    const qs = lines.filter((l) => / GET \/q/.test(l)).map((l) => /\/q(\d+)/.exec(l)![1]);
    expect(qs).toEqual(Array.from({ length: 20 }, (_, i) => String(i)));
  });
});

describe("parseSince", () => {
  test("durations back from now and ISO times; anything else is a usage error", () => {
    expect(parseSince("10m", T0)).toBe(T0 - 600_000);
    expect(parseSince("2026-11-28T09:00:00Z", 0)).toBe(T0);
    expect(() => parseSince("10 minutes", T0)).toThrow(/invalid --since/);
    expect(() => parseSince("2026-13-45", T0)).toThrow(/invalid --since/);
  });
});

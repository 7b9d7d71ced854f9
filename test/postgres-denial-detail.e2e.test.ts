// End to end: a denied statement tells the caller why, in the ErrorResponse's DETAIL, without
// opening the policy: what the gateway saw (classes and tables) and, when a rule would have
// allowed it but for its hours, that rule and its window. An explicit deny rule keeps its own
// message. Real psql (simple Query) and the postgres driver (extended protocol), and the audit log.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import type { AuditRecord } from "../src/audit/record.ts";
import { fixtureSql } from "./helpers/fixtures.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

setDefaultTimeout(180_000);

const RULES = `
  - name: block-drop-database
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked on sales-db.
  - name: analysts-read
    groups: [analysts]
    targets: [sales-db]
    postgres: { classes: [read], tables: ["sales.*"] }
    when: { timezone: UTC, hours: "09:00-17:00" }
    effect: allow
`;

let db: PostgresInstance;
let inHours: { gw: GatewayProcess; port: number };
let afterHours: { gw: GatewayProcess; port: number };
const day = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

async function token(gw: GatewayProcess, sub: string, groups: string): Promise<string> {
  const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", sub, "--groups", groups, "--ttl", "48h"]);
  if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
  return r.stdout.trim().split("\n")[0]!;
}

async function psql(port: number, password: string, sql: string) {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  const proc = Bun.spawn(["psql", "-X", "-h", "127.0.0.1", "-p", String(port), "-U", "someone", "-d", "sales-db", "-c", sql], {
    env: { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

const denials = (all: AuditRecord[]) => all.filter((r) => r.type === "decision" && r.decision?.effect === "deny");

beforeAll(async () => {
  db = await startPostgres();
  // Orders 10 and 11: none has id 1.
  await db.psql(`${fixtureSql("sales.sql")}${fixtureSql("sales-orders.sql")}${fixtureSql("hr.sql")}`);
  inHours = await startPostgresGateway(db, { rules: RULES, env: { GATEHOUSE_FAKE_NOW: `${day}T10:00:00Z` } });
  afterHours = await startPostgresGateway(db, { rules: RULES, env: { GATEHOUSE_FAKE_NOW: `${day}T18:00:00Z` } });
});

afterAll(async () => {
  for (const g of [inHours, afterHours]) {
    await g?.gw.stop();
    g?.gw.cleanup();
  }
  await db?.stop();
});

describe("psql shows why a statement was denied", () => {
  test("no rule for the table: DETAIL names the class and tables the gateway saw; the audit record says the same", async () => {
    const alice = await token(inHours.gw, "alice", "analysts");
    const r = await psql(inHours.port, alice, "SELECT o.id FROM sales.orders o JOIN hr.salaries s USING (id)");
    expect(r.stderr).toContain("ERROR:  no rule allows this request");
    expect(r.stderr).toContain("DETAIL:  read of hr.salaries, sales.orders; no rule allows it for you");
    const all = await auditRecordsWhen(inHours.gw.auditPath, (a) => denials(a).some((d) => d.identity?.subject === "alice"), "alice's denied read");
    const rec = denials(all).find((d) => d.identity?.subject === "alice")!;
    expect(rec.decision).toEqual({ effect: "deny", rule: null, message: "no rule allows this request" });
    expect((rec.details as Record<string, unknown>)["denial"]).toBe("read of hr.salaries, sales.orders; no rule allows it for you");
  });

  test("outside the rule's hours: DETAIL names the rule and its window", async () => {
    const late = await token(afterHours.gw, "lena", "analysts");
    const r = await psql(afterHours.port, late, "SELECT id FROM sales.orders");
    expect(r.stderr).toContain("ERROR:  no rule allows this request");
    expect(r.stderr).toContain("DETAIL:  read of sales.orders; rule analysts-read allows it only 09:00-17:00 UTC");
    const all = await auditRecordsWhen(afterHours.gw.auditPath, (a) => denials(a).some((d) => d.identity?.subject === "lena"), "lena's denied read");
    const rec = denials(all).find((d) => d.identity?.subject === "lena")!;
    expect((rec.details as Record<string, unknown>)["denial"]).toBe("read of sales.orders; rule analysts-read allows it only 09:00-17:00 UTC");
  });

  test("an explicit deny rule keeps its own message", async () => {
    const alice = await token(inHours.gw, "alma", "analysts");
    const r = await psql(inHours.port, alice, "DROP DATABASE postgres");
    expect(r.stderr).toContain("ERROR:  DROP DATABASE is blocked on sales-db.");
    expect(r.stderr).toContain("DETAIL:  gatehouse rule: block-drop-database");
    expect(r.stderr).not.toContain("no rule allows it for you");
  });
});

test("the extended protocol (postgres driver) gets the same DETAIL", async () => {
  const alice = await token(inHours.gw, "alex", "analysts");
  const sql = postgres({ host: "127.0.0.1", port: inHours.port, user: "someone", database: "sales-db", password: alice, max: 1, onnotice: () => {} });
  try {
    const err = await sql`SELECT amount FROM hr.salaries WHERE id = ${1}`.then(
      () => null,
      (e: { code?: string; message?: string; detail?: string }) => ({ code: e.code, message: e.message, detail: e.detail }),
    );
    expect(err).toEqual({ code: "42501", message: "no rule allows this request", detail: "read of hr.salaries; no rule allows it for you" });
    // The session goes on.
    expect([...(await sql`SELECT id FROM sales.orders WHERE id = ${1}`)]).toEqual([]);
  } finally {
    await sql.end();
  }
});

test("gatehouse explain predicts what psql gets through the gateway, statement by statement", async () => {
  const cases = ["SELECT id FROM sales.orders", "SELECT * FROM hr.salaries", "SELECT o.id FROM sales.orders o, hr.salaries s", "DROP DATABASE postgres", "SELECT relname FROM pg_catalog.pg_class LIMIT 1"];
  for (const [g, at] of [[inHours, `${day}T10:00:00Z`], [afterHours, `${day}T18:00:00Z`]] as const) {
    const password = await token(g.gw, "pat", "analysts");
    for (const sql of cases) {
      const e = await runCli(["explain", "--config", g.gw.configPath, "--as", "pat", "--groups", "analysts", "--at", at, "--json", sql]);
      expect(e.code).toBe(0);
      const req = JSON.parse(e.stdout).requests[0] as { decision: { effect: string; message: string; detail?: string; rule: string | null } };
      const got = await psql(g.port, password, sql);
      const label = `${sql} at ${at}`;
      if (req.decision.effect === "allow") expect({ label, stderr: got.stderr }).toEqual({ label, stderr: "" });
      else {
        const detail = req.decision.detail ?? `gatehouse rule: ${req.decision.rule}`;
        expect({ label, stderr: got.stderr }).toEqual({ label, stderr: `ERROR:  ${req.decision.message}\nDETAIL:  ${detail}\n` });
      }
    }
  }
});

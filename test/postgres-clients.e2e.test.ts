// End to end: the clients people use, through the compiled gateway to a real PostgreSQL, under a
// read-only analyst rule `postgres: { classes: [read], tables: ["sales.*"] }` with e-mail masked:
// psql with AUTOCOMMIT off, psycopg2 with its default (BEGIN before the first statement) and a
// named server-side cursor, the npm `pg` driver with a transaction and pg-cursor, and the
// `postgres` driver's sql.begin() and cursor(). Each reads sales (masked), and is refused
// (SQLSTATE 42501) other tables and writes. Last, a cursor declared before a policy reload is
// read under the new policy.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import Cursor from "pg-cursor";
import postgres from "postgres";
import type { AuditRecord } from "../src/audit/record.ts";
import { fixtureSql } from "./helpers/fixtures.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

setDefaultTimeout(180_000);

let db: PostgresInstance;
let gw: GatewayProcess;
let port: number;
let token = "";

const RULE = `
  - name: analysts-read-sales
    groups: [analysts]
    targets: [sales-db]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
`;

beforeAll(async () => {
  db = await startPostgres();
  // A third customer, so that FETCH_COUNT 2 and cursor(2) take more than one fetch.
  await db.psql(`${fixtureSql("sales.sql")}
    INSERT INTO sales.customers VALUES (3, 'Cy', 'cy@example.com');
    ${fixtureSql("sales-orders.sql")}${fixtureSql("hr.sql")}`);
  ({ gw, port } = await startPostgresGateway(db, { rules: RULE }));
  const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", "alice", "--groups", "analysts", "--ttl", "2h"]);
  if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
  token = r.stdout.trim().split("\n")[0]!;
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  await db?.stop();
});

const MASKED = [
  [1, "[masked]"],
  [2, "[masked]"],
  [3, "[masked]"],
];

/** The written-down state of the data the tests try to change. */
async function untouched(): Promise<void> {
  expect(await db.psql("SELECT count(*) FROM sales.orders")).toBe("2\n");
  expect(await db.psql("SELECT count(*) FROM hr.salaries")).toBe("1\n");
}

async function spawn(cmd: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  const proc = Bun.spawn(cmd, {
    env: { ...env, PGPASSWORD: token, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" },
    stdin: stdin !== undefined ? new TextEncoder().encode(stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("psql", () => {
  test("with AUTOCOMMIT off (BEGIN before the first statement)", async () => {
    const script = [
      "\\set AUTOCOMMIT off",
      "\\set VERBOSITY verbose",
      "SELECT id, email FROM sales.customers ORDER BY id;",
      "SHOW transaction_isolation;",
      "COMMIT;",
      "SELECT * FROM hr.salaries;",
      "ROLLBACK;",
      "DELETE FROM sales.orders;",
      "ROLLBACK;",
      "SELECT count(*) FROM sales.orders;",
      "COMMIT;",
      "",
    ].join("\n");
    const r = await spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(port), "-U", "alice", "-d", "sales-db"], script);
    expect(r.stdout.split("\n").filter((l) => l !== "" && l !== "COMMIT" && l !== "ROLLBACK")).toEqual(["1|[masked]", "2|[masked]", "3|[masked]", "read committed", "2"]);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("ERROR:"));
    expect(errors).toHaveLength(2);
    for (const e of errors) expect(e).toStartWith("ERROR:  42501:");
    await untouched();
  });

  test("with FETCH_COUNT (a cursor: BEGIN, DECLARE, FETCH FORWARD, CLOSE, COMMIT)", async () => {
    const script = ["\\set FETCH_COUNT 2", "\\set VERBOSITY verbose", "SELECT id, email FROM sales.customers ORDER BY id;", "SELECT * FROM hr.salaries;", ""].join("\n");
    const r = await spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(port), "-U", "alice", "-d", "sales-db"], script);
    expect(r.stdout.split("\n").filter((l) => l !== "")).toEqual(["1|[masked]", "2|[masked]", "3|[masked]"]);
    expect(r.stderr.split("\n").filter((l) => l.startsWith("ERROR:"))).toEqual([expect.stringMatching(/^ERROR:  42501:/)]);
    const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((x) => x.type === "decision" && (x.action as { sql?: string }).sql === "FETCH FORWARD 2 FROM _psql_cursor"), "psql's FETCH in the audit log");
    expect(records.find((x) => x.type === "decision" && (x.action as { sql?: string }).sql === "FETCH FORWARD 2 FROM _psql_cursor")).toMatchObject({ decision: { effect: "allow", rule: "analysts-read-sales" } });
  });
});

const PSYCOPG2 = `
import json, sys
import psycopg2
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="alice", password=sys.argv[2], dbname="sales-db", sslmode="disable")
out = {}
cur = conn.cursor()
cur.execute("SELECT id, email FROM sales.customers ORDER BY id")
out["rows"] = [list(r) for r in cur.fetchall()]
out["in_transaction"] = conn.get_transaction_status() == 2
conn.commit()
def code(sql, named=None):
    c = conn.cursor(named) if named else conn.cursor()
    try:
        c.execute(sql)
        if named:
            c.fetchall()
        conn.commit()
        return None
    except psycopg2.Error as e:
        conn.rollback()
        return e.pgcode
out["hr"] = code("SELECT * FROM hr.salaries")
out["delete"] = code("DELETE FROM sales.orders")
named = conn.cursor("report")
named.itersize = 1
named.execute("SELECT id, email FROM sales.customers ORDER BY id")
out["named"] = [list(r) for r in named]
named.close()
conn.commit()
out["named_hr"] = code("SELECT * FROM hr.salaries", "hr_report")
print(json.dumps(out))
`;

describe("psycopg2", () => {
  test("default settings (BEGIN first) and a named server-side cursor", async () => {
    const python = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    const r = await spawn([python, "-c", PSYCOPG2, String(port), token]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(r.stdout)).toEqual({ rows: MASKED, in_transaction: true, hr: "42501", delete: "42501", named: MASKED, named_hr: "42501" });
    await untouched();
    // psycopg2 read the named cursor with DECLARE and one FETCH per row: each was decided and recorded.
    const isFetch = (x: AuditRecord) => x.type === "decision" && (x.action as { sql?: string } | undefined)?.sql === 'FETCH FORWARD 1 FROM "report"';
    const records = await auditRecordsWhen(gw.auditPath, (all) => all.filter(isFetch).length >= 4, "psycopg2's FETCHes in the audit log");
    const fetches = records.filter(isFetch);
    for (const f of fetches) expect(f).toMatchObject({ decision: { effect: "allow", rule: "analysts-read-sales" }, action: { classes: ["fetch", "read"], relations: ["sales.customers"] } });
  });
});

describe("npm pg", () => {
  test("a transaction and a cursor (pg-cursor)", async () => {
    const client = new pg.Client({ host: "127.0.0.1", port, user: "alice", password: token, database: "sales-db" });
    await client.connect();
    try {
      await client.query("BEGIN READ ONLY");
      const r = await client.query("SELECT id, email FROM sales.customers ORDER BY id");
      expect(r.rows.map((x) => [x.id, x.email])).toEqual(MASKED);
      const cursor = client.query(new Cursor("SELECT id, email FROM sales.customers ORDER BY id"));
      const first = await cursor.read(1);
      const rest = await cursor.read(10);
      await cursor.close();
      expect([...first, ...rest].map((x) => [x.id, x.email])).toEqual(MASKED);
      await client.query("COMMIT");
      await expect(client.query("SELECT * FROM hr.salaries")).rejects.toMatchObject({ code: "42501" });
      await client.query("BEGIN");
      await expect(client.query("DELETE FROM sales.orders")).rejects.toMatchObject({ code: "42501" });
      await client.query("ROLLBACK");
      const outside = client.query(new Cursor("SELECT * FROM hr.salaries"));
      await expect(outside.read(1)).rejects.toMatchObject({ code: "42501" });
    } finally {
      await client.end();
    }
    await untouched();
  });
});

describe("npm postgres", () => {
  test("sql.begin() and cursor()", async () => {
    const sql = postgres({ host: "127.0.0.1", port, user: "alice", password: token, database: "sales-db", max: 1, onnotice: () => {} });
    try {
      const inTx = await sql.begin(async (tx) => {
        const rows = await tx`SELECT id, email FROM sales.customers ORDER BY id`;
        const got: unknown[][] = [];
        for await (const batch of tx`SELECT id, email FROM sales.customers ORDER BY id`.cursor(2)) for (const row of batch) got.push([row["id"], row["email"]]);
        return { rows: rows.map((x) => [x["id"], x["email"]]), cursor: got };
      });
      expect(inTx).toEqual({ rows: MASKED, cursor: MASKED });
      const got: unknown[][] = [];
      for await (const [row] of sql`SELECT id, email FROM sales.customers ORDER BY id`.cursor()) got.push([row!["id"], row!["email"]]);
      expect(got).toEqual(MASKED);
      await expect(sql.begin(async (tx) => await tx`DELETE FROM sales.orders`)).rejects.toMatchObject({ code: "42501" });
      await expect(sql.begin(async (tx) => await tx`SELECT * FROM hr.salaries`)).rejects.toMatchObject({ code: "42501" });
      await expect((async () => {
        for await (const _ of sql`SELECT * FROM hr.salaries`.cursor()) void _;
      })()).rejects.toMatchObject({ code: "42501" });
    } finally {
      await sql.end({ timeout: 5 });
    }
    await untouched();
  });
});

describe("a cursor and a prepared statement outlive a policy reload, their decisions do not", () => {
  test("FETCH and EXECUTE after the rule no longer covers their table are refused", async () => {
    const client = new pg.Client({ host: "127.0.0.1", port, user: "alice", password: token, database: "sales-db" });
    await client.connect();
    try {
      await client.query("DECLARE c CURSOR WITH HOLD FOR SELECT id, name FROM sales.customers ORDER BY id");
      await client.query("PREPARE p AS SELECT name FROM sales.customers ORDER BY id");
      expect((await client.query("FETCH 1 FROM c")).rows).toEqual([{ id: 1, name: "Ann" }]);
      expect((await client.query("EXECUTE p")).rows).toHaveLength(3);
      const loaded = (all: { type: string }[]) => all.filter((x) => x.type === "policy.loaded").length;
      const before = loaded(await auditRecordsWhen(gw.auditPath, () => true, "the audit log"));
      const yaml = readFileSync(gw.configPath, "utf8");
      const edited = yaml.replace(`tables: ["sales.*"]`, `tables: ["sales.orders"]`);
      expect(edited).not.toBe(yaml);
      writeFileSync(gw.configPath, edited);
      gw.proc.kill("SIGHUP");
      await auditRecordsWhen(gw.auditPath, (all) => loaded(all) > before, "a policy.loaded record after the edit", 30_000);
      await expect(client.query("FETCH 1 FROM c")).rejects.toMatchObject({ code: "42501" });
      await expect(client.query("MOVE 1 IN c")).rejects.toMatchObject({ code: "42501" });
      await expect(client.query("EXECUTE p")).rejects.toMatchObject({ code: "42501" });
      await expect(client.query("DECLARE d CURSOR WITH HOLD FOR SELECT id FROM sales.customers")).rejects.toMatchObject({ code: "42501" });
      expect((await client.query("SELECT amount FROM sales.orders ORDER BY id")).rows).toEqual([{ amount: "99.50" }, { amount: "12.00" }]);
      await client.query("CLOSE c");
    } finally {
      await client.end();
    }
  });
});

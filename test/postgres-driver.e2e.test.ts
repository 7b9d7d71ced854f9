// End to end: the compiled gateway in front of a real PostgreSQL, driven by the npm `postgres`
// driver (porsager), which speaks the extended protocol: parameters, named prepared
// statements, pipelining, COPY streams, transactions with a denied statement, masking of
// rows in the extended protocol, and a cancel.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { fixtureSql } from "./helpers/fixtures.ts";
import { detail, statementsOf } from "./helpers/audit-completions.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(180_000);

let pg: PostgresInstance;
let gw: GatewayProcess;
let port: number;
const tokens: Record<string, string> = {};
const clients: postgres.Sql[] = [];

function connect(who: string, options: postgres.Options<Record<string, never>> = {}): postgres.Sql {
  const sql = postgres({ host: "127.0.0.1", port, user: who, password: tokens[who]!, database: "sales-db", max: 1, onnotice: () => {}, ...options });
  clients.push(sql);
  return sql;
}

beforeAll(async () => {
  pg = await startPostgres();
  // The shared customers, with a card number for the card detector to find.
  await pg.psql(`${fixtureSql("sales.sql")}
    ALTER TABLE sales.customers ADD COLUMN card text;
    UPDATE sales.customers SET card = CASE id WHEN 1 THEN '4111 1111 1111 1111' ELSE 'none' END;
    CREATE TABLE public.items (id int, label text);
  `);
  ({ gw, port } = await startPostgresGateway(pg, { target: ["record_parameters: true"], rules: `
  - name: block-drop-database
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked on sales-db.
  - name: no-truncate
    postgres: { classes: [truncate] }
    effect: deny
    message: TRUNCATE is not allowed here.
  - name: analysts-read-sales
    groups: [analysts]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email], detectors: [card] }
  - name: apps
    groups: [apps]
    effect: allow
` }));
  for (const [who, groups] of [["app", "apps"], ["alice", "analysts"]] as const) {
    const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", who, "--groups", groups, "--ttl", "2h"]);
    tokens[who] = r.stdout.trim().split("\n")[0]!;
  }
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end({ timeout: 1 }).catch(() => {})));
  await gw?.stop();
  gw?.cleanup();
  await pg?.stop();
});

describe("npm postgres driver", () => {
  test("parameters, named prepared statements reused many times, and pipelining", async () => {
    const sql = connect("app");
    const [row] = await sql`SELECT ${41}::int + 1 AS answer, ${"text"}::text AS t`;
    expect(row).toEqual({ answer: 42, t: "text" });
    for (let i = 0; i < 20; i++) {
      const [r] = await sql`SELECT ${i}::int * 2 AS n`;
      expect(r!.n).toBe(i * 2);
    }
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) => sql`SELECT ${i}::int AS i, ${`v${i}`} AS v`));
    expect(many.map((r) => r[0]!.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    const unprepared = await sql.unsafe("SELECT 1 AS a; SELECT 2 AS b");
    expect(unprepared.length).toBe(2);
  });

  test("a denied statement in a pipeline fails alone; the ones around it run", async () => {
    const sql = connect("app");
    const results = await Promise.allSettled([sql`SELECT 1 AS a`, sql`TRUNCATE public.items`, sql`SELECT ${3}::int AS c`]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    const err = (results[1] as PromiseRejectedResult).reason as { code: string; message: string };
    expect(err.code).toBe("42501");
    expect(err.message).toBe("TRUNCATE is not allowed here.");
    expect((results[2] as unknown as PromiseFulfilledResult<{ c: number }[]>).value[0]!.c).toBe(3);
  });

  test("a transaction with a denied statement rolls back; nothing commits", async () => {
    const sql = connect("app");
    const attempt = sql.begin(async (tx) => {
      await tx`INSERT INTO public.items VALUES (${1}, ${"one"})`;
      await tx`DROP DATABASE postgres`;
    });
    await expect(attempt).rejects.toMatchObject({ code: "42501", message: "DROP DATABASE is blocked on sales-db." });
    const [{ count }] = (await sql`SELECT count(*)::int AS count FROM public.items`) as unknown as [{ count: number }];
    expect(count).toBe(0);
    expect(await pg.psql("SELECT count(*) FROM public.items")).toBe("0\n");
    const ok = await sql.begin(async (tx) => {
      await tx`INSERT INTO public.items VALUES (${2}, ${"two"})`;
      return await tx`SELECT label FROM public.items`;
    });
    expect(ok.map((r) => r["label"])).toEqual(["two"]);
  });

  test("COPY streams in and out", async () => {
    const sql = connect("app");
    await sql`DELETE FROM public.items`;
    const writable = await sql`COPY public.items FROM STDIN`.writable();
    const lines = Array.from({ length: 5000 }, (_, i) => `${i}\tlabel ${i}\n`);
    await new Promise<void>((resolve, reject) => {
      writable.on("error", reject);
      writable.on("finish", () => resolve());
      for (const l of lines) writable.write(l);
      writable.end();
    });
    expect(await pg.psql("SELECT count(*) FROM public.items")).toBe("5000\n");
    const readable = await sql`COPY (SELECT id, label FROM public.items ORDER BY id) TO STDOUT`.readable();
    let text = "";
    for await (const chunk of readable) text += chunk.toString();
    expect(text).toBe(lines.join(""));
  });

  test("masking in the extended protocol: columns by name, detectors on values", async () => {
    const sql = connect("alice");
    const rows = await sql`SELECT id, name, email, card, email AS contact FROM sales.customers WHERE id = ANY(${[1, 2]}::int[]) ORDER BY id`;
    expect(rows.map((r) => ({ ...r }))).toEqual([
      { id: 1, name: "Ann", email: "[masked]", card: "[masked:card ****1111]", contact: "[masked]" },
      { id: 2, name: "Bob", email: "[masked]", card: "none", contact: "[masked]" },
    ]);
    await expect(sql`SELECT * FROM public.items`).rejects.toMatchObject({ code: "42501", message: "no rule allows this request" });
  });

  test("cancel of a running statement", async () => {
    const sql = connect("app");
    const q = sql`SELECT pg_sleep(60)`;
    const settled = q.then(
      () => null,
      (e: { code: string }) => e,
    );
    await waitFor(
      "pg_sleep(60) to run upstream",
      async () => (await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'")).trim() === "1",
      { intervalMs: 50 },
    );
    q.cancel();
    expect(await settled).toMatchObject({ code: "57014" });
    const [r] = await sql`SELECT 1 AS still`;
    expect(r!.still).toBe(1);
  });

  test("parameters are recorded when the target says so", async () => {
    const sql = connect("app");
    await sql`SELECT ${"needle-7"}::text AS p`;
    // A statement record, or a completion folded into the session's next decision record.
    const hasNeedle = (recs: AuditRecord[]) =>
      statementsOf(recs).some((c) => {
        const params = detail(c, "parameters");
        return Array.isArray(params) && params.includes("needle-7");
      });
    const all = await auditRecordsWhen(gw.auditPath, hasNeedle, "a statement completion with the parameter needle-7");
    expect(hasNeedle(all)).toBe(true);
  });
});

describe("shutdown", () => {
  // Last in this file: it stops the gateway.
  test("SIGTERM ends open sessions, and their session.end records are written before the log closes", async () => {
    const sql = connect("app");
    await sql`SELECT 1 AS warm`;
    const sessions = new Set<string>();
    for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) {
      if (record.type === "session.start" && record.session) sessions.add(record.session);
      if (record.type === "session.end" && record.session) sessions.delete(record.session);
    }
    expect(sessions.size).toBeGreaterThan(0);
    gw.proc.kill("SIGTERM");
    expect(await gw.proc.exited).toBe(0);
    const ended = new Set<string>();
    let last = "";
    for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) {
      if (record.type === "session.end" && record.session) ended.add(record.session);
      if (record.type !== "audit.checkpoint") last = record.type; // the stop's checkpoint follows gateway.stop
    }
    for (const s of sessions) expect(ended.has(s)).toBe(true);
    expect(last).toBe("gateway.stop");
    expect(gw.logs()).not.toContain("audit write failed");
    expect((await runCli(["verify", gw.auditPath])).code).toBe(0);
  });
});

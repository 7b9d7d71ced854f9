// End to end: the compiled gateway in front of a real PostgreSQL, driven by real psql and
// pgbench with dev-issuer tokens as passwords: the seed example (analysts read sales.* in office
// hours with e-mail masked, DROP DATABASE blocked), psql's \d and \copy, Ctrl-C, a denied
// statement inside a transaction, pgbench in three protocols, TLS, a streamed masked result,
// bad logins, and the session transcript from the audit log.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { replayCommand } from "../src/cli/replay.ts";
import { withCompletions } from "./helpers/audit-completions.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";
import { fixtureSql, TLS_CERT, TLS_KEY } from "./helpers/fixtures.ts";

setDefaultTimeout(180_000);

let pg: PostgresInstance;
let inHours: GatewayProcess;
let afterHours: GatewayProcess;
let port: number;
let latePort: number;
const tokens: Record<string, string> = {};
let lateAnalyst = "";
const day = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

const RULES = `
  - name: block-drop-database
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked on sales-db; talk to the DBA team (#dba).
  - name: analysts-read-sales
    groups: [analysts]
    targets: [sales-db]
    postgres: { classes: [read], tables: ["sales.*"] }
    when: { timezone: UTC, hours: "09:00-17:00" }
    effect: allow
    mask: { columns: [email] }
  - name: exporters-sales
    groups: [exporters]
    postgres: { classes: [read, copy.to], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [sales.customers.email] }
  - name: dbas
    groups: [dbas]
    targets: [sales-db]
    effect: allow
`;

async function token(dir: string, sub: string, groups: string): Promise<string> {
  const r = await runCli(["token", "--state-dir", join(dir, "state"), "--sub", sub, "--groups", groups, "--ttl", "48h"]);
  if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
  return r.stdout.trim().split("\n")[0]!;
}

function clientEnv(password: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  return { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "20", LC_ALL: "C", ...extra };
}

async function psql(p: number, password: string, args: string[], opts: { stdin?: string; env?: Record<string, string>; user?: string; db?: string } = {}) {
  const proc = Bun.spawn(["psql", "-X", "-h", "127.0.0.1", "-p", String(p), "-U", opts.user ?? "someone", "-d", opts.db ?? "sales-db", ...args], {
    env: clientEnv(password, opts.env),
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function run(cmd: string[], env: Record<string, string>) {
  const proc = Bun.spawn(cmd, { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function records(gw: GatewayProcess): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) out.push(record);
  return out;
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql(`${fixtureSql("sales.sql")}
    CREATE TABLE public.ledger (id int, note text);
    CREATE TABLE public.secrets (s text);
    INSERT INTO public.secrets VALUES ('top secret');
  `);
  await pg.psql(fixtureSql("people.sql", { schema: "sales", rows: 1_000_000 }));

  ({ gw: inHours, port } = await startPostgresGateway(pg, {
    rules: RULES,
    target: [`tls: { cert: ${TLS_CERT}, key: ${TLS_KEY} }`],
    env: { GATEHOUSE_FAKE_NOW: `${day}T10:00:00Z` },
  }));
  tokens["analyst"] = await token(inHours.dir, "alice", "analysts");
  tokens["dba"] = await token(inHours.dir, "dana", "dbas");
  tokens["exporter"] = await token(inHours.dir, "erin", "exporters");

  ({ gw: afterHours, port: latePort } = await startPostgresGateway(pg, { rules: RULES, env: { GATEHOUSE_FAKE_NOW: `${day}T18:00:00Z` } }));
  lateAnalyst = await token(afterHours.dir, "alice", "analysts");
});

afterAll(async () => {
  await inHours?.stop();
  await afterHours?.stop();
  inHours?.cleanup();
  afterHours?.cleanup();
  await pg?.stop();
});

describe("the seed example", () => {
  test("an analyst reads sales.* in office hours with email masked, also through expressions", async () => {
    expect(inHours.logs()).toContain("TEST-ONLY SETTING: GATEHOUSE_FAKE_NOW");
    const r = await psql(port, tokens["analyst"]!, ["-A", "-t", "-c", "SELECT id, email, email || '' AS e2, upper(email) AS e3, name FROM sales.customers ORDER BY id"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual(["1|[masked]|[masked]|[masked]|Ann", "2|[masked]|[masked]|[masked]|Bob"]);
  });

  test("an analyst cannot read outside sales, nor outside office hours", async () => {
    const other = await psql(port, tokens["analyst"]!, ["-c", "SELECT * FROM public.secrets"]);
    expect(other.stderr).toContain("ERROR:  no rule allows this request");
    expect(other.stdout).not.toContain("top secret");
    const late = await psql(latePort, lateAnalyst, ["-A", "-t", "-c", "SELECT name FROM sales.customers"]);
    expect(late.stderr).toContain("ERROR:  no rule allows this request");
    expect(late.stdout).not.toContain("Ann");
  });

  test("DROP DATABASE from anyone is blocked with the operator's message, and the session goes on", async () => {
    for (const who of ["dba", "analyst"]) {
      const r = await psql(port, tokens[who]!, ["-A", "-t", "-c", "DROP DATABASE postgres", "-c", "SELECT 'still here'"]);
      expect(r.stderr).toContain("ERROR:  DROP DATABASE is blocked on sales-db; talk to the DBA team (#dba).");
      expect(r.stdout).toContain("still here");
    }
    expect(await pg.psql("SELECT count(*) FROM pg_database WHERE datname = 'postgres'")).toBe("1\n");
    const denied = (await records(inHours)).filter((r) => r.type === "decision" && r.decision?.rule === "block-drop-database");
    expect(denied.length).toBe(2);
    expect(denied[0]!.decision!.effect).toBe("deny");
  });
});

describe("psql", () => {
  test("\\d, \\dt and \\d TABLE work for an analyst through the catalog-read built-in", async () => {
    const r = await psql(port, tokens["analyst"]!, ["-c", "\\dt sales.*", "-c", "\\d sales.customers", "-c", "\\d"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("sales  | customers | table");
    expect(r.stdout).toContain('Table "sales.customers"');
    expect(r.stdout).toContain("email  | text");
    const decisions = (await records(inHours)).filter((x) => x.type === "decision" && x.decision?.rule === "builtin:catalog-read");
    expect(decisions.length).toBeGreaterThan(2);
  });

  test("a script: DDL, DML and queries as a DBA, over TLS", async () => {
    const script = `
\\conninfo
CREATE TABLE public.notes (id serial PRIMARY KEY, body text);
INSERT INTO public.notes (body) VALUES ('one'), ('two');
UPDATE public.notes SET body = 'zwei' WHERE id = 2;
SELECT id, body FROM public.notes ORDER BY id;
DROP TABLE public.notes;
`;
    const r = await psql(port, tokens["dba"]!, ["-v", "ON_ERROR_STOP=1", "-f", "-"], { stdin: script, env: { PGSSLMODE: "require" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("SSL connection");
    expect(r.stdout).toContain("CREATE TABLE");
    expect(r.stdout).toContain("UPDATE 1");
    expect(r.stdout).toMatch(/1 \| one\s+2 \| zwei/);
  });

  test("a denied statement inside a transaction fails it like a server error; nothing it saw fail commits", async () => {
    const script = `
BEGIN;
INSERT INTO public.ledger VALUES (1, 'before');
DROP DATABASE postgres;
INSERT INTO public.ledger VALUES (2, 'after');
COMMIT;
SELECT 'after rollback ' || count(*) FROM public.ledger;
`;
    const r = await psql(port, tokens["dba"]!, ["-A", "-t", "-f", "-"], { stdin: script });
    expect(r.stderr).toContain("ERROR:  DROP DATABASE is blocked on sales-db");
    expect(r.stderr).toContain("ERROR:  current transaction is aborted, commands ignored until end of transaction block");
    expect(r.stdout).toContain("ROLLBACK");
    expect(r.stdout).toContain("after rollback 0");
    expect(await pg.psql("SELECT count(*) FROM public.ledger")).toBe("0\n");
  });

  test("\\copy in both directions", async () => {
    const r = await psql(port, tokens["dba"]!, ["-c", "\\copy public.ledger from stdin", "-c", "\\copy (SELECT id, note FROM public.ledger ORDER BY id) to stdout"], {
      stdin: "10\tten\n11\televen\n\\.\n",
    });
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("COPY 2");
    expect(r.stdout).toContain("10\tten\n11\televen\n");
    expect(await pg.psql("SELECT count(*) FROM public.ledger")).toBe("2\n");
    await pg.psql("DELETE FROM public.ledger");
  });

  test("COPY TO is refused where masks apply (COPY data cannot be masked); SELECT is the way", async () => {
    const r = await psql(port, tokens["exporter"]!, ["-c", "\\copy sales.customers to stdout"]);
    expect(r.stderr).toContain("ERROR:  COPY … TO is denied because masks apply to it and COPY data cannot be masked; use SELECT");
    expect(r.stdout).not.toContain("ann@example.com");
    // Origin masks name sales.customers only, so sales.people copies as it is.
    const other = await psql(port, tokens["exporter"]!, ["-c", "\\copy (SELECT id FROM sales.people WHERE id < 3 ORDER BY id) to stdout"]);
    expect(other.stderr).toBe("");
    expect(other.stdout).toBe("1\n2\n");
    const sel = await psql(port, tokens["exporter"]!, ["-A", "-t", "-c", "SELECT email, name FROM sales.customers WHERE id = 2"]);
    expect(sel.stdout.trim()).toBe("[masked]|Bob");
  });

  test("Ctrl-C cancels a running pg_sleep", async () => {
    const proc = Bun.spawn(["psql", "-X", "-h", "127.0.0.1", "-p", String(port), "-U", "dana", "-d", "sales-db", "-c", "SELECT pg_sleep(60)"], {
      env: clientEnv(tokens["dba"]!),
      stdout: "pipe",
      stderr: "pipe",
    });
    // Wait until the statement runs upstream, then interrupt psql as a terminal's Ctrl-C would.
    await waitFor(
      "pg_sleep(60) to run upstream",
      async () => (await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")).trim() === "1",
      { intervalMs: 50 },
    );
    proc.kill("SIGINT");
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(stderr).toContain("canceling statement due to user request");
    expect(code).not.toBe(0);
  });

  test("a masked result of a million rows streams with the gateway's memory flat", async () => {
    // The gateway served this file's other tests first: its peak so far says nothing about this
    // query. Writing 5 to clear_refs resets VmHWM to the present resident size (proc(5)), so the
    // peak read after is the one reached while the million rows streamed.
    writeFileSync(`/proc/${inHours.proc.pid}/clear_refs`, "5");
    const r = await run(["sh", "-c", `psql -X -q -A -t -h 127.0.0.1 -p ${port} -U alice -d sales-db -c "SELECT id, email, note FROM sales.people" | tail -n 1`], clientEnv(tokens["analyst"]!));
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`1000000|[masked]|${new Bun.CryptoHasher("md5").update("1000000").digest("hex")}`);
    const status = readFileSync(`/proc/${inHours.proc.pid}/status`, "utf8");
    const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
    expect(peakMb).toBeGreaterThan(0);
    expect(peakMb).toBeLessThan(150);
  });
});

describe("pgbench", () => {
  test("init, then runs in simple, extended and prepared mode", async () => {
    const env = clientEnv(tokens["dba"]!);
    const base = ["-h", "127.0.0.1", "-p", String(port), "-U", "dana", "sales-db"];
    const init = await run(["pgbench", "-i", "-s", "1", ...base], env);
    expect(init.stderr).toContain("done in");
    expect(init.code).toBe(0);
    for (const mode of ["simple", "extended", "prepared"]) {
      const r = await run(["pgbench", "-M", mode, "-t", "200", "-c", "2", "-j", "2", ...base], env);
      expect({ mode, code: r.code, err: r.code === 0 ? "" : r.stderr }).toEqual({ mode, code: 0, err: "" });
      expect(r.stdout).toContain("number of transactions actually processed: 400/400");
      expect(r.stdout).toContain("number of failed transactions: 0");
    }
  });
});

describe("logins", () => {
  test("a bad token, no token, a wrong database and replication are refused with the reason", async () => {
    const bad = await psql(port, "not-a-token", ["-c", "SELECT 1"]);
    expect(bad.stderr).toContain("FATAL:  authentication failed");
    const none = await psql(port, "", ["-c", "SELECT 1"], { env: { PGPASSWORD: "" } });
    expect(none.code).not.toBe(0);
    const db = await psql(port, tokens["dba"]!, ["-c", "SELECT 1"], { db: "otherdb" });
    expect(db.stderr).toContain('FATAL:  database "otherdb" does not exist on this gateway');
    const repl = await run(["psql", "-X", `host=127.0.0.1 port=${port} user=dana dbname=sales-db replication=database`, "-c", "IDENTIFY_SYSTEM"], clientEnv(tokens["dba"]!));
    expect(repl.stderr).toContain("replication connections are not supported");
    const opts = await psql(port, tokens["dba"]!, ["-c", "SELECT 1"], { env: { PGOPTIONS: "-c search_path=evil" } });
    expect(opts.stderr).toContain('startup parameter "options" is refused');
    const rejected = (await records(inHours)).filter((r) => r.type === "auth.rejected");
    expect(rejected.length).toBeGreaterThanOrEqual(1);
  });

  test("the upstream password never reaches the client", async () => {
    const r = await psql(port, tokens["dba"]!, ["-A", "-t", "-c", "SHOW password_encryption"]);
    expect(r.stdout + r.stderr).not.toContain(pg.password);
  });
});

describe("audit", () => {
  test("a session's start, decisions, outcomes and end, and its transcript", async () => {
    const r = await psql(port, tokens["analyst"]!, ["-A", "-t", "-c", "SELECT name, email FROM sales.customers WHERE id = 1", "-c", "SELECT * FROM public.secrets"]);
    expect(r.stdout).toContain("Ann|[masked]");
    // psql exits once it has sent Terminate; the gateway records the session's end after that.
    const mineOf = (all: AuditRecord[]) => {
      const session = all.filter((x) => x.type === "session.start" && x.identity?.subject === "alice").at(-1)!.session;
      return all.filter((x) => x.session === session);
    };
    // The first statement's completion is a statement record or rides in the next decision record: read as records either way.
    const mine = withCompletions(mineOf(await auditRecordsWhen(inHours.auditPath, (all) => mineOf(all).some((x) => x.type === "session.end"), "the session.end of alice's psql session")));
    expect(mine.map((x) => x.type)).toEqual(["session.start", "decision", "statement", "decision", "session.end"]);
    const session = mine[0]!.session!;
    expect(mine[2]!.details).toMatchObject({ outcome: "complete", tag: "SELECT 1", rows: 1, masked_cells: 1 });
    expect(mine[3]!.decision).toMatchObject({ effect: "deny", rule: null });
    expect(mine[4]!.details).toMatchObject({ statements: 1 });

    let out = "";
    const code = await replayCommand.run([session, inHours.auditPath], {
      stdout: (t) => void (out += t),
      stderr: (t) => void (out += t),
      color: false,
      env: {},
      signal: new AbortController().signal,
    });
    expect(code).toBe(0);
    expect(out).toContain(`session ${session} on sales-db — alice (analysts)`);
    expect(out).toContain("#1 ALLOW (analysts-read-sales)");
    expect(out).toContain("→ SELECT 1 · 1 row");
    expect(out).toContain("1 cells masked");
    expect(out).toContain("#2 DENY (no rule): no rule allows this request");
    expect(out).toContain("END");
  });

  test("the audit log verifies", async () => {
    const v = await runCli(["verify", inHours.auditPath]);
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
  });
});

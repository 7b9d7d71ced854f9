// What a read-only rule means for the statements clients send around their reads, in process
// against a real PostgreSQL: session statements (transaction control, SHOW, ordinary settings)
// are open to anyone who may use the target, other settings are not; statements that wrap
// another (EXPLAIN, PREPARE/EXECUTE, DECLARE/FETCH/MOVE/CLOSE, COPY … TO) are decided by what
// they wrap; a FETCH reads, and is masked, as its cursor's query; RESET ALL and DISCARD ALL
// leave the gateway's search_path where the server's is.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Msg, types, Wire } from "../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../test/helpers/pg-target.ts";
import type { Identity } from "../../core/types.ts";
import type { FrontendMessage } from "./protocol/frontend-message.ts";

setDefaultTimeout(60_000);

const identities: Record<string, Identity> = {
  ann: devIdentity("ann", "analysts"),
  stranger: devIdentity("sam", "visitors"),
};

let harness: PostgresWithTarget;
let port: number;

beforeAll(async () => {
  harness = await startPostgresWithTarget(
    `
    CREATE SCHEMA sales;
    CREATE SCHEMA hr;
    CREATE TABLE sales.customers (id int PRIMARY KEY, name text, email text);
    INSERT INTO sales.customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.com');
    CREATE TABLE sales.orders (id int PRIMARY KEY, total int);
    INSERT INTO sales.orders VALUES (1, 10), (2, 20), (3, 30);
    CREATE TABLE hr.salaries (name text, salary int);
    INSERT INTO hr.salaries VALUES ('Ann', 100);
    CREATE TABLE sales.secrets (s text);
    CREATE TABLE public.secrets (s text);
    INSERT INTO public.secrets VALUES ('public secret');
  `,
    {
      identities,
      rules: `
  - name: analysts-read-sales
    groups: [analysts]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [sales.customers.email] }
`,
    },
  );
  port = harness.target.port;
});

afterAll(async () => {
  await harness?.stop();
});

const Q = (query: string): FrontendMessage => ({ type: "Query", query });
const P = (query: string, statement = ""): FrontendMessage => ({ type: "Parse", statement, query, parameterTypes: [] });
const B = (statement = "", portal = ""): FrontendMessage => ({ type: "Bind", portal, statement, parameterFormats: [], parameters: [], resultFormats: [] });
const E = (portal = "", maxRows = 0): FrontendMessage => ({ type: "Execute", portal, maxRows });
const S: FrontendMessage = { type: "Sync" };
const rows = (ms: Msg[]) => ms.filter((m) => m.type === "DataRow").map((m) => m.text);
const errors = (ms: Msg[]) => ms.filter((m) => m.type === "ErrorResponse").map((m) => m.code);

/** Runs one simple Query and returns its messages. */
async function q(w: Wire, sql: string): Promise<Msg[]> {
  return await w.run(1, Q(sql));
}

describe("session statements are open to anyone who may use the target", () => {
  test("a read-only analyst can use transactions, SHOW and ordinary settings around reads", async () => {
    const w = await Wire.open(port, "ann");
    for (const sql of [
      "BEGIN",
      "SELECT total FROM sales.orders WHERE id = 1",
      "COMMIT",
      "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
      "SAVEPOINT s1",
      "SELECT count(*) FROM sales.orders",
      "ROLLBACK TO SAVEPOINT s1",
      "RELEASE SAVEPOINT s1",
      "END",
      "BEGIN",
      "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
      "ABORT",
      "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
      "SET statement_timeout = '5s'",
      "SET lock_timeout TO 1000",
      "SET idle_in_transaction_session_timeout = 0",
      "SET application_name = 'report'",
      "SET DateStyle TO ISO, MDY",
      "SET TIME ZONE 'UTC'",
      "SET IntervalStyle = postgres",
      "SET extra_float_digits = 3",
      "SET client_min_messages TO warning",
      "SET search_path TO sales, public",
      "SET client_encoding = 'UTF8'",
      "SHOW statement_timeout",
      "SHOW ALL",
      "RESET statement_timeout",
      "RESET ALL",
      "DISCARD ALL",
      "DEALLOCATE ALL",
      "CLOSE ALL",
    ]) {
      const ms = await q(w, sql);
      expect({ sql, errors: errors(ms) }).toEqual({ sql, errors: [] });
    }
    expect(rows(await q(w, "SHOW statement_timeout"))).toEqual(["0"]);
    w.close();
    const records = await harness.records();
    const begin = records.find((r) => r.type === "decision" && (r as { action?: { sql?: string } }).action?.sql === "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    expect(begin).toMatchObject({ decision: { effect: "allow", rule: "builtin:session" } });
  });

  test("settings that change who runs SQL or how it is read, unknown settings and two-phase commit stay denied", async () => {
    const w = await Wire.open(port, "ann");
    for (const sql of [
      "SET ROLE postgres",
      "RESET ROLE",
      "SET SESSION AUTHORIZATION postgres",
      "SET client_encoding = 'LATIN1'",
      "SET standard_conforming_strings = off",
      "SET backslash_quote = on",
      "SET session_replication_role = replica",
      "SET app.tenant = '7'",
      "PREPARE TRANSACTION 'x'",
      "COMMIT PREPARED 'x'",
      "LISTEN ch",
    ]) {
      const ms = await q(w, sql);
      expect({ sql, errors: errors(ms) }).toEqual({ sql, errors: ["42501"] });
    }
    w.close();
  });

  test("not to someone with no rule for the target", async () => {
    const w = await Wire.open(port, "stranger");
    expect(errors(await q(w, "BEGIN"))).toEqual(["42501"]);
    expect(errors(await q(w, "SHOW search_path"))).toEqual(["42501"]);
    w.close();
  });

  test("RESET ALL and DISCARD ALL bring the gateway's search_path back with the server's", async () => {
    for (const reset of ["RESET ALL", "RESET search_path", "DISCARD ALL"]) {
      const w = await Wire.open(port, "ann");
      expect(errors(await q(w, "SET search_path TO sales"))).toEqual([]);
      expect(errors(await q(w, "SELECT * FROM secrets"))).toEqual([]); // sales.secrets
      expect(errors(await q(w, reset))).toEqual([]);
      // The server now reads public.secrets: the gateway must see that too.
      const ms = await q(w, "SELECT * FROM secrets");
      expect({ reset, errors: errors(ms), rows: rows(ms) }).toEqual({ reset, errors: ["42501"], rows: [] });
      w.close();
    }
  });
});

describe("statements that wrap another are decided by what they wrap", () => {
  test("EXPLAIN of a read of sales is allowed; of anything else, or EXPLAIN ANALYZE of a write, refused", async () => {
    const w = await Wire.open(port, "ann");
    expect(errors(await q(w, "EXPLAIN SELECT * FROM sales.orders"))).toEqual([]);
    expect(errors(await q(w, "EXPLAIN (ANALYZE, COSTS off) SELECT * FROM sales.orders"))).toEqual([]);
    expect(errors(await q(w, "EXPLAIN SELECT * FROM hr.salaries"))).toEqual(["42501"]);
    expect(errors(await q(w, "EXPLAIN DELETE FROM sales.orders"))).toEqual(["42501"]);
    expect(errors(await q(w, "EXPLAIN ANALYZE DELETE FROM sales.orders"))).toEqual(["42501"]);
    expect(await harness.pg.psql("SELECT count(*) FROM sales.orders")).toBe("3\n");
    w.close();
  });

  test("PREPARE and EXECUTE of a read of sales are allowed; PREPARE of anything else refused", async () => {
    const w = await Wire.open(port, "ann");
    expect(errors(await q(w, "PREPARE p(int) AS SELECT total FROM sales.orders WHERE id = $1"))).toEqual([]);
    expect(rows(await q(w, "EXECUTE p(2)"))).toEqual(["20"]);
    expect(errors(await q(w, "PREPARE h AS SELECT * FROM hr.salaries"))).toEqual(["42501"]);
    expect(errors(await q(w, "PREPARE d AS DELETE FROM sales.orders"))).toEqual(["42501"]);
    expect(errors(await q(w, "EXECUTE d"))).toEqual(["42501"]);
    expect(errors(await q(w, "DEALLOCATE p"))).toEqual([]);
    w.close();
  });

  test("COPY (SELECT …) TO STDOUT where no mask applies; refused where one does", async () => {
    const w = await Wire.open(port, "ann");
    const ms = await q(w, "COPY (SELECT id, total FROM sales.orders ORDER BY id) TO STDOUT");
    expect(errors(ms)).toEqual([]);
    expect(types(ms)).toContain("CopyOutResponse");
    expect(errors(await q(w, "COPY (SELECT name, email FROM sales.customers) TO STDOUT"))).toEqual(["42501"]);
    expect(errors(await q(w, "COPY (SELECT * FROM hr.salaries) TO STDOUT"))).toEqual(["42501"]);
    expect(errors(await q(w, "COPY (SELECT id FROM sales.orders) TO PROGRAM 'cat'"))).toEqual(["42501"]);
    w.close();
  });

  test("DECLARE, FETCH, MOVE and CLOSE of a cursor over sales; a cursor over hr or of unknown name refused", async () => {
    const w = await Wire.open(port, "ann");
    expect(errors(await q(w, "BEGIN"))).toEqual([]);
    expect(errors(await q(w, "DECLARE c CURSOR FOR SELECT id, total FROM sales.orders ORDER BY id"))).toEqual([]);
    expect(rows(await q(w, "FETCH 1 FROM c"))).toEqual(["1|10"]);
    expect(types(await q(w, "MOVE FORWARD 1 IN c"))).toEqual(["CommandComplete", "ReadyForQuery"]);
    expect(rows(await q(w, "FETCH ALL FROM c"))).toEqual(["3|30"]);
    expect(errors(await q(w, "CLOSE c"))).toEqual([]);
    expect(errors(await q(w, "DECLARE h CURSOR FOR SELECT * FROM hr.salaries"))).toEqual(["42501"]);
    expect(errors(await q(w, "ROLLBACK"))).toEqual([]);
    // A cursor the gateway never saw declared (a function's refcursor, say): a FETCH of it is not a read of sales.
    expect(errors(await q(w, "BEGIN; FETCH ALL FROM nowhere"))).toEqual(["42501"]);
    expect(errors(await q(w, "ROLLBACK"))).toEqual([]);
    w.close();
  });

  test("a cursor in one Query with its DECLARE and FETCH, and a WITH HOLD cursor after COMMIT", async () => {
    const w = await Wire.open(port, "ann");
    const ms = await q(w, "BEGIN; DECLARE c CURSOR FOR SELECT id FROM sales.orders ORDER BY id; FETCH ALL FROM c; COMMIT");
    expect(errors(ms)).toEqual([]);
    expect(rows(ms)).toEqual(["1", "2", "3"]);
    expect(errors(await q(w, "DECLARE hc CURSOR WITH HOLD FOR SELECT id, email FROM sales.customers ORDER BY id"))).toEqual([]);
    expect(rows(await q(w, "FETCH ALL FROM hc"))).toEqual(["1|[masked]", "2|[masked]"]);
    expect(errors(await q(w, "CLOSE hc"))).toEqual([]);
    w.close();
  });
});

describe("a FETCH is masked as its cursor's query is", () => {
  test("the same rows as the SELECT, masked alike: origin masks, expressions of a masked table, nothing else", async () => {
    const w = await Wire.open(port, "ann");
    const query = "SELECT id, email AS contact, upper(name) AS n FROM sales.customers ORDER BY id";
    const selected = rows(await q(w, query));
    expect(selected).toEqual(["1|[masked]|[masked]", "2|[masked]|[masked]"]);
    const fetched = rows(await q(w, `BEGIN; DECLARE c CURSOR FOR ${query}; FETCH ALL FROM c; COMMIT`));
    expect(fetched).toEqual(selected);
    // A cursor over a table with no masked column: its expressions stay as the SELECT shows them.
    const plain = "SELECT id, total * 2 AS double FROM sales.orders ORDER BY id";
    const fetchedPlain = rows(await q(w, `BEGIN; DECLARE o CURSOR FOR ${plain}; FETCH ALL FROM o; COMMIT`));
    expect(fetchedPlain).toEqual(rows(await q(w, plain)));
    expect(fetchedPlain).toEqual(["1|20", "2|40", "3|60"]);
    w.close();
  });

  test("a name declared again over a masked table, in the same Query, is masked", async () => {
    const w = await Wire.open(port, "ann");
    const ms = await q(
      w,
      "BEGIN; DECLARE c CURSOR FOR SELECT name FROM sales.orders JOIN sales.customers USING (id) ORDER BY id; CLOSE c; DECLARE c CURSOR FOR SELECT email FROM sales.customers ORDER BY id; FETCH ALL FROM c; COMMIT",
    );
    expect(errors(ms)).toEqual([]);
    expect(rows(ms)).toEqual(["[masked]", "[masked]"]);
    w.close();
  });

  test("a FETCH parsed before its cursor is declared anew is decided again at Bind", async () => {
    const w = await Wire.open(port, "ann");
    expect(errors(await q(w, "BEGIN"))).toEqual([]);
    expect(errors(await q(w, "DECLARE c CURSOR FOR SELECT total::text FROM sales.orders ORDER BY id"))).toEqual([]);
    const ms = await w.run(1, P("FETCH ALL FROM c", "f"), S);
    expect(errors(ms)).toEqual([]);
    expect(errors(await q(w, "CLOSE c; DECLARE c CURSOR FOR SELECT email FROM sales.customers ORDER BY id"))).toEqual([]);
    const fetched = await w.run(1, B("f"), E(), S);
    expect(errors(fetched)).toEqual([]);
    expect(rows(fetched)).toEqual(["[masked]", "[masked]"]);
    expect(errors(await q(w, "COMMIT"))).toEqual([]);
    w.close();
  });

  test("a SQL FETCH from a protocol portal is decided and masked as the portal's statement", async () => {
    const w = await Wire.open(port, "ann");
    expect(errors(await q(w, "BEGIN"))).toEqual([]);
    const first = await w.run(1, P("SELECT email FROM sales.customers ORDER BY id"), B("", "pp"), E("pp", 1), S);
    expect(rows(first)).toEqual(["[masked]"]);
    const rest = await q(w, "FETCH ALL FROM pp");
    expect(errors(rest)).toEqual([]);
    expect(rows(rest)).toEqual(["[masked]"]);
    expect(errors(await q(w, "COMMIT"))).toEqual([]);
    w.close();
  });
});

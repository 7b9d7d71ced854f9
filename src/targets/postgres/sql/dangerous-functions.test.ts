import { beforeAll, describe, expect, test } from "bun:test";
import { DANGEROUS_FUNCTIONS } from "./dangerous-functions.ts";
import { loadSqlParser, type SqlParser } from "./sql-parser.ts";

let parser: SqlParser;
beforeAll(async () => {
  parser = await loadSqlParser();
});

// The policy's matcher is elsewhere; this is the plain glob the patterns are written for.
const globs = DANGEROUS_FUNCTIONS.map((d) => new RegExp(`^${d.pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`));
const dangerous = (sql: string): boolean => {
  const a = parser.analyze(sql, { searchPath: ["public"] });
  if (!a.ok) throw new Error(a.error);
  return a.statements.some((s) => s.functions.some((f) => globs.some((g) => g.test(f))));
};

describe("DANGEROUS_FUNCTIONS", () => {
  test("every entry says why", () => {
    for (const d of DANGEROUS_FUNCTIONS) expect(d.why.length).toBeGreaterThan(10);
  });

  for (const sql of [
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT pg_ls_waldir()",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(1, '/tmp/x')",
    "SELECT lo_get(1234)",
    "SELECT * FROM dblink('host=x', 'SELECT 1') AS t(a int)",
    "SELECT public.dblink_exec('DROP TABLE x')",
    "SELECT pg_terminate_backend(1)",
    "SELECT pg_reload_conf()",
    "SELECT set_config('search_path', 'evil', false)",
    "SELECT set_config($1, 'evil', false)",
    "SELECT set_config('role', 'admin', false)",
    "SELECT query_to_xml('SELECT * FROM hr.salaries', true, false, '')",
    "SELECT table_to_xml('hr.salaries', true, false, '')",
    "SELECT * FROM ts_stat('SELECT v FROM hr.docs')",
    "SELECT * FROM pg_logical_slot_get_changes('s', NULL, NULL)",
    "CREATE VIEW v AS SELECT pg_read_file('x')",
    "DO $$ BEGIN RAISE NOTICE '%', pg_read_file('x'); END $$",
    "DO $$ BEGIN EXECUTE 'SELECT pg_read' || '_file(''x'')'; END $$",
    "DO LANGUAGE plpython3u 'import os'",
    "SELECT query FROM pg_catalog.pg_stat_get_activity(NULL)",
    "SELECT pg_stat_get_backend_activity(b) FROM pg_stat_get_backend_idset() b",
    "SELECT * FROM pg_show_all_file_settings()",
    "SELECT nextval(('hr.' || 'badge_seq')::regclass)",
    "SELECT setval(s::regclass, 1000) FROM (VALUES ('hr.badge_seq')) v(s)",
  ]) {
    test(`denied by default: ${sql}`, () => expect(dangerous(sql)).toBe(true));
  }

  for (const sql of [
    "SELECT now(), count(*), lower(x), pg_sleep(1) FROM t",
    "SELECT set_config('application_name', 'app', false)",
    "SELECT pg_catalog.pg_get_viewdef('v'::regclass)",
    "SELECT nextval('sales.order_no'::regclass), setval('sales.order_no', 1)",
  ]) {
    test(`not on the list: ${sql}`, () => expect(dangerous(sql)).toBe(false));
  }
});

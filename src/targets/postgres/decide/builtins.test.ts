// The Postgres built-in rules on top of the policy's decision: dangerous and user functions,
// catalog reads open to users of the target, COPY TO under masks, client_encoding changes.
import { expect, test } from "bun:test";
import type { Action, Decision, Identity } from "../../../core/types.ts";
import { NO_MASKS } from "../../../core/types.ts";
import { isCatalogRead, isSessionStatement, masksMayApply, postgresBuiltins } from "./builtins.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: ["analysts"] };
const action = (classes: string[], relations: string[], functions: string[] = []): Action => ({
  identity: alice,
  target: "db",
  request: { kind: "postgres", classes, relations, functions, sql: "…" },
  time: 0,
});
const allow = (rule = "r", columns: string[] = []): Decision => ({ effect: "allow", rule, message: "ok", masks: { json: [], columns, detectors: [] } });
const defaultDeny: Decision = { effect: "deny", rule: null, message: "no rule allows this request", masks: NO_MASKS };
const ruleFunctions: Record<string, string[]> = {
  files: ["*.pg_read_file"],
  loose: ["pg_catalog.*"],
  exact: ["pg_catalog.pg_read_file"],
  salaries: ["pg_catalog.*", "public.all_salaries"],
  anyPublic: ["public.*"],
};
const adjust = postgresBuiltins({ mayUseTarget: (i) => i.groups.includes("analysts"), ruleFunctions: (r) => ruleFunctions[r] });

test("a dangerous function is denied even where a rule allows, unless that rule names it", () => {
  const a = action(["read"], [], ["pg_catalog.pg_read_file", "public.pg_read_file"]);
  expect(adjust(allow("r"), a)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-function" });
  expect(adjust(allow("loose"), a)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-function" });
  expect(adjust(allow("files"), a)).toMatchObject({ effect: "allow", rule: "files" });
  // Only the pg_catalog candidate is named; public.pg_read_file is not.
  expect(adjust(allow("exact"), a)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-function" });
  expect(adjust(allow("r"), action(["read", "set"], [], ["pg_catalog.set_config", "pg_catalog.set_config(search_path)"]))).toMatchObject({ effect: "deny" });
  expect(adjust(allow("r"), action(["read"], [], ["pg_catalog.set_config"]))).toMatchObject({ effect: "allow" });
  const review: Decision = { ...allow("r"), effect: "review", review: { approvers: ["x"], maxGrantMs: 1, timeoutMs: 1 } };
  expect(adjust(review, action(["read"], [], ["pg_catalog.dblink_exec"]))).toMatchObject({ effect: "deny" });
});

test("a policy deny stays a deny", () => {
  const d: Decision = { effect: "deny", rule: "no", message: "operator says no", masks: NO_MASKS };
  expect(adjust(d, action(["read"], ["pg_catalog.pg_class"]))).toBe(d);
});

test("pure catalog reads are allowed to users of the target where no rule decided", () => {
  const psqlDt = action(["read"], ["pg_catalog.pg_class", "pg_catalog.pg_namespace"], ["pg_catalog.pg_table_is_visible", "pg_catalog.pg_get_userbyid"]);
  expect(adjust(defaultDeny, psqlDt)).toMatchObject({ effect: "allow", rule: "builtin:catalog-read" });
  expect(adjust(defaultDeny, { ...psqlDt, identity: { ...alice, groups: ["visitors"] } })).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["read"], ["pg_catalog.pg_authid"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["read"], ["pg_catalog.pg_stats"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["read"], ["pg_catalog.pg_class", "sales.customers"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["read", "delete"], ["pg_catalog.pg_class"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["read"], ["pg_catalog.pg_class"], ["pg_catalog.pg_read_file"]))).toBe(defaultDeny);
});

test("catalog functions: qualified, or unqualified (pg_catalog is searched first); never another schema's", () => {
  const facts = (functions: string[]) => ({ kind: "postgres" as const, classes: ["read"], relations: ["pg_catalog.pg_class"], functions });
  expect(isCatalogRead(facts(["pg_catalog.count"]))).toBe(true);
  expect(isCatalogRead(facts(["pg_catalog.string_agg", "public.string_agg", "sales.string_agg"]))).toBe(true);
  expect(isCatalogRead(facts(["public.leak"]))).toBe(false);
  expect(isCatalogRead(facts(["pg_catalog.count", "public.leak"]))).toBe(false);
  expect(isCatalogRead({ ...facts([]), relations: ["information_schema.columns"] })).toBe(true);
  expect(isCatalogRead({ ...facts([]), relations: [] })).toBe(true);
});

test("COPY … TO is denied where masks may apply", () => {
  expect(adjust(allow("r", ["email"]), action(["copy.to", "read"], ["sales.customers"]))).toMatchObject({ effect: "deny", rule: "builtin:copy-masked" });
  expect(adjust(allow("r", ["sales.customers.email"]), action(["copy.to", "read"], ["sales.customers"]))).toMatchObject({ effect: "deny" });
  expect(adjust(allow("r", ["sales.customers.email"]), action(["copy.to", "read"], ["sales.orders"]))).toMatchObject({ effect: "allow" });
  expect(adjust(allow("r", ["email"]), action(["read"], ["sales.customers"]))).toMatchObject({ effect: "allow" });
  expect(masksMayApply({ json: [], columns: [], detectors: ["card"] }, [])).toBe(true);
  expect(masksMayApply({ json: ["$.a"], columns: [], detectors: [] }, ["x.y"])).toBe(false);
});

const withUser = (classes: string[], relations: string[], functions: string[], userFunctions: string[]): Action => ({
  identity: alice,
  target: "db",
  request: { kind: "postgres", classes, relations, functions, userFunctions, sql: "…" },
  time: 0,
});

test("a user-defined function is denied unless the deciding rule names it, whatever else the rule allows", () => {
  const a = withUser(["read"], [], ["pg_catalog.all_salaries", "public.all_salaries"], ["public.all_salaries"]);
  // A rule with no postgres section (a DBA's "everything") does not name it.
  expect(adjust(allow("dbas"), a)).toMatchObject({ effect: "deny", rule: "builtin:user-function" });
  expect(adjust(allow("loose"), a)).toMatchObject({ effect: "deny", rule: "builtin:user-function" });
  // A * in the last part is not naming it.
  expect(adjust(allow("anyPublic"), a)).toMatchObject({ effect: "deny", rule: "builtin:user-function" });
  expect(adjust(allow("salaries"), a)).toMatchObject({ effect: "allow", rule: "salaries" });
  // Without a rule there is nothing to adjust, and the catalog-read allowance never covers it.
  expect(adjust(defaultDeny, a)).toMatchObject({ effect: "deny", rule: null });
  expect(adjust(defaultDeny, withUser(["read"], [], ["pg_catalog.f", "public.f"], []))).toMatchObject({ effect: "allow", rule: "builtin:catalog-read" });
});

test("COPY … TO of a statement calling a user function counts as masked when any column mask applies", () => {
  const a = withUser(["copy.to", "read"], ["sales.orders"], ["public.all_salaries"], ["public.all_salaries"]);
  expect(adjust(allow("salaries", ["hr.salaries.note"]), a)).toMatchObject({ effect: "deny", rule: "builtin:copy-masked" });
  expect(adjust(allow("salaries"), a)).toMatchObject({ effect: "allow" });
  expect(masksMayApply({ json: [], columns: ["hr.salaries.note"], detectors: [] }, ["sales.orders"], true)).toBe(true);
  expect(masksMayApply({ json: [], columns: ["hr.salaries.note"], detectors: [] }, ["sales.orders"])).toBe(false);
});

test("a change of client_encoding or standard_conforming_strings is denied whatever the rule, even one naming it", () => {
  ruleFunctions["namesIt"] = ["pg_catalog.set_config(client_encoding)", "pg_catalog.set_config(standard_conforming_strings)"];
  for (const f of ["pg_catalog.set_config(client_encoding)", "pg_catalog.set_config(standard_conforming_strings)"]) {
    for (const d of [allow("r"), allow("namesIt"), allow("dbas"), defaultDeny]) {
      expect(adjust(d, action(["set"], [], [f]))).toMatchObject({ effect: "deny", rule: "builtin:literal-divergence" });
    }
  }
  expect(adjust(allow("r"), action(["set"], [], ["pg_catalog.set_config(application_name)"]))).toMatchObject({ effect: "allow" });
});

test("the functions behind pg_stat_activity are never a catalog read, and denied unless named", () => {
  const a = action(["read"], [], ["pg_catalog.pg_stat_get_activity"]);
  expect(adjust(defaultDeny, a)).toMatchObject({ effect: "deny" });
  expect(adjust(allow("r"), a)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-function" });
  expect(adjust(allow("r"), action(["read"], [], ["pg_catalog.pg_stat_get_backend_activity", "pg_catalog.pg_stat_get_backend_idset"]))).toMatchObject({
    effect: "deny",
    rule: "builtin:dangerous-function",
  });
});

test("COPY PROGRAM and COPY of a server file are denied unless the deciding rule names the class exactly", () => {
  const classes: Record<string, string[]> = { program: ["copy.program", "copy.to"], file: ["copy.file", "copy.from", "insert"], glob: ["copy.*"] };
  const withClasses = postgresBuiltins({ mayUseTarget: () => true, ruleFunctions: (r) => ruleFunctions[r], ruleClasses: (r) => classes[r] });
  const program = action(["copy.to", "copy.program", "read"], []);
  const file = action(["copy.from", "copy.file", "insert"], ["public.canary"]);
  expect(withClasses(allow("everything"), program)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("glob"), program)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("file"), program)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("program"), program)).toMatchObject({ effect: "allow", rule: "program" });
  expect(withClasses(allow("everything"), file)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("file"), file)).toMatchObject({ effect: "allow", rule: "file" });
  // Without ruleClasses no rule names a class.
  expect(adjust(allow("r"), file)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("everything"), action(["copy.to", "read"], []))).toMatchObject({ effect: "allow" });
});

test("ALTER EXTENSION, which can make a user's function count as extension code, needs a rule that names its class", () => {
  const classes: Record<string, string[]> = { ext: ["ddl.alter.extension"], ddl: ["ddl.*"] };
  const withClasses = postgresBuiltins({ mayUseTarget: () => true, ruleFunctions: (r) => ruleFunctions[r], ruleClasses: (r) => classes[r] });
  const addFunction = action(["ddl.alter.extension"], []);
  expect(withClasses(allow("everything"), addFunction)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("ddl"), addFunction)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-statement" });
  expect(withClasses(allow("ext"), addFunction)).toMatchObject({ effect: "allow", rule: "ext" });
});

test("session statements are allowed to users of the target where no rule decided", () => {
  const session = (classes: string[], functions: string[] = []) => action(classes, [], functions);
  for (const classes of [["transaction"], ["show"], ["set"], ["discard"], ["deallocate"], ["close"]]) {
    expect(adjust(defaultDeny, session(classes))).toMatchObject({ effect: "allow", rule: "builtin:session" });
  }
  // Not to someone with no rule for this target.
  expect(adjust(defaultDeny, { ...session(["transaction"]), identity: { ...alice, groups: ["visitors"] } })).toBe(defaultDeny);
  // A rule that denies keeps denying.
  const ruled: Decision = { effect: "deny", rule: "no-sets", message: "no", masks: NO_MASKS };
  expect(adjust(ruled, session(["set"]))).toBe(ruled);
  // Two-phase commit, settings that are not ordinary ones, and anything touching data are not session statements.
  expect(adjust(defaultDeny, session(["transaction.prepared"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, session(["set"], ["pg_catalog.set_config(role)"]))).toMatchObject({ effect: "deny" });
  expect(adjust(defaultDeny, session(["set"], ["pg_catalog.set_config(work_mem_x)"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, session(["set"], ["pg_catalog.set_config(client_encoding)"]))).toMatchObject({ effect: "deny", rule: "builtin:literal-divergence" });
  expect(adjust(defaultDeny, action(["lock"], ["sales.orders"]))).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["fetch"], []))).toBe(defaultDeny);
  expect(adjust(defaultDeny, action(["listen"], []))).toBe(defaultDeny);
  expect(isSessionStatement({ kind: "postgres", classes: ["transaction", "read"], relations: [], functions: [] })).toBe(false);
  expect(isSessionStatement({ kind: "postgres", classes: [], relations: [], functions: [] })).toBe(false);
  expect(isSessionStatement({ kind: "postgres", classes: ["set"], relations: [], functions: [], userFunctions: ["public.f"] })).toBe(false);
});

test("SET ROLE is a dangerous setting even where a rule allows the class set, unless the rule names it", () => {
  const ruleFns: Record<string, string[]> = { named: ["pg_catalog.set_config(role)"] };
  const adj = postgresBuiltins({ mayUseTarget: () => true, ruleFunctions: (r) => ruleFns[r] });
  const setRole = action(["set"], [], ["pg_catalog.set_config(role)"]);
  expect(adj(allow("r"), setRole)).toMatchObject({ effect: "deny", rule: "builtin:dangerous-function" });
  expect(adj(allow("named"), setRole)).toMatchObject({ effect: "allow", rule: "named" });
});

import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { PostgresRequestFacts } from "../../core/types.ts";
import { compilePostgresMatcher, compilePostgresOverlap } from "./postgres.ts";

const stmt = (classes: string[], relations: string[] = [], functions: string[] = []): PostgresRequestFacts => ({
  kind: "postgres",
  classes,
  relations,
  functions,
});

describe("postgres matcher: allow rules need every part listed", () => {
  const m = compilePostgresMatcher({ classes: ["read"], tables: ["sales.*"] }, false);
  test("a read of sales tables matches", () => {
    expect(m(stmt(["read"], ["sales.orders", "sales.customers"]))).toBe(true);
  });
  test("one table outside sales.* and the statement is not allowed", () => {
    expect(m(stmt(["read"], ["sales.orders", "hr.salaries"]))).toBe(false);
  });
  test("one class beyond read (a CTE that deletes) and the statement is not allowed", () => {
    expect(m(stmt(["read", "delete"], ["sales.orders"]))).toBe(false);
  });
  test("* in a table glob stays within one name part", () => {
    expect(m(stmt(["read"], ["sales.orders.extra"]))).toBe(false);
    expect(m(stmt(["read"], ["orders"]))).toBe(false);
  });
  test("case matters for allow rules", () => {
    expect(m(stmt(["read"], ["Sales.orders"]))).toBe(false);
  });
  test("functions, when listed, must all be listed", () => {
    const f = compilePostgresMatcher({ classes: ["read"], functions: ["pg_catalog.lower", "pg_catalog.count"] }, false);
    expect(f(stmt(["read"], [], ["pg_catalog.lower"]))).toBe(true);
    expect(f(stmt(["read"], [], ["pg_catalog.lower", "pg_catalog.pg_read_file"]))).toBe(false);
  });
});

describe("postgres matcher: deny rules match on any part", () => {
  test("any relation matching denies", () => {
    const m = compilePostgresMatcher({ tables: ["hr.*"] }, true);
    expect(m(stmt(["read"], ["sales.orders", "hr.salaries"]))).toBe(true);
    expect(m(stmt(["read"], ["sales.orders"]))).toBe(false);
    expect(m(stmt(["read"], ["HR.salaries"]))).toBe(true);
  });
  test("any class matching denies; prefixes with .* and exact names", () => {
    const m = compilePostgresMatcher({ classes: ["ddl.drop.*", "truncate"] }, true);
    expect(m(stmt(["read", "ddl.drop.table"]))).toBe(true);
    expect(m(stmt(["ddl.drop.database"]))).toBe(true);
    expect(m(stmt(["truncate"]))).toBe(true);
    expect(m(stmt(["ddl.create.table"]))).toBe(false);
    expect(m(stmt(["read"]))).toBe(false);
  });
  test("ddl.* covers every ddl class, and * every class", () => {
    expect(compilePostgresMatcher({ classes: ["ddl.*"] }, true)(stmt(["ddl.alter.role"]))).toBe(true);
    expect(compilePostgresMatcher({ classes: ["*"] }, false)(stmt(["copy.program"]))).toBe(true);
  });
  test("any function matching denies", () => {
    const m = compilePostgresMatcher({ functions: ["pg_catalog.pg_read_*"] }, true);
    expect(m(stmt(["read"], [], ["pg_catalog.lower", "pg_catalog.pg_read_file"]))).toBe(true);
    expect(m(stmt(["read"], [], ["pg_catalog.lower"]))).toBe(false);
  });
  test("invalid class names are policy errors", () => {
    expect(() => compilePostgresMatcher({ classes: ["ddl drop"] }, true)).toThrow(GatewayError);
  });
});

describe("postgres matcher: statements with no relations against `tables`", () => {
  const facts = (classes: string[], sql: string): PostgresRequestFacts => ({ kind: "postgres", classes, relations: [], functions: [], sql });
  // What the analyser reports for statements that act on a whole schema, database or tablespace.
  const schemaWide: PostgresRequestFacts[] = [
    facts(["ddl.alter.schema"], "ALTER SCHEMA hr RENAME TO hr2"),
    facts(["ddl.drop.schema"], "DROP SCHEMA hr CASCADE"),
    facts(["ddl.drop.owned"], "DROP OWNED BY alice"),
    facts(["ddl.alter.owned"], "REASSIGN OWNED BY alice TO bob"),
    facts(["grant"], "GRANT SELECT ON ALL TABLES IN SCHEMA hr TO bob"),
    facts(["revoke"], "REVOKE SELECT ON ALL TABLES IN SCHEMA hr FROM bob"),
    facts(["ddl.alter.default_privileges"], "ALTER DEFAULT PRIVILEGES IN SCHEMA hr GRANT SELECT ON TABLES TO bob"),
    facts(["ddl.create.foreign_table"], "IMPORT FOREIGN SCHEMA remote FROM SERVER s INTO hr"),
    facts(["ddl.alter.extension"], "ALTER EXTENSION x ADD TABLE hr.salaries"),
    facts(["ddl.alter.table"], "ALTER TABLE ALL IN TABLESPACE ts SET TABLESPACE other"),
    facts(["vacuum"], "VACUUM FULL"),
    facts(["analyze"], "ANALYZE"),
    facts(["reindex"], "REINDEX SCHEMA hr"),
    facts(["cluster"], "CLUSTER"),
    facts(["checkpoint"], "CHECKPOINT"),
    facts(["load"], "LOAD 'x'"),
    facts(["procedural"], "DO $$ BEGIN DELETE FROM hr.salaries; END $$"),
    facts(["comment"], "COMMENT ON SCHEMA hr IS 'x'"),
    facts(["set_constraints"], "SET CONSTRAINTS ALL DEFERRED"),
    facts(["copy.to", "read"], "COPY (SELECT 1) TO STDOUT"),
    facts(["read", "ddl.drop.schema"], "a read and a schema-wide statement together"),
    facts(["other.NewStmt"], "a statement node the analyser does not know"),
    facts([], "no classes at all"),
  ];
  // Statements that act on no object: `tables` neither allows nor denies them.
  const objectFree: PostgresRequestFacts[] = [
    facts(["read"], "SELECT 1"),
    facts(["read"], "SELECT now()"),
    facts(["set"], "SET search_path TO sales"),
    facts(["show"], "SHOW search_path"),
    facts(["transaction"], "BEGIN"),
    facts(["explain"], "EXPLAIN SELECT 1"),
    facts(["prepare"], "PREPARE p AS SELECT 1"),
    facts(["execute"], "EXECUTE p"),
    facts(["deallocate"], "DEALLOCATE ALL"),
    facts(["discard"], "DISCARD ALL"),
    facts(["declare_cursor", "read"], "DECLARE c CURSOR FOR SELECT 1"),
    facts(["fetch"], "FETCH c"),
    facts(["move"], "MOVE c"),
    facts(["close"], "CLOSE c"),
    facts(["listen"], "LISTEN ch"),
    facts(["notify"], "NOTIFY ch"),
    facts(["unlisten"], "UNLISTEN *"),
  ];

  test("an allow rule with tables does not allow a statement that acts on a whole schema", () => {
    const anyClass = compilePostgresMatcher({ tables: ["sales.*"] }, false);
    const everyClass = compilePostgresMatcher({ classes: ["*"], tables: ["sales.*"] }, false);
    for (const f of schemaWide) {
      expect({ sql: f.sql, matches: anyClass(f) }).toEqual({ sql: f.sql, matches: false });
      expect({ sql: f.sql, matches: everyClass(f) }).toEqual({ sql: f.sql, matches: false });
    }
  });

  test("a deny (or review) rule with tables matches a statement that acts on a whole schema", () => {
    const deny = compilePostgresMatcher({ tables: ["hr.*"] }, true);
    for (const f of schemaWide) expect({ sql: f.sql, matches: deny(f) }).toEqual({ sql: f.sql, matches: true });
    const ddl = compilePostgresMatcher({ classes: ["ddl.*"], tables: ["hr.*"] }, true);
    expect(ddl(facts(["ddl.drop.schema"], "DROP SCHEMA hr CASCADE"))).toBe(true);
    expect(ddl(facts(["vacuum"], "VACUUM FULL"))).toBe(false); // its class is not listed
  });

  test("statements that act on no object: allowed by an allow rule with tables, not caught by a deny rule", () => {
    const read = compilePostgresMatcher({ classes: ["read", "set", "show", "transaction", "explain", "prepare", "execute", "deallocate", "discard", "declare_cursor", "fetch", "move", "close", "listen", "notify", "unlisten"], tables: ["sales.*"] }, false);
    const deny = compilePostgresMatcher({ tables: ["hr.*"] }, true);
    for (const f of objectFree) {
      expect({ sql: f.sql, allowed: read(f), denied: deny(f) }).toEqual({ sql: f.sql, allowed: true, denied: false });
    }
    // The classes condition still applies.
    expect(compilePostgresMatcher({ classes: ["read"], tables: ["sales.*"] }, false)(facts(["set"], "SET x = 1"))).toBe(false);
  });

  test("a read+tables rule keeps allowing SELECT now() and reads of its tables", () => {
    const m = compilePostgresMatcher({ classes: ["read"], tables: ["sales.*"] }, false);
    expect(m({ kind: "postgres", classes: ["read"], relations: [], functions: ["pg_catalog.now"], sql: "SELECT now()" })).toBe(true);
    expect(m(stmt(["read"], ["sales.orders"]))).toBe(true);
    expect(m(stmt(["read"], ["hr.salaries"]))).toBe(false);
  });

  test("a rule without tables is unchanged for statements with no relations", () => {
    expect(compilePostgresMatcher({ classes: ["ddl.*"] }, false)(facts(["ddl.drop.schema"], "DROP SCHEMA hr"))).toBe(true);
    expect(compilePostgresMatcher({ classes: ["read"] }, true)(facts(["ddl.drop.schema"], "DROP SCHEMA hr"))).toBe(false);
  });
});

describe("postgres matcher: statements that wrap another are decided by what they wrap", () => {
  const read = compilePostgresMatcher({ classes: ["read"], tables: ["sales.*"] }, false);
  const sales = ["sales.orders"];
  test("a read rule allows EXPLAIN, PREPARE, DECLARE, FETCH and COPY TO of a read of its tables", () => {
    expect(read(stmt(["explain", "read"], sales))).toBe(true);
    expect(read(stmt(["prepare", "read"], sales))).toBe(true);
    expect(read(stmt(["declare_cursor", "read"], sales))).toBe(true);
    expect(read(stmt(["fetch", "read"], sales))).toBe(true);
    expect(read(stmt(["move", "read"], sales))).toBe(true);
    expect(read(stmt(["copy.to", "read"], sales))).toBe(true);
  });
  test("and refuses them when what they wrap is not a read of its tables", () => {
    expect(read(stmt(["explain", "read"], ["hr.salaries"]))).toBe(false);
    expect(read(stmt(["delete", "explain"], sales))).toBe(false);
    expect(read(stmt(["delete", "prepare"], sales))).toBe(false);
    expect(read(stmt(["declare_cursor", "read", "update"], sales))).toBe(false);
    expect(read(stmt(["copy.program", "copy.to", "read"], sales))).toBe(false);
    expect(read(stmt(["copy.file", "copy.to", "read"], sales))).toBe(false);
    expect(read(stmt(["copy.from", "insert"], sales))).toBe(false);
  });
  test("a wrapper alone (a FETCH of a cursor the gateway does not know) must be listed", () => {
    expect(read(stmt(["fetch"]))).toBe(false);
    expect(compilePostgresMatcher({ classes: ["read", "fetch"], tables: ["sales.*"] }, false)(stmt(["fetch"]))).toBe(true);
  });
  test("a rule that lists the wrapper still allows it", () => {
    expect(compilePostgresMatcher({ classes: ["read", "explain"], tables: ["sales.*"] }, false)(stmt(["explain", "read"], sales))).toBe(true);
  });
  test("deny and review rules still catch the wrapper's own class, and what it wraps", () => {
    expect(compilePostgresMatcher({ classes: ["explain"] }, true)(stmt(["explain", "read"], sales))).toBe(true);
    expect(compilePostgresMatcher({ classes: ["copy.to"] }, true)(stmt(["copy.to", "read"], sales))).toBe(true);
    expect(compilePostgresMatcher({ classes: ["delete"] }, true)(stmt(["delete", "explain"], sales))).toBe(true);
  });
});

describe("postgres overlap (where an allow rule's masks apply)", () => {
  const o = compilePostgresOverlap({ classes: ["read"], tables: ["sales.*"] });
  test("any listed table and any listed class is enough", () => {
    expect(o(stmt(["read"], ["sales.customers", "ref.countries"]))).toBe(true);
    expect(o(stmt(["read", "delete"], ["sales.customers"]))).toBe(true);
    expect(o(stmt(["read"], [], ["pg_catalog.pg_read_file"]))).toBe(true);
  });
  test("no listed table or no listed class: no overlap", () => {
    expect(o(stmt(["read"], ["ref.countries"]))).toBe(false);
    expect(o(stmt(["update"], ["sales.customers"]))).toBe(false);
  });
});

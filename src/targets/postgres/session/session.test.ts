// Sessions against a real PostgreSQL, on what reaches the client besides rows: the server must
// read SQL as the gateway's parser does (client_encoding UTF8, standard_conforming_strings on,
// whatever role defaults say, and the session ends if that ever changes), and the errors,
// notices and settings of statements that read masked columns must not quote masked values,
// while the messages keep their number and order.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Msg, types, Wire } from "../../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../../test/helpers/pg-target.ts";
import type { PostgresInstance } from "../../../../test/helpers/postgres.ts";
import type { AuditRecord } from "../../../audit/record.ts";
import type { Identity } from "../../../core/types.ts";
import { type RunningPostgresTarget } from "../postgres-target.ts";
import type { FrontendMessage } from "../protocol/frontend-message.ts";

setDefaultTimeout(60_000);

const SECRET = "s3cretmark";
const identities: Record<string, Identity> = {
  ann: devIdentity("ann", "analysts"),
  sue: devIdentity("sue", "support"),
  app: devIdentity("app", "apps"),
  ops: devIdentity("ops", "ops"),
  dba: devIdentity("dba", "dbas"),
};

let pg: PostgresInstance;
let harness: PostgresWithTarget;
let target: RunningPostgresTarget;

beforeAll(async () => {
  harness = await startPostgresWithTarget(`
    CREATE SCHEMA sales;
    CREATE TABLE sales.customers (id int PRIMARY KEY, name text NOT NULL, email text);
    INSERT INTO sales.customers VALUES (1, 'Ann', 'ann.${SECRET}@example.com'), (2, 'Bob', 'bob.${SECRET}@example.com');
    CREATE FUNCTION public.set_app(v text) RETURNS text LANGUAGE sql AS $$ SELECT set_config('application_name', v, false) $$;
    CREATE FUNCTION public.warn_of(v text) RETURNS int LANGUAGE plpgsql AS $$BEGIN RAISE NOTICE 'value is %', v USING DETAIL = v; RETURN 1; END$$;
    CREATE FUNCTION public.scs_off() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$;
    CREATE FUNCTION public.enc_sjis() RETURNS text LANGUAGE sql AS $$ SELECT set_config('client_encoding', 'SJIS', false) $$;
  `, { identities, rules: `
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read, set, show, transaction, declare_cursor, fetch, close], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
  - name: support
    groups: [support]
    postgres: { classes: [read, update, transaction], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
  - name: apps
    groups: [apps]
    postgres: { classes: [read, set], tables: ["sales.*"], functions: [public.set_app, public.warn_of] }
    effect: allow
    mask: { columns: [email] }
  - name: ops
    groups: [ops]
    postgres: { classes: [read, update, set, transaction], tables: ["sales.*"] }
    effect: allow
  - name: dbas
    groups: [dbas]
    postgres: { functions: [public.scs_off, public.enc_sjis] }
    effect: allow
` });
  ({ pg, target } = harness);
});

afterAll(async () => {
  await harness?.stop();
});

const P = (query: string): FrontendMessage => ({ type: "Parse", statement: "", query, parameterTypes: [] });
const B: FrontendMessage = { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] };
const D: FrontendMessage = { type: "Describe", target: "P", name: "" };
const E: FrontendMessage = { type: "Execute", portal: "", maxRows: 0 };
const S: FrontendMessage = { type: "Sync" };
const Q = (query: string): FrontendMessage => ({ type: "Query", query });

/** Everything the client was told, as text: rows, every field of errors and notices, settings. */
function told(ms: Msg[]): string {
  return JSON.stringify(
    ms.map((m) => {
      if (m.type === "ErrorResponse" || m.type === "NoticeResponse") return m.fields;
      if (m.type === "ParameterStatus") return [m.name, m.value];
      return m.text ?? m.type;
    }),
  );
}

const errorOf = (ms: Msg[]) => ms.find((m) => m.type === "ErrorResponse") as (Msg & { type: "ErrorResponse" }) | undefined;
const settings = (ms: Msg[]) => ms.filter((m) => m.type === "ParameterStatus").map((m) => (m.type === "ParameterStatus" ? [m.name, m.value] : []));

function auditRecords(): Promise<AuditRecord[]> {
  return harness.records();
}

/** Runs the same messages as a user without masks and as one with them. */
async function both(masked: string, plain: string, n: number, ...messages: FrontendMessage[]): Promise<{ masked: Msg[]; plain: Msg[] }> {
  const a = await Wire.open(target.port, masked);
  const b = await Wire.open(target.port, plain);
  try {
    return { masked: await a.run(n, ...messages), plain: await b.run(n, ...messages) };
  } finally {
    a.close();
    b.close();
  }
}

describe("the server reads SQL as the gateway's parser does", () => {
  test("role defaults of client_encoding and standard_conforming_strings are overridden at login", async () => {
    await pg.psql(`ALTER ROLE ${pg.user} SET standard_conforming_strings = off; ALTER ROLE ${pg.user} SET client_encoding = 'SJIS';`);
    try {
      // Directly, the role's defaults apply.
      expect((await pg.psql("SHOW standard_conforming_strings")).trim()).toBe("off");
      const w = await Wire.open(target.port, "ann");
      const ms = await w.run(1, Q("SHOW standard_conforming_strings; SHOW client_encoding"));
      expect(ms.filter((m) => m.type === "DataRow").map((m) => m.text)).toEqual(["on", "UTF8"]);
      // Two literals, as the gateway's parser reads them (with the role's setting, one literal, then a read of the table).
      const lit = await w.run(1, Q("SELECT 'x\\' , ' AS v FROM sales.customers WHERE id = 1 --'"));
      expect(lit.filter((m) => m.type === "DataRow").map((m) => m.text)).toEqual(["x\\| AS v FROM sales.customers WHERE id = 1 --"]);
      w.close();
    } finally {
      await pg.psql(`ALTER ROLE ${pg.user} RESET ALL`);
    }
  });

  for (const [fn, setting] of [
    ["public.scs_off", "standard_conforming_strings"],
    ["public.enc_sjis", "client_encoding"],
  ] as const) {
    test(`a statement that changes ${setting} on the server ends the session with FATAL 42501`, async () => {
      const w = await Wire.open(target.port, "dba");
      w.send(Q(`SELECT ${fn}()`));
      const got = await w.until(() => false, 5_000).catch(() => null);
      expect(got).not.toBeNull();
      const fatal = errorOf(got!);
      expect(fatal?.fields).toMatchObject({ severity: "FATAL", code: "42501" });
      expect(fatal?.text).toContain(setting);
      // No ReadyForQuery after it: the client cannot send anything the server would read otherwise.
      expect(got!.slice(got!.indexOf(fatal!) + 1).map((m) => m.type)).toEqual([]);
      expect(w.closed).toBe(true);
      // Nothing reported the changed value to the client.
      expect(settings(got!).filter(([n]) => n === setting)).toEqual([]);
      const end = (await auditRecords()).filter((r) => r.type === "session.end").at(-1)!;
      expect(JSON.stringify(end.details)).toContain(setting);
    });
  }
});

describe("errors and notices of statements that read masked columns", () => {
  test("a cast error keeps its SQLSTATE and the message order, and does not quote the value (simple query)", async () => {
    const r = await both("ann", "ops", 1, Q("SELECT email::int FROM sales.customers ORDER BY id"));
    expect(told(r.plain)).toContain(SECRET);
    expect(told(r.masked)).not.toContain(SECRET);
    expect(types(r.masked)).toEqual(types(r.plain));
    expect(types(r.masked)).toContain("E:22P02");
    const e = errorOf(r.masked)!;
    expect(e.fields.severity).toBe("ERROR");
    expect(e.text).toBe("data exception (22P02): error text withheld because this statement reads masked columns");
  });

  test("the same in the extended protocol, and the session goes on", async () => {
    const a = await Wire.open(target.port, "ann");
    const b = await Wire.open(target.port, "ops");
    const msgs = [P("SELECT CAST(email AS date) FROM sales.customers"), B, D, E, S, P("SELECT id FROM sales.customers ORDER BY id"), B, E, S];
    const masked = await a.run(2, ...msgs);
    const plain = await b.run(2, ...msgs);
    expect(told(plain)).toContain(SECRET);
    expect(told(masked)).not.toContain(SECRET);
    expect(types(masked)).toEqual(types(plain));
    expect(types(masked)).toEqual(["ParseComplete", "BindComplete", "RowDescription", "E:22007", "ReadyForQuery", "ParseComplete", "BindComplete", "DataRow", "DataRow", "CommandComplete", "ReadyForQuery"]);
    a.close();
    b.close();
  });

  test("a row in an error's detail is dropped; the table, column and SQLSTATE stay", async () => {
    const r = await both("sue", "ops", 1, Q("UPDATE sales.customers SET name = NULL WHERE id = 1"));
    expect(errorOf(r.plain)!.fields.detail).toContain(SECRET);
    const e = errorOf(r.masked)!;
    expect(told(r.masked)).not.toContain(SECRET);
    expect(e.fields).toMatchObject({ code: "23502", schema: "sales", table: "customers", column: "name" });
    expect(e.fields.detail).toBeUndefined();
    expect(types(r.masked)).toEqual(types(r.plain));
  });

  test("an error of a FETCH from a cursor over masked columns, and later errors of that transaction", async () => {
    const w = await Wire.open(target.port, "ann");
    const ms = await w.run(4, Q("BEGIN"), Q("DECLARE c CURSOR FOR SELECT email::int FROM sales.customers"), Q("FETCH ALL FROM c"), Q("ROLLBACK"));
    expect(types(ms)).toEqual(["CommandComplete", "ReadyForQuery", "CommandComplete", "ReadyForQuery", "E:22P02", "ReadyForQuery", "CommandComplete", "ReadyForQuery"]);
    expect(told(ms)).not.toContain(SECRET);
    // After the transaction, an error of a statement that reads nothing is the server's own.
    const plain = await w.run(1, Q("SET statement_timeout = 'soon'"));
    expect(errorOf(plain)!.text).toContain("statement_timeout");
    w.close();
  });

  test("a notice raised with a masked value is withheld the same way", async () => {
    const w = await Wire.open(target.port, "app");
    const ms = await w.run(1, Q("SELECT public.warn_of(email) FROM sales.customers WHERE id = 1"));
    expect(told(ms)).not.toContain(SECRET);
    const n = ms.find((m) => m.type === "NoticeResponse") as Msg & { type: "NoticeResponse" };
    expect(n.fields).toMatchObject({ severity: "NOTICE", code: "00000" });
    expect(n.text).toContain("notice text withheld");
    expect(ms.map((m) => m.type)).toEqual(["RowDescription", "NoticeResponse", "DataRow", "CommandComplete", "ReadyForQuery"]);
    w.close();
  });
});

describe("settings a masked statement reports", () => {
  test("a ParameterStatus reported while masked columns are read carries [masked], then and later", async () => {
    const w = await Wire.open(target.port, "app");
    const ms = await w.run(1, Q("SELECT public.set_app(email) IS NOT NULL AS ok FROM sales.customers WHERE id = 1"));
    expect(told(ms)).not.toContain(SECRET);
    expect(settings(ms)).toEqual([["application_name", "[masked]"]]);
    // Set again by a literal: the name stays masked for the session (RESET or a SET LOCAL's end could bring the value back).
    const again = await w.run(1, Q("SET application_name = 'plain'"));
    expect(settings(again)).toEqual([["application_name", "[masked]"]]);
    expect(settings(await w.run(1, Q("SET DateStyle = 'ISO, DMY'")))).toEqual([["DateStyle", "ISO, DMY"]]);
    w.close();
    const o = await Wire.open(target.port, "ops");
    expect(settings(await o.run(1, Q("SET application_name = 'visible'")))).toEqual([["application_name", "visible"]]);
    o.close();
  });
});

// How the relays keep the names of prepared statements, portals and cursors as the server holds
// them: the target in process (real gate, audit, parser) in front of a real PostgreSQL, driven
// by a raw protocol client so that pipelines and races are exact. Also: the types a Parse
// declares for its parameters, and statements pipelined behind ones that change the catalog.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Msg, types, Wire } from "../../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../../test/helpers/pg-target.ts";
import type { PostgresInstance } from "../../../../test/helpers/postgres.ts";
import { signal, waitFor, within } from "../../../../test/helpers/wait.ts";
import { withCompletions } from "../../../../test/helpers/audit-completions.ts";
import postgres from "postgres";
import type { Identity } from "../../../core/types.ts";
import { type RunningPostgresTarget } from "../postgres-target.ts";
import type { FrontendMessage } from "../protocol/frontend-message.ts";
import { fixtureSql } from "../../../../test/helpers/fixtures.ts";

setDefaultTimeout(60_000);

const identities: Record<string, Identity> = {
  ann: devIdentity("ann", "analysts"),
  dev: devIdentity("dev", "developers"),
  dba: devIdentity("dba", "dbas"),
  doc: devIdentity("doc", "documenters"),
};

let pg: PostgresInstance;
let harness: PostgresWithTarget;
let target: RunningPostgresTarget;
/** While set, a decision at Bind waits for it: the test decides when the decision may finish. */
let bindHeld: { started: () => void; release: Promise<void> } | null = null;

beforeAll(async () => {
  harness = await startPostgresWithTarget(`${fixtureSql("sales.sql")}
    CREATE TABLE sales.notes (n text);
    INSERT INTO sales.notes VALUES ('sales note');
    CREATE TABLE public.notes (n text);
    INSERT INTO public.notes VALUES ('public secret');
    CREATE SCHEMA hr;
    CREATE TABLE hr.secret (s text);
    INSERT INTO hr.secret VALUES ('hr secret');
    CREATE TABLE public.canary (n int);
    INSERT INTO public.canary VALUES (1);
    CREATE FUNCTION public.wipe_canary() RETURNS int LANGUAGE sql AS 'DELETE FROM public.canary; SELECT 1';
    CREATE DOMAIN public.checked_code AS text CHECK (public.wipe_canary() IS NOT NULL);
    CREATE DOMAIN public.plain_code AS text;
    CREATE VIEW sales.board AS SELECT n FROM sales.notes;
    -- Opaque code the developers may call: it points the view at hr.
    CREATE FUNCTION public.repoint() RETURNS int LANGUAGE plpgsql AS
      $$BEGIN EXECUTE 'CREATE OR REPLACE VIEW sales.board AS SELECT s AS n FROM hr.secret'; RETURN 1; END$$;
    CREATE TABLE public.copied (n int);
    CREATE FUNCTION public.copy_hook() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
    CREATE TRIGGER copied_hook BEFORE INSERT ON public.copied FOR EACH ROW EXECUTE FUNCTION public.copy_hook();
  `, { identities, wrapCheck: (check) => async (action, ctx = {}) => {
    // Lets a test make the upstream answer before a decision at Bind is made.
    const held = bindHeld;
    if (held && ctx.details?.["at"] === "bind") {
      held.started();
      await held.release;
    }
    return await check(action, ctx);
  }, rules: `
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read, set, transaction, prepare, execute, deallocate, discard, declare_cursor, fetch, close], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
  - name: developers
    groups: [developers]
    postgres: { classes: [read, transaction], tables: ["sales.*"], functions: [public.repoint] }
    effect: allow
  - name: documenters
    groups: [documenters]
    postgres: { classes: [comment], tables: ["sales.*"] }
    effect: allow
  - name: dbas-functions
    groups: [dbas]
    postgres: { functions: [public.wipe_canary, public.copy_hook] }
    effect: allow
  - name: dbas
    groups: [dbas]
    effect: allow
` });
  ({ pg, target } = harness);
});

afterAll(async () => {
  await harness?.stop();
});



const rows = (ms: Msg[]) => ms.filter((m) => m.type === "DataRow").map((m) => m.text);
const P = (query: string, statement = ""): FrontendMessage => ({ type: "Parse", statement, query, parameterTypes: [] });
const B = (statement = "", portal = ""): FrontendMessage => ({ type: "Bind", portal, statement, parameterFormats: [], parameters: [], resultFormats: [] });
const D = (portal = ""): FrontendMessage => ({ type: "Describe", target: "P", name: portal });
const E = (portal = ""): FrontendMessage => ({ type: "Execute", portal, maxRows: 0 });
const S: FrontendMessage = { type: "Sync" };
const Q = (query: string): FrontendMessage => ({ type: "Query", query });

describe("prepared statements follow the search_path, as PostgreSQL re-parses them", () => {
  test("protocol Parse: a Bind after the path changed is decided on the new path, and again when it changes back", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, Q("SET search_path = sales"));
    expect(types(await w.run(1, P("SELECT n FROM notes", "ps"), S))).toEqual(["ParseComplete", "ReadyForQuery"]);
    await w.run(1, Q("SET search_path = public"));
    const denied = await w.run(1, B("ps"), E(), S);
    expect(types(denied)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(rows(denied)).toEqual([]);
    await w.run(1, Q("SET search_path = sales"));
    expect(rows(await w.run(1, B("ps"), E(), S))).toEqual(["sales note"]);
    w.close();
  });

  test("SQL PREPARE: EXECUTE after the path changed is decided on the new path", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, Q("SET search_path = sales"));
    expect(types(await w.run(1, Q("PREPARE pp AS SELECT n FROM notes")))).toEqual(["CommandComplete", "ReadyForQuery"]);
    expect(rows(await w.run(1, Q("EXECUTE pp")))).toEqual(["sales note"]);
    await w.run(1, Q("SET search_path = public"));
    const denied = await w.run(1, Q("EXECUTE pp"));
    expect(types(denied)).toEqual(["E:42501", "ReadyForQuery"]);
    // Also when the EXECUTE itself comes through the extended protocol.
    expect(types(await w.run(1, P("EXECUTE pp"), B(), E(), S))).toEqual(["E:42501", "ReadyForQuery"]);
    w.close();
  });
});

describe("a SET of search_path after unsynced extended messages is not taken as final", () => {
  test("BEGIN by Execute with no Sync, then a simple SET: after ROLLBACK the old path still counts", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, Q("SET search_path = public"));
    // The ReadyForQuery before this batch said idle, but the Execute opened a block.
    await w.run(1, P("BEGIN"), B(), E(), Q("SET search_path = sales"));
    await w.run(1, Q("ROLLBACK"));
    // Upstream the path is public again: a read of notes must be decided on it too.
    const denied = await w.run(1, Q("SELECT n FROM notes"));
    expect(types(denied)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(rows(denied)).toEqual([]);
    // A SET after a ReadyForQuery is final again.
    await w.run(1, Q("SET search_path = sales"));
    expect(rows(await w.run(1, Q("SELECT n FROM notes")))).toEqual(["sales note"]);
    w.close();
  });
});

describe("names the server freed are decided again", () => {
  test("a Parse of a name in use is decided; after DEALLOCATE the old statement is forgotten", async () => {
    const w = await Wire.open(target.port, "ann");
    expect(types(await w.run(1, P("SELECT n FROM sales.notes", "s"), S))).toEqual(["ParseComplete", "ReadyForQuery"]);
    expect(types(await w.run(1, P("SELECT n FROM public.notes", "s"), S))).toEqual(["E:42501", "ReadyForQuery"]);
    // The server refuses the redefinition: the old statement is still "s".
    expect(types(await w.run(1, P("SELECT 1", "s"), S))).toEqual(["E:42P05", "ReadyForQuery"]);
    expect(rows(await w.run(1, B("s"), E(), S))).toEqual(["sales note"]);
    await w.run(1, Q("DEALLOCATE s"));
    const gone = await w.run(1, B("s"), E(), S);
    expect(types(gone)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(gone[0]!.text).toContain("not known to the gateway");
    w.close();
  });

  test("DISCARD ALL forgets every named statement and portal", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, P("SELECT n FROM sales.notes", "s1"), S);
    await w.run(1, Q("DISCARD ALL"));
    expect(types(await w.run(1, B("s1"), E(), S))).toEqual(["E:42501", "ReadyForQuery"]);
    expect(types(await w.run(1, P("SELECT 1", "s1"), B("s1"), E(), S))).toEqual(["ParseComplete", "BindComplete", "DataRow", "CommandComplete", "ReadyForQuery"]);
    w.close();
  });

  test("a Parse that fails while a Bind behind it is still being decided: the batch is skipped, the session goes on", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, P("SELECT 1", "a"), P("SELECT 2", "b"), S);
    // "a" exists upstream, so the Parse fails; the Bind of "b" (from an earlier batch) is decided again, asynchronously:
    // a new search_path each time makes "b" another analysis, so the Bind takes the slow path, not the known shape's.
    for (let i = 0; i < 5; i++) {
      await w.run(1, Q(`SET search_path = public, s${i}`));
      const started = signal();
      const release = signal();
      bindHeld = { started: started.resolve, release: release.promise };
      try {
        w.send(P("SELECT 3", "a"), B("b"), E(), S);
        await within("the gateway to start deciding the Bind", started.promise);
        // The server's answer to the Parse reaches the client while the Bind is still being decided.
        const early = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"));
        expect(types(early)).toEqual(["E:42P05"]);
      } finally {
        bindHeld = null;
        release.resolve();
      }
      expect(types(await w.readyCount(1))).toEqual(["ReadyForQuery"]);
    }
    expect(rows(await w.run(1, B("b"), E(), S))).toEqual(["2"]);
    expect(w.closed).toBe(false);
    w.close();
  });
});

describe("cursors and portals share names", () => {
  test("a DECLARE through the extended protocol keeps its masks for FETCH", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, Q("BEGIN"));
    await w.run(1, P("DECLARE c CURSOR FOR SELECT email || '' FROM sales.customers ORDER BY id"), B(), D(), E(), S);
    const ms = await w.run(1, Q("FETCH ALL FROM c"));
    expect(rows(ms)).toEqual(["[masked]", "[masked]"]);
    await w.run(1, Q("COMMIT"));
    w.close();
  });

  test("a failed Bind over a cursor's name is forgotten, even when the Execute comes in the next batch of the same write", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, Q("DECLARE hc CURSOR WITH HOLD FOR SELECT email || '' AS x FROM sales.customers"));
    const ms = await w.run(2, P("SELECT n AS x FROM sales.notes"), B("", "hc"), S, D("hc"), E("hc"), S);
    // The Describe describes the cursor (no rows); the Execute waits for the Bind's answer and is refused.
    expect(types(ms)).toEqual(["ParseComplete", "E:42P03", "ReadyForQuery", "RowDescription", "E:42501", "ReadyForQuery"]);
    expect(rows(ms)).toEqual([]);
    await w.run(1, Q("CLOSE hc"));
    w.close();
  });

  test("a DECLARE takes its name from a portal the gateway remembers (SQL CLOSE freed it upstream)", async () => {
    const w = await Wire.open(target.port, "ann");
    await w.run(1, Q("BEGIN"));
    expect(types(await w.run(1, P("SELECT n AS x FROM sales.notes"), B("", "hc"), S))).toEqual(["ParseComplete", "BindComplete", "ReadyForQuery"]);
    const ms = await w.run(3, Q("CLOSE hc"), Q("DECLARE hc CURSOR FOR SELECT email || '' AS x FROM sales.customers"), E("hc"), S);
    expect(types(ms)).toEqual(["CommandComplete", "ReadyForQuery", "CommandComplete", "ReadyForQuery", "E:42501", "ReadyForQuery"]);
    expect(rows(ms)).toEqual([]);
    await w.run(1, Q("ROLLBACK"));
    w.close();
  });
});

const canary = async () => (await pg.psql("SELECT count(*) FROM public.canary")).trim();
const typeOid = async (name: string) => Number((await pg.psql(`SELECT '${name}'::regtype::oid`)).trim());
const enc = new TextEncoder();
const Pt = (query: string, parameterTypes: number[], statement = ""): FrontendMessage => ({ type: "Parse", statement, query, parameterTypes });
const Bp = (statement: string, ...values: string[]): FrontendMessage => ({
  type: "Bind",
  portal: "",
  statement,
  parameterFormats: [],
  parameters: values.map((v) => enc.encode(v)),
  resultFormats: [],
});

describe("the types a protocol Parse declares for its parameters", () => {
  test("a parameter of a domain whose CHECK calls a user function is denied, as with SQL PREPARE", async () => {
    const w = await Wire.open(target.port, "ann");
    const checked = await typeOid("public.checked_code");
    const ms = await w.run(1, Pt("SELECT $1::text", [checked], "dp"), Bp("dp", "x"), E(), S);
    expect(types(ms)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(ms[0]!.text).toContain("public.wipe_canary");
    expect(await canary()).toBe("1");
    // A domain without such a check, and unspecified (0) types, pass.
    expect(rows(await w.run(1, Pt("SELECT $1::text", [await typeOid("public.plain_code")]), Bp("", "ok"), E(), S))).toEqual(["ok"]);
    expect(rows(await w.run(1, Pt("SELECT $1::text", [0]), Bp("", "ok0"), E(), S))).toEqual(["ok0"]);
    w.close();
  });

  test("declared types of a statement that takes no parameters still run their checks at Bind", async () => {
    const w = await Wire.open(target.port, "doc");
    const checked = await typeOid("public.checked_code");
    const ms = await w.run(1, Pt("COMMENT ON TABLE sales.notes IS 'notes'", [checked]), Bp("", "x"), E(), S);
    expect(types(ms)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(await canary()).toBe("1");
    // Without declared types it is allowed.
    expect(types(await w.run(1, Pt("COMMENT ON TABLE sales.notes IS 'notes'", []), Bp(""), E(), S))).toEqual(["ParseComplete", "BindComplete", "CommandComplete", "ReadyForQuery"]);
    w.close();
  });

  test("a Bind in a later batch decides again with the statement's parameter types", async () => {
    const w = await Wire.open(target.port, "ann");
    const plain = await typeOid("public.plain_code");
    expect(types(await w.run(1, Pt("SELECT $1::text", [plain], "pc"), S))).toEqual(["ParseComplete", "ReadyForQuery"]);
    // The domain gains a CHECK that calls a user function (through the gateway, so the catalog cache is dropped).
    const d = await Wire.open(target.port, "dba");
    expect(types(await d.run(1, Q("ALTER DOMAIN public.plain_code ADD CONSTRAINT wipes CHECK (public.wipe_canary() IS NOT NULL)")))).toEqual(["CommandComplete", "ReadyForQuery"]);
    try {
      const ms = await w.run(1, Bp("pc", "x"), E(), S);
      expect(types(ms)).toEqual(["E:42501", "ReadyForQuery"]);
      expect(await canary()).toBe("1");
    } finally {
      await d.run(1, Q("ALTER DOMAIN public.plain_code DROP CONSTRAINT wipes"));
      d.close();
      w.close();
    }
  });
});

describe("statements pipelined behind one that changes the catalog", () => {
  /** Points sales.board back at sales.notes, through the gateway (which drops the catalog cache). */
  const restoreBoard = async () => {
    const d = await Wire.open(target.port, "dba");
    await d.run(1, Q("CREATE OR REPLACE VIEW sales.board AS SELECT n FROM sales.notes"));
    d.close();
  };

  test("simple Query: a function created and called in one write is refused", async () => {
    const w = await Wire.open(target.port, "dba");
    const ms = await w.run(
      2,
      // plpgsql: the gateway does not read the body, so the CREATE itself is allowed.
      Q("CREATE FUNCTION public.leak() RETURNS text LANGUAGE plpgsql AS $$BEGIN RETURN pg_read_file('PG_VERSION'); END$$"),
      Q("SELECT public.leak()"),
    );
    expect(types(ms)).toEqual(["CommandComplete", "ReadyForQuery", "E:42501", "ReadyForQuery"]);
    expect(rows(ms)).toEqual([]);
    await w.run(1, Q("DROP FUNCTION public.leak()"));
    w.close();
  });

  test("simple Query: a view changed by a user function is looked through as it is after the call", async () => {
    const w = await Wire.open(target.port, "dev");
    // The catalog cache knows sales.board as a view over sales.notes.
    expect(rows(await w.run(1, Q("SELECT n FROM sales.board")))).toEqual(["sales note"]);
    try {
      const ms = await w.run(2, Q("SELECT public.repoint()"), Q("SELECT n FROM sales.board"));
      expect(types(ms)).toEqual(["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery", "E:42501", "ReadyForQuery"]);
      expect(rows(ms)).toEqual(["1"]);
    } finally {
      await restoreBoard();
      w.close();
    }
  });

  test("extended protocol: a statement after a catalog-changing Execute in the same batch is denied; after Sync it waits and is checked", async () => {
    const w = await Wire.open(target.port, "dev");
    expect(rows(await w.run(1, Q("SELECT n FROM sales.board")))).toEqual(["sales note"]);
    try {
      // Same batch: the server answers only at Sync, so the gateway cannot wait; it denies.
      const same = await w.run(1, P("SELECT public.repoint()"), B(), E(), P("SELECT n FROM sales.board"), B(), E(), S);
      expect(types(same)).toEqual(["ParseComplete", "BindComplete", "DataRow", "CommandComplete", "E:42501", "ReadyForQuery"]);
      expect(same.find((m) => m.type === "ErrorResponse")!.text).toContain("send Sync after a catalog-changing statement");
      expect(rows(same)).toEqual(["1"]);
      // A statement that needs no catalog may still follow in the batch.
      const plain = await w.run(1, P("SELECT public.repoint()"), B(), E(), P("SELECT 2"), B(), E(), S);
      expect(rows(plain)).toEqual(["1", "2"]);
      await restoreBoard();
      expect(rows(await w.run(1, Q("SELECT n FROM sales.board")))).toEqual(["sales note"]);
      // Next batch, in the same write: it waits for the change and sees it.
      const next = await w.run(2, P("SELECT public.repoint()"), B(), E(), S, P("SELECT n FROM sales.board"), B(), E(), S);
      expect(types(next)).toEqual(["ParseComplete", "BindComplete", "DataRow", "CommandComplete", "ReadyForQuery", "E:42501", "ReadyForQuery"]);
      expect(rows(next)).toEqual(["1"]);
      await restoreBoard();
      expect(rows(await w.run(1, Q("SELECT n FROM sales.board")))).toEqual(["sales note"]);
      // A statement prepared before the change, in the same batch, is decided again at its Bind.
      const prepared = await w.run(1, P("SELECT n FROM sales.board", "early"), P("SELECT public.repoint()"), B(), E(), B("early"), E(), S);
      expect(types(prepared)).toEqual(["ParseComplete", "ParseComplete", "BindComplete", "DataRow", "CommandComplete", "E:42501", "ReadyForQuery"]);
      expect(rows(prepared)).toEqual(["1"]);
    } finally {
      await restoreBoard();
      w.close();
    }
  });

  test("extended protocol: a portal bound before a catalog-changing Execute of its batch is not run after it", async () => {
    const w = await Wire.open(target.port, "dev");
    try {
      const ms = await w.run(1, P("SELECT n FROM sales.board", "e2"), B("e2", "pe"), P("SELECT public.repoint()"), B(), E(), E("pe"), S);
      expect(types(ms)).toEqual(["ParseComplete", "BindComplete", "ParseComplete", "BindComplete", "DataRow", "CommandComplete", "E:42501", "ReadyForQuery"]);
      expect(rows(ms)).toEqual(["1"]);
    } finally {
      await restoreBoard();
      w.close();
    }
  });

  test("a change made in a transaction block is looked up again once it commits, by every session", async () => {
    const d = await Wire.open(target.port, "dba");
    const a = await Wire.open(target.port, "ann");
    try {
      await d.run(1, Q("BEGIN"));
      await d.run(1, Q("CREATE OR REPLACE VIEW sales.board AS SELECT s AS n FROM hr.secret"));
      // Not committed: the gateway's catalog reads still see the old view. (Checked, and the cache
      // filled, but not run: the view is locked until COMMIT, and the DELETE is denied.)
      expect(types(await a.run(1, Q("SELECT n FROM sales.board; DELETE FROM sales.notes")))).toEqual(["E:42501", "ReadyForQuery"]);
      await d.run(1, Q("COMMIT"));
      const ms = await a.run(1, Q("SELECT n FROM sales.board"));
      expect(types(ms)).toEqual(["E:42501", "ReadyForQuery"]);
    } finally {
      d.close();
      a.close();
      await restoreBoard();
    }
  });

  test("COPY FROM STDIN that fires a user trigger: the data the server waits for is not held back", async () => {
    const w = await Wire.open(target.port, "dba");
    w.send(Q("COPY public.copied FROM STDIN"));
    expect(types(await w.until((ms) => ms.some((m) => m.type === "CopyInResponse")))).toEqual(["CopyInResponse"]);
    const ms = await w.run(
      2,
      { type: "CopyData", data: enc.encode("1\n2\n") },
      { type: "CopyDone" },
      Q("SELECT count(*) FROM public.copied"),
    );
    expect(types(ms)).toEqual(["CommandComplete", "ReadyForQuery", "RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]);
    expect(rows(ms)).toEqual(["2"]);
    w.close();
  });

  test("ordinary pipelines do not wait: a statement is decided before the one ahead of it is answered", async () => {
    // The first statement waits upstream for an advisory lock this test holds, so it cannot be
    // answered until the test lets it: the decisions behind it must come while it waits.
    const LOCK = 7_000_001;
    const holder = postgres({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres", max: 1, onnotice: () => {} });
    const w = await Wire.open(target.port, "ann");
    try {
      await holder`SELECT pg_advisory_lock(${LOCK})`;
      w.send(Q(`SELECT pg_advisory_xact_lock(${LOCK}) /*ord1*/`), Q("SELECT n FROM sales.notes /*ord2*/"), P("SELECT 3 /*ord3*/"), B(), E(), S);
      await waitFor(
        "ord1 to wait upstream for the advisory lock",
        async () => (await holder`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = ${LOCK} AND NOT granted`).length > 0,
      );
      const decided = await waitFor("decisions of ord2 and ord3 while ord1 waits", async () => {
        const log = await auditOrder(["ord1", "ord2", "ord3"]);
        return log.includes("decision ord2") && log.includes("decision ord3") ? log : null;
      });
      expect(decided).not.toContain("statement ord1");
      await holder`SELECT pg_advisory_unlock(${LOCK})`;
      expect(rows(await w.readyCount(3))).toEqual(["", "sales note", "3"]);
    } finally {
      w.close();
      await holder.end();
    }
    const log = await waitFor("the completion record of ord1", async () => {
      const l = await auditOrder(["ord1", "ord2", "ord3"]);
      return l.includes("statement ord1") ? l : null;
    });
    expect(log.indexOf("decision ord2")).toBeLessThan(log.indexOf("statement ord1"));
    expect(log.indexOf("decision ord3")).toBeLessThan(log.indexOf("statement ord1"));
  });

  test("a call of a user function holds the next statement until it is answered", async () => {
    const w = await Wire.open(target.port, "dev");
    try {
      const ms = await w.run(2, Q("SELECT public.repoint() /*uf1*/"), Q("SELECT 1 /*uf2*/"));
      expect(rows(ms)).toEqual(["1", "1"]);
      const log = await auditOrder(["uf1", "uf2"]);
      expect(log.indexOf("statement uf1")).toBeGreaterThanOrEqual(0);
      expect(log.indexOf("statement uf1")).toBeLessThan(log.indexOf("decision uf2"));
    } finally {
      w.close();
      await restoreBoard();
    }
  });
});

/**
 * "decision <tag>" and "statement <tag>" in audit log order, for statements whose SQL holds one of
 * the tags as a comment. A completion folded into a later decision record counts as a statement
 * record just before that record (it completed before that record was written).
 */
async function auditOrder(tags: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const record of withCompletions(await harness.records())) {
    const sql = (record.action as { sql?: unknown } | undefined)?.sql;
    if (typeof sql !== "string") continue;
    const tag = tags.find((t) => sql.includes(`/*${t}*/`));
    if (tag !== undefined && (record.type === "decision" || record.type === "statement")) out.push(`${record.type} ${tag}`);
  }
  return out;
}

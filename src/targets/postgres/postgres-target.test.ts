// The Postgres target in process, with the real gate, audit log, approvals, compiled policy,
// SQL parser and a real PostgreSQL, driven by a raw protocol client so that every message
// sequence is exact: extended-protocol denials and pipelines, PREPARE/EXECUTE, cursors,
// search_path tricks, masking without Describe and in binary, review, FunctionCall, limits.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { type Msg, types, Wire } from "../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../test/helpers/pg-target.ts";
import type { PostgresInstance } from "../../../test/helpers/postgres.ts";
import { type PendingRequest } from "../../approvals/approvals.ts";
import type { AuditRecord } from "../../audit/record.ts";
import type { Identity } from "../../core/types.ts";
import { Gate } from "../../gate/gate.ts";
import { type RunningPostgresTarget } from "./postgres-target.ts";
import { encodeFrontendMessages } from "./protocol/encode.ts";
import type { FrontendMessage } from "./protocol/frontend-message.ts";
import { fixtureSql } from "../../../test/helpers/fixtures.ts";

setDefaultTimeout(60_000);

const identities: Record<string, Identity> = {
  ann: devIdentity("ann", "analysts"),
  ops: devIdentity("otto", "ops"),
  boss: devIdentity("bea", "approvers"),
};

let pg: PostgresInstance;
let harness: PostgresWithTarget;
let gate: Gate;
let target: RunningPostgresTarget;
const held: PendingRequest[] = [];

beforeAll(async () => {
  harness = await startPostgresWithTarget(`${fixtureSql("sales.sql")}
    CREATE TABLE sales.secrets (s text);
    CREATE TABLE public.secrets (s text);
    INSERT INTO public.secrets VALUES ('public secret');
    CREATE TABLE public.t (a int);
  `, { identities, target: ["max_message_size: 64KB"], wrapCheck: (origCheck) => (action, ctx = {}) => origCheck(action, { ...ctx, onHold: (p) => (held.push(p), ctx.onHold?.(p)) }), rules: `
  - name: no-drop
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked.
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read, set, transaction, declare_cursor, fetch, close], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
  - name: ops-prepare
    groups: [ops]
    postgres: { classes: [prepare, read, insert, transaction, copy.from], tables: ["public.*"] }
    effect: allow
  - name: ops-delete-needs-approval
    groups: [ops]
    postgres: { classes: [delete], tables: ["public.t"] }
    effect: review
    approvers: [approvers]
    timeout: 1m
` });
  ({ pg, target, gate } = harness);
});

afterAll(async () => {
  await harness?.stop();
});



const rows = (ms: Msg[]) => ms.filter((m) => m.type === "DataRow").map((m) => m.text);
const P = (query: string, statement = ""): FrontendMessage => ({ type: "Parse", statement, query, parameterTypes: [] });
const B = (statement = "", portal = "", resultFormats: (0 | 1)[] = [], parameters: (Uint8Array | null)[] = []): FrontendMessage => ({ type: "Bind", portal, statement, parameterFormats: [], parameters, resultFormats });
const E = (portal = ""): FrontendMessage => ({ type: "Execute", portal, maxRows: 0 });
const S: FrontendMessage = { type: "Sync" };
const Q = (query: string): FrontendMessage => ({ type: "Query", query });

function auditRecords(): Promise<AuditRecord[]> {
  return harness.records();
}

describe("extended protocol", () => {
  test("a denied statement in a pipeline answers like a server error; the batches around it run", async () => {
    const w = await Wire.open(target.port, "ann");
    w.send(P("SELECT 1 AS one"), B(), E(), S, P("DROP DATABASE postgres"), B(), E(), S, P("SELECT 2"), B(), E(), S);
    const ms = await w.readyCount(3);
    expect(types(ms)).toEqual(["ParseComplete", "BindComplete", "DataRow", "CommandComplete", "ReadyForQuery", "E:42501", "ReadyForQuery", "ParseComplete", "BindComplete", "DataRow", "CommandComplete", "ReadyForQuery"]);
    expect(ms.find((m) => m.type === "ErrorResponse")!.text).toBe("DROP DATABASE is blocked.");
    w.close();
  });

  test("a denial mid-batch rolls back what the batch did before it, as the server's implicit transaction would", async () => {
    const w = await Wire.open(target.port, "ops");
    w.send(P("INSERT INTO public.t VALUES (1)"), B(), E(), P("DELETE FROM sales.customers"), B(), E(), P("INSERT INTO public.t VALUES (2)"), B(), E(), S);
    const ms = await w.readyCount(1);
    expect(types(ms)).toEqual(["ParseComplete", "BindComplete", "CommandComplete", "E:42501", "ReadyForQuery"]);
    expect(await pg.psql("SELECT count(*) FROM public.t")).toBe("0\n");
    expect(await pg.psql("SELECT count(*) FROM sales.customers")).toBe("2\n");
    w.close();
  });

  test("Bind of a statement or Execute of a portal the gateway never saw is refused, up to Sync", async () => {
    const w = await Wire.open(target.port, "ann");
    w.send(B("ghost"), E(), S, E("nope"), S, P("SELECT 3"), B(), E(), S);
    const ms = await w.readyCount(3);
    expect(types(ms)).toEqual(["E:42501", "ReadyForQuery", "E:42501", "ReadyForQuery", "ParseComplete", "BindComplete", "DataRow", "CommandComplete", "ReadyForQuery"]);
    w.close();
  });

  test("a statement split over several messages is still one statement, and SQL that cannot be parsed is refused with 42601", async () => {
    const w = await Wire.open(target.port, "ann");
    const bytes = encodeFrontendMessages([P("SELECT * FROM public.secrets"), B(), E(), S]);
    for (let i = 0; i < bytes.length; i += 3) w.sendRaw(bytes.subarray(i, i + 3));
    const denied = await w.readyCount(1);
    expect(types(denied)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(rows(denied)).toEqual([]);
    w.send(P("SELEC 1"), B(), E(), S);
    const bad = await w.readyCount(1);
    expect(types(bad)).toEqual(["E:42601", "ReadyForQuery"]);
    expect((bad[0] as { fields: { position?: string } }).fields.position).toBe("1");
    w.close();
  });

  test("masked rows without a Describe: the gateway asks for the row shape itself and keeps the answer", async () => {
    const w = await Wire.open(target.port, "ann");
    w.send(P("SELECT id, email, email AS e FROM sales.customers ORDER BY id"), B(), E(), S);
    const ms = await w.readyCount(1);
    expect(types(ms)).toEqual(["ParseComplete", "BindComplete", "DataRow", "DataRow", "CommandComplete", "ReadyForQuery"]);
    expect(rows(ms)).toEqual(["1|[masked]|[masked]", "2|[masked]|[masked]"]);
    w.close();
  });

  test("masked rows in binary format, with a named statement reused across batches (decided again at each Bind)", async () => {
    const w = await Wire.open(target.port, "ann");
    const before = (await auditRecords()).filter((r) => r.type === "decision").length;
    w.send(P("SELECT id, email FROM sales.customers WHERE id = 1", "s1"), { type: "Describe", target: "S", name: "s1" }, S);
    await w.readyCount(1);
    for (let i = 0; i < 3; i++) {
      w.send(B("s1", "", [1]), E(), S);
      const ms = await w.readyCount(1);
      expect(types(ms)).toEqual(["BindComplete", "DataRow", "CommandComplete", "ReadyForQuery"]);
      const row = ms.find((m) => m.type === "DataRow") as unknown as { values: (Uint8Array | null)[] };
      expect([...row.values[0]!]).toEqual([0, 0, 0, 1]);
      expect(new TextDecoder().decode(row.values[1]!)).toBe("[masked]");
    }
    const after = (await auditRecords()).filter((r) => r.type === "decision").length;
    expect(after - before).toBe(4);
    w.close();
  });
});

describe("COPY", () => {
  test("COPY FROM STDIN in the extended protocol, with the Sync libpq sends before the data (which the server ignores)", async () => {
    const w = await Wire.open(target.port, "ops");
    w.send(P("COPY public.t FROM STDIN"), B(), E(), S);
    await w.until((m) => m.some((x) => x.type === "CopyInResponse"));
    w.send({ type: "CopyData", data: new TextEncoder().encode("5\n6\n") }, { type: "CopyDone" }, S);
    const ms = await w.readyCount(1);
    expect(types(ms)).toEqual(["CommandComplete", "ReadyForQuery"]);
    w.send(P("SELECT count(*) FROM public.t"), B(), E(), S);
    expect(rows(await w.readyCount(1))).toEqual(["2"]);
    // All in one write, as a pipelining driver may send it.
    w.send(P("COPY public.t FROM STDIN"), B(), E(), S, { type: "CopyData", data: new TextEncoder().encode("7\n") }, { type: "CopyDone" }, S, Q("SELECT count(*) FROM public.t"));
    const all = await w.readyCount(2);
    expect(types(all)).toEqual(["ParseComplete", "BindComplete", "CopyInResponse", "CommandComplete", "ReadyForQuery", "RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]);
    expect(rows(all)).toEqual(["3"]);
    await pg.psql("DELETE FROM public.t");
    w.close();
  });
});

describe("statements that hide what they run", () => {
  test("EXECUTE counts as what PREPARE stored; an unknown name is refused", async () => {
    const w = await Wire.open(target.port, "ops");
    w.send(Q("PREPARE ins AS INSERT INTO public.t VALUES (7)"));
    expect(types(await w.readyCount(1))).toEqual(["CommandComplete", "ReadyForQuery"]);
    w.send(Q("PREPARE wipe AS DELETE FROM sales.customers"));
    expect(types(await w.readyCount(1))).toEqual(["E:42501", "ReadyForQuery"]);
    w.send(Q("EXECUTE ins"));
    expect(types(await w.readyCount(1))).toEqual(["CommandComplete", "ReadyForQuery"]);
    w.send(Q("EXECUTE wipe"));
    const unknown = await w.readyCount(1);
    expect(types(unknown)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(unknown[0]!.text).toContain("does not know that statement");
    // EXPLAIN ANALYZE runs what it explains, so it needs what that needs (and no more).
    w.send(Q("EXPLAIN ANALYZE EXECUTE ins"));
    expect(types(await w.readyCount(1)).slice(-2)).toEqual(["CommandComplete", "ReadyForQuery"]);
    w.send(Q("EXPLAIN ANALYZE DELETE FROM sales.customers"));
    expect(types(await w.readyCount(1))).toEqual(["E:42501", "ReadyForQuery"]);
    expect(await pg.psql("SELECT count(*) FROM public.t WHERE a = 7")).toBe("2\n");
    expect(await pg.psql("SELECT count(*) FROM sales.customers")).not.toBe("0\n");
    await pg.psql("DELETE FROM public.t");
    w.close();
  });

  test("FETCH from a cursor over a masked table is masked too", async () => {
    const w = await Wire.open(target.port, "ann");
    w.send(Q("BEGIN; DECLARE c CURSOR FOR SELECT name, email FROM sales.customers ORDER BY id; FETCH ALL FROM c; COMMIT"));
    const ms = await w.readyCount(1);
    expect(ms.filter((m) => m.type === "ErrorResponse")).toEqual([]);
    expect(rows(ms)).toEqual(["Ann|[masked]", "Bob|[masked]"]);
    w.close();
  });

  test("search_path tricks: unqualified names are checked against every schema on the path", async () => {
    const w = await Wire.open(target.port, "ann");
    w.send(Q("SET search_path TO sales, public"));
    expect(types(await w.readyCount(1))).toEqual(["CommandComplete", "ReadyForQuery"]);
    w.send(Q("SELECT * FROM secrets"));
    const ms = await w.readyCount(1);
    expect(types(ms)).toEqual(["E:42501", "ReadyForQuery"]);
    w.send(Q("SELECT set_config('search_path', 'public', false)"));
    const sc = await w.readyCount(1);
    expect(types(sc)).toEqual(["E:42501", "ReadyForQuery"]);
    w.send(Q("BEGIN; SET LOCAL search_path = public; SELECT * FROM secrets; COMMIT"));
    expect(rows(await w.readyCount(1))).toEqual([]);
    w.send(Q("SELECT name FROM customers WHERE id = 2"));
    expect(rows(await w.readyCount(1))).toEqual([]);
    w.close();
  });

  test("several statements in one Query: one denied statement denies the whole message, nothing runs", async () => {
    const w = await Wire.open(target.port, "ops");
    w.send(Q("INSERT INTO public.t VALUES (1); DELETE FROM sales.customers; INSERT INTO public.t VALUES (2)"));
    expect(types(await w.readyCount(1))).toEqual(["E:42501", "ReadyForQuery"]);
    expect(await pg.psql("SELECT count(*) FROM public.t")).toBe("0\n");
    w.close();
  });

  test("FunctionCall is refused unless a rule allows class function_call", async () => {
    const w = await Wire.open(target.port, "ops");
    const oid = Number((await pg.psql("SELECT 'pg_catalog.pg_read_file(text)'::regprocedure::oid")).trim());
    w.send({ type: "FunctionCall", functionOid: oid, argumentFormats: [], arguments: [new TextEncoder().encode("/etc/passwd")], resultFormat: 0 });
    const ms = await w.readyCount(1);
    expect(types(ms)).toEqual(["E:42501", "ReadyForQuery"]);
    w.close();
  });
});

describe("review", () => {
  test("a held statement tells the client the approval id, waits, then runs once approved", async () => {
    await pg.psql("INSERT INTO public.t VALUES (1), (2)");
    const w = await Wire.open(target.port, "ops");
    w.send(Q("DELETE FROM public.t WHERE a = 1"));
    const notice = await w.until((ms) => ms.some((m) => m.type === "NoticeResponse"));
    const text = notice.find((m) => m.type === "NoticeResponse")!.text!;
    const p = held.at(-1)!;
    expect(text).toContain(`gatehouse approve ${p.id}`);
    await gate.decideApproval(p.id, identities["boss"]!, { approve: true });
    const ms = await w.readyCount(1);
    expect(types(ms)).toEqual(["CommandComplete", "ReadyForQuery"]);
    expect(await pg.psql("SELECT count(*) FROM public.t")).toBe("1\n");
    w.send(Q("DELETE FROM public.t"));
    await w.until((ms) => ms.some((m) => m.type === "NoticeResponse"));
    await gate.decideApproval(held.at(-1)!.id, identities["boss"]!, { approve: false, reason: "not today" });
    const denied = await w.readyCount(1);
    expect(types(denied)).toEqual(["E:42501", "ReadyForQuery"]);
    expect(denied[0]!.text).toContain("not today");
    expect(await pg.psql("SELECT count(*) FROM public.t")).toBe("1\n");
    await pg.psql("DELETE FROM public.t");
    w.close();
  });
});

describe("limits and bad input", () => {
  test("a message above max_message_size ends the session with 54000; the target keeps serving", async () => {
    const w = await Wire.open(target.port, "ann");
    w.send(Q(`SELECT '${"x".repeat(70_000)}'`));
    const ms = await w.until((m) => m.some((x) => x.type === "ErrorResponse"));
    expect(ms.find((m) => m.type === "ErrorResponse")).toMatchObject({ code: "54000" });
    const again = await Wire.open(target.port, "ann");
    again.send(Q("SELECT 1"));
    expect(types(await again.readyCount(1))).toEqual(["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]);
    again.close();
  });

  test("an unknown message type is a protocol violation (08P01), and a client vanishing mid-COPY leaves the target working", async () => {
    const w = await Wire.open(target.port, "ops");
    w.sendRaw(new Uint8Array([0x7a, 0, 0, 0, 4]));
    const ms = await w.until((m) => m.some((x) => x.type === "ErrorResponse"));
    expect(ms.find((m) => m.type === "ErrorResponse")).toMatchObject({ code: "08P01" });

    const c = await Wire.open(target.port, "ops");
    c.send(Q("COPY public.t FROM STDIN"));
    await c.until((m) => m.some((x) => x.type === "CopyInResponse"));
    c.send({ type: "CopyData", data: new TextEncoder().encode("1\n2\n") });
    c.sock.destroy();
    const again = await Wire.open(target.port, "ops");
    again.send(Q("SELECT count(*) FROM public.t"));
    expect(rows(await again.readyCount(1))).toEqual(["0"]);
    again.close();
    const ends = (await auditRecords()).filter((r) => r.type === "session.end");
    expect(ends.length).toBeGreaterThan(3);
  });
});

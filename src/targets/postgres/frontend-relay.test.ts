// How the relays keep the names of prepared statements, portals and cursors as the server holds
// them: the target in process (real gate, audit, parser) in front of a real PostgreSQL, driven
// by a raw protocol client so that pipelines and races are exact.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../../../test/helpers/ports.ts";
import { type Msg, types, Wire } from "../../../test/helpers/pg-wire.ts";
import { startPostgres, type PostgresInstance } from "../../../test/helpers/postgres.ts";
import { createMetrics } from "../../admin/metrics.ts";
import { Approvals } from "../../approvals/approvals.ts";
import { openAuditLog, type AuditLog } from "../../audit/log.ts";
import { loadConfig } from "../../config/load.ts";
import type { PostgresTarget } from "../../config/schema.ts";
import { silentLogger } from "../../core/logger.ts";
import type { Identity } from "../../core/types.ts";
import { Gate } from "../../gate/gate.ts";
import { compileDetectors } from "../../masking/detectors.ts";
import { compilePolicy } from "../../policy/compile.ts";
import { startPostgresTarget, type RunningPostgresTarget } from "./postgres-target.ts";
import type { FrontendMessage } from "./protocol/frontend-message.ts";
import { createAnalysisCache } from "./sql/analysis-cache.ts";
import { loadSqlParser } from "./sql/sql-parser.ts";
import { createMayUseTarget, createRuleFunctions } from "./target-access.ts";

setDefaultTimeout(60_000);

const identities: Record<string, Identity> = {
  ann: { method: "dev", subject: "ann", issuer: "dev", groups: ["analysts"] },
};

let pg: PostgresInstance;
let dir: string;
let audit: AuditLog;
let target: RunningPostgresTarget;
let slowBind = false;

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql(`
    CREATE SCHEMA sales;
    CREATE TABLE sales.customers (id int PRIMARY KEY, name text, email text);
    INSERT INTO sales.customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.com');
    CREATE TABLE sales.notes (n text);
    INSERT INTO sales.notes VALUES ('sales note');
    CREATE TABLE public.notes (n text);
    INSERT INTO public.notes VALUES ('public secret');
  `);
  dir = mkdtempSync(join(tmpdir(), "gatehouse-relay-"));
  writeFileSync(
    join(dir, "gatehouse.yaml"),
    `
targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:${await freePort()}
    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
rules:
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read, set, transaction, prepare, execute, deallocate, discard, declare_cursor, fetch, close], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
`,
  );
  const config = await loadConfig(join(dir, "gatehouse.yaml"));
  const policy = compilePolicy(config);
  const clock = { now: () => Date.now() };
  audit = await openAuditLog({ path: join(dir, "audit.log"), clock });
  const approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  const metrics = createMetrics();
  const gate: Gate = new Gate({ policy: () => policy, audit: { append: (e) => audit.append(e as Parameters<AuditLog["append"]>[0]) }, approvals, clock, metrics, log: silentLogger });
  const check = gate.check.bind(gate);
  gate.check = async (action, ctx = {}) => {
    // Lets a test make the upstream answer before a decision at Bind is made.
    if (slowBind && ctx.details?.["at"] === "bind") await new Promise((r) => setTimeout(r, 50));
    return await check(action, ctx);
  };
  target = await startPostgresTarget(config.targets[0] as PostgresTarget, {
    gate,
    authenticate: async (t) => {
      const i = identities[t];
      if (!i) throw new Error("unknown test token");
      return i;
    },
    authFailureReason: () => "invalid",
    analyzer: createAnalysisCache(await loadSqlParser(), { maxEntries: 1000 }),
    mayUseTarget: createMayUseTarget(() => config.rules, (rule, t) => policy.rules.find((r) => r.name === rule)?.matchesTarget(t) ?? false),
    ruleFunctions: createRuleFunctions(() => config.rules),
    compileDetectors,
    clock,
    metrics,
    log: silentLogger,
  });
});

afterAll(async () => {
  await target?.stop();
  await audit?.close();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
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
    slowBind = true;
    // "a" exists upstream, so the Parse fails; the Bind of "b" (from an earlier batch) is decided again, asynchronously.
    for (let i = 0; i < 5; i++) {
      const ms = await w.run(1, P("SELECT 3", "a"), B("b"), E(), S);
      expect(types(ms)).toEqual(["E:42P05", "ReadyForQuery"]);
    }
    slowBind = false;
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

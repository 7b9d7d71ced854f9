// The gateway as a client of a real PostgreSQL: logins with SCRAM-SHA-256, md5 and trust, its
// own queries and literals, the catalog lookups masking relies on, the denial DO block, and a
// cancel through the registry.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { startPostgres, type PostgresInstance } from "../../../../test/helpers/postgres.ts";
import { silentLogger } from "../../../core/logger.ts";
import { Catalog, splitQualified } from "../catalog/catalog.ts";
import { sendUpstreamCancel } from "./cancel.ts";
import { isDenyMarker, denyMessages } from "../relay/deny.ts";
import { UpstreamError, connectUpstream, readingSettingProblem, simpleQuery, sqlLiteral, upstreamCa, type UpstreamConfig } from "./upstream.ts";
import { parseNoticeFields } from "../protocol/backend-decoder.ts";
import { encodeBackendMessages } from "../protocol/encode.ts";
import { createStartupDecoder } from "../protocol/frontend-decoder.ts";
import { createServer } from "node:net";
import { waitFor } from "../../../../test/helpers/wait.ts";

// Each test starts real servers (initdb takes a while on a busy machine); no test asserts a duration.
setDefaultTimeout(60_000);

const servers: PostgresInstance[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

function cfg(pg: PostgresInstance, password: string | undefined = pg.password): UpstreamConfig {
  return { host: pg.host, port: pg.port, database: pg.database, user: pg.user, ...(password !== undefined ? { password } : {}) };
}

test("logs in with SCRAM-SHA-256, md5 and trust, passes client parameters, and reports a wrong password", async () => {
  for (const authMethod of ["scram-sha-256", "md5", "trust"] as const) {
    const pg = await startPostgres({ authMethod });
    servers.push(pg);
    const c = await connectUpstream(cfg(pg, authMethod === "trust" ? undefined : pg.password), new Map([["application_name", "gatehouse-test"]]));
    expect(c.status).toBe("I");
    expect(c.parameters.get("application_name")).toBe("gatehouse-test");
    expect(c.secretKey.length).toBe(4);
    const r = await simpleQuery(c.socket, c.reader, "SELECT current_user, current_setting('application_name')");
    expect(r.rows).toEqual([[pg.user, "gatehouse-test"]]);
    c.socket.destroy();
    if (authMethod !== "trust") {
      const wrong = connectUpstream(cfg(pg, "wrong password"), new Map());
      await expect(wrong).rejects.toBeInstanceOf(UpstreamError);
      await expect(wrong).rejects.toMatchObject({ fields: { code: "28P01" } });
    }
  }
});

test("gateway queries: errors are thrown with the server's fields, literals survive any content", async () => {
  const pg = servers[0]!;
  const c = await connectUpstream(cfg(pg), new Map());
  await expect(simpleQuery(c.socket, c.reader, "SELECT 1/0")).rejects.toMatchObject({ fields: { code: "22012" } });
  for (const s of ["plain", "it's", "back\\slash", "\\'; DROP TABLE x; --", "ünï"]) {
    const r = await simpleQuery(c.socket, c.reader, `SELECT ${sqlLiteral(s)}`);
    expect(r.rows[0]![0]).toBe(s);
  }
  await simpleQuery(c.socket, c.reader, "SET standard_conforming_strings = off");
  expect((await simpleQuery(c.socket, c.reader, `SELECT ${sqlLiteral("a\\b'c")}`)).rows[0]![0]).toBe("a\\b'c");
  c.socket.destroy();
});

test("the denial DO block raises the error the relay replaces", async () => {
  const pg = servers[0]!;
  const c = await connectUpstream(cfg(pg), new Map());
  const { query } = denyMessages();
  c.socket.write(query);
  let error: Uint8Array | null = null;
  for (;;) {
    const m = await c.reader.next();
    if (m.type === 0x45) error = new Uint8Array(m.body);
    if (m.type === 0x5a) break;
  }
  expect(error).not.toBeNull();
  expect(isDenyMarker(error!)).toBe(true);
  expect(parseNoticeFields(error!).code).toBe("42501");
  c.socket.destroy();
});

test("the catalog resolves column origins by OID and columns by name, and names functions", async () => {
  const pg = servers[0]!;
  await pg.psql(`CREATE SCHEMA "odd.schema"; CREATE TABLE "odd.schema"."T" (a int, "E mail" text); CREATE TABLE public.p (x int, y text); ALTER TABLE public.p DROP COLUMN x;`);
  const catalog = new Catalog(cfg(pg), silentLogger);
  const oid = Number((await pg.psql(`SELECT '"odd.schema"."T"'::regclass::oid`)).trim());
  expect(catalog.cached(oid)).toBeUndefined();
  await catalog.loadOids([oid, 1]);
  const t = catalog.cached(oid)!;
  expect(t.schema).toBe("odd.schema");
  expect(t.table).toBe("T");
  expect([...t.columns]).toEqual([[1, "a"], [2, "E mail"]]);
  expect(catalog.cached(1)).toBeNull();
  const byName = await catalog.columnsOf(['"odd.schema".T', "public.p", "public.nope"]);
  expect([...byName.get('"odd.schema".T')!.columns.values()]).toEqual(["a", "E mail"]);
  expect([...byName.get("public.p")!.columns.values()]).toEqual(["y"]);
  expect(byName.get("public.nope")).toBeNull();
  const fn = Number((await pg.psql("SELECT 'pg_catalog.pg_read_file(text)'::regprocedure::oid")).trim());
  expect(await catalog.functionName(fn)).toBe("pg_catalog.pg_read_file");
  expect(await catalog.functionName(4_000_000_000)).toBeNull();
  catalog.invalidate();
  expect(catalog.cached(oid)).toBeUndefined();
  catalog.close();
  await expect(catalog.loadOids([oid])).rejects.toThrow(/closed/);
});

test("relation names split back into schema and table exactly", () => {
  expect(splitQualified("sales.orders")).toEqual(["sales", "orders"]);
  expect(splitQualified('"a.b"."c""d"')).toEqual(["a.b", 'c"d']);
  expect(splitQualified('"a.b".c')).toEqual(["a.b", "c"]);
  expect(splitQualified("a.b.c")).toBeNull();
  expect(splitQualified("plain")).toBeNull();
  expect(splitQualified('"unterminated.x')).toBeNull();
});

test("a cancel sent with the upstream's key stops the running statement", async () => {
  const pg = servers[0]!;
  const c = await connectUpstream(cfg(pg), new Map());
  const running = simpleQuery(c.socket, c.reader, "SELECT pg_sleep(30)").then(
    () => null,
    (e: unknown) => e,
  );
  await waitFor(
    "the statement to run upstream",
    async () => (await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).trim() === "1",
    { intervalMs: 50 },
  );
  await sendUpstreamCancel(cfg(pg), { processId: c.processId, secretKey: c.secretKey });
  expect(await running).toMatchObject({ fields: { code: "57014" } });
  c.socket.destroy();
});

test("the gateway asks for client_encoding UTF8 and standard_conforming_strings on, and refuses a server that reports otherwise", async () => {
  const cases: [string, string | null][] = [
    ["standard_conforming_strings", "off"],
    ["client_encoding", "SJIS"],
    ["client_encoding", "SQL_ASCII"],
    ["standard_conforming_strings", null],
  ];
  for (const [name, value] of cases) {
    const asked: ReadonlyMap<string, string>[] = [];
    const reported = new Map([["client_encoding", "UTF8"], ["standard_conforming_strings", "on"], ["server_version", "15"]]);
    if (value === null) reported.delete(name);
    else reported.set(name, value);
    const server = createServer((s) => {
      const startup = createStartupDecoder();
      s.on("error", () => {});
      s.on("data", (c: Buffer) => {
        const r = startup.push(c);
        if (r === null || r.message.type !== "StartupMessage") return;
        asked.push(r.message.parameters);
        s.write(
          encodeBackendMessages([
            { type: "AuthenticationOk" },
            ...[...reported].map(([n, v]) => ({ type: "ParameterStatus" as const, name: n, value: v })),
            { type: "BackendKeyData", processId: 7, secretKey: new Uint8Array(4) },
            { type: "ReadyForQuery", status: "I" },
          ]),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    try {
      const port = (server.address() as { port: number }).port;
      const login = connectUpstream({ host: "127.0.0.1", port, database: "d", user: "u" }, new Map([["client_encoding", "LATIN1"], ["application_name", "a"]]), 5_000);
      await expect(login).rejects.toThrow(`the server reports ${name} = ${value === null ? "(nothing)" : JSON.stringify(value)}`);
      expect(asked[0]?.get("client_encoding")).toBe("UTF8");
      expect(asked[0]?.get("standard_conforming_strings")).toBe("on");
      expect(asked[0]?.get("application_name")).toBe("a");
    } finally {
      server.close();
    }
  }
});

test("readingSettingProblem: only the two settings the parser depends on, with exactly the values it assumes", () => {
  expect(readingSettingProblem("client_encoding", "UTF8")).toBeNull();
  expect(readingSettingProblem("standard_conforming_strings", "on")).toBeNull();
  expect(readingSettingProblem("application_name", "anything")).toBeNull();
  expect(readingSettingProblem("constructor", "x")).toBeNull();
  expect(readingSettingProblem("client_encoding", "utf8")).toContain("client_encoding");
  expect(readingSettingProblem("standard_conforming_strings", "off")).toContain("standard_conforming_strings");
});

test("upstream.ca is the PEM text itself or a file holding it", async () => {
  const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  // The loader keeps PEM text as it is; reading it as a path failed at connect time (ENOENT).
  expect(upstreamCa(pem)).toBe(pem);
  const file = `${process.env.TMPDIR ?? "/tmp"}/gatehouse-ca-${process.pid}.pem`;
  await Bun.write(file, pem);
  expect(String(upstreamCa(file))).toBe(pem);
  expect(upstreamCa(undefined)).toBeUndefined();
});

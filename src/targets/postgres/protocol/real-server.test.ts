// The codec against a real PostgreSQL server: SCRAM and MD5 logins, simple and extended
// queries, COPY, notices, notifications, cancel, and a large result streamed in socket chunks.
// Needs the PostgreSQL server binaries; without them every test here fails saying so.
import { afterAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { type PostgresInstance, startPostgres, type PostgresOptions } from "../../../../test/helpers/postgres.ts";
import { createBackendDecoder, parseBackendMessage } from "./backend-decoder.ts";
import type { BackendMessage, Decoded } from "./backend-message.ts";
import {
  encodeCancelRequest,
  encodeFrontendMessages,
  encodePasswordMessage,
  encodeQuery,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartupMessage,
  encodeTerminate,
} from "./encode.ts";
import { createScramClient, md5Password, SCRAM_SHA_256 } from "./scram.ts";
import { waitFor } from "../../../../test/helpers/wait.ts";

type Message = Decoded<BackendMessage>;
const text = new TextDecoder();
const enc = new TextEncoder();

/** A minimal client made of the codec: every byte from the server goes through the backend decoder. */
class WireClient {
  private readonly decoder = createBackendDecoder();
  private readonly inbox: Message[] = [];
  private wake: (() => void) | null = null;
  private failure: Error | null = null;
  chunks = 0;

  private constructor(private readonly socket: Socket<undefined>) {}

  static async connect(host: string, port: number): Promise<WireClient> {
    let client: WireClient | null = null;
    const socket = await Bun.connect({
      hostname: host,
      port,
      socket: {
        data(_s, data) {
          client!.receive(data);
        },
        close() {
          client?.fail(new Error("server closed the connection"));
        },
        error(_s, e) {
          client?.fail(e);
        },
      },
    });
    client = new WireClient(socket);
    return client;
  }

  private receive(data: Uint8Array): void {
    this.chunks++;
    try {
      this.decoder.push(data, (type, body, raw) => this.inbox.push({ ...parseBackendMessage(type, body), raw }));
    } catch (e) {
      this.fail(e as Error);
    }
    this.wake?.();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    this.wake?.();
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  async next(): Promise<Message> {
    for (;;) {
      const m = this.inbox.shift();
      if (m !== undefined) return m;
      if (this.failure !== null) throw this.failure;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  async expect<T extends Message["type"]>(type: T): Promise<Extract<Message, { type: T }>> {
    const m = await this.next();
    if (m.type !== type) throw new Error(`expected ${type}, got ${m.type}: ${JSON.stringify(m.type === "ErrorResponse" ? m.fields : m.type)}`);
    return m as Extract<Message, { type: T }>;
  }

  /** Every message up to and including the next ReadyForQuery. */
  async untilReady(): Promise<Message[]> {
    const out: Message[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (m.type === "ReadyForQuery") return out;
    }
  }

  close(): void {
    this.send(encodeTerminate());
    this.socket.end();
  }
}

const servers = new Map<string, Promise<PostgresInstance>>();
/** One server per auth method, started on first use; a missing PostgreSQL fails the test that asked. */
function server(authMethod: NonNullable<PostgresOptions["authMethod"]>): Promise<PostgresInstance> {
  let s = servers.get(authMethod);
  if (s === undefined) {
    s = startPostgres({ authMethod, password: `pw'${authMethod},ünï` });
    servers.set(authMethod, s);
  }
  return s;
}

afterAll(async () => {
  for (const s of servers.values()) await (await s.catch(() => null))?.stop();
});

/** Logs in with SCRAM-SHA-256 and reads up to the first ReadyForQuery. */
async function scramLogin(pg: PostgresInstance, password = pg.password): Promise<{ client: WireClient; startup: Message[] }> {
  const client = await WireClient.connect(pg.host, pg.port);
  client.send(encodeStartupMessage({ user: pg.user, database: pg.database, application_name: "gatehouse-codec-test" }));
  const sasl = await client.expect("AuthenticationSASL");
  expect(sasl.mechanisms).toContain(SCRAM_SHA_256);
  const scram = createScramClient({ password });
  client.send(encodeSASLInitialResponse(SCRAM_SHA_256, scram.clientFirstMessage()));
  const cont = await client.expect("AuthenticationSASLContinue");
  client.send(encodeSASLResponse(scram.clientFinalMessage(text.decode(cont.data))));
  const final = await client.next();
  if (final.type === "ErrorResponse") return { client, startup: [final] };
  if (final.type !== "AuthenticationSASLFinal") throw new Error(`expected AuthenticationSASLFinal, got ${final.type}`);
  scram.verifyServerFinal(text.decode(final.data));
  expect(scram.verified).toBe(true);
  await client.expect("AuthenticationOk");
  return { client, startup: await client.untilReady() };
}

const rowsOf = (ms: Message[]) => ms.flatMap((m) => (m.type === "DataRow" ? [m.values.map((v) => (v === null ? null : text.decode(v)))] : []));

describe("against a real PostgreSQL server", () => {
  test("SCRAM-SHA-256 login and SELECT 1 (simple query)", async () => {
    const pg = await server("scram-sha-256");
    const { client, startup } = await scramLogin(pg);
    const params = new Map(startup.flatMap((m) => (m.type === "ParameterStatus" ? [[m.name, m.value] as const] : [])));
    expect(params.get("client_encoding")).toBe("UTF8");
    expect(params.get("server_version")).toMatch(/^[0-9]+/);
    expect(startup.some((m) => m.type === "BackendKeyData" && m.secretKey.length === 4)).toBe(true);
    expect(startup.at(-1)).toMatchObject({ type: "ReadyForQuery", status: "I" });

    client.send(encodeQuery("SELECT 1"));
    const reply = await client.untilReady();
    expect(reply.map((m) => m.type)).toEqual(["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]);
    expect(reply[0]).toMatchObject({ fields: [{ name: "?column?", typeOid: 23, typeSize: 4, format: 0 }] });
    expect(rowsOf(reply)).toEqual([["1"]]);
    expect(reply[2]).toMatchObject({ tag: "SELECT 1" });
    client.close();
  });

  test("a wrong password gets ErrorResponse 28P01", async () => {
    const pg = await server("scram-sha-256");
    const { startup } = await scramLogin(pg, "wrong");
    expect(startup[0]).toMatchObject({ type: "ErrorResponse", fields: { severity: "FATAL", code: "28P01" } });
  });

  test("MD5 login", async () => {
    const pg = await server("md5");
    const client = await WireClient.connect(pg.host, pg.port);
    client.send(encodeStartupMessage({ user: pg.user, database: pg.database }));
    const req = await client.expect("AuthenticationMD5Password");
    client.send(encodePasswordMessage(md5Password(pg.user, pg.password, req.salt)));
    await client.expect("AuthenticationOk");
    expect((await client.untilReady()).at(-1)).toMatchObject({ type: "ReadyForQuery", status: "I" });
    client.send(encodeQuery("SELECT current_user"));
    expect(rowsOf(await client.untilReady())).toEqual([[pg.user]]);
    client.close();
  });

  test("SSLRequest is answered with one byte ('N': this server has no TLS)", async () => {
    const pg = await server("scram-sha-256");
    const first = await new Promise<number>((resolve, reject) => {
      Bun.connect({
        hostname: pg.host,
        port: pg.port,
        socket: {
          open(s) {
            s.write(encodeSSLRequest());
          },
          data(s, d) {
            resolve(d[0]!);
            s.end();
          },
          error(_s, e) {
            reject(e);
          },
        },
      }).catch(reject);
    });
    expect(String.fromCharCode(first)).toBe("N");
  });

  test("extended protocol: Parse/Bind/Describe/Execute with binary results, NULL and an error", async () => {
    const pg = await server("scram-sha-256");
    const { client } = await scramLogin(pg);
    client.send(
      encodeFrontendMessages([
        { type: "Parse", statement: "s1", query: "SELECT $1::int4 + 1 AS n, $2::text AS t, NULL::text AS z", parameterTypes: [23, 0] },
        { type: "Describe", target: "S", name: "s1" },
        { type: "Bind", portal: "", statement: "s1", parameterFormats: [1, 0], parameters: [new Uint8Array([0, 0, 0, 41]), enc.encode("hé")], resultFormats: [1, 0, 0] },
        { type: "Describe", target: "P", name: "" },
        { type: "Execute", portal: "", maxRows: 0 },
        { type: "Sync" },
      ]),
    );
    const reply = await client.untilReady();
    expect(reply.map((m) => m.type)).toEqual([
      "ParseComplete", "ParameterDescription", "RowDescription", "BindComplete", "RowDescription", "DataRow", "CommandComplete", "ReadyForQuery",
    ]);
    expect(reply[1]).toMatchObject({ parameterTypes: [23, 25] });
    expect(reply[4]).toMatchObject({ fields: [{ name: "n", format: 1 }, { name: "t", format: 0 }, { name: "z", format: 0 }] });
    const row = reply[5];
    if (row?.type !== "DataRow") throw new Error("no DataRow");
    expect(row.values[0]).toEqual(new Uint8Array([0, 0, 0, 42]));
    expect(text.decode(row.values[1]!)).toBe("hé");
    expect(row.values[2]).toBeNull();

    // An error inside a transaction block: ErrorResponse with position, then status 'E'.
    client.send(encodeQuery("BEGIN"));
    await client.untilReady();
    client.send(
      encodeFrontendMessages([
        { type: "Parse", statement: "", query: "SELECT nope FROM nowhere", parameterTypes: [] },
        { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] },
        { type: "Execute", portal: "", maxRows: 0 },
        { type: "Sync" },
      ]),
    );
    const failed = await client.untilReady();
    expect(failed[0]).toMatchObject({ type: "ErrorResponse", fields: { severity: "ERROR", code: "42P01" } });
    expect(failed[0]?.type === "ErrorResponse" && failed[0].fields.position).toBe("18");
    expect(failed.at(-1)).toMatchObject({ type: "ReadyForQuery", status: "E" });
    client.send(encodeQuery("ROLLBACK"));
    expect((await client.untilReady()).at(-1)).toMatchObject({ status: "I" });

    // Close, Flush, NoData, EmptyQueryResponse, PortalSuspended.
    client.send(
      encodeFrontendMessages([
        { type: "Parse", statement: "s2", query: "SELECT generate_series(1, 3)", parameterTypes: [] },
        { type: "Bind", portal: "p", statement: "s2", parameterFormats: [], parameters: [], resultFormats: [] },
        { type: "Execute", portal: "p", maxRows: 2 },
        { type: "Close", target: "S", name: "s2" },
        { type: "Parse", statement: "", query: "SET application_name = 'x'", parameterTypes: [] },
        { type: "Describe", target: "S", name: "" },
        { type: "Flush" },
        { type: "Sync" },
      ]),
    );
    const more = await client.untilReady();
    expect(more.map((m) => m.type)).toEqual([
      "ParseComplete", "BindComplete", "DataRow", "DataRow", "PortalSuspended", "CloseComplete", "ParseComplete", "ParameterDescription", "NoData",
      "ReadyForQuery",
    ]);
    client.send(encodeQuery(""));
    expect((await client.untilReady()).map((m) => m.type)).toEqual(["EmptyQueryResponse", "ReadyForQuery"]);
    client.close();
  });

  test("COPY out and in, NoticeResponse and NotificationResponse", async () => {
    const pg = await server("scram-sha-256");
    const { client } = await scramLogin(pg);
    client.send(encodeQuery("COPY (SELECT g, 'v' || g FROM generate_series(1, 1000) g) TO STDOUT"));
    const out = await client.untilReady();
    expect(out[0]).toMatchObject({ type: "CopyOutResponse", format: 0, columnFormats: [0, 0] });
    const data = out.flatMap((m) => (m.type === "CopyData" ? [text.decode(m.data)] : [])).join("");
    expect(data.split("\n").length).toBe(1001);
    expect(data.startsWith("1\tv1\n2\tv2\n")).toBe(true);
    expect(out.slice(-3).map((m) => m.type)).toEqual(["CopyDone", "CommandComplete", "ReadyForQuery"]);
    expect(out.at(-2)).toMatchObject({ tag: "COPY 1000" });

    client.send(encodeQuery("CREATE TEMP TABLE t (a int, b text); COPY t FROM STDIN"));
    const copyIn = await client.next();
    // CREATE TABLE completes first.
    expect(copyIn).toMatchObject({ type: "CommandComplete", tag: "CREATE TABLE" });
    expect(await client.expect("CopyInResponse")).toMatchObject({ format: 0, columnFormats: [0, 0] });
    client.send(encodeFrontendMessages([{ type: "CopyData", data: enc.encode("1\tone\n2\t\\N\n") }, { type: "CopyDone" }]));
    expect((await client.untilReady()).map((m) => (m.type === "CommandComplete" ? m.tag : m.type))).toEqual(["COPY 2", "ReadyForQuery"]);
    client.send(encodeQuery("COPY t FROM STDIN"));
    await client.expect("CopyInResponse");
    client.send(encodeFrontendMessages([{ type: "CopyFail", message: "client changed its mind" }]));
    const aborted = await client.untilReady();
    expect(aborted[0]).toMatchObject({ type: "ErrorResponse", fields: { code: "57014" } });
    expect(aborted[0]?.type === "ErrorResponse" && aborted[0].fields.message).toContain("client changed its mind");
    client.send(encodeQuery("SELECT a, b FROM t ORDER BY a"));
    expect(rowsOf(await client.untilReady())).toEqual([["1", "one"], ["2", null]]);

    client.send(encodeQuery("DO $$ BEGIN RAISE NOTICE 'hello %', 42 USING HINT = 'a hint'; END $$"));
    const notice = await client.untilReady();
    expect(notice[0]).toMatchObject({ type: "NoticeResponse", fields: { severity: "NOTICE", code: "00000", message: "hello 42", hint: "a hint" } });

    client.send(encodeQuery("LISTEN jobs; NOTIFY jobs, 'payload ✓'"));
    const notified = await client.untilReady();
    const n = notified.find((m) => m.type === "NotificationResponse");
    expect(n).toMatchObject({ channel: "jobs", payload: "payload ✓" });
    client.close();
  });

  test("CancelRequest with the BackendKeyData cancels a running query", async () => {
    const pg = await server("scram-sha-256");
    const { client, startup } = await scramLogin(pg);
    const key = startup.find((m) => m.type === "BackendKeyData");
    if (key?.type !== "BackendKeyData") throw new Error("no BackendKeyData");
    client.send(encodeQuery("SELECT pg_sleep(60)"));
    // Wait until the backend is really running the query before cancelling it.
    await waitFor(
      "the backend to run the query",
      async () => (await pg.psql(`SELECT state FROM pg_stat_activity WHERE pid = ${key.processId}`)).trim() === "active",
      { intervalMs: 25 },
    );
    const canceller = await Bun.connect({ hostname: pg.host, port: pg.port, socket: { data() {} } });
    canceller.write(encodeCancelRequest(key.processId, key.secretKey));
    canceller.end();
    const reply = await client.untilReady();
    // RowDescription went out before the sleep began; the cancel ends the query with 57014.
    expect(reply.map((m) => m.type)).toEqual(["RowDescription", "ErrorResponse", "ReadyForQuery"]);
    expect(reply[1]).toMatchObject({ type: "ErrorResponse", fields: { code: "57014" } });
    client.close();
  });

  test("a large result arrives in many socket chunks and decodes intact", async () => {
    const pg = await server("scram-sha-256");
    const { client } = await scramLogin(pg);
    const before = client.chunks;
    client.send(encodeQuery("SELECT g, repeat('x', g % 200), CASE WHEN g % 5 = 0 THEN NULL ELSE g::text END FROM generate_series(1, 50000) g"));
    const reply = await client.untilReady();
    expect(client.chunks - before).toBeGreaterThan(10);
    const rows = rowsOf(reply);
    expect(rows.length).toBe(50000);
    // Checked after everything arrived: views into earlier chunks must still hold their bytes.
    for (let g = 1; g <= 50000; g++) {
      const row = rows[g - 1]!;
      if (row[0] !== String(g) || row[1] !== "x".repeat(g % 200) || row[2] !== (g % 5 === 0 ? null : String(g))) {
        throw new Error(`row ${g} is wrong: ${JSON.stringify(row).slice(0, 100)}`);
      }
    }
    expect(reply.at(-2)).toMatchObject({ tag: "SELECT 50000" });
    client.close();
  });
});

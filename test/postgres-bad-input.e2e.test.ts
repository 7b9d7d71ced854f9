// End to end: bad input against the compiled gateway in front of a real PostgreSQL. Raw TCP
// clients send garbage before startup, truncated and oversized startup packets, malformed and
// truncated frames after login, vanish in the middle of COPY FROM STDIN, ask for GSS
// encryption and replication, send FunctionCall and messages above max_message_size. Each
// must get a clear error (a decoded ErrorResponse with its SQLSTATE) or a clean close; all the
// while a long-lived driver session keeps its upstream backend and answers, new psql sessions
// log in, no upstream backend is left behind, nothing half-copied commits, and at the end the
// audit log verifies and holds every session's start and end.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import {
  encodeFrontendMessage,
  encodeFrontendMessages,
  encodeGSSENCRequest,
  encodePasswordMessage,
  encodeQuery,
  encodeSSLRequest,
  encodeStartupMessage,
} from "../src/targets/postgres/protocol/encode.ts";
import { detail, statementsOf } from "./helpers/audit-completions.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { RawPgClient, type ServerMessage, describe as describeMessage, errorOf } from "./helpers/pg-raw-client.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";
import { fixtureSql } from "./helpers/fixtures.ts";

setDefaultTimeout(120_000);

/** max_message_size of the target: 1 MiB. */
const MAX_MESSAGE = 1024 * 1024;

let pg: PostgresInstance;
let gw: GatewayProcess;
let port: number;
const tokens: Record<string, string> = {};

/** The long-lived session: opened first, used after every bad client, closed last. */
let keeper: postgres.Sql;
let keeperPid = 0;
let keeperQueries = 0;
/** Open file descriptors of the gateway once the long-lived session is up: bad clients must not leak any. */
let baselineFds = 0;
const openFds = () => readdirSync(`/proc/${gw.proc.pid}/fd`).length;
let freshSessions = 0;

/** Raw clients that logged in, by remote address, and whether the gateway should have ended them with an error. */
const loggedIn: { remote: string; app: string; endedWithError: boolean }[] = [];
/** Every raw client, so that the last test can close any that a failed test left open. */
const rawClients: RawPgClient[] = [];

async function rawConnect(): Promise<RawPgClient> {
  const c = await RawPgClient.connect(port);
  rawClients.push(c);
  return c;
}

function clientEnv(password: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  return { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "20", LC_ALL: "C", ...extra };
}

async function psql(password: string, user: string, args: string[]) {
  const proc = Bun.spawn(["psql", "-X", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", "sales-db", ...args], {
    env: clientEnv(password, { PGAPPNAME: "fresh-psql" }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

async function records(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) out.push(record);
  return out;
}

/** The audit log once `ok` holds (session.end is written just after the socket closes). */
const waitForAudit = (ok: (all: AuditRecord[]) => boolean, what: string) => auditRecordsWhen(gw.auditPath, ok, what);

/** Upstream backends whose application_name is `app` (the gateway passes application_name on). */
async function upstreamBackends(app: string): Promise<number> {
  return Number((await pg.psql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = '${app}'`)).trim());
}

/** Waits until no upstream backend of `app` is left: a session the gateway ended must not leak its upstream connection. */
async function expectNoUpstream(app: string, timeoutMs = 20_000): Promise<void> {
  let n = -1;
  await waitFor(`no upstream backend of ${app} to be left`, async () => (n = await upstreamBackends(app)) === 0, { timeoutMs, intervalMs: 50 }).catch((e: Error) => {
    throw new Error(`${e.message} (${n} left)`);
  });
}

/** After every bad client: the long-lived session still answers on the same upstream backend, and a new psql session logs in. */
async function expectGatewayHealthy(): Promise<void> {
  const [row] = await keeper.unsafe("SELECT pg_backend_pid() AS pid, 'keepalive' AS tag");
  keeperQueries++;
  expect({ ...row }).toEqual({ pid: keeperPid, tag: "keepalive" });
  const fresh = await psql(tokens["app"]!, "app", ["-A", "-t", "-c", "SELECT 'fresh ' || count(*) FROM sales.customers"]);
  freshSessions++;
  expect({ code: fresh.code, stderr: fresh.stderr, stdout: fresh.stdout.trim() }).toEqual({ code: 0, stderr: "", stdout: "fresh 2" });
}

/** The session id of the raw client at `remote`, from its session.start record. */
/** A client's session: by its address and its application_name (an address alone can come back, the port reused). */
function isStartOf(r: AuditRecord, remote: string, app: string): boolean {
  const d = r.details as { remote?: string; parameters?: Record<string, string> } | undefined;
  return r.type === "session.start" && d?.remote === remote && d.parameters?.["application_name"] === app;
}

function sessionOf(all: readonly AuditRecord[], remote: string, app: string): string | undefined {
  return all.find((r) => isStartOf(r, remote, app))?.session;
}

/** A raw client logged in as `who`, its upstream backend tagged with application_name `app`. */
async function rawSession(who: string, app: string, endedWithError: boolean): Promise<RawPgClient> {
  const c = await rawConnect();
  await c.login(who, tokens[who]!, { application_name: app });
  loggedIn.push({ remote: c.remote, app, endedWithError });
  return c;
}

/** The client must get exactly one FATAL ErrorResponse with this SQLSTATE and a message matching `message`, then a close. */
async function expectFatalThenClose(c: RawPgClient, code: string, message: RegExp): Promise<string> {
  const msgs = await c.readToClose();
  expect(msgs.map((m) => m.type)).toEqual(["E"]);
  const f = errorOf(msgs)!;
  expect({ severity: f.severity, code: f.code }).toEqual({ severity: "FATAL", code });
  expect(f.message).toMatch(message);
  return f.message!;
}

function int32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0);
  return b;
}

function concat(...parts: (Uint8Array | string)[]): Uint8Array {
  const bufs = parts.map((p) => (typeof p === "string" ? new TextEncoder().encode(p) : p));
  const out = new Uint8Array(bufs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bufs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** A typed message with any body and (by default) the right length. */
function frame(type: string, body: Uint8Array | string, length?: number): Uint8Array {
  const b = typeof body === "string" ? new TextEncoder().encode(body) : body;
  return concat(new Uint8Array([type.charCodeAt(0)]), int32(length ?? b.length + 4), b);
}

function rowsOf(msgs: readonly ServerMessage[]): (string | null)[][] {
  const dec = new TextDecoder();
  return msgs.flatMap((m) => (m.message.type === "DataRow" ? [m.message.values.map((v) => (v === null ? null : dec.decode(v)))] : []));
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql(`${fixtureSql("sales.sql")}
    CREATE TABLE public.copy_target (id int, note text);
  `);
  ({ gw, port } = await startPostgresGateway(pg, { target: ["max_message_size: 1MiB"], rules: `
  - name: readers-sales
    groups: [readers]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
  - name: apps
    groups: [apps]
    effect: allow
  - name: fcallers
    groups: [fcallers]
    postgres: { classes: [read, function_call], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
` }));
  for (const [who, groups] of [["app", "apps"], ["reader", "readers"], ["fcaller", "fcallers"]] as const) {
    const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", who, "--groups", groups, "--ttl", "2h"]);
    if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
    tokens[who] = r.stdout.trim().split("\n")[0]!;
  }
  keeper = postgres({
    host: "127.0.0.1",
    port,
    user: "app",
    password: tokens["app"]!,
    database: "sales-db",
    max: 1,
    idle_timeout: 0,
    fetch_types: false,
    connection: { application_name: "keeper" },
    onnotice: () => {},
  });
  const [row] = await keeper.unsafe("SELECT pg_backend_pid() AS pid, 'keepalive' AS tag");
  keeperQueries++;
  keeperPid = Number(row?.["pid"]);
  expect(keeperPid).toBeGreaterThan(0);
  baselineFds = openFds();
});

afterAll(async () => {
  await keeper?.end({ timeout: 1 }).catch(() => {});
  await gw?.stop();
  gw?.cleanup();
  await pg?.stop();
});

describe("garbage before startup", () => {
  test("an HTTP request gets FATAL 08P01 naming the bad startup packet, then a close", async () => {
    const c = await rawConnect();
    await c.write("GET / HTTP/1.1\r\nHost: gatehouse\r\n\r\n");
    await expectFatalThenClose(c, "08P01", /^invalid startup packet: startup packet of 1195725856 bytes exceeds the limit 10000 \(is the client speaking the PostgreSQL protocol\?\)$/);
    await expectGatewayHealthy();
  });

  test("a TLS ClientHello without SSLRequest first is refused the same way", async () => {
    const c = await rawConnect();
    await c.write(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, ...new Uint8Array(64)]));
    await expectFatalThenClose(c, "08P01", /^invalid startup packet: startup packet of \d+ bytes exceeds the limit 10000/);
    await expectGatewayHealthy();
  });

  test("random bytes are refused", async () => {
    const noise = crypto.getRandomValues(new Uint8Array(4096));
    noise[0] = (noise[0]! & 0x7f) | 0x01; // a positive length prefix above the startup limit, whatever the rest
    const c = await rawConnect();
    await c.write(noise);
    await expectFatalThenClose(c, "08P01", /^invalid startup packet: startup packet of \d+ bytes exceeds the limit 10000/);
    await expectGatewayHealthy();
  });

  test("a well-sized packet with an unknown protocol code, and one with a length below 8, are refused", async () => {
    const unknown = await rawConnect();
    await unknown.write(concat(int32(16), int32(0xdeadbeef), new Uint8Array(8)));
    await expectFatalThenClose(unknown, "08P01", /^invalid startup packet: unsupported startup code .*this gateway speaks protocol 3$/);
    const short = await rawConnect();
    await short.write(concat(int32(4), int32(0)));
    await expectFatalThenClose(short, "08P01", /^invalid startup packet: startup packet has invalid length 4 \(minimum 8\)$/);
    await expectGatewayHealthy();
  });
});

describe("truncated startup packets", () => {
  test("half a startup packet then a half-close: the gateway closes without a word", async () => {
    const c = await rawConnect();
    await c.write(encodeStartupMessage({ user: "app", database: "sales-db" }).subarray(0, 12));
    c.end();
    expect(await c.readToClose()).toEqual([]);
    await expectGatewayHealthy();
  });

  test("half a startup packet then the client vanishes", async () => {
    const c = await rawConnect();
    await c.write(encodeStartupMessage({ user: "app", database: "sales-db" }).subarray(0, 12));
    c.destroy();
    await expectGatewayHealthy();
  });

  test("a startup packet split over several writes is not an error", async () => {
    const c = await rawConnect();
    const packet = encodeStartupMessage({ user: "app", database: "sales-db", application_name: "split-startup" });
    for (const [from, to] of [[0, 2], [2, 9], [9, packet.length]] as const) {
      await c.write(packet.subarray(from, to));
      // Pacing, not waiting for an event: the pieces should reach the gateway in separate reads. Under load they may merge, which makes the case easier, never fails it.
      await Bun.sleep(30);
    }
    const auth = await c.readMessage();
    expect(auth?.message.type).toBe("AuthenticationCleartextPassword");
    const pw = encodePasswordMessage(tokens["app"]!);
    await c.write(pw.subarray(0, 3));
    await Bun.sleep(30);
    await c.write(pw.subarray(3));
    const hello = await c.readUntilReady();
    expect(errorOf(hello)).toBeUndefined();
    loggedIn.push({ remote: c.remote, app: "split-startup", endedWithError: false });
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    expect(await c.readToClose()).toEqual([]);
    await expectNoUpstream("split-startup");
    await expectGatewayHealthy();
  });
});

describe("huge length prefixes", () => {
  test("in the startup packet: FATAL 08P01 at once, without waiting for 2 GB", async () => {
    const c = await rawConnect();
    await c.write(concat(int32(0x7fffffff), int32(196608), "user\0app\0"));
    await expectFatalThenClose(c, "08P01", /^invalid startup packet: startup packet of 2147483647 bytes exceeds the limit 10000/);
    const max = await rawConnect();
    await max.write(concat(int32(0xffffffff), int32(196608)));
    await expectFatalThenClose(max, "08P01", /^invalid startup packet: startup packet has invalid length/);
    await expectGatewayHealthy();
  });

  test("in the password message: FATAL 54000", async () => {
    const c = await rawConnect();
    await c.write(encodeStartupMessage({ user: "app", database: "sales-db" }));
    expect((await c.readMessage())?.message.type).toBe("AuthenticationCleartextPassword");
    await c.write(concat(frame("p", "eyJ", 0x7fffffff)));
    await expectFatalThenClose(c, "54000", /^invalid authentication message: message of 2147483647 bytes exceeds the limit 1048576$/);
    await expectGatewayHealthy();
  });

  test("in a Query after login: FATAL 54000 naming max_message_size; the session ends and its upstream goes", async () => {
    const c = await rawSession("app", "bad-huge-query", true);
    await c.write(frame("Q", "SELECT 1", 0x7fffffff));
    await expectFatalThenClose(c, "54000", /^message of 2147483647 bytes exceeds the limit 1048576 \(max_message_size of target sales-db\)$/);
    await expectNoUpstream("bad-huge-query");
    await expectGatewayHealthy();
  });

  test("a length field of 0xFFFFFFFF after login: FATAL 08P01", async () => {
    const c = await rawSession("app", "bad-negative-length", true);
    await c.write(frame("Q", "", 0xffffffff));
    await expectFatalThenClose(c, "08P01", /^invalid message from the client: client message 'Q' \(0x51\) has invalid length -1 \(minimum 4\)$/);
    await expectNoUpstream("bad-negative-length");
    await expectGatewayHealthy();
  });
});

describe("malformed frames after login", () => {
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["an unknown type byte", () => frame("\u0001", ""), /^invalid message from the client: unknown client message type/],
    ["a lowercase type byte no client sends ('z')", () => frame("z", "xyz"), /^invalid message from the client: unknown client message type/],
    ["a Query without its NUL", () => frame("Q", "SELECT 1"), /^invalid message from the client: Query: query has no NUL terminator$/],
    [
      "a Bind whose parameter count overruns the message",
      // portal "", statement "", 0 format codes, 3 parameters, the first claiming 100 bytes, 2 bytes present
      () => frame("B", concat("\0\0", new Uint8Array([0, 0, 0, 3]), int32(100), "ab")),
      /^invalid message from the client: Bind: /,
    ],
    [
      "a Bind with more format codes than parameters",
      // 2 format codes, 1 parameter ("1"), 0 result formats
      () => frame("B", concat("\0\0", new Uint8Array([0, 2, 0, 0, 0, 1, 0, 1]), int32(1), "1", new Uint8Array([0, 0]))),
      /^invalid message from the client: Bind: /,
    ],
    ["a Sync with a body", () => frame("S", "extra"), /^invalid message from the client: Sync: /],
    ["an Execute cut short", () => frame("E", "\0\0\0"), /^invalid message from the client: Execute: /],
  ];
  for (const [name, bytes, message] of cases) {
    test(`${name}: FATAL 08P01, the session ends, its upstream goes`, async () => {
      const app = `bad-frame-${cases.findIndex((c) => c[0] === name)}`;
      const c = await rawSession("app", app, true);
      await c.write(bytes());
      await expectFatalThenClose(c, "08P01", message);
      await expectNoUpstream(app);
      await expectGatewayHealthy();
    });
  }

  test("a second password message after login: FATAL 08P01", async () => {
    const c = await rawSession("app", "bad-second-password", true);
    await c.write(encodePasswordMessage(tokens["app"]!));
    await expectFatalThenClose(c, "08P01", /unexpected password message after authentication/);
    await expectNoUpstream("bad-second-password");
    await expectGatewayHealthy();
  });

  test("a whole INSERT and a malformed frame in one write: the INSERT commits only if the client was told so", async () => {
    const c = await rawSession("app", "bad-after-good", true);
    await c.write(concat(encodeQuery("INSERT INTO public.copy_target VALUES (77, 'before garbage')"), frame("Q", "SELECT 1")));
    const msgs = await c.readToClose();
    // PostgreSQL would answer the INSERT, then refuse the frame; the gateway may also refuse the whole chunk unanswered.
    const told = msgs.some((m) => m.message.type === "CommandComplete" && m.message.tag === "INSERT 0 1");
    expect(msgs.map((m) => m.type)).toEqual(told ? ["C", "Z", "E"] : ["E"]);
    expect(errorOf(msgs)).toMatchObject({ severity: "FATAL", code: "08P01" });
    await expectNoUpstream("bad-after-good");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target WHERE id = 77")).toBe(told ? "1\n" : "0\n");
    await pg.psql("DELETE FROM public.copy_target");
    await expectGatewayHealthy();
  });
});

describe("truncated frames, then the client leaves", () => {
  test("a Query cut short, then the client vanishes: the session ends and its upstream goes", async () => {
    const c = await rawSession("app", "bad-truncated-vanish", false);
    await c.write(frame("Q", "SELECT 1\0").subarray(0, 8));
    // Pacing, not waiting for an event: the partial frame should arrive before the close.
    await Bun.sleep(100);
    c.destroy();
    await expectNoUpstream("bad-truncated-vanish");
    await expectGatewayHealthy();
  });

  test("a Query cut short, then a half-close: the gateway closes too", async () => {
    const c = await rawSession("app", "bad-truncated-end", false);
    await c.write(frame("Q", "SELECT 1\0").subarray(0, 3));
    c.end();
    expect(await c.readToClose()).toEqual([]);
    await expectNoUpstream("bad-truncated-end");
    await expectGatewayHealthy();
  });

  test("a Query cut short stays pending: the session goes on when the rest arrives", async () => {
    const c = await rawSession("app", "split-query", false);
    const q = encodeQuery("SELECT 'whole at last'");
    // Pacing, not waiting for an event: each piece should reach the gateway in its own read.
    await c.write(q.subarray(0, 4));
    await Bun.sleep(50);
    await c.write(q.subarray(4, 11));
    await Bun.sleep(50);
    await c.write(q.subarray(11));
    const msgs = await c.readUntilReady();
    expect(rowsOf(msgs)).toEqual([["whole at last"]]);
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    expect(await c.readToClose()).toEqual([]);
    await expectNoUpstream("split-query");
    await expectGatewayHealthy();
  });
});

describe("a client that vanishes mid-COPY FROM STDIN", () => {
  const rows = (from: number, n: number) => Array.from({ length: n }, (_, i) => `${from + i}\tpartial ${from + i}\n`).join("");

  async function startCopy(app: string, begin: boolean): Promise<RawPgClient> {
    const c = await rawSession("app", app, false);
    if (begin) {
      await c.write(encodeQuery("BEGIN"));
      expect((await c.readUntilReady()).at(-1)!.message).toEqual({ type: "ReadyForQuery", status: "T" });
    }
    await c.write(encodeQuery("COPY public.copy_target FROM STDIN"));
    const m = await c.readMessage();
    expect(m === null ? "nothing" : describeMessage(m)).toBe("CopyInResponse");
    return c;
  }

  /** Sends CopyData for 3000 rows and waits until the upstream backend has taken them in. */
  async function sendRows(c: RawPgClient, app: string): Promise<void> {
    for (let i = 0; i < 3; i++) await c.write(encodeFrontendMessage({ type: "CopyData", data: new TextEncoder().encode(rows(i * 1000, 1000)) }));
    // The data reached the server when its backend is still in COPY and idle on the client (waiting for more).
    await waitFor(
      `the upstream backend of ${app} to have taken the rows in and wait for more`,
      async () => (await pg.psql(`SELECT wait_event FROM pg_stat_activity WHERE application_name = '${app}'`)).trim() === "ClientRead",
    );
  }

  test("CopyData, then the socket closes: nothing commits", async () => {
    const c = await startCopy("bad-copy-vanish", false);
    await sendRows(c, "bad-copy-vanish");
    c.destroy();
    await expectNoUpstream("bad-copy-vanish");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target")).toBe("0\n");
    await expectGatewayHealthy();
  });

  test("CopyData inside BEGIN, then a half-close: nothing commits", async () => {
    const c = await startCopy("bad-copy-end", true);
    await sendRows(c, "bad-copy-end");
    c.end();
    await c.waitClosed();
    await expectNoUpstream("bad-copy-end");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target")).toBe("0\n");
    await expectGatewayHealthy();
  });

  test("CopyData, then a CopyData frame cut short, then the socket closes: nothing commits", async () => {
    const c = await startCopy("bad-copy-truncated", false);
    await sendRows(c, "bad-copy-truncated");
    await c.write(encodeFrontendMessage({ type: "CopyData", data: new TextEncoder().encode(rows(5000, 10)) }).subarray(0, 40));
    // Pacing, not waiting for an event: the cut frame should arrive before the close.
    await Bun.sleep(50);
    c.destroy();
    await expectNoUpstream("bad-copy-truncated");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target")).toBe("0\n");
    await expectGatewayHealthy();
  });

  test("CopyData, then a malformed frame: FATAL 08P01 and nothing commits", async () => {
    const c = await startCopy("bad-copy-garbage", false);
    await sendRows(c, "bad-copy-garbage");
    await c.write(frame("\u0007", "garbage"));
    await expectFatalThenClose(c, "08P01", /^invalid message from the client: unknown client message type/);
    await expectNoUpstream("bad-copy-garbage");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target")).toBe("0\n");
    loggedIn.at(-1)!.endedWithError = true;
    await expectGatewayHealthy();
  });

  test("CopyData above max_message_size: FATAL 54000 and nothing commits", async () => {
    const c = await startCopy("bad-copy-huge", false);
    await sendRows(c, "bad-copy-huge");
    await c.write(frame("d", rows(9000, 10), MAX_MESSAGE + 1));
    await expectFatalThenClose(c, "54000", /^message of 1048577 bytes exceeds the limit 1048576 \(max_message_size of target sales-db\)$/);
    await expectNoUpstream("bad-copy-huge");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target")).toBe("0\n");
    loggedIn.at(-1)!.endedWithError = true;
    await expectGatewayHealthy();
  });

  test("for contrast: a COPY that ends with CopyDone commits", async () => {
    const c = await startCopy("good-copy", false);
    await c.write(encodeFrontendMessages([{ type: "CopyData", data: new TextEncoder().encode(rows(1, 3)) }, { type: "CopyDone" }]));
    const msgs = await c.readUntilReady();
    expect(msgs.map((m) => m.message.type === "CommandComplete" && m.message.tag)).toContain("COPY 3");
    expect(await pg.psql("SELECT count(*) FROM public.copy_target")).toBe("3\n");
    await pg.psql("DELETE FROM public.copy_target");
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    await c.waitClosed();
  });
});

describe("protocol refusals", () => {
  test("GSSENCRequest is answered 'N' and the startup goes on, as PostgreSQL without GSSAPI does", async () => {
    const c = await rawConnect();
    await c.write(encodeGSSENCRequest());
    expect(await c.readByte()).toBe(0x4e);
    // libpq then tries SSLRequest on the same connection (this target has no TLS: 'N' again), then the StartupMessage.
    await c.write(encodeSSLRequest());
    expect(await c.readByte()).toBe(0x4e);
    await c.login("app", tokens["app"]!, { application_name: "gssenc-then-login" });
    loggedIn.push({ remote: c.remote, app: "gssenc-then-login", endedWithError: false });
    await c.write(encodeQuery("SELECT 'after gssenc'"));
    expect(rowsOf(await c.readUntilReady())).toEqual([["after gssenc"]]);
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    await c.waitClosed();
    await expectGatewayHealthy();
  });

  test("bytes sent after GSSENCRequest before its answer are refused (CVE-2021-23214)", async () => {
    const c = await rawConnect();
    await c.write(concat(encodeGSSENCRequest(), encodeStartupMessage({ user: "app", database: "sales-db" })));
    const first = await c.readByte();
    // The gateway may answer the request before it sees the extra bytes, or refuse at once.
    if (first === 0x4e) await expectFatalThenClose(c, "08P01", /bytes arrived after GSSENCRequest before the server answered it/);
    else expect(first).toBe(0x45); // 'E': the FATAL right away
    await c.waitClosed();
    await expectGatewayHealthy();
  });

  for (const replication of ["database", "true"]) {
    test(`replication=${replication} is refused with FATAL before any password is asked`, async () => {
      const c = await rawConnect();
      await c.write(encodeStartupMessage({ user: "app", database: "sales-db", replication }));
      await expectFatalThenClose(c, "08P01", /^replication connections are not supported$/);
      await expectGatewayHealthy();
    });
  }

  test("a wrong token: FATAL 28P01, and an auth.rejected record", async () => {
    const c = await rawConnect();
    await c.write(encodeStartupMessage({ user: "mallory", database: "sales-db" }));
    expect((await c.readMessage())?.message.type).toBe("AuthenticationCleartextPassword");
    await c.write(encodePasswordMessage("not-a-token"));
    await expectFatalThenClose(c, "28P01", /^authentication failed/);
    await waitForAudit((all) => all.some((r) => r.type === "auth.rejected" && (r.details as { remote?: string }).remote === c.remote), `auth.rejected for ${c.remote}`);
    await expectGatewayHealthy();
  });
});

describe("FunctionCall", () => {
  let int4pl = 0;
  let readFile = 0;
  const fcall = (oid: number, args: string[]) =>
    encodeFrontendMessage({
      type: "FunctionCall",
      functionOid: oid,
      argumentFormats: [0],
      arguments: args.map((a) => new TextEncoder().encode(a)),
      resultFormat: 0,
    });

  beforeAll(async () => {
    int4pl = Number((await pg.psql("SELECT 'int4pl(int4,int4)'::regprocedure::oid")).trim());
    readFile = Number((await pg.psql("SELECT 'pg_read_file(text)'::regprocedure::oid")).trim());
  });

  test("refused for an identity no rule allows it to, with 42501; the session goes on", async () => {
    const c = await rawSession("reader", "fcall-reader", false);
    await c.write(fcall(int4pl, ["1", "2"]));
    const msgs = await c.readUntilReady();
    expect(msgs.map((m) => m.type)).toEqual(["E", "Z"]);
    expect(errorOf(msgs)).toMatchObject({ severity: "ERROR", code: "42501", message: "no rule allows this request" });
    await c.write(encodeQuery("SELECT count(*) FROM sales.customers"));
    expect(rowsOf(await c.readUntilReady())).toEqual([["2"]]);
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    await c.waitClosed();
    await expectGatewayHealthy();
  });

  test("allowed where a rule allows it: FunctionCallResponse, then the session goes on", async () => {
    const c = await rawSession("app", "fcall-app", false);
    await c.write(fcall(int4pl, ["40", "2"]));
    const msgs = await c.readUntilReady();
    expect(msgs.map((m) => m.type)).toEqual(["V", "Z"]);
    const v = msgs[0]!.message;
    expect(v.type === "FunctionCallResponse" && v.result !== null ? new TextDecoder().decode(v.result) : null).toBe("42");
    await c.write(encodeQuery("SELECT 'usable'"));
    expect(rowsOf(await c.readUntilReady())).toEqual([["usable"]]);
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    await c.waitClosed();
    await expectGatewayHealthy();
  });

  test("a dangerous function and an unknown OID are refused even where everything is allowed; inside BEGIN a refusal fails the transaction", async () => {
    const c = await rawSession("app", "fcall-refused", false);
    await c.write(fcall(readFile, ["postgresql.conf"]));
    let msgs = await c.readUntilReady();
    expect(msgs.map((m) => m.type)).toEqual(["E", "Z"]);
    expect(errorOf(msgs)).toMatchObject({ code: "42501", message: expect.stringContaining("function pg_catalog.pg_read_file is denied") });

    await c.write(fcall(4_000_000_000, []));
    msgs = await c.readUntilReady();
    expect(errorOf(msgs)).toMatchObject({ code: "42501", message: "FunctionCall of function OID 4000000000 is denied: the gateway cannot name that function" });

    await c.write(encodeQuery("BEGIN"));
    await c.readUntilReady();
    await c.write(fcall(readFile, ["postgresql.conf"]));
    msgs = await c.readUntilReady();
    expect(errorOf(msgs)).toMatchObject({ code: "42501", message: expect.stringContaining("function pg_catalog.pg_read_file is denied") });
    expect(msgs.at(-1)!.message).toEqual({ type: "ReadyForQuery", status: "E" });
    await c.write(encodeQuery("SELECT 1"));
    msgs = await c.readUntilReady();
    expect(errorOf(msgs)?.code).toBe("25P02");
    await c.write(encodeQuery("ROLLBACK"));
    msgs = await c.readUntilReady();
    expect(msgs.at(-1)!.message).toEqual({ type: "ReadyForQuery", status: "I" });
    await c.write(encodeQuery("SELECT 'usable'"));
    expect(rowsOf(await c.readUntilReady())).toEqual([["usable"]]);
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    await c.waitClosed();

    const denied = (await records()).filter(
      (r) => r.type === "decision" && r.decision?.effect === "deny" && (r.action as { classes?: string[] }).classes?.includes("function_call"),
    );
    expect(denied.map((r) => String(r.decision!.rule)).sort()).toEqual(["builtin:dangerous-function", "builtin:dangerous-function", "builtin:unknown-function", "null"]);
    await expectGatewayHealthy();
  });

  test("after an allowed FunctionCall the gateway still tracks answers: a refusal keeps its message, masks still apply, statements are audited", async () => {
    const c = await rawSession("fcaller", "fcall-then-more", false);
    await c.write(fcall(int4pl, ["1", "1"]));
    expect((await c.readUntilReady()).map((m) => m.type)).toEqual(["V", "Z"]);
    await c.write(fcall(readFile, ["postgresql.conf"]));
    const refused = await c.readUntilReady();
    await c.write(encodeQuery("SELECT id, email FROM sales.customers ORDER BY id"));
    const rows = rowsOf(await c.readUntilReady());
    await c.write(encodeFrontendMessage({ type: "Terminate" }));
    await c.waitClosed();
    // The mask first: a leak of the masked column is the worst outcome.
    expect(rows).toEqual([["1", "[masked]"], ["2", "[masked]"]]);
    expect(errorOf(refused)).toMatchObject({ code: "42501", message: expect.stringContaining("function pg_catalog.pg_read_file is denied") });
    const all = await waitForAudit((recs) => recs.some((r) => r.type === "session.end" && r.session === sessionOf(recs, c.remote, "fcall-then-more")), `session.end of ${c.remote}`);
    const session = sessionOf(all, c.remote, "fcall-then-more");
    const statements = statementsOf(all, session);
    expect(statements.map((r) => detail(r, "tag"))).toEqual(["FUNCTION CALL", "SELECT 2"]);
    await expectGatewayHealthy();
  });
});

describe("max_message_size", () => {
  /** A Query message of exactly `length` (the length field), a SELECT of a long literal. */
  const queryOfLength = (length: number) => {
    const head = "SELECT length('";
    const tail = "')";
    const filler = length - 4 - 1 - head.length - tail.length;
    return encodeQuery(head + "x".repeat(filler) + tail);
  };

  test("a Query of exactly the maximum passes; one byte more gets FATAL 54000", async () => {
    const c = await rawSession("app", "max-size", true);
    const ok = queryOfLength(MAX_MESSAGE);
    expect(new DataView(ok.buffer).getUint32(1)).toBe(MAX_MESSAGE);
    await c.write(ok);
    const msgs = await c.readUntilReady(30_000);
    expect(errorOf(msgs)).toBeUndefined();
    expect(rowsOf(msgs)).toEqual([[String(MAX_MESSAGE - 4 - 1 - "SELECT length('')".length)]]);
    await c.write(queryOfLength(MAX_MESSAGE + 1));
    await expectFatalThenClose(c, "54000", /^message of 1048577 bytes exceeds the limit 1048576 \(max_message_size of target sales-db\)$/);
    await expectNoUpstream("max-size");
    await expectGatewayHealthy();
  });

  test("psql sending a 2 MB query gets FATAL 54000 with the reason", async () => {
    const proc = Bun.spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(port), "-U", "app", "-d", "sales-db", "-f", "-"], {
      env: clientEnv(tokens["app"]!, { PGAPPNAME: "max-size-psql" }),
      stdin: new TextEncoder().encode(`SELECT 'before';\nSELECT length('${"z".repeat(2 * 1024 * 1024)}');\n`),
      stdout: "pipe",
      stderr: "pipe",
    });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect(stdout).toContain("before");
    expect(stderr).toMatch(/FATAL:  message of 2097\d{3} bytes exceeds the limit 1048576 \(max_message_size of target sales-db\)/);
    expect(code).not.toBe(0);
    await expectNoUpstream("max-size-psql");
    await expectGatewayHealthy();
  });

  test("the npm driver sending a 2 MB parameter gets an error, not a hang", async () => {
    const sql = postgres({ host: "127.0.0.1", port, user: "app", password: tokens["app"]!, database: "sales-db", max: 1, fetch_types: false, connection: { application_name: "max-size-driver" }, onnotice: () => {} });
    try {
      const [small] = await sql`SELECT length(${"y".repeat(1000)}::text) AS n`;
      expect({ ...small }).toEqual({ n: 1000 });
      // The gateway answers FATAL 54000 and closes (as the psql and raw cases read); this driver keeps an
      // ErrorResponse until ReadyForQuery, so it reports the close instead of the FATAL's text.
      const err = await sql`SELECT length(${"y".repeat(2 * 1024 * 1024)}::text) AS n`.then(
        () => null,
        (e: { code?: string }) => e,
      );
      expect(err?.code === "54000" || err?.code === "CONNECTION_CLOSED").toBe(true);
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
    await expectNoUpstream("max-size-driver");
    await expectGatewayHealthy();
  });
});

describe("at the end", () => {
  test("the long-lived session still works, then ends cleanly", async () => {
    await expectGatewayHealthy();
    await keeper.end({ timeout: 5 });
    await expectNoUpstream("keeper");
  });

  test("no socket of the bad clients is left open in the gateway", async () => {
    for (const c of rawClients) if (!c.closed) c.destroy();
    // Slack for what opens lazily (the catalog connection, an audit segment); a leak would be one per bad client, dozens.
    let fds = openFds();
    await waitFor(`the gateway's open descriptors to fall back to at most ${baselineFds + 4}`, () => (fds = openFds()) <= baselineFds + 4, { intervalMs: 100 }).catch((e: Error) => {
      throw new Error(`${e.message} (${fds} open)`);
    });
  });

  test("the audit log verifies and holds every session's start and end", async () => {
    // Close what a failed test may have left open, so that every session can end.
    for (const c of rawClients) if (!c.closed) c.destroy();
    const all = await waitForAudit((recs) => {
      const ends = new Set(recs.filter((r) => r.type === "session.end").map((r) => r.session));
      return recs.filter((r) => r.type === "session.start").every((r) => ends.has(r.session));
    }, "a session.end for every session.start");

    const starts = all.filter((r) => r.type === "session.start");
    const ends = all.filter((r) => r.type === "session.end");
    const endOf = (session: string | undefined) => ends.filter((r) => r.session === session);

    // Every raw client that logged in: one start (found by its address) and one end, with the error where the gateway ended it.
    for (const c of loggedIn) {
      const mine = starts.filter((r) => isStartOf(r, c.remote, c.app));
      expect({ app: c.app, starts: mine.length }).toEqual({ app: c.app, starts: 1 });
      const end = endOf(mine[0]!.session);
      expect({ app: c.app, ends: end.length }).toEqual({ app: c.app, ends: 1 });
      const error = (end[0]!.details as { error?: string }).error;
      expect({ app: c.app, endedWithError: typeof error === "string" && error.length > 0 }).toEqual({ app: c.app, endedWithError: c.endedWithError });
    }

    // The long-lived session: one start, every keepalive statement recorded as complete, one end without error.
    const keeperStart = starts.filter((r) => (r.details as { parameters?: Record<string, string> }).parameters?.["application_name"] === "keeper");
    expect(keeperStart.length).toBe(1);
    const session = keeperStart[0]!.session;
    const keepalives = statementsOf(all, session).filter((r) => (r.action as { sql?: string } | undefined)?.sql?.includes("'keepalive'"));
    expect(keepalives.length).toBe(keeperQueries);
    expect(keepalives.every((r) => detail(r, "outcome") === "complete")).toBe(true);
    expect(endOf(session).length).toBe(1);
    expect((endOf(session)[0]!.details as { error?: string }).error).toBeUndefined();

    // The fresh psql sessions: each started and ended.
    const fresh = starts.filter((r) => (r.details as { parameters?: Record<string, string> }).parameters?.["application_name"] === "fresh-psql");
    expect(fresh.length).toBe(freshSessions);
    for (const r of fresh) expect(endOf(r.session).length).toBe(1);

    const v = await runCli(["verify", gw.auditPath]);
    expect({ code: v.code, stderr: v.stderr }).toEqual({ code: 0, stderr: "" });
  });
});

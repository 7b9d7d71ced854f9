// The client's startup phase against a raw socket: TLS requests, credentials, garbage, cancel
// requests, plaintext refusal, startup parameters and client_encoding.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { listenConnections, type ConnectionListener } from "../../../gate/connection.ts";
import type { Identity } from "../../../core/types.ts";
import { parseAuthentication, parseNoticeFields } from "../protocol/backend-decoder.ts";
import { encodeCancelRequest, encodeGSSENCRequest, encodePasswordMessage, encodeSSLRequest, encodeStartupMessage } from "../protocol/encode.ts";
import { waitFor } from "../../../../test/helpers/wait.ts";
import { StartupRefusal, checkParameters, runClientStartup, type StartupOptions, type StartupOutcome } from "./startup.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "dev", groups: [] };
let server: ConnectionListener;
let port: number;
let options: Partial<StartupOptions> = {};
const outcomes: StartupOutcome[] = [];
const rejected: unknown[] = [];

beforeAll(async () => {
  server = listenConnections("127.0.0.1", 0, (s) => {
    void runClientStartup(s, {
      targetName: "db",
      database: "app",
      tls: null,
      plaintextAllowed: true,
      listen: "127.0.0.1:0",
      maxMessageSize: 1024,
      timeoutMs: 5_000,
      authenticate: async (c) => {
        if (c === "good") return alice;
        throw new Error("token signature does not verify");
      },
      onAuthRejected: async (e) => void rejected.push(e),
      ...options,
    }).then((o) => {
      outcomes.push(o);
      if (o.kind === "session") o.socket.end();
    });
  });
  port = server.port;
});
afterAll(() => server.stop());

/** Sends bytes in order (each after the previous answer arrived) and returns everything the server sent until it closed. */
async function converse(...sends: Uint8Array[]): Promise<Uint8Array> {
  const sock: Socket = connect(port, "127.0.0.1");
  const chunks: Uint8Array[] = [];
  let closed = false;
  sock.on("data", (c: Buffer) => chunks.push(c));
  sock.on("close", () => (closed = true));
  await new Promise<void>((r) => sock.once("connect", () => r()));
  for (const [i, s] of sends.entries()) {
    const before = chunks.length;
    sock.write(s);
    // Every message here is answered, or ends the conversation.
    await waitFor(`the server's answer to message ${i + 1} of ${sends.length}, or its close`, () => closed || chunks.length > before, { intervalMs: 2 });
  }
  await waitFor("the server to close the connection", () => closed, { intervalMs: 2 });
  return Buffer.concat(chunks);
}

/** The messages of a server byte stream (after any one-byte TLS answers). */
function messages(b: Uint8Array): { type: string; body: Uint8Array }[] {
  const out: { type: string; body: Uint8Array }[] = [];
  let i = 0;
  while (i < b.length && (b[i] === 0x4e || b[i] === 0x53) && (i + 1 >= b.length || b[i + 1] !== 0)) {
    out.push({ type: `answer:${String.fromCharCode(b[i]!)}`, body: new Uint8Array(0) });
    i++;
  }
  while (i + 5 <= b.length) {
    const len = (b[i + 1]! << 24) | (b[i + 2]! << 16) | (b[i + 3]! << 8) | b[i + 4]!;
    out.push({ type: String.fromCharCode(b[i]!), body: b.subarray(i + 5, i + 1 + len) });
    i += 1 + len;
  }
  return out;
}

const startup = (params: Record<string, string>) => encodeStartupMessage(params);
const fatal = (b: Uint8Array) => parseNoticeFields(messages(b).find((m) => m.type === "E")!.body);

test("SSLRequest and GSSENCRequest are refused with 'N' when there is no TLS, then the login goes on", async () => {
  const got = await converse(encodeSSLRequest(), encodeGSSENCRequest(), startup({ user: "u", database: "db" }), encodePasswordMessage("good"));
  const ms = messages(got);
  expect(ms[0]!.type).toBe("answer:N");
  expect(ms[1]!.type).toBe("answer:N");
  expect(parseAuthentication(ms[2]!.body).type).toBe("AuthenticationCleartextPassword");
  const o = outcomes.at(-1)!;
  expect(o.kind).toBe("session");
  if (o.kind === "session") {
    expect(o.identity).toEqual(alice);
    expect(o.upstreamParameters).toEqual(new Map());
  }
});

test("a bad credential is refused with 28P01 and reported; an empty one with 28000", async () => {
  const bad = await converse(startup({ user: "u", database: "app" }), encodePasswordMessage("forged"));
  expect(fatal(bad)).toMatchObject({ severity: "FATAL", code: "28P01", message: "authentication failed: token signature does not verify" });
  expect(rejected.length).toBe(1);
  const empty = await converse(startup({ user: "u", database: "app" }), encodePasswordMessage(""));
  expect(fatal(empty)).toMatchObject({ code: "28000" });
  expect(rejected.at(-1)).toBeNull();
});

test("a refused login whose audit record cannot be written says so (58030), not only that the credential was bad", async () => {
  options = {
    onAuthRejected: async () => {
      throw new Error("audit log write failed: ENOSPC");
    },
  };
  try {
    const bad = fatal(await converse(startup({ user: "u", database: "app" }), encodePasswordMessage("forged")));
    expect(bad).toMatchObject({ severity: "FATAL", code: "58030" });
    expect(bad.message).toContain("audit log unavailable, login refused: audit log write failed: ENOSPC");
    const empty = fatal(await converse(startup({ user: "u", database: "app" }), encodePasswordMessage("")));
    expect(empty.code).toBe("58030");
  } finally {
    options = {};
  }
});

test("garbage before startup, and an oversized password message, end with a clear FATAL", async () => {
  expect(fatal(await converse(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))).code).toBe("08P01");
  const huge = new Uint8Array(5 + 4000);
  huge.set([0x70, 0, 0, 0x0f, 0xa4]);
  const f = fatal(await converse(startup({ user: "u", database: "app" }), huge));
  expect(f.code).toBe("54000");
  expect(f.message).toContain("exceeds the limit 1024");
});

test("a CancelRequest is handed over without a reply", async () => {
  const got = await converse(encodeCancelRequest(77, new Uint8Array([1, 2, 3, 4])));
  expect(got.length).toBe(0);
  expect(outcomes.at(-1)).toMatchObject({ kind: "cancel", processId: 77 });
});

test("plaintext is refused where the target does not allow it", async () => {
  options = { plaintextAllowed: false };
  try {
    const f = fatal(await converse(startup({ user: "u", database: "app" })));
    expect(f.code).toBe("28000");
    expect(f.message).toContain("requires TLS");
  } finally {
    options = {};
  }
});

test("startup parameters: replication, options and unknown settings are refused; the database must be the target's", () => {
  const opts = { targetName: "db", database: "app" };
  const ok = checkParameters(new Map([["user", "u"], ["database", "db"], ["application_name", "psql"], ["client_encoding", "UTF8"], ["_pq_.x", "1"]]), opts);
  expect(ok).toEqual(new Map([["application_name", "psql"], ["client_encoding", "UTF8"]]));
  expect(checkParameters(new Map([["user", "app"]]), opts)).toBeInstanceOf(Map);
  const refusals: [Record<string, string>, string][] = [
    [{ user: "u", database: "db", replication: "database" }, "08P01"],
    [{ user: "u", database: "db", options: "-c search_path=evil" }, "0A000"],
    [{ user: "u", database: "db", search_path: "evil" }, "0A000"],
    [{ user: "u", database: "other" }, "3D000"],
    [{ database: "db" }, "28000"],
  ];
  for (const [params, code] of refusals) {
    const r = checkParameters(new Map(Object.entries(params)), opts);
    expect({ params, code: r instanceof Map ? "accepted" : r.code }).toEqual({ params, code });
  }
  expect(checkParameters(new Map([["user", "u"], ["database", "db"], ["replication", "false"]]), opts)).toBeInstanceOf(Map);
});

test("client_encoding: UTF8 under any of PostgreSQL's spellings (SQL_ASCII, which psql sends in the C locale, too) goes upstream as UTF8; any other is refused", () => {
  const opts = { targetName: "db", database: "app" };
  for (const v of ["UTF8", "utf8", "UTF-8", "utf_8", "Unicode", "SQL_ASCII", "sql-ascii"]) {
    const r = checkParameters(new Map([["user", "u"], ["database", "db"], ["client_encoding", v]]), opts);
    expect({ v, got: r instanceof Map ? r.get("client_encoding") : r.message }).toEqual({ v, got: "UTF8" });
  }
  for (const v of ["SJIS", "Shift_JIS", "GBK", "BIG5", "GB18030", "UHC", "JOHAB", "LATIN1", "WIN1252", "EUC_JP", "", "auto"]) {
    const r = checkParameters(new Map([["user", "u"], ["database", "db"], ["client_encoding", v]]), opts);
    expect(r).toBeInstanceOf(StartupRefusal);
    if (r instanceof StartupRefusal) {
      expect(r.code).toBe("0A000");
      expect(r.message).toStartWith('startup parameter "client_encoding" is refused');
    }
  }
  // Settings inside "options" (-c client_encoding=…, -c standard_conforming_strings=off) never reach the server.
  for (const o of ["-c client_encoding=SJIS", "-c standard_conforming_strings=off", "--client_encoding=GBK", "-cstandard_conforming_strings=off"]) {
    const r = checkParameters(new Map([["user", "u"], ["database", "db"], ["options", o]]), opts);
    expect(r instanceof StartupRefusal ? r.code : "accepted").toBe("0A000");
  }
  // Nor do they under another spelling of the parameter name.
  for (const k of ["Client_Encoding", "standard_conforming_strings", "STANDARD_CONFORMING_STRINGS"]) {
    const r = checkParameters(new Map([["user", "u"], ["database", "db"], [k, "x"]]), opts);
    expect(r instanceof StartupRefusal ? r.code : "accepted").toBe("0A000");
  }
});

test("a client_encoding other than UTF8 is refused with a FATAL before the password is asked for", async () => {
  const got = await converse(startup({ user: "u", database: "app", client_encoding: "SJIS" }));
  expect(messages(got).map((m) => m.type)).toEqual(["E"]);
  expect(fatal(got)).toMatchObject({ severity: "FATAL", code: "0A000" });
  expect(fatal(got).message).toContain('(got "SJIS")');
});

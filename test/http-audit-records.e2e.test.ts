// End to end, with raw sockets, what the HTTP target's audit records say: requests refused
// before any decision (a path some upstream could read differently, a head over the gateway's
// limits) get a JSON body that says why and leave a record, with nothing forwarded; query
// strings are recorded with the values of secret-looking parameters redacted. And heads the
// listener's own parser refuses (the runtime's parser answered those with a bare status once).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { AuditRecord } from "../src/audit/record.ts";
import { type GatewayProcess, auditRecordsWhen, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";
import { requestsOf } from "./helpers/audit-completions.ts";

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let gwPort: number;
let token: string;
const seen: string[] = [];

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    fetch(req) {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      return Response.json({ ok: true });
    },
  });
  gw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": httpGatewayYaml({
        adminPort: 0,
        listen: "127.0.0.1:0",
        upstream: `http://127.0.0.1:${upstream.port}`,
        target: ["redact_query: [sid]"],
        rules: `
  - name: developers-read
    groups: [developers]
    http: { methods: [GET, POST], paths: ["/**"] }
    effect: allow
  - name: no-admin
    http: { paths: ["/admin", "/admin/**"] }
    effect: deny
`,
      }),
    },
  });
  gwPort = gw.port("api");
  const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "alice", "--groups", "developers", "--ttl", "30m"]);
  expect(r.code).toBe(0);
  token = r.stdout.trim();
}, 30_000);

afterAll(() => {
  gw?.cleanup();
  upstream?.stop(true);
});

/** Writes `text` on a fresh connection and reads until the gateway closes it. */
function exchange(text: string | Uint8Array): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect(gwPort, "127.0.0.1", () => sock.write(text));
    sock.on("data", (d: Buffer) => chunks.push(d));
    sock.on("error", reject);
    sock.on("close", () => {
      const all = Buffer.concat(chunks).toString("latin1");
      const at = all.indexOf("\r\n\r\n");
      const head = at < 0 ? all : all.slice(0, at);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(all);
      resolve({ status: m ? Number(m[1]) : 0, head, body: at < 0 ? "" : all.slice(at + 4) });
    });
  });
}

const request = (target: string, extra = "") => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${gwPort}\r\nAuthorization: Bearer ${token}\r\n${extra}Connection: close\r\n\r\n`;
const records = (ok: (all: AuditRecord[]) => boolean, what: string) => auditRecordsWhen(gw.auditPath, ok, what);

test("a path with overlong UTF-8 is refused with 400, a JSON reason and a request.refused record", async () => {
  seen.length = 0;
  const r = await exchange(request("/api/..%c0%afadmin?x=1"));
  expect(r.status).toBe(400);
  const body = JSON.parse(r.body) as { error: string; reason: string; message: string };
  expect(body.error).toBe("bad_request");
  expect(body.reason).toBe("bad_path");
  expect(body.message).toContain("not well-formed UTF-8: an overlong form");
  const all = await records((a) => a.some((x) => x.type === "request.refused" && (x.details as { reason?: string } | undefined)?.reason === "bad_path"), "a request.refused record for the overlong path");
  const rec = all.find((x) => x.type === "request.refused")!;
  expect(rec.identity?.subject).toBe("alice");
  expect(rec.action).toMatchObject({ kind: "http", method: "GET", path: "/api/..%c0%afadmin" });
  expect(String((rec.details as { message: string }).message)).toContain("overlong");
  expect(all.some((x) => x.type === "decision" && (x.action as { path?: string } | undefined)?.path?.includes("%c0"))).toBe(false);
  expect(seen).toEqual([]);
});

test("query strings are recorded with secret-looking values redacted, names kept; the upstream gets them as sent", async () => {
  seen.length = 0;
  const query = "page=2&token=SECRET-A&%74oken=SECRET-B&Access_Token=SECRET-C&sid=SECRET-D&x-amz-signature=SECRET-E&pass+word=SECRET-F&token=SECRET-G";
  const r = await exchange(request(`/api/reports?${query}`));
  expect(r.status).toBe(200);
  expect(seen).toEqual([`GET /api/reports?${query}`]);
  const recorded = "page=2&token=REDACTED&%74oken=REDACTED&Access_Token=REDACTED&sid=REDACTED&x-amz-signature=REDACTED&pass+word=REDACTED&token=REDACTED";
  // Its completion in either form: a request record (its own action), or an entry of the connection's next decision record (read with its decision's action).
  const doneIn = (a: AuditRecord[]) => requestsOf(a).find((c) => (c.action as { path?: string } | undefined)?.path === "/api/reports");
  const all = await records((a) => doneIn(a) !== undefined, "the completion of /api/reports");
  const decision = all.find((x) => x.type === "decision" && (x.action as { path?: string }).path === "/api/reports")!;
  const done = doneIn(all)!;
  expect(decision.action).toEqual({ kind: "http", method: "GET", path: "/api/reports", query: recorded });
  expect(done.session).toBe(decision.session!);
  expect(done.action).toEqual({ kind: "http", method: "GET", path: "/api/reports", query: recorded });
  expect(done.details).toMatchObject({ status: 200, outcome: "ok" });

  // A refusal records the query too, redacted.
  const noAuth = await exchange(`GET /api/reports?token=SECRET-H&page=3 HTTP/1.1\r\nHost: 127.0.0.1:${gwPort}\r\nConnection: close\r\n\r\n`);
  expect(noAuth.status).toBe(401);
  const after = await records((a) => a.some((x) => x.type === "auth.rejected" && (x.action as { query?: string } | undefined)?.query !== undefined), "an auth.rejected record with a query");
  expect(after.find((x) => x.type === "auth.rejected")!.action).toMatchObject({ path: "/api/reports", query: "token=REDACTED&page=3" });
  expect(readFileSync(gw.auditPath, "utf8")).not.toContain("SECRET-");
});

const refusedRecord = (reason: string) =>
  records((a) => a.some((x) => x.type === "request.refused" && (x.details as { reason?: string } | undefined)?.reason === reason), `a request.refused record with reason ${reason}`);

test("a head over the gateway's size limit (but under the runtime's) gets 431 with a JSON reason and a record", async () => {
  seen.length = 0;
  const r = await exchange(request("/api/x?token=SECRET-BIG&q=1", `X-Big: ${"a".repeat(20_000)}\r\n`));
  expect(r.status).toBe(431);
  const body = JSON.parse(r.body) as { error: string; reason: string; message: string };
  expect(body).toMatchObject({ error: "header_fields_too_large", reason: "head_too_large" });
  expect(body.message).toMatch(/^request header fields too large: the request line and headers take about \d+ bytes; the gateway takes at most 16384$/);
  const rec = (await refusedRecord("head_too_large")).find((x) => x.type === "request.refused" && (x.details as { reason?: string }).reason === "head_too_large")!;
  expect(rec.details).toMatchObject({ message: body.message });
  expect(rec.action).toEqual({ kind: "http", method: "GET", path: "/api/x", query: "token=REDACTED&q=1" });
  expect(readFileSync(gw.auditPath, "utf8")).not.toContain("SECRET-");
  expect(seen).toEqual([]);
});

test("a Content-Length over the runtime's 128 MB default reaches the gateway: a denied path gets the gateway's 403, an allowed one is streamed upstream", async () => {
  seen.length = 0;
  const denied = await exchange(`POST /admin/import HTTP/1.1\r\nHost: 127.0.0.1:${gwPort}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 200000000\r\nConnection: close\r\n\r\nabc`);
  expect(denied.status).toBe(403);
  expect((JSON.parse(denied.body) as { error: string; rule: string }).rule).toBe("no-admin");
  expect(seen).toEqual([]);
  // Allowed: the head goes upstream while the body is still coming.
  const sock = connect(gwPort, "127.0.0.1", () =>
    sock.write(`POST /api/upload HTTP/1.1\r\nHost: 127.0.0.1:${gwPort}\r\nAuthorization: Bearer ${token}\r\nContent-Length: 200000000\r\n\r\nabc`),
  );
  sock.on("error", () => {});
  try {
    await waitFor("the upstream to see POST /api/upload while its body is still coming", () => seen.includes("POST /api/upload"));
  } finally {
    sock.destroy();
  }
});

// What Bun.serve's parser used to answer by itself, with a bare status, no reason and no record
// (a request target that does not start with "/", a malformed header, an unknown HTTP version,
// a head over its 64 KiB or ~198 fields): the target's own HTTP/1.1 listener
// (src/gate/http1-server.ts) reads every head, so each gets the gateway's JSON answer,
// Connection: close and a request.refused record, and nothing is forwarded.
test("requests the old runtime parser refused get the gateway's JSON reason and a record, and are never forwarded", async () => {
  seen.length = 0;
  const cases: { text: string; status: number; error: string; reason: string; message: RegExp; action?: object }[] = [
    {
      text: `GET \\admin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      status: 400,
      error: "bad_request",
      reason: "bad_target",
      message: /backslash/,
      action: { kind: "http", method: "GET", path: "\\admin" },
    },
    {
      text: `GET admin?token=SECRET-T HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      status: 400,
      error: "bad_request",
      reason: "bad_target",
      message: /must start with "\/"/,
      action: { kind: "http", method: "GET", path: "admin", query: "token=REDACTED" },
    },
    { text: `GET /api/x HTTP/2.0\r\nHost: x\r\nConnection: close\r\n\r\n`, status: 505, error: "http_version_not_supported", reason: "bad_version", message: /HTTP\/2\.0 is not supported/ },
    { text: `GET /api/x HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\nConnection: close\r\n\r\n`, status: 400, error: "bad_request", reason: "bad_request", message: /whitespace in its name or before its colon/ },
    {
      text: request("/api/x", `X-Big: ${"a".repeat(70_000)}\r\n`),
      status: 431,
      error: "header_fields_too_large",
      reason: "head_too_large",
      message: /^request header fields too large: the request line and headers take more than 65536 bytes; the gateway takes at most 16384$/,
    },
    {
      text: request("/api/x", Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join("")),
      status: 431,
      error: "header_fields_too_large",
      reason: "too_many_headers",
      message: /^request header fields too large: 203 header fields; the gateway takes at most 100$/,
    },
  ];
  for (const c of cases) {
    const r = await exchange(c.text);
    expect(r.status).toBe(c.status);
    expect(r.head.toLowerCase()).toContain("\r\nconnection: close");
    const body = JSON.parse(r.body) as { error: string; reason: string; message: string };
    expect(body).toMatchObject({ error: c.error, reason: c.reason });
    expect(body.message).toMatch(c.message);
    const all = await records(
      (a) => a.some((x) => x.type === "request.refused" && (x.details as { message?: string } | undefined)?.message === body.message),
      `the request.refused record of ${JSON.stringify(body.message)}`,
    );
    const rec = all.find((x) => x.type === "request.refused" && (x.details as { message?: string }).message === body.message)!;
    expect(rec.details).toEqual({ reason: c.reason, message: body.message });
    if (c.action !== undefined) expect(rec.action).toEqual(c.action);
  }
  expect(readFileSync(gw.auditPath, "utf8")).not.toContain("SECRET-");
  expect(seen).toEqual([]);
});

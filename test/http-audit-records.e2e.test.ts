// End to end, with raw sockets, what the HTTP target's audit records say: requests refused
// before any decision (a path some upstream could read differently) get a JSON body that says
// why and leave a record, with nothing forwarded; query strings are recorded with the values
// of secret-looking parameters redacted.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import type { AuditRecord } from "../src/audit/record.ts";
import { type GatewayProcess, auditRecordsWhen, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { freePort } from "./helpers/ports.ts";

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let gwPort: number;
let token: string;
const seen: string[] = [];

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      return Response.json({ ok: true });
    },
  });
  gwPort = await freePort();
  const adminPort = await freePort();
  gw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": httpGatewayYaml({
        adminPort,
        listen: `127.0.0.1:${gwPort}`,
        upstream: `http://127.0.0.1:${upstream.port}`,
        target: ["redact_query: [sid]"],
        rules: `
  - name: developers-read
    groups: [developers]
    http: { methods: [GET, POST], paths: ["/**"] }
    effect: allow
`,
      }),
    },
    adminPort,
    ports: [gwPort],
  });
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
  const all = await records((a) => a.some((x) => x.type === "request" && (x.action as { path?: string }).path === "/api/reports"), "the request record of /api/reports");
  const decision = all.find((x) => x.type === "decision" && (x.action as { path?: string }).path === "/api/reports")!;
  const done = all.find((x) => x.type === "request" && (x.action as { path?: string }).path === "/api/reports")!;
  expect(decision.action).toEqual({ kind: "http", method: "GET", path: "/api/reports", query: recorded });
  expect(done.action).toEqual({ kind: "http", method: "GET", path: "/api/reports", query: recorded });

  // A refusal records the query too, redacted.
  const noAuth = await exchange(`GET /api/reports?token=SECRET-H&page=3 HTTP/1.1\r\nHost: 127.0.0.1:${gwPort}\r\nConnection: close\r\n\r\n`);
  expect(noAuth.status).toBe(401);
  const after = await records((a) => a.some((x) => x.type === "auth.rejected" && (x.action as { query?: string } | undefined)?.query !== undefined), "an auth.rejected record with a query");
  expect(after.find((x) => x.type === "auth.rejected")!.action).toMatchObject({ path: "/api/reports", query: "token=REDACTED&page=3" });
  expect(readFileSync(gw.auditPath, "utf8")).not.toContain("SECRET-");
});

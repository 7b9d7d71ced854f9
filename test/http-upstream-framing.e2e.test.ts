// End to end: an upstream answer whose framing two HTTP readers could read differently (both
// Transfer-Encoding and Content-Length, a coding other than chunked, a bare LF line end) is not
// relayed: the gateway answers 502 and records an upstream error. fetch read all three and the
// gateway passed them on; its own client (src/gate/http1-client.ts) refuses them. Well-formed
// answers from the same raw upstream still pass, and the caller's keep-alive connection goes on.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TCPSocketListener } from "bun";
import { type GatewayProcess, auditRecordsWhen, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { requestsOf } from "./helpers/audit-completions.ts";
import { freePort } from "./helpers/ports.ts";

const ANSWERS: Record<string, string> = {
  "/ok": "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
  "/ok-chunked": "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  "/te-and-cl": "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\ncontent-length: 7\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  "/te-gzip-chunked": "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: gzip, chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
  "/bare-lf": "HTTP/1.1 200 OK\ncontent-type: text/plain\ncontent-length: 2\n\nok",
};

let upstream: TCPSocketListener<{ buf: string }>;
let gw: GatewayProcess;
let gwPort: number;
let token: string;

beforeAll(async () => {
  // A raw upstream: each request is answered with the hand-written bytes for its path.
  upstream = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buf: "" };
      },
      data(s, d) {
        s.data.buf += d.toString("latin1");
        let end: number;
        while ((end = s.data.buf.indexOf("\r\n\r\n")) !== -1) {
          const target = s.data.buf.slice(0, s.data.buf.indexOf("\r\n")).split(" ")[1] ?? "";
          s.data.buf = s.data.buf.slice(end + 4);
          s.write(ANSWERS[target] ?? "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        }
      },
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
        rules: `
  - name: developers-read
    groups: [developers]
    http: { methods: [GET], paths: ["/**"] }
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

const get = (path: string) => fetch(`http://127.0.0.1:${gwPort}${path}`, { headers: { authorization: `Bearer ${token}` } });

test("well-formed answers from the raw upstream are relayed", async () => {
  for (const path of ["/ok", "/ok-chunked", "/ok"]) {
    const r = await get(path);
    expect(`${path} ${r.status} ${await r.text()}`).toBe(`${path} 200 ok`);
  }
});

test("answers whose framing is ambiguous are refused with 502 and an upstream_error record, each time (a known route too)", async () => {
  for (const path of ["/te-and-cl", "/te-gzip-chunked", "/bare-lf", "/te-and-cl", "/te-gzip-chunked", "/bare-lf"]) {
    const r = await get(path);
    const body = (await r.json()) as { error: string; message: string };
    expect(`${path} ${r.status} ${body.error}`).toBe(`${path} 502 bad_gateway`);
    expect(body.message).toContain("cannot be read exactly");
  }
  // In either form: a request record, or an entry of the connection's next decision record.
  const failedIn = (records: AuditRecord[]) => requestsOf(records).filter((c) => c.details["outcome"] === "upstream_error");
  const all = await auditRecordsWhen(gw.auditPath, (records) => failedIn(records).length >= 6, "six request completions with outcome upstream_error");
  const failed = failedIn(all);
  expect(failed.map((c) => [(c.action as { path?: string }).path, c.details["status"]])).toEqual(["/te-and-cl", "/te-gzip-chunked", "/bare-lf", "/te-and-cl", "/te-gzip-chunked", "/bare-lf"].map((p) => [p, 502]));
  // and the upstream still answers well-formed requests after them
  const r = await get("/ok");
  expect(await r.text()).toBe("ok");
});

// End to end: the PostgreSQL target's own TLS certificate is replaced on disk and served to new
// connections without a restart (the fingerprint a client sees changes), a connection made
// before keeps its TLS session, a key that does not match the certificate keeps the pair in
// use and is reported, and the audit log records the new certificate's fingerprint.
// Compiled binary; certificates made with openssl; the client speaks SSLRequest then node:tls.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { X509Certificate, createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { auditRecordsWhen, makeTempDir, startGatewayProcess, type GatewayProcess } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(60_000);

let gw: GatewayProcess;
let dir: string;
const opened: TLSSocket[] = [];

function makePair(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert]);
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  return { cert, key };
}

/** Replaces `to` by `from`'s content via a rename, as a careful writer (or cert-manager) does. */
function install(from: string, to: string): void {
  writeFileSync(`${to}.tmp`, readFileSync(from));
  renameSync(`${to}.tmp`, to);
}

const fingerprint = (path: string) => new X509Certificate(readFileSync(path)).fingerprint256;

/** SSLRequest, 'S', then a TLS handshake: the certificate the target serves, and the open socket. */
async function served(port: number): Promise<{ fingerprint: string; socket: TLSSocket }> {
  const raw = netConnect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve, reject) => raw.once("connect", resolve).once("error", reject));
  const req = Buffer.alloc(8);
  req.writeInt32BE(8, 0);
  req.writeInt32BE(80877103, 4);
  raw.write(req);
  const answer = await new Promise<Buffer>((resolve, reject) => raw.once("data", resolve).once("error", reject));
  if (answer.toString() !== "S") throw new Error(`expected 'S' to the SSLRequest, got ${JSON.stringify(answer.toString())}`);
  const socket = tlsConnect({ socket: raw, servername: "localhost", rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
  opened.push(socket);
  return { fingerprint: socket.getPeerCertificate().fingerprint256, socket };
}

let a: { cert: string; key: string };
let b: { cert: string; key: string };
let c: { cert: string; key: string };

beforeAll(async () => {
  dir = makeTempDir("gatehouse-rotation-tls-");
  mkdirSync(join(dir, "tls"));
  a = makePair("a");
  b = makePair("b");
  c = makePair("c");
  install(a.cert, join(dir, "tls/server.crt"));
  install(a.key, join(dir, "tls/server.key"));
  const sha = createHash("sha256").update("gh_tls_0123456789abcdef0123456789abcdef").digest("hex");
  gw = await startGatewayProcess({
    dir,
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { machine_keys: [{ name: bot, sha256: ${sha}, groups: [apps] }] }
targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:0
    tls: { cert: ./tls/server.crt, key: ./tls/server.key }
    upstream: { host: 127.0.0.1, port: 1, database: postgres, user: app, password: unused }
rules:
  - name: apps
    groups: [apps]
    effect: allow
`,
    },
  });
});

afterAll(async () => {
  for (const s of opened) s.destroy();
  await gw?.stop();
  gw?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test("a replaced certificate is served to new connections without a restart; an open connection keeps its session", async () => {
  const before = await served(gw.port("db"));
  expect(before.fingerprint).toBe(fingerprint(a.cert));

  // Key first, then the certificate (a pair that may not match in between: A stays served then).
  install(b.key, join(dir, "tls/server.key"));
  install(b.cert, join(dir, "tls/server.crt"));
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((r) => r.type === "tls.rotated"), "a tls.rotated record");
  expect(records.find((r) => r.type === "tls.rotated")).toMatchObject({ target: "db", details: { fingerprint: fingerprint(b.cert) } });

  const after = await served(gw.port("db"));
  expect(after.fingerprint).toBe(fingerprint(b.cert));
  expect(before.socket.destroyed).toBe(false);
});

test("a key that does not match the certificate keeps the pair in use, and is logged and counted", async () => {
  install(c.key, join(dir, "tls/server.key"));
  await gw.waitForLog(/TLS certificate "[^"]+server\.crt" and key "[^"]+server\.key" cannot be used/);
  const metrics = await waitFor("the TLS failure in /metrics", async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    return /gatehouse_secret_read_failures_total\{reference="tls:[^"]+server\.crt"\} [1-9]/.test(text) ? text : null;
  });
  expect(metrics).toContain("tls:");
  expect((await served(gw.port("db"))).fingerprint).toBe(fingerprint(b.cert));
  const health = (await (await fetch(`${gw.adminUrl}/healthz`)).json()) as { status: string; reasons?: string[] };
  expect(health.status).toBe("degraded");
  expect(health.reasons?.join("\n")).toContain("server.crt");

  install(c.cert, join(dir, "tls/server.crt"));
  await waitFor("the certificate C to be served", async () => (await served(gw.port("db"))).fingerprint === fingerprint(c.cert));
  await waitFor("/healthz to be ok again", async () => ((await (await fetch(`${gw.adminUrl}/healthz`)).json()) as { status: string }).status === "ok");
});

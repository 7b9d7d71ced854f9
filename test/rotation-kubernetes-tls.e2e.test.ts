// End to end: the Kubernetes target's own TLS certificate (tls: cert/key) is replaced on disk and
// served to new connections without a restart (the fingerprint a client sees changes), a request
// goes through on the new certificate, a connection made before keeps its TLS session, a key that
// does not match keeps the pair in use and is reported (log, /metrics, /healthz), and the audit
// log records the new fingerprint. Compiled binary, the stand-in API server, openssl certificates.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { startKubeSetup, type KubeSetup } from "./kubernetes-e2e-setup.ts";
import { auditRecordsWhen, makeTempDir } from "./helpers/gateway.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(90_000);

let k: KubeSetup;
let certs: string;
let token: string;
const opened: TLSSocket[] = [];
let a: { cert: string; key: string };
let b: { cert: string; key: string };
let c: { cert: string; key: string };

function makePair(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const r = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", `/CN=${name}`, "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert]);
  if (r.exitCode !== 0) throw new Error(`openssl failed: ${r.stderr.toString()}`);
  return { cert, key };
}

/** Replaces `to` by `from`'s content via a rename, as a careful writer (or cert-manager) does. */
function install(from: string, to: string): void {
  writeFileSync(`${to}.tmp`, readFileSync(from));
  renameSync(`${to}.tmp`, to);
}

const fingerprint = (path: string) => new X509Certificate(readFileSync(path)).fingerprint256;

/** A TLS connection to the target: the certificate it serves, and the open socket. */
async function served(): Promise<{ fingerprint: string; socket: TLSSocket }> {
  const socket = tlsConnect({ host: "127.0.0.1", port: k.gw.port("prod-k8s"), servername: "localhost", rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] });
  await new Promise<void>((resolve, reject) => socket.once("secureConnect", resolve).once("error", reject));
  opened.push(socket);
  return { fingerprint: socket.getPeerCertificate().fingerprint256, socket };
}

/** GET /version on an open connection: the status line and body. */
async function version(socket: TLSSocket): Promise<{ status: string; body: string }> {
  let acc = "";
  const done = new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      acc += d.toString();
      const end = acc.indexOf("\r\n\r\n");
      const len = /content-length: *(\d+)/i.exec(acc);
      if (end >= 0 && len && acc.length >= end + 4 + Number(len[1])) {
        socket.off("data", onData);
        resolve();
      }
    };
    socket.on("data", onData).once("error", reject).once("close", () => reject(new Error(`connection closed; read so far: ${JSON.stringify(acc)}`)));
  });
  socket.write(`GET /version HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nAccept: application/json\r\n\r\n`);
  await done;
  return { status: acc.slice(0, acc.indexOf("\r\n")), body: acc.slice(acc.indexOf("\r\n\r\n") + 4) };
}

beforeAll(async () => {
  certs = makeTempDir("gatehouse-kube-tls-");
  a = makePair(certs, "a");
  b = makePair(certs, "b");
  c = makePair(certs, "c");
  // startKubeSetup makes its own folder: the served pair lives in this one (absolute paths).
  mkdirSync(join(certs, "tls"));
  install(a.cert, join(certs, "tls/server.crt"));
  install(a.key, join(certs, "tls/server.key"));
  k = await startKubeSetup({ target: [`tls: { cert: ${join(certs, "tls/server.crt")}, key: ${join(certs, "tls/server.key")} }`] });
  token = await k.token("alice", ["developers"]);
});

afterAll(async () => {
  for (const s of opened) s.destroy();
  await k?.gw.stop();
  await k?.stop();
  rmSync(certs, { recursive: true, force: true });
});

const servedPath = (f: "crt" | "key") => join(certs, `tls/server.${f}`);

test("a replaced certificate is served to new connections without a restart; requests go through; an open connection keeps its session", async () => {
  const before = await served();
  expect(before.fingerprint).toBe(fingerprint(a.cert));
  expect((await version(before.socket)).status).toBe("HTTP/1.1 200 OK");

  // Key first, then the certificate (a pair that may not match in between: A stays served then).
  install(b.key, servedPath("key"));
  install(b.cert, servedPath("crt"));
  const records = await auditRecordsWhen(k.gw.auditPath, (all) => all.some((r) => r.type === "tls.rotated"), "a tls.rotated record");
  expect(records.find((r) => r.type === "tls.rotated")).toMatchObject({ target: "prod-k8s", details: { fingerprint: fingerprint(b.cert) } });

  const after = await served();
  expect(after.fingerprint).toBe(fingerprint(b.cert));
  const answer = await version(after.socket);
  expect(answer.status).toBe("HTTP/1.1 200 OK");
  expect(JSON.parse(answer.body)).toHaveProperty("gitVersion");
  // The connection made on A still works.
  expect((await version(before.socket)).status).toBe("HTTP/1.1 200 OK");
});

test("a key that does not match the certificate keeps the pair in use, and is logged, counted and degraded", async () => {
  install(c.key, servedPath("key"));
  await k.gw.waitForLog(/TLS certificate "[^"]+server\.crt" and key "[^"]+server\.key" cannot be used/);
  await waitFor("the TLS failure in /metrics", async () => {
    const text = await (await fetch(`${k.gw.adminUrl}/metrics`)).text();
    return /gatehouse_secret_read_failures_total\{reference="tls:[^"]+server\.crt"\} [1-9]/.test(text) ? text : null;
  });
  const still = await served();
  expect(still.fingerprint).toBe(fingerprint(b.cert));
  expect((await version(still.socket)).status).toBe("HTTP/1.1 200 OK");
  const health = (await (await fetch(`${k.gw.adminUrl}/healthz`)).json()) as { status: string; reasons?: string[] };
  expect(health.status).toBe("degraded");
  expect(health.reasons?.join("\n")).toContain("server.crt");

  install(c.cert, servedPath("crt"));
  await waitFor("the certificate C to be served", async () => (await served()).fingerprint === fingerprint(c.cert));
  await waitFor("/healthz to be ok again", async () => ((await (await fetch(`${k.gw.adminUrl}/healthz`)).json()) as { status: string }).status === "ok");
});

// The admin listener with gateway.admin.tls: the compiled gateway serves the admin API and the
// console over HTTPS only, and the console's cookies are then Secure.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type GatewayProcess, makeTempDir, startGatewayProcess } from "./helpers/gateway.ts";

const TLS = resolve(import.meta.dir, "../fixtures/tls");
let gw: GatewayProcess;

beforeAll(async () => {
  const dir = makeTempDir();
  copyFileSync(join(TLS, "localhost.crt"), join(dir, "admin.crt"));
  copyFileSync(join(TLS, "localhost.key"), join(dir, "admin.key"));
  gw = await startGatewayProcess({
    dir,
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0", tls: { cert: ./admin.crt, key: ./admin.key } } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
console: { issuer: dev }
rules:
  - { name: ok, effect: review, approvers: [approvers] }
`,
    },
  });
}, 60_000);

afterAll(() => gw?.cleanup());

test("HTTPS only, and the session cookie is Secure", async () => {
  const base = `https://127.0.0.1:${gw.adminPort}`;
  const insecure = { tls: { rejectUnauthorized: false } } as RequestInit;
  expect((await fetch(`${base}/healthz`, insecure)).status).toBe(200);
  const login = await fetch(`${base}/login/dev`, { ...insecure, method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: base }, body: new URLSearchParams({ subject: "bob", groups: "approvers" }) });
  expect(login.status).toBe(200);
  expect(login.headers.get("set-cookie")).toMatch(/^gatehouse_console=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  // Plain HTTP on the same port gets no answer from the console.
  const plain = await fetch(`http://127.0.0.1:${gw.adminPort}/healthz`).then((r) => r.status, () => "refused");
  expect(plain).not.toBe(200);
}, 30_000);

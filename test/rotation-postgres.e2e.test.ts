// End to end: the PostgreSQL target's upstream password comes from ${file:…}. The password is
// changed on the server (ALTER ROLE), then written to the file: the session open through the
// gateway goes on, new sessions log in with the new password, the audit log records the
// rotation without the value. A file that cannot be read keeps the old password in use, and
// says so in the log, /metrics and /healthz. Compiled binary, real PostgreSQL, node-postgres.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { auditRecords, auditRecordsWhen, makeTempDir, startGatewayProcess, type GatewayProcess } from "./helpers/gateway.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

const KEY = "gh_rotate_0123456789abcdef0123456789abcdef";
const OLD = "old-pass-7f3a9c";
const NEW = "new-pass-2b8e41";

let db: PostgresInstance;
let gw: GatewayProcess;
let dir: string;
let secretFile: string;

/** Writes the file aside and renames it over the old one, as a careful writer does. */
function writeSecret(value: string): void {
  writeFileSync(`${secretFile}.tmp`, `${value}\n`);
  renameSync(`${secretFile}.tmp`, secretFile);
}

beforeAll(async () => {
  db = await startPostgres();
  await db.psql(`CREATE ROLE app LOGIN PASSWORD '${OLD}';`);
  dir = makeTempDir("gatehouse-rotation-pg-");
  mkdirSync(join(dir, "secrets"));
  secretFile = join(dir, "secrets", "pg-password");
  writeSecret(OLD);
  const sha = createHash("sha256").update(KEY).digest("hex");
  gw = await startGatewayProcess({
    dir,
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { machine_keys: [{ name: deploy-bot, sha256: ${sha}, groups: [apps] }] }
targets:
  - name: app-db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, port: ${db.port}, database: postgres, user: app, password: "\${file:secrets/pg-password}" }
rules:
  - name: apps
    groups: [apps]
    effect: allow
`,
    },
  });
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  await db?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type PgClient = InstanceType<typeof pg.Client>;

async function session(): Promise<PgClient> {
  const c = new pg.Client({ host: "127.0.0.1", port: gw.port("app-db"), user: "deploy-bot", password: KEY, database: "app-db" });
  await c.connect();
  return c;
}

async function whoAmI(c: PgClient): Promise<string> {
  return (await c.query("SELECT current_user AS u")).rows[0]!.u as string;
}

test("ALTER ROLE, then the file: the open session goes on, a new one logs in with the new password, the audit log records the rotation", async () => {
  const open = await session();
  expect(await whoAmI(open)).toBe("app");

  await db.psql(`ALTER ROLE app PASSWORD '${NEW}';`);
  // The gateway still has the old password: the server refuses a new login with it.
  await expect(session()).rejects.toThrow(/password authentication failed|upstream/);

  writeSecret(NEW);
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((r) => r.type === "secret.rotated"), "a secret.rotated record");
  const rotated = records.find((r) => r.type === "secret.rotated")!;
  expect(rotated.details).toEqual({ reference: "${file:secrets/pg-password}", keys: ["targets.app-db.upstream.password"], targets: ["app-db"], cause: "file" });
  expect(rotated.time).toMatch(/^\d{4}-/);

  const fresh = await session();
  expect(await whoAmI(fresh)).toBe("app");
  // The session opened before the rotation runs statements after it, on its own upstream login.
  expect((await open.query("SELECT 41 + 1 AS n")).rows[0]!.n).toBe(42);
  await Promise.all([open.end(), fresh.end()]);

  const auditText = readFileSync(gw.auditPath, "utf8");
  expect(auditText).not.toContain(NEW);
  expect(auditText).not.toContain(OLD);
  expect(gw.logs()).not.toContain(NEW);
  expect(gw.logs()).toContain("rotated");
});

test("an unreadable password file keeps the old password: new sessions still log in; the error is logged, counted and shown by /healthz", async () => {
  const open = await session();
  rmSync(secretFile);
  await gw.waitForLog("${file:secrets/pg-password}");
  await gw.waitForLog(/cannot be read; its previous value stays in use: cannot read secret file "[^"]+pg-password" \(ENOENT\)/);

  const metrics = await waitFor("the read failure in /metrics", async () => {
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    return /gatehouse_secret_read_failures_total\{reference="\$\{file:secrets\/pg-password\}"\} [1-9]/.test(text) ? text : null;
  });
  expect(metrics).not.toContain(NEW);
  const health = await fetch(`${gw.adminUrl}/healthz`);
  expect(health.status).toBe(200);
  const body = (await health.json()) as { status: string; reasons: string[] };
  expect(body.status).toBe("degraded");
  expect(body.reasons.join("\n")).toContain("${file:secrets/pg-password}");
  expect(JSON.stringify(body)).not.toContain(NEW);

  // The server still accepts the password the gateway had: new sessions go on logging in.
  const fresh = await session();
  expect(await whoAmI(fresh)).toBe("app");
  expect((await open.query("SELECT 1 AS one")).rows[0]!.one).toBe(1);
  await Promise.all([open.end(), fresh.end()]);

  const records = await auditRecords(gw.auditPath);
  const unreadable = records.find((r) => r.type === "secret.unreadable");
  expect(unreadable?.details).toMatchObject({ reference: "${file:secrets/pg-password}" });

  // Put back, /healthz is ok again; the value did not change, so no rotation is recorded.
  writeSecret(NEW);
  await waitFor("/healthz to be ok again", async () => ((await (await fetch(`${gw.adminUrl}/healthz`)).json()) as { status: string }).status === "ok");
  expect((await auditRecords(gw.auditPath)).filter((r) => r.type === "secret.rotated").length).toBe(1);
  expect(readFileSync(gw.auditPath, "utf8")).not.toContain(NEW);
});

// End to end, through the compiled gateway: a credential that is neither a token nor a machine
// key of the gateway's format is refused as "not a valid token or machine key", over HTTP and as
// a PostgreSQL password (psql), and audited so; only a ghk_ key that matches no entry is an
// "unknown machine key"; a configured key still logs in.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { newMachineKey } from "../src/identity/machine-keys.ts";
import { auditRecordsWhen, type GatewayProcess, httpGatewayYaml, startGatewayProcess, startPostgresGateway } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

const known = newMachineKey();
const unknown = newMachineKey();
const MACHINE_KEYS = `machine_keys: [{ name: ci, sha256: ${known.sha256}, groups: [apps] }]`;

let pg: PostgresInstance;
let pgGw: GatewayProcess;
let pgPort: number;
let httpGw: GatewayProcess;
let upstream: ReturnType<typeof Bun.serve>;
let base: string;

beforeAll(async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => Response.json({ ok: true }) });
  httpGw = await startGatewayProcess({
    files: {
      "gatehouse.yaml": httpGatewayYaml({
        adminPort: 0,
        listen: "127.0.0.1:0",
        upstream: `http://127.0.0.1:${upstream.port}`,
        identity: MACHINE_KEYS,
        rules: "  - { name: apps, groups: [apps], effect: allow }\n",
      }),
    },
  });
  base = `http://127.0.0.1:${httpGw.port("api")}`;
  pg = await startPostgres();
  ({ gw: pgGw, port: pgPort } = await startPostgresGateway(pg, { identity: MACHINE_KEYS, rules: "  - { name: apps, groups: [apps], effect: allow }\n" }));
});

afterAll(async () => {
  httpGw?.cleanup();
  pgGw?.cleanup();
  upstream?.stop(true);
  await pg?.stop();
});

async function bearer(credential: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const r = await fetch(`${base}/x`, { headers: { authorization: `Bearer ${credential}` } });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

test("HTTP: Bearer nonsense is 'not a valid token or machine key'; an unknown ghk_ key is 'unknown machine key'", async () => {
  expect(await bearer("nonsense")).toEqual({ status: 401, body: { error: "unauthenticated", message: "not a valid token or machine key", reason: "malformed" } });
  expect(await bearer(unknown.key)).toEqual({ status: 401, body: { error: "unauthenticated", message: "unknown machine key", reason: "unknown_machine_key" } });
  expect((await bearer(known.key)).status).toBe(200);
  await auditRecordsWhen(
    httpGw.auditPath,
    (all) => all.some((r) => r.type === "auth.rejected" && (r.details as { message?: string }).message === "not a valid token or machine key"),
    "an auth.rejected record saying 'not a valid token or machine key'",
  );
});

function psql(password: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  const p = Bun.spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(pgPort), "-U", "ci", "-d", "sales-db", "-c", "SELECT 41 + 1"], {
    env: { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "20", PGSSLMODE: "disable", LC_ALL: "C" },
    stdout: "pipe",
    stderr: "pipe",
  });
  return Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]).then(([code, stdout, stderr]) => ({ code, stdout, stderr }));
}

test("PostgreSQL: a garbage password is 'not a valid token or machine key'; an unknown ghk_ key is 'unknown machine key'", async () => {
  const garbage = await psql("hunter2");
  expect(garbage.code).not.toBe(0);
  expect(garbage.stderr).toContain("authentication failed: not a valid token or machine key");
  const unknownKey = await psql(unknown.key);
  expect(unknownKey.code).not.toBe(0);
  expect(unknownKey.stderr).toContain("authentication failed: unknown machine key");
  const ok = await psql(known.key);
  expect({ code: ok.code, out: ok.stdout.trim() }).toEqual({ code: 0, out: "42" });
});

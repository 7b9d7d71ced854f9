// The quick start as a user meets it: the compiled binary, alone in an empty folder (no
// node_modules), runs `serve --demo`; psql reaches the embedded PostgreSQL through the gateway
// with the e-mail column masked and DROP refused, and the HTTP part works beside it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import postgres from "postgres";
import demoConfig from "../src/cli/demo-gatehouse.yaml" with { type: "text" };
import { BINARY, makeTempDir, requireBinary } from "./helpers/gateway.ts";
import { freePort } from "./helpers/ports.ts";
import { waitFor } from "./helpers/wait.ts";

let dir: string;
let bin: string;
let proc: Subprocess<"ignore", "pipe", "pipe">;
let output = "";
const ports = { api: 0, admin: 0, upstream: 0, db: 0, pg: 0 };
let token = "";

/** Waits until the gateway's output contains `text`, failing with the output after `timeoutMs`. */
async function waitForOutput(text: string, timeoutMs: number): Promise<void> {
  let seen: string;
  try {
    seen = await waitFor(`serve --demo to print "${text}"`, () => (output.includes(text) ? "printed" : proc.exitCode !== null ? "exited" : null), { timeoutMs, intervalMs: 50 });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n--- output ---\n${output}`);
  }
  if (seen === "exited") throw new Error(`serve --demo exited (${proc.exitCode}) before printing "${text}"\n--- output ---\n${output}`);
}

async function run(cmd: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn(cmd, { cwd: dir, env: { PATH: "/usr/bin:/bin", HOME: dir, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

function psql(sql: string[]) {
  const conn = `host=127.0.0.1 port=${ports.pg} dbname=demo-db user=alice sslmode=disable connect_timeout=20`;
  return run(["psql", conn, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", ...sql.flatMap((s) => ["-c", s])], { PGPASSWORD: token });
}

beforeAll(async () => {
  requireBinary();
  dir = makeTempDir("gatehouse-demo-");
  bin = join(dir, "gatehouse");
  copyFileSync(BINARY, bin);
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  // The demo's own file, with its ports moved to free ones: the demo starts its upstreams where
  // the configuration points (an edited file is kept), so it runs beside other tests.
  const moves: [string, string][] = [
    ["listen: 127.0.0.1:8080", `listen: 127.0.0.1:${ports.api}`],
    ["listen: 127.0.0.1:9090", `listen: 127.0.0.1:${ports.admin}`],
    ["upstream: http://127.0.0.1:9000", `upstream: http://127.0.0.1:${ports.upstream}`],
    ["port: 55432", `port: ${ports.db}`],
    ["listen: 127.0.0.1:6432", `listen: 127.0.0.1:${ports.pg}`],
  ];
  let config = demoConfig;
  for (const [from, to] of moves) {
    if (!config.includes(from)) throw new Error(`the demo configuration no longer contains "${from}"`);
    config = config.replace(from, to);
  }
  mkdirSync(join(dir, "gatehouse-demo"));
  writeFileSync(join(dir, "gatehouse-demo", "gatehouse.yaml"), config);

  proc = Bun.spawn([bin, "serve", "--demo"], { cwd: dir, env: { PATH: "/usr/bin:/bin", HOME: dir, NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  for (const stream of [proc.stdout, proc.stderr]) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of stream) output += dec.decode(chunk);
    })();
  }
  // PGlite's first start runs initdb in WASM: seconds, more on a loaded machine.
  await waitForOutput("Try it, from another terminal", 180_000);
  const t = await run([bin, "token", "--config", "gatehouse-demo/gatehouse.yaml", "--sub", "alice", "--groups", "developers"]);
  expect(t.code).toBe(0);
  token = t.stdout.trim();
}, 240_000);

afterAll(() => {
  try {
    proc.kill("SIGKILL");
  } catch {}
  rmSync(dir, { recursive: true, force: true });
});

test("every gatehouse command the demo configuration's comments name runs as written, from the folder serve --demo wrote it in", async () => {
  const text = readFileSync(join(dir, "gatehouse-demo", "gatehouse.yaml"), "utf8");
  const commands = text
    .split("\n")
    .filter((line) => /^\s*#/.test(line))
    .flatMap((line) => [...line.matchAll(/`gatehouse ([^`]*)`/g)].map((m) => m[1]!));
  expect(commands).toEqual(["serve --demo", "schema", "token --config gatehouse-demo/gatehouse.yaml --sub alice --groups developers", "token --machine-key ci --groups ci"]);
  // serve --demo is what runs now; every other one runs to completion.
  for (const command of commands.slice(1)) {
    const r = await run([bin, ...command.split(" ")]);
    expect({ command, code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ command, code: 0, stderr: "" });
    expect(r.stdout).not.toBe("");
  }
}, 60_000);

test("the demo writes the JSON Schema its configuration points at, and policy tests that pass", async () => {
  expect(readFileSync(join(dir, "gatehouse-demo", "gatehouse.schema.json"), "utf8")).toBe((await run([bin, "schema"])).stdout);
  const r = await run([bin, "test", "gatehouse-demo/"]);
  expect(r.stdout).toContain("0 failed");
  expect(r.code).toBe(0);
}, 60_000);

test("psql through the gateway: sales.customers comes back with every e-mail masked", async () => {
  const r = await psql(["SELECT id, name, email FROM sales.customers ORDER BY id"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const rows = r.stdout.trim().split("\n");
  expect(rows).toHaveLength(4);
  expect(rows[0]).toBe("1|Ada Lovelace|[masked]");
  expect(r.stdout).not.toContain("@");
}, 60_000);

test("DROP TABLE and DROP DATABASE are refused with SQLSTATE 42501 and the rule's message; the table stays", async () => {
  const t = await psql(["DROP TABLE sales.orders"]);
  expect(t.code).not.toBe(0);
  expect(t.stderr).toContain("ERROR:  42501: DROP is blocked by the gateway; ask the DBA team.");
  const d = await psql(["DROP DATABASE postgres"]);
  expect(d.code).not.toBe(0);
  expect(d.stderr).toContain("42501");
  const after = await psql(["SELECT count(*) FROM sales.orders"]);
  expect(after.stderr).toBe("");
  expect(after.stdout.trim()).toBe("5");
}, 60_000);

test("a transaction (the gateway's catalog connection shares PGlite's one backend) and two sessions at once", async () => {
  const [a, b] = await Promise.all([
    psql(["BEGIN", "SELECT count(*) FROM sales.orders WHERE status = 'open'", "SELECT email FROM sales.customers WHERE id = 2", "COMMIT"]),
    psql(["SELECT name FROM sales.customers WHERE id = 3"]),
  ]);
  expect(a.stderr).toBe("");
  expect(a.stdout.trim().split("\n")).toEqual(["BEGIN", "2", "[masked]", "COMMIT"]);
  expect(b.stderr).toBe("");
  expect(b.stdout.trim()).toBe("Edsger Dijkstra");
}, 60_000);

test("a driver's extended protocol: the postgres driver's sql.begin() with parameters, and pipelined queries on a pool", async () => {
  const sql = postgres({ host: "127.0.0.1", port: ports.pg, database: "demo-db", username: "alice", password: token, ssl: false, max: 3 });
  try {
    const [who, open] = await sql.begin(async (tx) => [
      await tx`SELECT id, email FROM sales.customers WHERE id = ${1}`,
      await tx`SELECT count(*)::int AS n FROM sales.orders WHERE status = ${"open"}`,
    ]);
    expect([...who!]).toEqual([{ id: 1, email: "[masked]" }]);
    expect([...open!]).toEqual([{ n: 2 }]);
    const names = await Promise.all([1, 2, 3, 4].map((id) => sql`SELECT name FROM sales.customers WHERE id = ${id}`));
    expect(names.map((r) => r[0]?.name)).toEqual(["Ada Lovelace", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov"]);
  } finally {
    await sql.end();
  }
}, 60_000);

test("the HTTP part still works: e-mails masked, DELETE refused", async () => {
  const auth = { Authorization: `Bearer ${token}` };
  const r = await fetch(`http://127.0.0.1:${ports.api}/api/customers`, { headers: auth });
  expect(r.status).toBe(200);
  const body = await r.text();
  expect(body).toContain("[masked:email]");
  expect(body).not.toContain("ada@example.com");
  const del = await fetch(`http://127.0.0.1:${ports.api}/api/orders/1`, { method: "DELETE", headers: auth });
  expect(del.status).toBe(403);
  expect(await del.text()).toContain("DELETE is not allowed");
}, 60_000);

test("the audit log holds the refused DROP, and verify finds the chain intact", async () => {
  const tail = await run([bin, "tail", "--config", "gatehouse-demo/gatehouse.yaml", "--effect", "deny", "--json"]);
  expect(tail.code).toBe(0);
  expect(tail.stdout).toContain("no-drops");
  const v = await run([bin, "verify", "gatehouse-demo/state/audit/audit.log"]);
  expect(v.code).toBe(0);
}, 60_000);

test("SIGTERM stops the gateway, the demo API and the demo database, exit 0", async () => {
  proc.kill("SIGTERM");
  expect(await proc.exited).toBe(0);
}, 60_000);

// End to end: the streaming requirement. A 10-million-row SELECT with a masked column,
// run by real psql through the compiled gateway, streams: every row arrives, every e-mail is
// masked, and the gateway's peak resident memory (VmHWM) stays under 150 MB. The test counts
// psql's output as it streams, without holding it. No duration is asserted.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { statementsOf } from "./helpers/audit-completions.ts";
import { type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

setDefaultTimeout(900_000);

const ROWS = 10_000_000;
const LIMIT_MB = 150;

let pg: PostgresInstance;
let gw: GatewayProcess;
let port: number;
let token = "";

function clientEnv(password: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  return { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" };
}

/** Peak and current resident memory of a process, in MB, from /proc. */
function memoryMb(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? "NaN");
  return { peak: kb("VmHWM") / 1024, now: kb("VmRSS") / 1024 };
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql(`
    CREATE SCHEMA sales;
    CREATE UNLOGGED TABLE sales.big AS SELECT g AS id, 'user' || g || '@example.com' AS email FROM generate_series(1, ${ROWS}) g;
  `);
  ({ gw, port } = await startPostgresGateway(pg, { rules: `
  - name: analysts-read-sales
    groups: [analysts]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
` }));
  const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", "alice", "--groups", "analysts", "--ttl", "2h"]);
  if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
  token = r.stdout.trim().split("\n")[0]!;
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  await pg?.stop();
});

test("a 10-million-row SELECT with a masked column streams through the gateway under 150 MB resident", async () => {
  const before = memoryMb(gw.proc.pid);

  const proc = Bun.spawn(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", "alice", "-d", "sales-db", "-c", "SELECT id, email FROM sales.big"], {
    env: clientEnv(token),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const stderrText = new Response(proc.stderr).text();

  // Count and check the lines as they stream: "<id>|[masked]", each id once (their sum proves it).
  let rows = 0;
  let masked = 0;
  let idSum = 0;
  let rawEmails = 0;
  const badLines: string[] = [];
  let carry = "";
  const decoder = new TextDecoder();
  const checkLine = (line: string) => {
    rows++;
    const bar = line.indexOf("|");
    const id = Number(line.slice(0, bar));
    const value = line.slice(bar + 1);
    if (value === "[masked]") masked++;
    else if (badLines.length < 5) badLines.push(line);
    if (value.includes("@")) rawEmails++;
    if (bar > 0 && Number.isInteger(id)) idSum += id;
  };
  for await (const chunk of proc.stdout) {
    const text = carry + decoder.decode(chunk, { stream: true });
    let start = 0;
    for (let nl = text.indexOf("\n", start); nl !== -1; nl = text.indexOf("\n", start)) {
      checkLine(text.slice(start, nl));
      start = nl + 1;
    }
    carry = text.slice(start);
  }
  if (carry !== "") checkLine(carry);
  const [code, stderr] = await Promise.all([proc.exited, stderrText]);

  const after = memoryMb(gw.proc.pid);
  console.log(
    `gateway resident memory: before ${before.now.toFixed(1)} MB (peak ${before.peak.toFixed(1)} MB), ` +
      `after ${after.now.toFixed(1)} MB, peak (VmHWM) ${after.peak.toFixed(1)} MB; limit ${LIMIT_MB} MB`,
  );

  expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
  expect(rows).toBe(ROWS);
  expect({ rawEmails, badLines }).toEqual({ rawEmails: 0, badLines: [] });
  expect(masked).toBe(ROWS);
  expect(idSum).toBe((ROWS * (ROWS + 1)) / 2);
  expect(after.peak).toBeGreaterThan(0);
  expect(after.peak).toBeLessThan(LIMIT_MB);

  // The audit record of the statement counts the same rows and masked cells (a statement record,
  // or its completion folded into the session's next decision record).
  const all: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) all.push(record);
  const statement = statementsOf(all).findLast((c) => (c.action as { sql?: string } | undefined)?.sql === "SELECT id, email FROM sales.big")?.details;
  expect(statement).toMatchObject({ outcome: "complete", rows: ROWS, masked_cells: ROWS });
});

// The README's PostgreSQL section, run: its commands and its gatehouse.yaml block are used as
// written, with only what is machine-specific replaced (the folder /etc/gatehouse becomes a temp
// folder, the listen addresses port 0, the upstream's port the test server's, the password the
// test role's, and psql reaches db-gateway.internal at 127.0.0.1 through hostaddr, so
// sslmode=verify-full still checks the name: the replacements are listed in `inFolder`,
// `configReplacements`, beside the password command and in `readmePsql`). The
// test PostgreSQL has what the section assumes: a database app, a role gatehouse with SELECT on
// schema sales, and sales.customers (fixtures/sql/sales.sql). Then psql, with a token from
// `gatehouse token` as the README gives it, reads sales with e-mails masked and is refused a
// write with a DETAIL that says why.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fixtureSql } from "./helpers/fixtures.ts";
import { type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

const README = readFileSync(resolve(import.meta.dir, "../README.md"), "utf8");
const SECTION = README.slice(README.indexOf("\n## PostgreSQL\n"), README.indexOf("\n## SSH\n"));

/** The fenced block of `lang` right after `from` in the PostgreSQL section. */
function blockAfter(from: string, lang: string): string {
  const at = SECTION.indexOf(from);
  if (at < 0) throw new Error(`the README's PostgreSQL section no longer holds ${JSON.stringify(from)}`);
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(SECTION.slice(at));
  if (!m) throw new Error(`no ${lang} block after ${JSON.stringify(from)} in the README's PostgreSQL section`);
  return m[1]!;
}

/** The README's commands (certificate, password file) and the gatehouse.yaml block. */
const certCommands = () => blockAfter("1. A certificate for the gateway's listener", "sh");
const passwordCommand = () => /`(printf %s 'the-password' > pg-password && chmod 600 pg-password)`/.exec(SECTION)?.[1];
const configBlock = () => blockAfter("<!-- postgres-example: gatehouse.yaml", "yaml");
const useCommands = () => blockAfter("```sh\ngatehouse check", "sh");

let pg: PostgresInstance;
let gw: GatewayProcess;
const dir = mkdtempSync(join(tmpdir(), "gatehouse-pg-readme-"));
const ROLE_PASSWORD = "readme-role-password";

/** `text` with each machine-specific string replaced; every one must be there. */
function localise(text: string, replacements: [string, string][]): string {
  let out = text;
  for (const [from, to] of replacements) {
    if (!out.includes(from)) throw new Error(`the README's PostgreSQL section no longer holds ${from}: update the test's replacements`);
    out = out.replaceAll(from, to);
  }
  return out;
}

/** What is machine-specific in the README's commands: only the folder. */
const inFolder = (text: string) => localise(text, [["/etc/gatehouse", dir]]);

/** What is machine-specific in the config block. */
const configReplacements = (): [string, string][] => [
  ["listen: 127.0.0.1:9090", "listen: 127.0.0.1:0"],
  ["listen: 0.0.0.0:6432", "listen: 127.0.0.1:0"],
  ["port: 5432", `port: ${pg.port}`],
];

async function sh(script: string): Promise<void> {
  const p = Bun.spawn(["bash", "-euo", "pipefail", "-c", script], { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${script}\nexited ${code}:\n${out}${err}`);
}

/** Splits a README command line into argv (no quoting in these lines but "…" around one argument). */
function argv(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

let commands: string[];

beforeAll(async () => {
  // The README's upstream role is gatehouse, with SELECT on sales only: the test server's
  // superuser gets another name.
  pg = await startPostgres({ user: "superuser" });
  await pg.psql(`CREATE DATABASE app;
CREATE ROLE gatehouse LOGIN PASSWORD '${ROLE_PASSWORD}';
\\c app
${fixtureSql("sales.sql")}
GRANT USAGE ON SCHEMA sales TO gatehouse;
GRANT SELECT ON ALL TABLES IN SCHEMA sales TO gatehouse;
`);
  // 1. The certificate, as the README makes it (cd /etc/gatehouse becomes the temp folder).
  await sh(inFolder(certCommands()));
  // 2. The password file, with the test role's password.
  const pw = passwordCommand();
  if (!pw) throw new Error("the README's PostgreSQL section no longer gives the pg-password command");
  await sh(localise(pw, [["the-password", ROLE_PASSWORD]]));
  // 3. gatehouse.yaml.
  const yaml = localise(configBlock(), configReplacements());
  commands = useCommands().trim().split("\n");
  gw = await startGatewayProcess({ dir, files: { "gatehouse.yaml": yaml } });
}, 120_000);

afterAll(async () => {
  gw?.cleanup();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The README's psql line, as written but for the replacements, running `sql`. */
async function readmePsql(token: string, sql: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const line = commands.find((c) => c.startsWith("PGPASSWORD=$TOKEN psql "));
  if (!line) throw new Error("the README's PostgreSQL section no longer gives the psql command");
  const conn = localise(argv(line.slice("PGPASSWORD=$TOKEN ".length))[1]!, [
    ["host=db-gateway.internal", "host=db-gateway.internal hostaddr=127.0.0.1"],
    ["port=6432", `port=${gw.port("sales-db")}`],
    ["sslrootcert=/etc/gatehouse/cert.pem", `sslrootcert=${join(dir, "cert.pem")}`],
  ]);
  expect(conn).toContain("sslmode=verify-full");
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  const p = Bun.spawn(["psql", conn, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql], {
    env: { ...env, PGPASSWORD: token, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/** The README's `gatehouse token …` line, as written but for the folder. */
async function readmeToken(): Promise<string> {
  const line = commands.find((c) => c.startsWith("TOKEN=$(gatehouse token "));
  if (!line) throw new Error("the README's PostgreSQL section no longer gives the token command");
  const args = argv(inFolder(line.slice("TOKEN=$(gatehouse ".length, -1)));
  const r = await runCli(args);
  expect({ code: r.code, stderr: r.code === 0 ? "" : r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(r.stdout).toMatch(/^\S+\n$/);
  return r.stdout.trim();
}

test("gatehouse check accepts the README's configuration as written", async () => {
  const line = commands.find((c) => c.startsWith("gatehouse check "));
  expect(line).toBe("gatehouse check /etc/gatehouse/gatehouse.yaml");
  const r = await runCli(argv(inFolder(line!)).slice(1));
  expect(r.code).toBe(0);
});

test("psql as the README gives it (TLS, verify-full): a read of sales comes back with e-mails masked", async () => {
  const token = await readmeToken();
  const r = await readmePsql(token, "SELECT id, name, email FROM sales.customers ORDER BY id");
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(r.stdout).toBe("1|Ann|[masked]\n2|Bob|[masked]\n");
});

test("a write is refused with a DETAIL that says why, and a DROP with the rule's message; nothing changes", async () => {
  const token = await readmeToken();
  const del = await readmePsql(token, "DELETE FROM sales.customers");
  expect(del.code).not.toBe(0);
  expect(del.stderr).toContain("ERROR:  no rule allows this request");
  expect(del.stderr).toContain("DETAIL:  delete of sales.customers; no rule allows it for you");
  const drop = await readmePsql(token, "DROP TABLE sales.customers");
  expect(drop.code).not.toBe(0);
  expect(drop.stderr).toContain("ERROR:  DROP is blocked; talk to the DBA team.");
  expect(await pg.psql("\\c app\nSELECT count(*) FROM sales.customers")).toBe("2\n");
});

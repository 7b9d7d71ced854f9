// The bypass corpus (corpus.ts) end to end: the compiled gateway in front of a real PostgreSQL,
// with a policy like the seed example (analysts read sales.* with e-mail masked and may not
// write or read hr.*; DBAs may do everything but DROP DATABASE; the default dangerous-function
// denies on). Every attempt runs in its own session; afterwards the client's bytes must hold no
// secret, the database must be exactly as before, and a "denied" attempt must have been refused
// by the gateway itself (an ErrorResponse 42501/42601 and a deny in the audit log), not merely
// have failed upstream.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { encodeFrontendMessage } from "../../src/targets/postgres/protocol/encode.ts";
import { type AuditCursor, auditCursor } from "../helpers/audit-cursor.ts";
import { fixtureSql } from "../helpers/fixtures.ts";
import { type GatewayProcess, runCli, startPostgresGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";
import { type PostgresInstance, startPostgres } from "../helpers/postgres.ts";
import { type Attempt, type Category, CORPUS, FIXTURES, KNOWN_BYPASSES, type Step, type Who } from "./corpus.ts";
import { BYPASS_RULES as RULES } from "./policy.ts";
import { LoginRefused, WireClient, errorFields } from "./wire-client.ts";

setDefaultTimeout(60_000);

/** Values that must never reach a client: masked e-mails, hr data, a server file's content. */
const EMAILS = ["ann.zq7secret@example.com", "bob.zq7secret@example.com"];
const HR_SECRET = "hrsecret-91x";
const HR_SALARY = "987654";
const FILE_SECRET = "filesecret-55q";
const MARKERS = ["zq7secret", HR_SECRET, HR_SALARY, FILE_SECRET];

const GROUPS: Record<Who, string> = { analyst: "analysts", support: "support", exporter: "exporters", dba: "dbas" };
const DENIAL_CODES = new Set(["42501", "42601"]);

let pg: PostgresInstance;
/** One superuser session straight to PostgreSQL for the fingerprints and lookups (a psql per query cost ~2 processes per attempt). */
let su: postgres.Sql;
/** The audit records appended since the last look, so an attempt reads only its own lines. */
let audit: AuditCursor;
let gw: GatewayProcess;
let port: number;
let sentinelDir: string;
let secretDir: string;
let secretFile: string;
const tokens: Partial<Record<Who, string>> = {};
const outcomes: { id: string; category: Category; ok: boolean }[] = [];

const DATA = `
TRUNCATE sales.customers, sales.orders, hr.salaries, hr.staff, hr.orders, public.canary;
INSERT INTO sales.customers VALUES (1, 'Ann', '${EMAILS[0]}'), (2, 'Bob', '${EMAILS[1]}');
INSERT INTO sales.orders VALUES (10, 1, 99.5, 'first order'), (11, 2, 5, 'second order');
INSERT INTO hr.salaries VALUES (1, 'Carol', ${HR_SALARY}, '${HR_SECRET}');
INSERT INTO hr.staff VALUES (1, '${HR_SECRET} staff');
INSERT INTO hr.orders VALUES (1, '${HR_SECRET} order');
INSERT INTO public.canary VALUES (1, 'canary');
`;

/** The corpus's database: the schema from fixtures/, the rows above, a function over the secret file, the corpus's own objects. */
function setupSql(): string {
  return `${fixtureSql("bypass-schema.sql")}
${DATA}
ANALYZE sales.customers;
CREATE FUNCTION public.read_secret_file() RETURNS text LANGUAGE sql AS $$SELECT pg_read_file('${secretFile}')$$;
${FIXTURES}`;
}

/** Everything an attempt could change: objects, owners and grants, roles, databases, settings, large objects, table data. */
const FINGERPRINT = `
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT format('rel %s.%s %s %s %s', n.nspname, c.relname, c.relkind, c.relowner, c.relacl)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname !~ '^pg_(toast_)?temp'
  UNION ALL SELECT format('fn %s %s %s', p.oid::regprocedure, md5(coalesce(p.prosrc, '')), p.proacl)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION ALL SELECT format('ns %s %s', nspname, nspacl) FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp'
  UNION ALL SELECT format('role %s %s %s %s', rolname, rolsuper, rolcanlogin, rolpassword) FROM pg_authid
  UNION ALL SELECT format('member %s %s', roleid, member) FROM pg_auth_members
  UNION ALL SELECT format('db %s %s', datname, datacl) FROM pg_database
  UNION ALL SELECT format('lo %s', oid) FROM pg_largeobject_metadata
  UNION ALL SELECT format('setting %s %s %s', setdatabase, setrole, setconfig) FROM pg_db_role_setting
  UNION ALL SELECT format('trigger %s', tgname) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT format('rule %s %s', rulename, ev_class) FROM pg_rewrite
  UNION ALL SELECT format('policy %s', polname) FROM pg_policy
  UNION ALL SELECT format('extension %s', extname) FROM pg_extension
  UNION ALL SELECT format('event trigger %s', evtname) FROM pg_event_trigger
  UNION ALL SELECT format('comment %s %s', objoid, description) FROM pg_description WHERE objoid >= 16384
  UNION ALL SELECT format('auto.conf %s', md5(pg_read_file('postgresql.auto.conf')))
  UNION ALL SELECT format('data sales.customers %s', md5(string_agg(t::text, ',' ORDER BY t::text))) FROM sales.customers t
  UNION ALL SELECT format('data sales.orders %s', md5(string_agg(t::text, ',' ORDER BY t::text))) FROM sales.orders t
  UNION ALL SELECT format('data hr.salaries %s', md5(string_agg(t::text, ',' ORDER BY t::text))) FROM hr.salaries t
  UNION ALL SELECT format('data hr.staff %s', md5(string_agg(t::text, ',' ORDER BY t::text))) FROM hr.staff t
  UNION ALL SELECT format('data hr.orders %s', md5(string_agg(t::text, ',' ORDER BY t::text))) FROM hr.orders t
  UNION ALL SELECT format('data public.canary %s', md5(string_agg(t::text, ',' ORDER BY t::text))) FROM public.canary t
) s(x);
`;

async function fingerprint(): Promise<string> {
  const [row] = await su.unsafe<{ md5: string }[]>(FINGERPRINT);
  if (!row?.md5) throw new Error("the database fingerprint query returned no value");
  return row.md5;
}

/**
 * Waits until the attempt's upstream sessions are gone. A backend drops its temporary objects
 * as it exits, after the client has already seen its connection close: a fingerprint taken
 * before that would count them as a change.
 */
async function attemptSessionsEnded(id: string): Promise<void> {
  await waitFor(`the upstream sessions of ${id} to end`, async () => {
    const [row] = await su<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name IS DISTINCT FROM 'gatehouse catalog'`;
    return row?.n === 0;
  });
}

/** Puts the data back after an attempt that changed it, so one bypass does not spoil the attempts after it. */
async function restore(): Promise<void> {
  await pg.psql(`${DATA}
SELECT lo_unlink(oid) FROM pg_largeobject_metadata;
SELECT 'CREATE DATABASE victimdb' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'victimdb') \\gexec
`);
  for (const f of readdirSync(sentinelDir)) rmSync(join(sentinelDir, f), { force: true, recursive: true });
}

// ---- leak detection -------------------------------------------------------------------------

function reverse(s: string): string {
  return [...s].reverse().join("");
}

/** base64 of `value` wherever it sits in a longer encoded text: the three alignments, minus the edge characters. */
function base64Forms(value: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.from("\0".repeat(k) + value).toString("base64").replace(/=+$/, "");
    const start = Math.ceil((k * 4) / 3);
    out.push(enc.slice(start, enc.length - 3));
  }
  return out;
}

function leakForms(): { form: string; of: string }[] {
  const forms: { form: string; of: string }[] = [];
  for (const m of MARKERS) {
    forms.push({ form: m, of: m }, { form: m.toUpperCase(), of: m }, { form: reverse(m), of: m });
    forms.push({ form: Buffer.from(m).toString("hex"), of: m }, { form: Buffer.from(m).toString("hex").toUpperCase(), of: m });
  }
  for (const v of [...EMAILS, HR_SECRET, FILE_SECRET]) {
    for (const b of base64Forms(v)) forms.push({ form: b, of: `base64(${v})` });
    forms.push({ form: new Bun.CryptoHasher("md5").update(v).digest("hex"), of: `md5(${v})` });
  }
  return forms;
}

const LEAK_FORMS = leakForms();

function leaks(output: string): string[] {
  return [...new Set(LEAK_FORMS.filter((f) => output.includes(f.form)).map((f) => f.of))];
}

// ---- running an attempt ---------------------------------------------------------------------

interface RunResult {
  /** Everything the client received, as latin1 text (secrets are ASCII). */
  output: string;
  /** SQLSTATEs of the errors the client saw. */
  codes: string[];
  /** Errors for the report. */
  errors: string[];
  /** Problems of the run itself (a hang, a lost connection). */
  problems: string[];
  /** The gateway refused the session's startup parameters. */
  refusedAtStartup?: boolean;
}

function place(text: string): string {
  return text.replaceAll("$SENTINEL", sentinelDir).replaceAll("$SECRET_FILE", secretFile);
}

function stepReady(step: Extract<Step, { wire: unknown }>): number {
  if (step.ready !== undefined) return step.ready;
  return step.wire.filter((m) => m.type === "Sync" || m.type === "Query").length;
}

async function runWire(a: Attempt & { steps: readonly Step[] }): Promise<RunResult> {
  const r: RunResult = { output: "", codes: [], errors: [], problems: [] };
  let client: WireClient;
  try {
    client = await WireClient.connect({ port, user: a.who, password: tokens[a.who]!, database: "sales-db", ...("startup" in a && a.startup ? { parameters: a.startup } : {}) });
  } catch (e) {
    if (!(e instanceof LoginRefused)) throw e;
    // Refused before any statement: the gateway's refusal of startup settings is a denial.
    const startupRefusal = e.fields.code === "0A000" && (e.fields.message ?? "").startsWith("startup parameter");
    return { ...r, codes: [e.fields.code ?? ""], errors: [e.message], refusedAtStartup: startupRefusal };
  }
  try {
    for (const step of a.steps) {
      if (client.isClosed) {
        r.problems.push("the connection closed before all steps ran");
        break;
      }
      let messages;
      try {
        if ("sql" in step) {
          client.send([{ type: "Query", query: place(step.sql) }]);
          messages = await client.untilReady(1);
        } else if ("wire" in step) {
          const typeOids: number[] = [];
          for (const t of step.parameterTypes ?? []) typeOids.push(Number((await su.unsafe(`SELECT '${t}'::regtype::oid AS oid`))[0]!.oid));
          const placed = step.wire.map((m) => {
            if (m.type === "Parse") return { ...m, query: place(m.query), ...(typeOids.length > 0 ? { parameterTypes: typeOids } : {}) };
            if (m.type === "Bind") return { ...m, parameters: m.parameters.map((p) => (p === null ? null : new TextEncoder().encode(place(new TextDecoder().decode(p))))) };
            return m;
          });
          client.send(placed);
          messages = await client.untilReady(stepReady(step));
        } else {
          const oid = Number((await su.unsafe(`SELECT '${step.functionCall}'::regprocedure::oid AS oid`))[0]!.oid);
          const enc = new TextEncoder();
          client.write(
            encodeFrontendMessage({ type: "FunctionCall", functionOid: oid, argumentFormats: [], arguments: step.args.map((x) => enc.encode(place(x))), resultFormat: 0 }),
          );
          messages = await client.untilReady(1);
        }
      } catch (e) {
        r.problems.push((e as Error).message);
        break;
      }
      for (const m of messages) {
        if (m.type !== "E") continue;
        const f = errorFields(m);
        r.codes.push(f.code ?? "");
        r.errors.push(`${f.code} ${f.message}`);
      }
    }
  } finally {
    r.output = Buffer.from(client.allBytes()).toString("latin1");
    client.close();
  }
  return r;
}

function clientEnv(password: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  return { ...env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" };
}

async function runPsql(a: Attempt & { client: "psql" }): Promise<RunResult> {
  const proc = Bun.spawn(["psql", "-X", "-h", "127.0.0.1", "-p", String(port), "-U", a.who, "-d", "sales-db", "-f", "-"], {
    env: clientEnv(tokens[a.who]!),
    stdin: new TextEncoder().encode(`\\set VERBOSITY verbose\n${place(a.script)}`),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const errors = [...stderr.matchAll(/ERROR:\s+([0-9A-Z]{5}): (.*)/g)];
  return { output: stdout + stderr, codes: errors.map((m) => m[1]!), errors: errors.map((m) => `${m[1]} ${m[2]}`), problems: [] };
}

async function runDriver(a: Attempt & { client: "driver" }): Promise<RunResult> {
  const r: RunResult = { output: "", codes: [], errors: [], problems: [] };
  const sql = postgres({ host: "127.0.0.1", port, user: a.who, password: tokens[a.who]!, database: "sales-db", max: 1, onnotice: (n) => (r.output += JSON.stringify(n)) });
  try {
    for (const text of a.driver) {
      for (const prepare of [false, true]) {
        try {
          const rows = await sql.unsafe(place(text), [], { prepare });
          r.output += JSON.stringify(rows) + "\n";
        } catch (e) {
          const err = e as { code?: string; message?: string };
          r.codes.push(err.code ?? "");
          r.errors.push(`${err.code} ${err.message}`);
          r.output += `${err.message}\n`;
        }
      }
    }
  } finally {
    await sql.end({ timeout: 2 }).catch(() => {});
  }
  return r;
}

/** Deny decisions appended to the audit log since the last call. */
function newAuditDenies(): number {
  return audit.next().filter((record) => record.type === "decision" && record.decision?.effect === "deny").length;
}

// ---- the run ------------------------------------------------------------------------------

beforeAll(async () => {
  sentinelDir = mkdtempSync(join(tmpdir(), "gatehouse-bypass-sentinel-"));
  chmodSync(sentinelDir, 0o777);
  secretDir = mkdtempSync(join(tmpdir(), "gatehouse-bypass-secret-"));
  chmodSync(secretDir, 0o755);
  secretFile = join(secretDir, "secret.txt");
  writeFileSync(secretFile, `${FILE_SECRET}\n`, { mode: 0o644 });

  pg = await startPostgres();
  await pg.psql(setupSql());
  su = postgres({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: "postgres", max: 1, onnotice: () => {} });
  ({ gw, port } = await startPostgresGateway(pg, { rules: RULES }));
  audit = auditCursor(gw.auditPath, { fromStart: true });
  for (const who of Object.keys(GROUPS) as Who[]) {
    const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", who, "--groups", GROUPS[who], "--ttl", "2h"]);
    if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
    tokens[who] = r.stdout.trim().split("\n")[0]!;
  }
}, 120_000);

afterAll(async () => {
  const byCategory = new Map<string, { total: number; ok: number }>();
  for (const o of outcomes) {
    const c = byCategory.get(o.category) ?? { total: 0, ok: 0 };
    c.total++;
    if (o.ok) c.ok++;
    byCategory.set(o.category, c);
  }
  const lines = [...byCategory].map(([c, v]) => `  ${c.padEnd(22)} ${v.ok}/${v.total}`);
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.id);
  console.log(`bypass corpus: ${outcomes.filter((o) => o.ok).length}/${outcomes.length} held\n${lines.join("\n")}${failed.length ? `\n  got through: ${failed.join(", ")}` : ""}`);
  await gw?.stop();
  gw?.cleanup();
  await su?.end({ timeout: 2 }).catch(() => {});
  await pg?.stop();
  for (const d of [sentinelDir, secretDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("the corpus itself", () => {
  test("has at least 100 attempts, unique ids, every required category", () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(100);
    expect(new Set(CORPUS.map((a) => a.id)).size).toBe(CORPUS.length);
    const categories = new Set(CORPUS.map((a) => a.category));
    for (const c of [
      "comments-case", "quoted-identifiers", "unicode-escapes", "dollar-quoting", "multi-statement", "dml-cte", "explain-analyze",
      "prepare-execute", "search-path", "views-functions", "copy", "do-blocks", "set-config", "dangerous-functions",
      "extended-protocol", "masked-columns", "cursors",
    ] as const) {
      expect(categories.has(c)).toBe(true);
    }
  });

  test("the leak detector sees a secret in each form it claims to", () => {
    expect(leaks(`x${EMAILS[0]}x`)).toContain("zq7secret");
    expect(leaks(Buffer.from(`"${EMAILS[1]}"`).toString("base64"))).toContain(`base64(${EMAILS[1]})`);
    expect(leaks(`\\x${Buffer.from(EMAILS[0]!).toString("hex")}`)).toContain("zq7secret");
    expect(leaks(reverse(HR_SECRET))).toContain(HR_SECRET);
    expect(leaks("[masked] first order 99.5")).toEqual([]);
  });
});

describe("bypass attempts through the gateway", () => {
  for (const a of CORPUS) {
    const known = KNOWN_BYPASSES[a.id];
    const run = known !== undefined ? test.failing : test;
    run(`${a.category} / ${a.id} (${a.who}) → ${a.expect}${known !== undefined ? ` [KNOWN BYPASS, issue ${known}]` : ""}`, async () => {
      const before = await fingerprint();
      newAuditDenies(); // what earlier attempts left
      const r = a.client === "psql" ? await runPsql(a) : a.client === "driver" ? await runDriver(a) : await runWire(a);
      await attemptSessionsEnded(a.id);
      const after = await fingerprint();
      const denies = newAuditDenies();
      const files = readdirSync(sentinelDir);
      if (after !== before || files.length > 0) await restore();

      const report = {
        leaked: leaks(r.output),
        databaseChanged: after !== before,
        filesWritten: files,
        problems: r.problems,
        ...(a.expect === "denied" ? { deniedByGateway: r.refusedAtStartup === true || (r.codes.some((c) => DENIAL_CODES.has(c)) && denies > 0) } : {}),
        ...(a.expect === "blocked" ? { clientSawError: r.codes.length > 0 } : {}),
      };
      const ok =
        report.leaked.length === 0 &&
        !report.databaseChanged &&
        files.length === 0 &&
        r.problems.length === 0 &&
        report.deniedByGateway !== false &&
        report.clientSawError !== false;
      outcomes.push({ id: a.id, category: a.category, ok });
      if (!ok) console.log(`GOT THROUGH ${a.id}: ${JSON.stringify({ ...report, errors: r.errors })}\n  output: ${JSON.stringify(r.output.slice(0, 600))}`);
      expect(report).toEqual({
        leaked: [],
        databaseChanged: false,
        filesWritten: [],
        problems: [],
        ...(a.expect === "denied" ? { deniedByGateway: true } : {}),
        ...(a.expect === "blocked" ? { clientSawError: true } : {}),
      });
    });
  }
});

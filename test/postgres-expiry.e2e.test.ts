// End to end: a PostgreSQL session ends when the token it was opened with expires
// (identity.end_sessions_at_expiry, default true), through the compiled binary and a real
// PostgreSQL: FATAL 28000 at expiry, whatever the session is doing (a running statement is
// cancelled upstream, an unsynced batch is not committed); with the option off it lives on.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { detail, statementsOf } from "./helpers/audit-completions.ts";
import { auditRecordsWhen, type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { Wire } from "./helpers/pg-wire.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

const RULES = `
  - name: apps
    groups: [apps]
    effect: allow
`;

let pg: PostgresInstance;
let gw: GatewayProcess;
let port: number;

async function token(dir: string, ttl: string): Promise<string> {
  const r = await runCli(["token", "--state-dir", join(dir, "state"), "--sub", "app", "--groups", "apps", "--ttl", ttl]);
  expect(r.code).toBe(0);
  return r.stdout.trim().split("\n")[0]!;
}

/** The token's exp claim, in ms. */
function expiryOf(jwt: string): number {
  return (JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000;
}

/**
 * A session opened with a short-lived token, with at least `leftMs` of the token's life still
 * ahead once it is open. Minting (a CLI process) and logging in can take seconds on a loaded
 * machine, so a token that would expire first is replaced by one that lives twice as long.
 */
async function openShortSession(g: GatewayProcess, gwPort: number, ttlSeconds: number, leftMs = 1000): Promise<{ jwt: string; w: Wire }> {
  for (let ttl = ttlSeconds; ; ttl *= 2) {
    const jwt = await token(g.dir, `${ttl}s`);
    const w = await Wire.open(gwPort, jwt, "sales-db");
    if (!w.closed && Date.now() + leftMs < expiryOf(jwt)) return { jwt, w };
    w.close();
    if (ttl >= 64) throw new Error(`could not log in with a ${ttl}s token and ${leftMs} ms of its life to spare`);
  }
}

/** Resolves once the clock has passed `ms` (a token's expiry, say). */
const clockPast = (ms: number, what: string) => waitFor(what, () => Date.now() > ms, { timeoutMs: Math.max(0, ms - Date.now()) + 20_000, intervalMs: 50 });

beforeAll(async () => {
  pg = await startPostgres();
  ({ gw, port } = await startPostgresGateway(pg, { rules: RULES }));
});

afterAll(async () => {
  await gw?.stop();
  await pg?.stop();
});

describe("a session whose token expires", () => {
  test("idle: FATAL 28000 at expiry, the connection closes and session.end says why", async () => {
    const { jwt, w } = await openShortSession(gw, port, 3);
    const ok = await w.run(1, { type: "Query", query: "SELECT 1 AS one" });
    expect(ok.find((m) => m.type === "DataRow")?.text).toBe("1");
    const end = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    const fatal = end.find((m) => m.type === "ErrorResponse")!;
    expect(fatal.code).toBe("28000");
    expect(fatal.text).toContain("expired");
    expect(fatal.text).toContain(new Date(expiryOf(jwt)).toISOString());
    await w.until(() => false, 10_000).catch(() => []);
    expect(w.closed).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(expiryOf(jwt));
    // session.end is written once the connection has closed (a record nothing waits for), so wait for it.
    const endsWhyExpired = (recs: AuditRecord[]) =>
      recs.some((r) => {
        const d = r.details as Record<string, unknown> | undefined;
        return r.type === "session.end" && String(d?.["error"]).includes("expired") && d?.["ended"] === "token_expired";
      });
    expect(endsWhyExpired(await auditRecordsWhen(gw.auditPath, endsWhyExpired, "session.end saying the token expired"))).toBe(true);
  });

  test("a statement running at expiry is cancelled upstream; the session ends and the statement is recorded not run", async () => {
    const { jwt, w } = await openShortSession(gw, port, 2);
    w.send({ type: "Query", query: "SELECT 'never' AS t FROM pg_sleep(600)" });
    const all = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    expect(all.find((m) => m.type === "ErrorResponse")?.code).toBe("28000");
    expect(all.some((m) => m.type === "DataRow")).toBe(false);
    expect(Date.now()).toBeGreaterThanOrEqual(expiryOf(jwt));
    // The cancel reached the server: the sleep is not running on after the client was cut off.
    await waitFor(
      "the cancelled pg_sleep(600) to stop running upstream",
      async () => (await pg.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND state = 'active' AND pid <> pg_backend_pid()")).trim() === "0",
      { intervalMs: 100 },
    );
    // A statement record, or (were the session to go on) a completion folded into its next decision record.
    const isNotRun = (recs: AuditRecord[]) =>
      statementsOf(recs).some((c) => detail(c, "outcome") === "not_run" && String((c.action as Record<string, unknown> | undefined)?.["sql"]).includes("pg_sleep(600)"));
    const recorded = await auditRecordsWhen(gw.auditPath, isNotRun, "the pg_sleep(600) statement recorded as not run");
    expect(isNotRun(recorded)).toBe(true);
  });

  test("a statement sent after expiry is not run", async () => {
    const { jwt, w } = await openShortSession(gw, port, 2);
    w.sock.on("error", () => {});
    await pg.psql("CREATE TABLE IF NOT EXISTS expiry_probe (n int)");
    await clockPast(expiryOf(jwt) + 300, "the token's expiry to pass");
    if (!w.closed) w.send({ type: "Query", query: "INSERT INTO expiry_probe VALUES (1)" });
    const all = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    expect(all.find((m) => m.type === "ErrorResponse")?.code).toBe("28000");
    expect(all.some((m) => m.type === "CommandComplete")).toBe(false);
    expect((await pg.psql("SELECT count(*) FROM expiry_probe")).trim()).toContain("0");
  });

  test("an extended-protocol batch without its Sync at expiry: the session ends, its write is not committed", async () => {
    await pg.psql("CREATE TABLE IF NOT EXISTS expiry_batch (n int)");
    const { w } = await openShortSession(gw, port, 2);
    // A client that never sends Sync (or Flush) keeps answers owed: the session must end anyway.
    w.send(
      { type: "Parse", statement: "", query: "INSERT INTO expiry_batch VALUES (1)", parameterTypes: [] },
      { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] },
      { type: "Execute", portal: "", maxRows: 0 },
    );
    const all = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    expect(all.find((m) => m.type === "ErrorResponse")?.code).toBe("28000");
    expect(all.some((m) => m.type === "ReadyForQuery")).toBe(false);
    await w.until(() => false, 5_000).catch(() => []);
    expect(w.closed).toBe(true);
    expect((await pg.psql("SELECT count(*) FROM expiry_batch")).trim()).toContain("0");
  });

  test("a login with a token past its expiry, inside the verifier's clock skew, is refused", async () => {
    const jwt = await token(gw.dir, "1s");
    await clockPast(expiryOf(jwt) + 500, "the token's expiry to pass");
    const p = Bun.spawn(["psql", "-X", "-h", "127.0.0.1", "-p", String(port), "-U", "app", "-d", "sales-db", "-c", "SELECT 1"], {
      env: { ...process.env, PGPASSWORD: jwt, PGSSLMODE: "disable" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(2);
    expect(err).toContain("token expired at");
    let rejected = false;
    for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) {
      if (record.type === "auth.rejected" && (record.details as Record<string, unknown>)["reason"] === "expired") rejected = true;
    }
    expect(rejected).toBe(true);
  });

  test("identity.end_sessions_at_expiry: false keeps the session", async () => {
    const { gw: gw2, port: p2 } = await startPostgresGateway(pg, { rules: RULES, identity: "end_sessions_at_expiry: false" });
    try {
      const { jwt, w } = await openShortSession(gw2, p2, 2);
      // Past the expiry by more than the timer would need to end the session.
      await clockPast(expiryOf(jwt) + 1500, "1.5 s past the token's expiry");
      const after = await w.run(1, { type: "Query", query: "SELECT 2 AS two" });
      expect(after.find((m) => m.type === "DataRow")?.text).toBe("2");
      expect(w.closed).toBe(false);
      w.close();
    } finally {
      await gw2.stop();
    }
  });
});

// End to end: a PostgreSQL session ends when the token it was opened with expires
// (identity.end_sessions_at_expiry, default true), through the compiled binary and a real
// PostgreSQL. An idle session gets FATAL 28000 at expiry; a statement running at expiry
// finishes and returns its rows first; with the option off the session lives on.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { readRecords } from "../src/audit/reader.ts";
import { type GatewayProcess, runCli, startPostgresGateway } from "./helpers/gateway.ts";
import { Wire, types } from "./helpers/pg-wire.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";

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

async function sessionEnds(g: GatewayProcess): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const { record } of readRecords(g.auditPath, { onTornTail: () => {} })) {
    if (record.type === "session.end") out.push(record.details as Record<string, unknown>);
  }
  return out;
}

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
    const jwt = await token(gw.dir, "3s");
    const w = await Wire.open(port, jwt, "sales-db");
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
    const ends = await sessionEnds(gw);
    expect(ends.some((d) => String(d["error"]).includes("expired") && d["ended"] === "token_expired")).toBe(true);
  });

  test("a statement running at expiry finishes with its rows, then the session ends", async () => {
    const jwt = await token(gw.dir, "2s");
    const w = await Wire.open(port, jwt, "sales-db");
    const sleep = Math.max(1, Math.ceil((expiryOf(jwt) - Date.now()) / 1000) + 2);
    const answer = await w.run(1, { type: "Query", query: `SELECT 'done' AS t FROM pg_sleep(${sleep})` });
    // The statement started before expiry and ran past it.
    expect(Date.now()).toBeGreaterThan(expiryOf(jwt));
    expect(types(answer)).toContain("DataRow");
    expect(answer.find((m) => m.type === "DataRow")?.text).toBe("done");
    // Nothing fails the statement; the FATAL comes after its ReadyForQuery (in the same read, or later).
    const ready = answer.findIndex((m) => m.type === "ReadyForQuery");
    expect(answer.slice(0, ready).some((m) => m.type === "ErrorResponse")).toBe(false);
    const rest = answer.slice(ready + 1);
    const end = rest.some((m) => m.type === "ErrorResponse") ? rest : await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    expect(end.find((m) => m.type === "ErrorResponse")?.code).toBe("28000");
  });

  test("a statement sent after expiry is not run", async () => {
    const jwt = await token(gw.dir, "2s");
    const w = await Wire.open(port, jwt, "sales-db");
    await pg.psql("CREATE TABLE IF NOT EXISTS expiry_probe (n int)");
    // Keep the session busy across the expiry, and queue a write behind it.
    const sleep = Math.max(1, Math.ceil((expiryOf(jwt) - Date.now()) / 1000) + 1);
    w.send({ type: "Query", query: `SELECT pg_sleep(${sleep})` });
    await Bun.sleep(Math.max(0, expiryOf(jwt) - Date.now()) + 300);
    w.send({ type: "Query", query: "INSERT INTO expiry_probe VALUES (1)" });
    const all = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    expect(all.filter((m) => m.type === "ReadyForQuery").length).toBe(1);
    expect(all.find((m) => m.type === "ErrorResponse")?.code).toBe("28000");
    expect((await pg.psql("SELECT count(*) FROM expiry_probe")).trim()).toContain("0");
  });

  test("an extended-protocol batch under way at expiry finishes through its Sync; then the session ends", async () => {
    const jwt = await token(gw.dir, "2s");
    const w = await Wire.open(port, jwt, "sales-db");
    // Parse, Bind, Execute before the expiry; the Sync only after it.
    w.send(
      { type: "Parse", statement: "", query: "SELECT 42 AS answer", parameterTypes: [] },
      { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] },
      { type: "Execute", portal: "", maxRows: 0 },
    );
    await Bun.sleep(Math.max(0, expiryOf(jwt) - Date.now()) + 700);
    w.send({ type: "Sync" });
    const all = await w.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
    const ready = all.findIndex((m) => m.type === "ReadyForQuery");
    expect(ready).toBeGreaterThan(0);
    expect(types(all.slice(0, ready))).toEqual(["ParseComplete", "BindComplete", "DataRow", "CommandComplete"]);
    expect(all.find((m) => m.type === "DataRow")?.text).toBe("42");
    expect(all.slice(ready + 1).find((m) => m.type === "ErrorResponse")?.code).toBe("28000");
  });

  test("a login with a token past its expiry, inside the verifier's clock skew, is refused", async () => {
    const jwt = await token(gw.dir, "1s");
    await Bun.sleep(Math.max(0, expiryOf(jwt) - Date.now()) + 500);
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
      const jwt = await token(gw2.dir, "2s");
      const w = await Wire.open(p2, jwt, "sales-db");
      await Bun.sleep(Math.max(0, expiryOf(jwt) - Date.now()) + 1500);
      const after = await w.run(1, { type: "Query", query: "SELECT 2 AS two" });
      expect(after.find((m) => m.type === "DataRow")?.text).toBe("2");
      expect(w.closed).toBe(false);
      w.close();
    } finally {
      await gw2.stop();
    }
  });
});

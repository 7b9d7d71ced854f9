// End to end: a configuration reload that removes or changes a machine key ends the PostgreSQL
// sessions opened with it (at their next idle point, FATAL 28000), and only those; a session
// with a key the reload left alone goes on. Compiled binary, real PostgreSQL.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { readRecords } from "../src/audit/reader.ts";
import { type GatewayProcess, startPostgresGateway } from "./helpers/gateway.ts";
import { Wire } from "./helpers/pg-wire.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

const KEEP = "gh_keep_0123456789abcdef0123456789abcdef";
const DROP = "gh_drop_0123456789abcdef0123456789abcdef";
const sha = (k: string) => createHash("sha256").update(k).digest("hex");
const keyLine = (name: string, key: string) => `{ name: ${name}, sha256: ${sha(key)}, groups: [apps] }`;

let pg: PostgresInstance;
let gw: GatewayProcess;
let port: number;

beforeAll(async () => {
  pg = await startPostgres();
  ({ gw, port } = await startPostgresGateway(pg, {
    identity: `machine_keys: [${keyLine("keep-bot", KEEP)}, ${keyLine("drop-bot", DROP)}]`,
    rules: `
  - name: apps
    groups: [apps]
    effect: allow
`,
  }));
});

afterAll(async () => {
  await gw?.stop();
  await pg?.stop();
});

async function reloads(): Promise<number> {
  let n = 0;
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) if (record.type === "policy.loaded") n++;
  return n;
}

test("removing a machine key ends its live session; a session with another key goes on", async () => {
  const kept = await Wire.open(port, KEEP, "sales-db");
  const dropped = await Wire.open(port, DROP, "sales-db");
  for (const w of [kept, dropped]) {
    const r = await w.run(1, { type: "Query", query: "SELECT 1 AS one" });
    expect(r.find((m) => m.type === "DataRow")?.text).toBe("1");
  }

  const before = await reloads();
  const yaml = readFileSync(gw.configPath, "utf8");
  const edited = yaml.replace(`, ${keyLine("drop-bot", DROP)}`, "");
  expect(edited).not.toBe(yaml);
  writeFileSync(gw.configPath, edited);
  gw.proc.kill("SIGHUP");
  await waitFor("the reload that removes drop-bot's key", async () => (await reloads()) > before, { intervalMs: 50 });

  const end = await dropped.until((ms) => ms.some((m) => m.type === "ErrorResponse"), 30_000);
  const fatal = end.find((m) => m.type === "ErrorResponse")!;
  expect(fatal.code).toBe("28000");
  expect(fatal.text).toContain("no longer trusts");

  const still = await kept.run(1, { type: "Query", query: "SELECT 2 AS two" });
  expect(still.find((m) => m.type === "DataRow")?.text).toBe("2");
  expect(kept.closed).toBe(false);
  kept.close();

  const ends: Record<string, unknown>[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) {
    if (record.type === "session.end") ends.push({ ...(record.details as object), subject: record.identity?.subject });
  }
  expect(ends.some((d) => d["subject"] === "drop-bot" && d["ended"] === "credential_revoked")).toBe(true);
});

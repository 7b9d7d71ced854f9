// The fast path through a real session: a statement whose shape was allowed a moment ago is not
// decided again (the gate's check is not called) but is still recorded, with its own text, before
// it is forwarded; a Bind of a known prepared statement in a new batch likewise. Anything that
// changes what the decision depends on sends it back to the slow path.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { types, Wire } from "../../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../../test/helpers/pg-target.ts";
import type { FrontendMessage } from "../protocol/frontend-message.ts";

setDefaultTimeout(60_000);

let harness: PostgresWithTarget;
let checks: string[] = [];

beforeAll(async () => {
  harness = await startPostgresWithTarget(
    `CREATE SCHEMA sales; CREATE TABLE sales.t (id int, n text, email text); INSERT INTO sales.t VALUES (1, 'one', 'a@example.com'), (2, 'two', 'b@example.com');
     CREATE SCHEMA hr; CREATE TABLE hr.t (id int, n text); INSERT INTO hr.t VALUES (1, 'hr secret');`,
    {
      identities: { ann: devIdentity("ann", "analysts") },
      wrapCheck: (check) => async (action, ctx = {}) => {
        if (action.request.kind === "postgres") checks.push(action.request.sql ?? "");
        return await check(action, ctx);
      },
      rules: `
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read, set, transaction], tables: ["sales.*"] }
    effect: allow
    mask: { columns: [email] }
`,
    },
  );
});

afterAll(async () => {
  await harness?.stop();
});

const Q = (query: string): FrontendMessage => ({ type: "Query", query });
const rows = (ms: { type: string; text?: string }[]) => ms.filter((m) => m.type === "DataRow").map((m) => m.text);

async function decisions(): Promise<{ sql: string; effect: string; details: unknown }[]> {
  return (await harness.records())
    .filter((r) => r.type === "decision")
    .map((r) => ({ sql: String((r.action as { sql?: unknown }).sql ?? ""), effect: String(r.decision?.effect), details: r.details }));
}

test("a known shape in a simple Query is recorded with its own text but not decided again", async () => {
  checks = [];
  const w = await Wire.open(harness.target.port, "ann");
  try {
    expect(rows(await w.run(1, Q("SELECT id, n, email FROM sales.t WHERE id = 1")))).toEqual(["1|one|[masked]"]);
    expect(rows(await w.run(1, Q("select id, n, email from sales.t where id = 2 -- again")))).toEqual(["2|two|[masked]"]);
    // Another shape is decided; a change of search_path makes the first shape another analysis.
    expect(types(await w.run(1, Q("SELECT n FROM hr.t WHERE id = 1")))).toEqual(["E:42501", "ReadyForQuery"]);
    await w.run(1, Q("SET search_path = hr, public"));
    expect(types(await w.run(1, Q("SELECT id, n, email FROM sales.t WHERE id = 3")))).toEqual(["RowDescription", "CommandComplete", "ReadyForQuery"]);
  } finally {
    w.close();
  }
  expect(checks).toEqual(["SELECT id, n, email FROM sales.t WHERE id = 1", "SELECT n FROM hr.t WHERE id = 1", "SET search_path = hr, public", "SELECT id, n, email FROM sales.t WHERE id = 3"]);
  const mine = (await decisions()).filter((d) => d.sql.includes("sales.t") || d.sql.includes("hr.t"));
  expect(mine.map((d) => [d.sql, d.effect])).toEqual([
    ["SELECT id, n, email FROM sales.t WHERE id = 1", "allow"],
    ["select id, n, email from sales.t where id = 2 -- again", "allow"],
    ["SELECT n FROM hr.t WHERE id = 1", "deny"],
    ["SELECT id, n, email FROM sales.t WHERE id = 3", "allow"],
  ]);
});

test("a Bind of a known prepared statement in a new batch is recorded but not decided again", async () => {
  checks = [];
  const sql = "SELECT n, email FROM sales.t WHERE id = $1";
  const w = await Wire.open(harness.target.port, "ann");
  const bind = (v: string): FrontendMessage[] => [
    { type: "Bind", portal: "", statement: "fp", parameterFormats: [], parameters: [new TextEncoder().encode(v)], resultFormats: [] },
    { type: "Execute", portal: "", maxRows: 0 },
    { type: "Sync" },
  ];
  try {
    await w.run(1, { type: "Parse", statement: "fp", query: sql, parameterTypes: [] }, { type: "Describe", target: "S", name: "fp" }, { type: "Sync" });
    expect(rows(await w.run(1, ...bind("1")))).toEqual(["one|[masked]"]);
    expect(rows(await w.run(1, ...bind("2")))).toEqual(["two|[masked]"]);
  } finally {
    w.close();
  }
  expect(checks).toEqual([sql]);
  const mine = (await decisions()).filter((d) => d.sql === sql);
  expect(mine.map((d) => [d.effect, (d.details as { at?: string } | undefined)?.at ?? "parse"])).toEqual([
    ["allow", "parse"],
    ["allow", "bind"],
    ["allow", "bind"],
  ]);
});

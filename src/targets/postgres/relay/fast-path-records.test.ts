// The records of the fast path as the gateway writes them (appendSync from templates, the
// action and details serialised from per-shape fragments): each line is the canonical JSON of
// its record (verify recomputes every hash from the parsed record), and each says what the
// slow path's record of the same statement would say, with its own text, rows and tag.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Wire } from "../../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../../test/helpers/pg-target.ts";
import { verifyLog } from "../../../audit/verify.ts";
import type { AuditRecord } from "../../../audit/record.ts";
import type { FrontendMessage } from "../protocol/frontend-message.ts";

setDefaultTimeout(60_000);

let harness: PostgresWithTarget;
let checks: string[] = [];

beforeAll(async () => {
  harness = await startPostgresWithTarget(
    `CREATE SCHEMA sales; CREATE TABLE sales.t (id int, n text, email text); INSERT INTO sales.t VALUES (1, 'one', 'a@example.com'), (2, 'two "quoted" \\ é', 'b@example.com'), (3, 'three', NULL);`,
    {
      identities: { ann: devIdentity("ann", "analysts") },
      wholeLog: true,
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

/** The records of statements whose text contains `marker`, by type, in order. */
async function recordsOf(marker: string): Promise<{ decisions: AuditRecord[]; statements: AuditRecord[] }> {
  const all = (await harness.records()).filter((r) => String((r.action as { sql?: unknown } | undefined)?.sql ?? "").includes(marker));
  return { decisions: all.filter((r) => r.type === "decision"), statements: all.filter((r) => r.type === "statement") };
}

/** A record without what differs between two statements of one shape. */
function shapeOf(r: AuditRecord): unknown {
  const { seq: _s, time: _t, prev: _p, hash: _h, ...rest } = r;
  const action = { ...(r.action as Record<string, unknown>), sql: "-" };
  const details = r.details === undefined ? undefined : { ...(r.details as Record<string, unknown>), duration_ms: 0, rows: 0, tag: "-", masked_cells: 0 };
  return { ...rest, action, ...(details !== undefined ? { details } : {}) };
}

test("simple protocol: the fast path's records are canonical and say what the slow path's say, with each statement's text and outcome", async () => {
  checks = [];
  const w = await Wire.open(harness.target.port, "ann");
  const texts = ["SELECT id, n, email FROM sales.t WHERE id >= 1 /* simple */", "SELECT id, n, email FROM sales.t WHERE id >= 2 /* simple */", "select id, n, email from sales.t where id >= 3 /* simple */ -- é \"x\""];
  try {
    for (const t of texts) await w.run(1, Q(t));
  } finally {
    w.close();
  }
  // Only the first was decided: the other two took the fast path.
  expect(checks.filter((c) => c.includes("/* simple */"))).toEqual([texts[0]!]);
  const { decisions, statements } = await recordsOf("/* simple */");
  expect(decisions.map((r) => (r.action as { sql: string }).sql)).toEqual(texts);
  expect(statements.map((r) => (r.action as { sql: string }).sql)).toEqual(texts);
  expect(statements.map((r) => [(r.details as { rows: number }).rows, (r.details as { tag: string }).tag, (r.details as { outcome: string }).outcome])).toEqual([
    [3, "SELECT 3", "complete"],
    [2, "SELECT 2", "complete"],
    [1, "SELECT 1", "complete"],
  ]);
  for (const r of statements) expect(typeof (r.details as { duration_ms: unknown }).duration_ms).toBe("number");
  // The fast path's records equal the slow path's but for text, rows, tag and duration.
  expect(decisions.map(shapeOf)).toEqual([shapeOf(decisions[0]!), shapeOf(decisions[0]!), shapeOf(decisions[0]!)]);
  expect(statements.map(shapeOf)).toEqual([shapeOf(statements[0]!), shapeOf(statements[0]!), shapeOf(statements[0]!)]);
  expect(await verifyLog(harness.auditPath)).toMatchObject({ ok: true });
});

test("extended protocol: Binds of a known prepared statement are recorded canonically, each with its outcome", async () => {
  checks = [];
  const sql = "SELECT n, email FROM sales.t WHERE id = $1 /* prepared */";
  const w = await Wire.open(harness.target.port, "ann");
  const bind = (v: string): FrontendMessage[] => [
    { type: "Bind", portal: "", statement: "fr", parameterFormats: [], parameters: [new TextEncoder().encode(v)], resultFormats: [] },
    { type: "Execute", portal: "", maxRows: 0 },
    { type: "Sync" },
  ];
  try {
    await w.run(1, { type: "Parse", statement: "fr", query: sql, parameterTypes: [] }, { type: "Sync" });
    for (const v of ["1", "2", "9"]) await w.run(1, ...bind(v));
  } finally {
    w.close();
  }
  expect(checks).toEqual([sql]);
  const { decisions, statements } = await recordsOf("/* prepared */");
  expect(decisions.map((r) => (r.details as { at?: string }).at ?? "parse")).toEqual(["parse", "bind", "bind", "bind"]);
  expect(decisions.slice(1).map(shapeOf)).toEqual([shapeOf(decisions[1]!), shapeOf(decisions[1]!), shapeOf(decisions[1]!)]);
  expect(statements.map((r) => [(r.action as { sql: string }).sql, (r.details as { rows: number }).rows, (r.details as { tag: string }).tag])).toEqual([
    [sql, 1, "SELECT 1"],
    [sql, 1, "SELECT 1"],
    [sql, 0, "SELECT 0"],
  ]);
  expect(await verifyLog(harness.auditPath)).toMatchObject({ ok: true });
});

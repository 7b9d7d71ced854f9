// The records of the fast path as the gateway writes them (appendSync from templates, the
// action and details serialised from per-shape fragments): each line is the canonical JSON of
// its record (verify recomputes every hash from the parsed record), and each says what the
// slow path's record of the same statement would say, with its own text, rows and tag.
// One record per statement: a fast-path statement's completion rides on the session's next
// decision record (`details.completed`, naming its decision record's seq); a completion with no
// decision record after it (the session ended, the client went quiet) is a record of its own.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { Wire } from "../../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startInProcessTarget, startPostgresWithTarget } from "../../../../test/helpers/pg-target.ts";
import { waitFor } from "../../../../test/helpers/wait.ts";
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
      // Long enough that no completion is written on its own while the test's client is between
      // statements: which form each takes is then fixed (the last test shortens it).
      completionWaitMs: 60_000,
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

/** Closes the client and waits for its session's end: a completion still held is written just before session.end. */
async function closeAndWaitForEnd(w: Wire, h: { records(): Promise<AuditRecord[]> } = harness): Promise<void> {
  const ends = async () => (await h.records()).filter((r) => r.type === "session.end").length;
  const before = await ends();
  w.close();
  await waitFor("the session's end record", async () => ((await ends()) > before ? true : null));
}

/** The records of statements whose text contains `marker`, by type, in order. */
async function recordsOf(marker: string): Promise<{ decisions: AuditRecord[]; statements: AuditRecord[] }> {
  const all = (await harness.records()).filter((r) => String((r.action as { sql?: unknown } | undefined)?.sql ?? "").includes(marker));
  return { decisions: all.filter((r) => r.type === "decision"), statements: all.filter((r) => r.type === "statement") };
}

/** A record without what differs between two statements of one shape (and without the completions it carries). */
function shapeOf(r: AuditRecord): unknown {
  const { seq: _s, time: _t, prev: _p, hash: _h, ...rest } = r;
  const action = { ...(r.action as Record<string, unknown>), sql: "-" };
  const details = r.details === undefined ? undefined : { ...(r.details as Record<string, unknown>), duration_ms: 0, rows: 0, tag: "-", masked_cells: 0, completed: undefined };
  return { ...rest, action, ...(details !== undefined ? { details } : {}) };
}

type Entry = { decision: number; rows: number; tag: string; outcome: string; duration_ms: number; masked_cells?: number };
const completedOf = (r: AuditRecord): Entry[] | undefined => (r.details as { completed?: Entry[] } | undefined)?.completed;

test("simple protocol: the fast path's records are canonical and say what the slow path's say, with each statement's text and outcome", async () => {
  checks = [];
  const w = await Wire.open(harness.target.port, "ann");
  const texts = ["SELECT id, n, email FROM sales.t WHERE id >= 1 /* simple */", "SELECT id, n, email FROM sales.t WHERE id >= 2 /* simple */", "select id, n, email from sales.t where id >= 3 /* simple */ -- é \"x\""];
  try {
    for (const t of texts) await w.run(1, Q(t));
  } finally {
    await closeAndWaitForEnd(w);
  }
  // Only the first was decided: the other two took the fast path.
  expect(checks.filter((c) => c.includes("/* simple */"))).toEqual([texts[0]!]);
  const { decisions, statements } = await recordsOf("/* simple */");
  expect(decisions.map((r) => (r.action as { sql: string }).sql)).toEqual(texts);
  // The first (slow path) and the last (the session ended before another decision) have records of
  // their own; the second's completion rides on the third's decision record, naming its own.
  expect(statements.map((r) => (r.action as { sql: string }).sql)).toEqual([texts[0]!, texts[2]!]);
  expect(statements.map((r) => [(r.details as { rows: number }).rows, (r.details as { tag: string }).tag, (r.details as { outcome: string }).outcome])).toEqual([
    [3, "SELECT 3", "complete"],
    [1, "SELECT 1", "complete"],
  ]);
  for (const r of statements) expect(typeof (r.details as { duration_ms: unknown }).duration_ms).toBe("number");
  expect(decisions.map(completedOf)).toEqual([undefined, undefined, [{ decision: decisions[1]!.seq, rows: 2, tag: "SELECT 2", outcome: "complete", masked_cells: 1, duration_ms: expect.any(Number) }]]);
  // The fast path's records equal the slow path's but for text, rows, tag, duration and what they carry.
  expect(decisions.map(shapeOf)).toEqual([shapeOf(decisions[0]!), shapeOf(decisions[0]!), shapeOf(decisions[0]!)]);
  expect(statements.map(shapeOf)).toEqual([shapeOf(statements[0]!), shapeOf(statements[0]!)]);
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
    await closeAndWaitForEnd(w);
  }
  expect(checks).toEqual([sql]);
  const { decisions, statements } = await recordsOf("/* prepared */");
  expect(decisions.map((r) => (r.details as { at?: string }).at ?? "parse")).toEqual(["parse", "bind", "bind", "bind"]);
  expect(decisions.slice(1).map(shapeOf)).toEqual([shapeOf(decisions[1]!), shapeOf(decisions[1]!), shapeOf(decisions[1]!)]);
  // Each Bind's decision record carries the completion of the run before it, naming that run's
  // decision record; the last run's completion is a record of its own (the session ended).
  const entry = (decision: AuditRecord, rows: number) => [{ decision: decision.seq, rows, tag: `SELECT ${rows}`, outcome: "complete", masked_cells: 1, duration_ms: expect.any(Number) }];
  expect(decisions.map(completedOf)).toEqual([undefined, undefined, entry(decisions[1]!, 1), entry(decisions[2]!, 1)]);
  expect(statements.map((r) => [(r.action as { sql: string }).sql, (r.details as { rows: number }).rows, (r.details as { tag: string }).tag])).toEqual([[sql, 0, "SELECT 0"]]);
  expect(await verifyLog(harness.auditPath)).toMatchObject({ ok: true });
});

test("extended protocol, the unnamed statement parsed for every query (most drivers): a known shape's Parse takes the fast path, and completions ride on the next Parse's record", async () => {
  checks = [];
  const sql = (v: number) => `SELECT n FROM sales.t WHERE id = ${v} /* unnamed */`;
  const w = await Wire.open(harness.target.port, "ann");
  const once = (v: number): FrontendMessage[] => [
    { type: "Parse", statement: "", query: sql(v), parameterTypes: [] },
    { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] },
    { type: "Execute", portal: "", maxRows: 0 },
    { type: "Sync" },
  ];
  try {
    for (const v of [1, 2, 3]) await w.run(1, ...once(v));
  } finally {
    await closeAndWaitForEnd(w);
  }
  expect(checks).toEqual([sql(1)]); // the other two: the fast path
  const { decisions, statements } = await recordsOf("/* unnamed */");
  expect(decisions.map((r) => (r.action as { sql: string }).sql)).toEqual([sql(1), sql(2), sql(3)]);
  expect(decisions.slice(1).map(shapeOf)).toEqual([shapeOf(decisions[0]!), shapeOf(decisions[0]!)]);
  expect(decisions.map(completedOf)).toEqual([undefined, undefined, [{ decision: decisions[1]!.seq, rows: 1, tag: "SELECT 1", outcome: "complete", duration_ms: expect.any(Number) }]]);
  expect(statements.map((r) => (r.action as { sql: string }).sql)).toEqual([sql(1), sql(3)]);
  expect(await verifyLog(harness.auditPath)).toMatchObject({ ok: true });
});

test("a completion no decision record follows soon is written on its own, once", async () => {
  const quick = await startInProcessTarget(harness.pg, {
    identities: { ann: devIdentity("ann", "analysts") },
    wholeLog: true,
    completionWaitMs: 1,
    rules: `
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
`,
  });
  const statementsIn = async () => (await quick.records()).filter((r) => r.type === "statement" && String((r.action as { sql?: string }).sql).includes("/* quiet */"));
  const w = await Wire.open(quick.target.port, "ann");
  try {
    await w.run(1, Q("SELECT id FROM sales.t WHERE id = 1 /* quiet */")); // slow path: a record of its own at once
    await w.run(1, Q("SELECT id FROM sales.t WHERE id = 2 /* quiet */")); // fast path: held
    // The session stays open and quiet: the held completion is written on its own.
    await waitFor("the held completion's own record", async () => ((await statementsIn()).length === 2 ? true : null));
    await w.run(1, Q("SELECT id FROM sales.t WHERE id = 3 /* quiet */"));
  } finally {
    await closeAndWaitForEnd(w, quick);
  }
  const records = await quick.records();
  const quiet = records.filter((r) => String((r.action as { sql?: string } | undefined)?.sql ?? "").includes("/* quiet */"));
  // The third decision carries nothing: the second's completion is already in the log, and only once.
  expect(quiet.filter((r) => r.type === "decision").map(completedOf)).toEqual([undefined, undefined, undefined]);
  expect((await statementsIn()).map((r) => (r.details as { rows: number }).rows)).toEqual([1, 1, 1]);
  expect(await verifyLog(quick.auditPath)).toMatchObject({ ok: true });
  await quick.stop();
});

// The fast path in batch mode with more than one session: a known statement's decision record is
// written with the turn's other records (Gate.queueKnown) and the statement is forwarded only
// after that write. When the turn's write fails, the statement is never forwarded: the session
// ends with FATAL 58030 before any row, and the other session goes on.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { types, Wire } from "../../../../test/helpers/pg-wire.ts";
import { devIdentity, type PostgresWithTarget, startPostgresWithTarget } from "../../../../test/helpers/pg-target.ts";
import { GatewayError } from "../../../core/errors.ts";
import type { FrontendMessage } from "../protocol/frontend-message.ts";

setDefaultTimeout(60_000);

let harness: PostgresWithTarget;
let failTurn = false;
let turnWrites = 0;

beforeAll(async () => {
  harness = await startPostgresWithTarget(`CREATE SCHEMA sales; CREATE TABLE sales.t (id int, n text); INSERT INTO sales.t VALUES (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four');`, {
    identities: { ann: devIdentity("ann", "analysts"), bob: devIdentity("bob", "analysts") },
    // The whole log, with the turn's write failing on demand (as a full disk would fail it).
    wrapAudit: (log) => ({
      append: (e, o) => log.append(e as Parameters<typeof log.append>[0], o),
      appendSync: (t, v, o) => log.appendSync(t, v, o),
      flush: () => log.flush(),
      flushSoon: () => {
        turnWrites++;
        return failTurn ? Promise.reject(new GatewayError("E_AUDIT_WRITE", "audit log write failed: test: the disk is full")) : log.flushSoon();
      },
      sync: () => log.sync(),
      durability: log.durability,
    }),
    rules: `
  - name: analysts
    groups: [analysts]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
`,
  });
});

afterAll(async () => {
  await harness?.stop();
});

const Q = (query: string): FrontendMessage => ({ type: "Query", query });
const rows = (ms: { type: string; text?: string }[]) => ms.filter((m) => m.type === "DataRow").map((m) => m.text);

test("known statements of two sessions are forwarded after the turn's write; when it fails, nothing is forwarded and that session ends with 58030", async () => {
  const a = await Wire.open(harness.target.port, "ann");
  const b = await Wire.open(harness.target.port, "bob");
  try {
    // Each session decides the shape once (slow path), then runs it known, the sessions alternating.
    expect(rows(await a.run(1, Q("SELECT n FROM sales.t WHERE id = 1")))).toEqual(["one"]);
    expect(rows(await b.run(1, Q("SELECT n FROM sales.t WHERE id = 1")))).toEqual(["one"]);
    turnWrites = 0;
    expect(rows(await a.run(1, Q("SELECT n FROM sales.t WHERE id = 2")))).toEqual(["two"]);
    expect(rows(await b.run(1, Q("SELECT n FROM sales.t WHERE id = 3")))).toEqual(["three"]);
    expect(turnWrites).toBeGreaterThan(0); // they went through the turn's write
    const records = (await harness.records()).filter((r) => r.type === "decision").map((r) => String((r.action as { sql?: unknown }).sql));
    expect(records).toContain("SELECT n FROM sales.t WHERE id = 2");
    expect(records).toContain("SELECT n FROM sales.t WHERE id = 3");

    failTurn = true;
    const answer = await a.run(1, Q("SELECT n FROM sales.t WHERE id = 4"));
    failTurn = false;
    // No row: the statement was never forwarded; the first answer is the FATAL.
    expect(types(answer)).toEqual(["E:58030"]);
    expect(answer[0]!.text).toContain("audit log unavailable, statement not run");
    // The other session goes on.
    const after = await b.run(1, Q("SELECT n FROM sales.t WHERE id = 2"));
    expect(types(after)).toEqual(["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]);
    expect(rows(after)).toEqual(["two"]);
  } finally {
    a.close();
    b.close();
  }
});

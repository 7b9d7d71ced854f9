// The PostgreSQL bypass corpus (corpus.ts) through an MCP SQL tool with the database's catalog
// behind it: a real PostgreSQL holding the corpus's schema, the postgres target's Catalog on it,
// and the corpus policy's intent written as mcp rules. Each attempt is classified and decided as
// the MCP runtime does (sql-catalog.ts, decide, sql-builtins.ts), never run. What the catalog
// shows (views, inheritance, user code) is denied; what is left needs column masks (an MCP
// result is masked by detectors over its text) or startup parameters (an MCP caller sends none).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startMcpSqlFixture, type McpSqlFixture } from "../helpers/mcp-sql-fixture.ts";
import { CORPUS, type Who } from "./corpus.ts";

setDefaultTimeout(120_000);

let fx: McpSqlFixture;

beforeAll(async () => {
  fx = await startMcpSqlFixture();
});
afterAll(async () => {
  await fx?.close();
});

const decideCall = (who: Who, sql: string) => fx.decideCall(who, sql);

describe("the PostgreSQL bypass corpus through an MCP SQL tool, with the catalog", () => {
  test("the corpus: every denied attempt is denied, except those whose denial needs column masks or startup parameters", async () => {
    const fill = (sql: string) => sql.replaceAll("$SENTINEL", "/tmp/sentinel").replaceAll("$SECRET_FILE", "/tmp/secret");
    const attempts = CORPUS.filter((a) => a.expect === "denied" && (a.client ?? "wire") === "wire" && "steps" in a && a.steps.every((s) => "sql" in s));
    expect(attempts.length).toBeGreaterThan(250);
    // Masks: MCP results are masked by detectors over their text, not by column; this policy has no masks.
    const GAPS = new Set(["masked-copy", "copy", "literal-divergence"]);
    // Sent one call each, its view is refused only once the first call has made it: the next test runs that.
    const RUN_FIRST = new Set(["r4-block-view-over-user-function"]);
    const through: string[] = [];
    const gaps: Record<string, number> = {};
    const catalogFailures: string[] = [];
    for (const a of attempts) {
      if (!("steps" in a)) continue;
      const sqls = a.steps.map((s) => fill((s as { sql: string }).sql));
      const joined = await decideCall(a.who, sqls.join(";\n"));
      // Sent at once, as agents may: the classifier takes them in turn.
      const each = sqls.length === 1 ? [joined] : await Promise.all(sqls.map((s) => decideCall(a.who, s)));
      for (const d of [joined, ...each]) if (d.why.includes("cannot read the database catalog")) catalogFailures.push(`${a.id}: ${d.why}`);
      if (joined.effect === "deny" && each.some((e) => e.effect === "deny")) continue;
      if (GAPS.has(a.category)) gaps[a.category] = (gaps[a.category] ?? 0) + 1;
      else if (RUN_FIRST.has(a.id)) continue;
      else through.push(`${a.id} (${a.who}, ${a.category}): ${JSON.stringify(sqls).slice(0, 160)} → ${joined.effect} ${joined.why}`);
    }
    // A denial because the catalog could not be read would make this test pass for the wrong reason.
    expect(catalogFailures).toEqual([]);
    expect(through).toEqual([]);
    expect(gaps).toEqual({ "masked-copy": 19, copy: 7, "literal-divergence": 3 });
  }, 900_000);
});

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { AuditRecord } from "./record.ts";
import { Checkpoint } from "./checkpoint.ts";
import { schemaChecker } from "./schema-checker.ts";

const ROOT = resolve(import.meta.dir, "../..");

test("a schema is compiled only after `compileAfter` checks, once, and checks alike before and after", () => {
  let compiles = 0;
  const checker = schemaChecker(Checkpoint, {
    compileAfter: 3,
    compile: (s) => {
      compiles++;
      return TypeCompiler.Compile(s);
    },
  });
  const good = { seq: 1, hash: "a".repeat(64), time: "2026-12-07T00:00:00.000Z", key_id: "0123456789abcdef", signature: "A".repeat(86) };
  const bad = { ...good, seq: -1 };
  const verdicts: boolean[] = [];
  for (let i = 0; i < 6; i++) {
    verdicts.push(checker.check(i % 2 === 0 ? good : bad));
    expect(compiles).toBe(i < 2 ? 0 : 1);
  }
  expect(verdicts).toEqual([true, false, true, false, true, false]);
  expect(checker.explain(bad, "x")).toBe("/seq: Expected integer to be greater or equal to 0");
});

/** Records as the gateway writes them, and each with one thing wrong. */
function corpus(): unknown[] {
  const lines = readFileSync(join(ROOT, "fixtures/recordings/audit.log"), "utf8").trim().split("\n");
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const out: unknown[] = [...records, null, 7, "x", [], {}];
  for (const r of records) {
    out.push({ ...r, seq: 0 }, { ...r, seq: 1.5 }, { ...r, hash: "A".repeat(64) }, { ...r, time: "2026-12-07" }, { ...r, extra: 1 });
    out.push({ ...r, type: "" }, { ...r, identity: { ...(r["identity"] as object), groups: "ops" } }, { ...r, decision: { effect: "maybe", rule: null } });
    out.push({ ...r, identity: { method: "x", subject: "s", issuer: "i", groups: [], claims: { a: [1, "b", true] } } });
    out.push({ ...r, identity: { method: "x", subject: "s", issuer: "i", groups: [], claims: { a: { nested: 1 } } } });
    const { prev: _p, ...noPrev } = r;
    out.push(noPrev);
  }
  return out;
}

test("interpreted and compiled checks of the audit record agree (a differential test over real and broken records)", () => {
  const compiled = TypeCompiler.Compile(AuditRecord);
  const interpreted = schemaChecker(AuditRecord, { compileAfter: Number.POSITIVE_INFINITY });
  const values = corpus();
  let valid = 0;
  for (const v of values) {
    const want = compiled.Check(v);
    if (want) valid++;
    expect({ v, ok: interpreted.check(v) }).toEqual({ v, ok: want });
    if (!want) {
      const first = compiled.Errors(v).First();
      expect(interpreted.explain(v, "none")).toBe(first ? `${first.path || "/"}: ${first.message}` : "none");
    }
  }
  // Both kinds are there: the corpus is not all good or all bad.
  expect(valid).toBeGreaterThan(10);
  expect(values.length - valid).toBeGreaterThan(100);
});

test("importing the audit record and checkpoint modules compiles no schema (a start pays for none)", async () => {
  // A fresh process: this one has the modules loaded already.
  const script = `
    import { TypeCompiler } from "@sinclair/typebox/compiler";
    let compiles = 0;
    const compile = TypeCompiler.Compile;
    TypeCompiler.Compile = (...a) => { compiles++; return compile(...a); };
    const record = await import(${JSON.stringify(join(ROOT, "src/audit/record.ts"))});
    await import(${JSON.stringify(join(ROOT, "src/audit/checkpoint.ts"))});
    const atImport = compiles;
    record.prepareRecord({ type: "gateway.start" }, 1, "2026-12-07T00:00:00.000Z", record.ZERO_HASH);
    const afterOneRecord = compiles;
    // TypeBox's own compiler, loaded when first needed: compiled once it is there.
    const { schemaChecker } = await import(${JSON.stringify(join(ROOT, "src/audit/schema-checker.ts"))});
    const { Checkpoint } = await import(${JSON.stringify(join(ROOT, "src/audit/checkpoint.ts"))});
    const checker = schemaChecker(Checkpoint, { compileAfter: 2 });
    checker.check({}); checker.check({});
    await import("@sinclair/typebox/compiler");
    const good = { seq: 1, hash: "a".repeat(64), time: "2026-12-07T00:00:00.000Z", key_id: "0123456789abcdef", signature: "A".repeat(86) };
    const verdicts = [checker.check({}), checker.check(good)];
    console.log(JSON.stringify({ atImport, afterOneRecord, afterLoad: compiles, verdicts }));
  `;
  const p = Bun.spawn([process.execPath, "-e", script], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  expect(JSON.parse(out)).toEqual({ atImport: 0, afterOneRecord: 0, afterLoad: 1, verdicts: [false, true] });
});

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testCommand } from "./test.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-testcmd-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function capture() {
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s), color: false, env: {}, signal: new AbortController().signal };
  return { io, out: () => out, err: () => err };
}

const REPO = join(import.meta.dir, "../..");
const RULES = "rules:\n  - { name: ro, effect: allow, http: { methods: [GET] } }\n";
const caseText = (name: string, method: string, effect: string) =>
  `  - name: ${name}\n    identity: { sub: a }\n    target: api\n    request: { http: { method: ${method}, path: /x } }\n    expect: { effect: ${effect} }\n`;

test("the bundled example policies pass their tests", async () => {
  const c = capture();
  const code = await testCommand.run([join(REPO, "policies")], c.io);
  expect(c.out()).not.toContain("✗");
  expect(code).toBe(0);
  expect(c.out()).toMatch(/\n\d+ passed, 0 failed\n$/);
});

test("failures print ✗, expected and got, and exit 1", async () => {
  await Bun.write(join(root, "fail/rules.yaml"), RULES);
  await Bun.write(join(root, "fail/t.test.yaml"), `cases:\n${caseText("get is allowed", "GET", "allow")}${caseText("post is wrongly expected", "POST", "allow")}`);
  const c = capture();
  expect(await testCommand.run([join(root, "fail/t.test.yaml")], c.io)).toBe(1);
  const out = c.out();
  expect(out).toContain("  ✓ get is allowed\n");
  expect(out).toContain(`  ✗ post is wrongly expected (${join(root, "fail/t.test.yaml")}:7)\n      expected effect=allow, got effect=deny rule=(none); (no rule allows this request)\n`);
  expect(out).toEndWith("\n1 passed, 1 failed\n");
});

test("--json prints the report", async () => {
  const c = capture();
  expect(await testCommand.run([join(root, "fail"), "--json"], c.io)).toBe(1);
  const report = JSON.parse(c.out());
  expect([report.passed, report.failed, report.invalid]).toEqual([1, 1, 0]);
});

test("invalid files and usage errors exit 2", async () => {
  await Bun.write(join(root, "invalid/rules.yaml"), RULES);
  await Bun.write(join(root, "invalid/t.test.yaml"), "cases:\n  - name: x\n");
  const c = capture();
  expect(await testCommand.run([join(root, "invalid")], c.io)).toBe(2);
  expect(c.out()).toContain("cannot run (E_CONFIG_INVALID)");
  expect(c.out()).toContain(`${join(root, "invalid/t.test.yaml")}:2:5: cases[0]: missing required key "identity"`);
  expect(await testCommand.run([], capture().io)).toBe(2);
  expect(await testCommand.run([join(root, "nothing-here")], capture().io)).toBe(2);
  await Bun.write(join(root, "empty/rules.yaml"), RULES);
  expect(await testCommand.run([join(root, "empty")], capture().io)).toBe(2);
});

test("cases written as SQL are read by the gateway's own analysis (one statement each; SQL it cannot parse is denied)", async () => {
  await Bun.write(join(root, "sql/rules.yaml"), 'rules:\n  - { name: read-sales, effect: allow, groups: [analysts], postgres: { classes: [read], tables: ["sales.*"] } }\n');
  const sqlCase = (name: string, sql: string, expect: string) =>
    `  - name: ${name}\n    identity: { sub: a, groups: [analysts] }\n    target: db\n    request: { postgres: { sql: ${JSON.stringify(sql)} } }\n    expect: ${expect}\n`;
  await Bun.write(
    join(root, "sql/t.test.yaml"),
    `cases:\n${sqlCase("read sales", "SELECT o.id FROM sales.orders o", "{ effect: allow, rule: read-sales }")}${sqlCase("join hr", "SELECT * FROM sales.orders JOIN hr.x USING (id)", "{ effect: deny, rule: null }")}${sqlCase("unqualified is public", "SELECT * FROM orders", "{ effect: deny, rule: null }")}${sqlCase("garbage", "SELEC 1", "{ effect: deny, rule: null }")}${sqlCase("two statements", "SELECT 1; SELECT 2", "{ effect: deny, rule: null, message: x }")}`,
  );
  const c = capture();
  expect(await testCommand.run([join(root, "sql/t.test.yaml")], c.io)).toBe(1);
  const out = c.out();
  for (const ok of ["read sales", "join hr", "unqualified is public", "garbage"]) expect(out).toContain(`✓ ${ok}\n`);
  expect(out).toContain("✗ two statements");
  expect(out).toContain("a test case's sql must be one statement (found 2)");
});

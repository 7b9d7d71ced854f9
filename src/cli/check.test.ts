import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkCommand } from "./check.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-check-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function capture(env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s), color: false, env, signal: new AbortController().signal };
  return { io, out: () => out, err: () => err };
}

const REPO = join(import.meta.dir, "../..");

test("a valid configuration prints counts, the policy hash and warnings", async () => {
  const c = capture();
  expect(await checkCommand.run([join(REPO, "policies/prod-approval")], c.io)).toBe(0);
  const lines = c.out().trim().split("\n");
  expect(lines[0]).toMatch(/^ok: 0 targets, 4 rules, policy [0-9a-f]{12}$/);
  expect(lines[1]).toContain(`warning: ${join(REPO, "policies/prod-approval/gatehouse.yaml")}:`);
  expect(lines[1]).toContain(`targets glob "prod-*" matches no target`);
});

test("a missing secret fails unless --skip-secrets", async () => {
  const dir = join(REPO, "policies/sales-hours");
  const missing = capture();
  expect(await checkCommand.run([dir], missing.io)).toBe(1);
  expect(missing.err()).toContain("targets[0].upstream.password: environment variable SALES_DB_PASSWORD is not set");
  expect(await checkCommand.run([dir, "--skip-secrets"], capture().io)).toBe(0);
  expect(await checkCommand.run([dir], capture({ SALES_DB_PASSWORD: "pw" }).io)).toBe(0);
});

test("errors are printed as file:line:col lines, and as JSON with --json", async () => {
  const file = join(root, "bad.yaml");
  await Bun.write(file, "rules:\n  - name: r\n    effect: alow\n");
  const c = capture();
  expect(await checkCommand.run([file], c.io)).toBe(1);
  expect(c.err()).toContain(`${file}:3:5: rules[0].effect: expected one of "allow", "deny", "review", got "alow"`);
  const j = capture();
  expect(await checkCommand.run([file, "--json"], j.io)).toBe(1);
  const report = JSON.parse(j.out());
  expect(report.ok).toBe(false);
  expect(report.code).toBe("E_CONFIG_INVALID");
  expect(report.issues).toEqual([{ file, line: 3, col: 5, path: "rules[0].effect", message: `expected one of "allow", "deny", "review", got "alow"` }]);
});

test("usage errors exit 2", async () => {
  expect(await checkCommand.run([], capture().io)).toBe(2);
  expect(await checkCommand.run(["a", "b"], capture().io)).toBe(2);
  expect(await checkCommand.run(["--nope", "a"], capture().io)).toBe(2);
});

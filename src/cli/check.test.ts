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

test("every secret reference that cannot be read is named at its file:line:column, without any value", async () => {
  const dir = join(root, "secret-refs");
  await Bun.write(join(dir, "secrets/good"), "s3cret-good-value\n");
  await Bun.write(join(dir, "secrets/empty"), "");
  const yaml = `identity: { machine_keys: [] }
targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, database: app, user: app, password: "\${file:secrets/good}" }
  - name: api
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:1
    headers:
      authorization: "Bearer \${file:secrets/missing}"
      x-other: "\${file:secrets/empty}"
      x-env: "\${env:API_KEY_NOT_SET}"
rules: []
`;
  await Bun.write(join(dir, "gatehouse.yaml"), yaml);
  const bad = capture();
  expect(await checkCommand.run([join(dir, "gatehouse.yaml")], bad.io)).toBe(1);
  const file = join(dir, "gatehouse.yaml");
  expect(bad.err()).toContain(`${file}:12:7: targets[1].headers.authorization: cannot read secret file "${join(dir, "secrets/missing")}" (ENOENT)`);
  expect(bad.err()).toContain(`${file}:13:7: targets[1].headers.x-other: secret file "${join(dir, "secrets/empty")}" is empty`);
  expect(bad.err()).toContain(`${file}:14:7: targets[1].headers.x-env: environment variable API_KEY_NOT_SET is not set`);
  expect(bad.err()).not.toContain("s3cret-good-value");

  await Bun.write(join(dir, "secrets/missing"), "tok");
  await Bun.write(join(dir, "secrets/empty"), "x");
  const good = capture({ API_KEY_NOT_SET: "k" });
  expect(await checkCommand.run([file], good.io)).toBe(0);
  expect(good.out()).toContain("secret references: 4 resolved");
  expect(good.out()).not.toContain("s3cret-good-value");
});

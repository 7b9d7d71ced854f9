// The compiled binary stands alone: copied to an empty folder far from node_modules, it runs
// every command with everything embedded, and is stamped with its version and commit.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { BINARY, makeTempDir, requireBinary } from "./helpers/gateway.ts";

let dir: string;
let bin: string;

async function run(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawn([bin, ...args], { cwd: dir, env: { PATH: "/usr/bin:/bin", HOME: dir, ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { stdout, stderr, code };
}

beforeAll(() => {
  requireBinary();
  dir = makeTempDir("gatehouse-bin-");
  bin = join(dir, "gatehouse");
  copyFileSync(BINARY, bin);
  rmSync(join(dir, "node_modules"), { recursive: true, force: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("version prints the package version and a git commit", async () => {
  const r = await run(["version", "--json"]);
  expect(r.code).toBe(0);
  const v = JSON.parse(r.stdout);
  expect(v.version).toBe(pkg.version);
  expect(v.commit).toMatch(/^[0-9a-f]{7,}/);
});

test("usage errors exit 2, unknown commands too, and every command has --help", async () => {
  expect((await run([])).code).toBe(2);
  expect((await run(["frobnicate"])).code).toBe(2);
  expect((await run(["tail", "--bogus"])).code).toBe(2);
  for (const c of ["serve", "check", "test", "schema", "token", "tail", "verify", "requests", "approve", "deny", "version"]) {
    const r = await run([c, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`gatehouse ${c}`);
  }
});

test("check validates a configuration with no node_modules in reach; errors name file:line:column", async () => {
  writeFileSync(
    join(dir, "ok.yaml"),
    "identity: { dev_issuer: true }\ntargets:\n  - { name: api, kind: http, listen: 127.0.0.1:18080, upstream: http://127.0.0.1:19000 }\nrules:\n  - { name: r, http: { methods: [GET] }, effect: allow }\n",
  );
  const ok = await run(["check", "ok.yaml"]);
  expect(ok.stderr).toBe("");
  expect(ok.code).toBe(0);
  writeFileSync(join(dir, "bad.yaml"), "rules:\n  - name: r\n    effect: alow\n");
  const bad = await run(["check", "bad.yaml"]);
  expect(bad.code).toBe(1);
  expect(bad.stdout + bad.stderr).toMatch(/bad\.yaml:3:\d+/);
});

test("schema prints JSON Schema; token mints a dev token", async () => {
  const s = await run(["schema"]);
  expect(s.code).toBe(0);
  expect(JSON.parse(s.stdout).properties.rules).toBeDefined();
  const t = await run(["token", "--state-dir", join(dir, "state"), "--sub", "alice", "--groups", "a,b"]);
  expect(t.code).toBe(0);
  expect(t.stdout.trim().split(".")).toHaveLength(3);
  expect(t.stderr.toLowerCase()).toContain("development");
});

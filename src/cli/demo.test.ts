import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { schemaText } from "../config/json-schema.ts";
import { checkCommand } from "./check.ts";
import { demoAddresses, writeDemoFiles } from "./demo.ts";
import { testCommand } from "./test.ts";

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "gatehouse-demo-files-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
function capture() {
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s), color: false, env: {}, signal: new AbortController().signal };
  return { io, out: () => out, err: () => err };
}

test("the demo configuration's $schema names the schema file written beside it, which is this binary's schema", () => {
  const dir = join(root, "fresh", "gatehouse-demo");
  const configPath = writeDemoFiles(dir, quiet);
  const text = readFileSync(configPath, "utf8");
  const ref = /^# yaml-language-server: \$schema=(\S+)$/m.exec(text)?.[1];
  expect(ref).toBe("./gatehouse.schema.json");
  const schemaPath = join(dirname(configPath), ref!);
  expect(existsSync(schemaPath)).toBe(true);
  expect(readFileSync(schemaPath, "utf8")).toBe(schemaText());
});

test("the paths the demo configuration's comments name are the ones it uses in gatehouse-demo/", () => {
  const text = readFileSync(writeDemoFiles(join(root, "paths", "gatehouse-demo"), quiet), "utf8");
  // Every path it names lies in ./gatehouse-demo/, where the file is, and none in policies/.
  expect(text).not.toContain("policies/");
  for (const m of text.matchAll(/\.\/gatehouse-demo\/(\S+)/g)) expect(["gatehouse.yaml", "state", "state/audit/audit.log", "state/dev-issuer", "state/demo-db"]).toContain(m[1]!.replace(/[).,]+$/, ""));
  expect(text).toContain("gatehouse test gatehouse-demo/");
});

test("the demo configuration checks, and the policy tests written beside it pass", async () => {
  const dir = join(root, "check", "gatehouse-demo");
  const configPath = writeDemoFiles(dir, quiet);
  const c = capture();
  expect(await checkCommand.run([configPath], c.io)).toBe(0);
  const t = capture();
  expect(await testCommand.run([dir], t.io)).toBe(0);
  expect(t.out()).toMatch(/\n\d+ passed, 0 failed\n$/);
});

test("an edited configuration is kept; the schema is brought up to date", () => {
  const dir = join(root, "edited", "gatehouse-demo");
  writeDemoFiles(dir, quiet);
  writeFileSync(join(dir, "gatehouse.yaml"), "# mine\n");
  writeFileSync(join(dir, "gatehouse.schema.json"), "{}\n");
  writeDemoFiles(dir, quiet);
  expect(readFileSync(join(dir, "gatehouse.yaml"), "utf8")).toBe("# mine\n");
  expect(readFileSync(join(dir, "gatehouse.schema.json"), "utf8")).toBe(schemaText());
});

test("the demo's upstreams listen where the configuration's demo-api and demo-db targets point", () => {
  const text = readFileSync(writeDemoFiles(join(root, "addresses", "gatehouse-demo"), quiet), "utf8");
  expect(demoAddresses(text)).toEqual({
    api: { host: "127.0.0.1", port: 9000 },
    database: { host: "127.0.0.1", port: 55432 },
    apiListen: "127.0.0.1:8080",
    databaseListen: { host: "127.0.0.1", port: 6432 },
  });
  const moved = text.replace("http://127.0.0.1:9000", "http://127.0.0.1:19000").replace("port: 55432", "port: 15432").replace("127.0.0.1:6432", "127.0.0.1:16432");
  const a = demoAddresses(moved);
  expect(a.api.port).toBe(19000);
  expect(a.database.port).toBe(15432);
  expect(a.databaseListen.port).toBe(16432);
});

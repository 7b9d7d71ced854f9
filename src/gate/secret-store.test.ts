import { afterEach, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config/load.ts";
import type { Config, HttpTarget, PostgresTarget } from "../config/schema.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { SecretStore, type SecretRotation } from "./secret-store.ts";

const dirs: string[] = [];
const stores: SecretStore[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const yaml = (pwRef: string) => `
identity: { dev_issuer: false, issuers: [] }
targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, database: app, user: app, password: "${pwRef}" }
  - name: api
    kind: http
    listen: 127.0.0.1:0
    upstream: http://127.0.0.1:1
    headers: { authorization: "Bearer \${file:secrets/token}" }
rules: []
`;

async function setup(pwRef = "${file:secrets/pw}", debounceMs = 20) {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-secret-store-"));
  dirs.push(dir);
  rmSync(join(dir, "secrets"), { recursive: true, force: true });
  await Bun.write(join(dir, "secrets/pw"), "one\n");
  await Bun.write(join(dir, "secrets/token"), "t1");
  writeFileSync(join(dir, "gatehouse.yaml"), yaml(pwRef));
  const config = await loadConfig(join(dir, "gatehouse.yaml"), { env: {} });
  const events = { failures: [] as string[], states: [] as [string, string | null][], rotations: [] as SecretRotation[], errors: [] as string[] };
  const store = new SecretStore({
    env: {},
    log: { info() {}, error: (m) => void events.errors.push(m) },
    onReadFailure: (r) => void events.failures.push(r),
    onState: (r, why) => void events.states.push([r, why]),
    onRotated: (r) => void events.rotations.push(r),
    debounceMs,
  });
  stores.push(store);
  store.adopt(config, config.targets, "start");
  const db = config.targets[0] as PostgresTarget;
  const api = config.targets[1] as HttpTarget;
  return { dir, config, store, events, db, api };
}

test("a changed file gives new connections the new value; the settings as started are not touched", async () => {
  const { dir, store, events, db, api } = await setup();
  expect(store.current(db).upstream.password).toBe("one");
  expect(store.current(api).headers?.["authorization"]).toBe("Bearer t1");
  const before = store.current(db);

  // Written aside and renamed over, as a careful writer (and Kubernetes) does.
  writeFileSync(join(dir, "secrets/pw.new"), "two\n");
  renameSync(join(dir, "secrets/pw.new"), join(dir, "secrets/pw"));
  await waitFor("the new password", () => store.current(db).upstream.password === "two");
  expect(before.upstream.password).toBe("one"); // what an open session took stays as it was
  expect(db.upstream.password).toBe("one");
  expect(store.current(api).headers?.["authorization"]).toBe("Bearer t1");
  await waitFor("the rotation to be announced", () => events.rotations.length === 1);
  expect(events.rotations[0]).toEqual({ reference: "${file:secrets/pw}", keys: ["targets.db.upstream.password"], targets: ["db"], cause: "file" });
  expect(JSON.stringify(events)).not.toContain("two");
});

test("an unreadable reference keeps the old value, is reported once by name, and clears when it reads again", async () => {
  const { dir, store, events, db } = await setup();
  rmSync(join(dir, "secrets/pw"));
  await waitFor("the read failure", () => events.failures.length >= 1);
  expect(store.current(db).upstream.password).toBe("one");
  expect(events.failures[0]).toBe("${file:secrets/pw}");
  expect(events.states).toEqual([["${file:secrets/pw}", expect.stringContaining("ENOENT")]]);
  expect(events.errors[0]).toContain("${file:secrets/pw}");
  expect(events.errors[0]).toContain("gatehouse.yaml:7:");
  expect(store.failing().size).toBe(1);

  // Empty is unreadable too (a writer that truncates before writing).
  writeFileSync(join(dir, "secrets/pw"), "");
  await waitFor("the empty file to be refused", () => events.failures.length >= 2);
  expect(store.current(db).upstream.password).toBe("one");

  writeFileSync(join(dir, "secrets/pw"), "three");
  await waitFor("the new password", () => store.current(db).upstream.password === "three");
  expect(events.states.at(-1)).toEqual(["${file:secrets/pw}", null]);
  expect(store.failing().size).toBe(0);
  expect(events.rotations.map((r) => r.reference)).toEqual(["${file:secrets/pw}"]);
  expect(JSON.stringify(events)).not.toContain("three");
});

test("a file the gateway may not read keeps the old value", async () => {
  if (process.getuid?.() === 0) return; // root reads any file
  const { dir, store, events, db } = await setup();
  chmodSync(join(dir, "secrets/pw"), 0o000);
  await store.refresh();
  expect(events.failures).toEqual(["${file:secrets/pw}"]);
  expect(events.states[0]?.[1]).toContain("EACCES");
  expect(store.current(db).upstream.password).toBe("one");
});

test("a reload hands over the values it read, and records a rotation only when one changed", async () => {
  // The folder's own change events wait long enough here not to get ahead of the reload.
  const { dir, store, events, db, config } = await setup(undefined, 600_000);
  const same = await loadConfig(join(dir, "gatehouse.yaml"), { env: {} });
  store.adopt(same, config.targets, "reload");
  await store.refresh();
  expect(events.rotations).toEqual([]);

  writeFileSync(join(dir, "secrets/pw"), "four");
  const next = await loadConfig(join(dir, "gatehouse.yaml"), { env: {} });
  store.adopt(next, config.targets, "reload");
  expect(store.current(db).upstream.password).toBe("four");
  await waitFor("the rotation to be announced", () => events.rotations.some((r) => r.cause === "reload"));
});

test("env references come from the environment they were loaded with", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-secret-store-"));
  dirs.push(dir);
  writeFileSync(join(dir, "secrets-token"), "t");
  writeFileSync(join(dir, "g.yaml"), yaml("${env:PGPW}").replace("secrets/token", "secrets-token"));
  const config: Config = await loadConfig(join(dir, "g.yaml"), { env: { PGPW: "from-env" } });
  const store = new SecretStore({ env: { PGPW: "from-env" }, log: { info() {}, error() {} }, onReadFailure() {}, onState() {}, onRotated() {} });
  stores.push(store);
  store.adopt(config, config.targets, "start");
  await store.refresh();
  expect(store.current(config.targets[0] as PostgresTarget).upstream.password).toBe("from-env");
});

test("a file changed after a reload's load read it: the store ends with the file's value, not the load's", async () => {
  const { dir, store, db, config } = await setup(undefined, 600_000);
  const next = await loadConfig(join(dir, "gatehouse.yaml"), { env: {} });
  writeFileSync(join(dir, "secrets/pw"), "five");
  store.adopt(next, config.targets, "reload");
  await waitFor("the value written after the load", () => store.current(db).upstream.password === "five", { timeoutMs: 5_000 });
});

test("a reload whose reference names another file changes nothing live: the running target keeps its reference (a restart applies it)", async () => {
  const { dir, store, events, db, config } = await setup(undefined, 600_000);
  await Bun.write(join(dir, "secrets/other"), "other-value");
  writeFileSync(join(dir, "gatehouse.yaml"), yaml("${file:secrets/other}"));
  const next = await loadConfig(join(dir, "gatehouse.yaml"), { env: {} });
  store.adopt(next, config.targets, "reload");
  await store.refresh();
  expect(store.current(db).upstream.password).toBe("one");
  expect(events.rotations).toEqual([]);
  // The old reference is still the one watched and read.
  writeFileSync(join(dir, "secrets/pw"), "six");
  await store.refresh();
  expect(store.current(db).upstream.password).toBe("six");
});

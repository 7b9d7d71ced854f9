import { expect, test } from "bun:test";
import type { Config } from "../config/schema.ts";
import type { Identity } from "../core/types.ts";
import { RevocationLog, revokedByReload } from "./revoked.ts";

const A = "a".repeat(64);
const B = "b".repeat(64);
const section = (over: Partial<Config["identity"]> = {}): Config["identity"] => ({
  issuers: [{ name: "corp", issuer: "https://idp.example", audience: "gatehouse" }],
  machine_keys: [
    { name: "ci-bot", sha256: A, groups: ["ci"] },
    { name: "etl", sha256: B, groups: ["etl"] },
  ],
  dev_issuer: true,
  end_sessions_at_expiry: true,
  ...over,
});
const key = (name: string, groups: string[]): Identity => ({ method: "machine-key", subject: name, issuer: name, groups });
const oidc: Identity = { method: "oidc", subject: "alice", issuer: "https://idp.example", groups: ["analysts"] };
const dev: Identity = { method: "dev", subject: "bob", issuer: "gatehouse-dev", groups: [] };

test("an unchanged identity section revokes nothing", () => {
  const revoked = revokedByReload(section(), section());
  for (const i of [key("ci-bot", ["ci"]), key("etl", ["etl"]), oidc, dev]) expect(revoked(i)).toBe(false);
});

test("a machine key removed, given a new key, or given other groups is revoked; the others are not", () => {
  const removed = revokedByReload(section(), section({ machine_keys: [{ name: "etl", sha256: B, groups: ["etl"] }] }));
  expect(removed(key("ci-bot", ["ci"]))).toBe(true);
  expect(removed(key("etl", ["etl"]))).toBe(false);
  const rotated = revokedByReload(section(), section({ machine_keys: [{ name: "ci-bot", sha256: "c".repeat(64), groups: ["ci"] }, { name: "etl", sha256: B, groups: ["etl"] }] }));
  expect(rotated(key("ci-bot", ["ci"]))).toBe(true);
  const regrouped = revokedByReload(section(), section({ machine_keys: [{ name: "ci-bot", sha256: A, groups: ["ci", "admins"] }, { name: "etl", sha256: B, groups: ["etl"] }] }));
  expect(regrouped(key("ci-bot", ["ci"]))).toBe(true);
  expect(regrouped(key("etl", ["etl"]))).toBe(false);
});

test("a machine key whose SSH public keys changed is revoked (an SSH session may have logged in with the one taken away)", () => {
  const withKeys = (keys: string[]) => section({ machine_keys: [{ name: "ci-bot", sha256: A, groups: ["ci"], ssh_public_keys: keys }, { name: "etl", sha256: B, groups: ["etl"] }] });
  const dropped = revokedByReload(withKeys(["ssh-ed25519 AAAA1", "ssh-ed25519 AAAA2"]), withKeys(["ssh-ed25519 AAAA2"]));
  expect(dropped(key("ci-bot", ["ci"]))).toBe(true);
  expect(dropped(key("etl", ["etl"]))).toBe(false);
  expect(revokedByReload(withKeys(["ssh-ed25519 AAAA1"]), withKeys(["ssh-ed25519 AAAA1"]))(key("ci-bot", ["ci"]))).toBe(false);
});

test("a removed issuer revokes its tokens; dev_issuer off revokes dev tokens", () => {
  const noIssuer = revokedByReload(section(), section({ issuers: [] }));
  expect(noIssuer(oidc)).toBe(true);
  expect(noIssuer(dev)).toBe(false);
  const noDev = revokedByReload(section(), section({ dev_issuer: false }));
  expect(noDev(dev)).toBe(true);
  expect(noDev(oidc)).toBe(false);
});

test("an issuer whose entry changed (jwks_uri, audience …) revokes its tokens", () => {
  const changed = revokedByReload(section(), section({ issuers: [{ name: "corp", issuer: "https://idp.example", audience: "gatehouse", jwks_uri: "https://idp.example/new-keys" }] }));
  expect(changed(oidc)).toBe(true);
  const reordered = revokedByReload(section(), section({ issuers: [{ audience: "gatehouse", issuer: "https://idp.example", name: "corp" }] }));
  expect(reordered(oidc)).toBe(false);
});

test("RevocationLog: a session set up across a reload is checked against what came after it began", () => {
  const log = new RevocationLog();
  const since = log.generation;
  expect(log.revokedSince(since, key("ci-bot", ["ci"]))).toBe(false);
  log.add((i) => i.subject === "ci-bot");
  expect(log.revokedSince(since, key("ci-bot", ["ci"]))).toBe(true);
  expect(log.revokedSince(since, key("etl", ["etl"]))).toBe(false);
  expect(log.revokedSince(log.generation, key("ci-bot", ["ci"]))).toBe(false);
  for (let i = 0; i < 40; i++) log.add(() => false);
  // Older than what is kept: fail closed.
  expect(log.revokedSince(since, key("etl", ["etl"]))).toBe(true);
});

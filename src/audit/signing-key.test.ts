import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { generateKeyPairSync } from "node:crypto";
import { tempLogs } from "./audit-test-helpers.ts";
import { defaultSigningKeyPath, loadAuditSigningKey, loadOrCreateSigningKey, parsePublicKey, readSigningKey } from "./signing-key.ts";

const tempDir = tempLogs("gatehouse-signing-key-", "state");

describe("audit signing key", () => {
  test("is created on first use in the state folder, mode 0600 in a 0700 folder, and the same key after", async () => {
    const state = tempDir();
    const path = defaultSigningKeyPath(state);
    expect(path).toBe(join(state, "audit-key", "ed25519.pem"));
    const first = await loadAuditSigningKey(state, undefined);
    expect(first.path).toBe(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(path)).mode & 0o777).toBe(0o700);
    expect(readFileSync(path, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
    expect(first.publicKey.text).toMatch(/^ed25519:[A-Za-z0-9_-]{43}$/);
    expect(first.publicKey.id).toMatch(/^[0-9a-f]{16}$/);
    const again = await loadOrCreateSigningKey(path);
    expect(again.publicKey.text).toBe(first.publicKey.text);
  });

  test("two starts at once agree on one key", async () => {
    const path = defaultSigningKeyPath(tempDir());
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateSigningKey(path)));
    expect(new Set(keys.map((k) => k.publicKey.text)).size).toBe(1);
  });

  test("a key others can read is refused", async () => {
    const state = tempDir();
    const key = await loadAuditSigningKey(state, undefined);
    chmodSync(key.path, 0o640);
    await expect(loadAuditSigningKey(state, undefined)).rejects.toThrow(/readable by others \(mode 640\): run chmod 600/);
  });

  test("a configured key file must exist and be Ed25519; an openssl-style PKCS#8 PEM is used as it is", async () => {
    const state = tempDir();
    const missing = join(dirname(state), "nope.pem");
    await expect(loadAuditSigningKey(state, missing)).rejects.toThrow(/does not exist: make one with `openssl genpkey -algorithm ed25519/);
    const rsa = join(dirname(state), "rsa.pem");
    writeFileSync(rsa, generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    await expect(readSigningKey(rsa)).rejects.toThrow(/is a rsa key, not Ed25519/);
    const ed = join(dirname(state), "ed.pem");
    const pair = generateKeyPairSync("ed25519");
    writeFileSync(ed, pair.privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
    const key = await loadAuditSigningKey(state, ed);
    expect(key.path).toBe(ed);
    expect(parsePublicKey(pair.publicKey.export({ format: "pem", type: "spki" }) as string, "x").text).toBe(key.publicKey.text);
  });

  test("the public key's text form, a public PEM and the private PEM all parse to the same key; garbage is a usage error", async () => {
    const key = await loadAuditSigningKey(tempDir(), undefined);
    expect(parsePublicKey(key.publicKey.text, "--key").id).toBe(key.publicKey.id);
    expect(parsePublicKey(`${key.publicKey.text}\n`, "f").id).toBe(key.publicKey.id);
    expect(parsePublicKey(readFileSync(key.path, "utf8"), "f").id).toBe(key.publicKey.id);
    expect(() => parsePublicKey("ed25519:abc", "--key")).toThrow(/not an Ed25519 public key/);
    expect(() => parsePublicKey("hello", "k.txt")).toThrow(/k\.txt: not a public key/);
  });
});

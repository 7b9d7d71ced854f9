import { expect, test } from "bun:test";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultHostKeyPath, loadHostKey } from "./host-key.ts";

test("made once at first start (mode 0600), then read back with the same fingerprint", () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-hostkey-"));
  const path = defaultHostKeyPath(dir, "web");
  const first = loadHostKey(path, true);
  expect(first.created).toBe(true);
  expect(statSync(path).mode & 0o777).toBe(0o600);
  expect(first.publicKey).toStartWith("ssh-ed25519 ");
  expect(readFileSync(`${path}.pub`, "utf8")).toStartWith(first.publicKey);
  const again = loadHostKey(path, true);
  expect(again.created).toBe(false);
  expect(again.fingerprint).toBe(first.fingerprint);
});

test("a configured key that is missing or not a private key is refused, saying which file", () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-hostkey-"));
  expect(() => loadHostKey(join(dir, "nope"), false)).toThrow(/does not exist/);
  const junk = join(dir, "junk");
  writeFileSync(junk, "not a key\n");
  expect(() => loadHostKey(junk, false)).toThrow(/junk" cannot be used/);
});

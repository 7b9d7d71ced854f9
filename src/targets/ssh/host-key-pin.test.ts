import { expect, test } from "bun:test";
import { utils } from "ssh2";
import { fingerprintOf, keyTypeOf, parseHostKeyPin } from "./host-key-pin.ts";

const pair = utils.generateKeyPairSync("ed25519");
const other = utils.generateKeyPairSync("ed25519");
const blobOf = (pub: string) => Buffer.from(pub.split(" ")[1]!, "base64");
const key = blobOf(pair.public);
const otherKey = blobOf(other.public);

test("a public key line, a known_hosts line and a fingerprint each match the key and only it", () => {
  for (const text of [pair.public, `[127.0.0.1]:2222 ${pair.public} comment`, `@cert-authority-not *.example ${pair.public}`.replace("@cert-authority-not ", ""), fingerprintOf(key), `${fingerprintOf(key)}=`]) {
    const pin = parseHostKeyPin(text);
    expect(pin.matches(key)).toBe(true);
    expect(pin.matches(otherKey)).toBe(false);
  }
});

test("fingerprints are OpenSSH's (SHA256:, unpadded base64) and the key type is read from the blob", () => {
  expect(fingerprintOf(key)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  expect(keyTypeOf(key)).toBe("ssh-ed25519");
});

test("anything else is refused with what was expected", () => {
  for (const bad of ["", "SHA256:short", "ssh-ed25519", "md5:aa:bb", `ssh-rsa ${pair.public.split(" ")[1]}`, `@revoked * ${pair.public}`]) {
    expect(() => parseHostKeyPin(bad)).toThrow(/host_key/);
  }
});

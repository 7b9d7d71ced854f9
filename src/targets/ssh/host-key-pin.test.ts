import { expect, test } from "bun:test";
import { utils } from "ssh2";
import { fingerprintOf, keyTypeOf, parseHostKeyPin, parseHostKeyPins } from "./host-key-pin.ts";

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

test("a key line asks the server for that key's type; a fingerprint leaves the choice to the server", () => {
  expect(parseHostKeyPin(pair.public).algorithms).toEqual(["ssh-ed25519"]);
  const rsa = utils.generateKeyPairSync("rsa", { bits: 2048 }).public;
  expect(parseHostKeyPin(rsa).algorithms).toEqual(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]);
  expect(parseHostKeyPin(fingerprintOf(key)).algorithms).toBeUndefined();
});

test("several pins (a rotation): any of them matches, and the server is asked for their types", () => {
  const pins = parseHostKeyPins([other.public, fingerprintOf(key)]);
  expect(pins.matches(key)).toBe(true);
  expect(pins.matches(otherKey)).toBe(true);
  expect(pins.matches(blobOf(utils.generateKeyPairSync("ed25519").public))).toBe(false);
  expect(pins.algorithms).toBeUndefined();
  expect(parseHostKeyPins([other.public, pair.public]).algorithms).toEqual(["ssh-ed25519"]);
  expect(() => parseHostKeyPins([pair.public, "nonsense"])).toThrow(/host_key/);
});

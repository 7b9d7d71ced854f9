import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { GatewayError } from "../core/errors.ts";
import { authFailureReason } from "./auth-failure.ts";
import { createMachineKeyVerifier, newMachineKey, sha256Hex } from "./machine-keys.ts";

describe("newMachineKey", () => {
  test("ghk_ and 43 base64url characters, with the hex SHA-256 of the whole key", () => {
    const { key, sha256 } = newMachineKey();
    expect(key).toMatch(/^ghk_[A-Za-z0-9_-]{43}$/);
    expect(sha256).toBe(createHash("sha256").update(key).digest("hex"));
  });

  test("keys differ each time", () => {
    const keys = new Set(Array.from({ length: 100 }, () => newMachineKey().key));
    expect(keys.size).toBe(100);
  });
});

describe("machine key verifier", () => {
  const a = newMachineKey();
  const b = newMachineKey();
  const verifier = createMachineKeyVerifier([
    { name: "ci-deploy", sha256: a.sha256, groups: ["deployers"] },
    { name: "reporting", sha256: b.sha256, groups: ["analysts", "readers"] },
  ]);

  test("a configured key gives its name and groups", () => {
    expect(verifier.verify(b.key)).toEqual({ method: "machine-key", subject: "reporting", issuer: "reporting", groups: ["analysts", "readers"] });
    expect(verifier.verify(a.key).subject).toBe("ci-deploy");
  });

  test("any string is accepted as a key if its digest is configured", () => {
    const odd = "correct horse battery staple";
    const v = createMachineKeyVerifier([{ name: "legacy", sha256: sha256Hex(odd), groups: [] }]);
    expect(v.verify(odd).subject).toBe("legacy");
  });

  test("unknown keys of our format are 'unknown machine key'", () => {
    for (const wrong of [newMachineKey().key, `${a.key.slice(0, -1)}${a.key.endsWith("A") ? "B" : "A"}`]) {
      let caught: unknown;
      try {
        verifier.verify(wrong);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(GatewayError);
      expect((caught as GatewayError).code).toBe("E_AUTH_UNKNOWN_KEY");
      expect((caught as GatewayError).message).toBe("unknown machine key");
      expect(authFailureReason(caught)).toBe("unknown_machine_key");
    }
  });

  test("near misses of another shape and the digest itself are 'not a valid token or machine key'", () => {
    for (const wrong of [a.key.slice(0, -1), `${a.key}x`, a.sha256, a.key.toUpperCase(), "nonsense", ""]) {
      let caught: unknown;
      try {
        verifier.verify(wrong);
      } catch (e) {
        caught = e;
      }
      expect((caught as GatewayError).code).toBe("E_AUTH_MALFORMED");
      expect((caught as GatewayError).message).toBe("not a valid token or machine key");
      expect(authFailureReason(caught)).toBe("malformed");
    }
  });

  test("duplicate names or digests and bad digests are config errors", () => {
    const k = newMachineKey();
    const bad = [
      [{ name: "x", sha256: k.sha256, groups: [] }, { name: "x", sha256: newMachineKey().sha256, groups: [] }],
      [{ name: "x", sha256: k.sha256, groups: [] }, { name: "y", sha256: k.sha256, groups: [] }],
      [{ name: "x", sha256: k.sha256.toUpperCase(), groups: [] }],
    ];
    for (const configs of bad) {
      expect(() => createMachineKeyVerifier(configs)).toThrow(GatewayError);
    }
  });
});

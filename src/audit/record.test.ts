import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { canonicalJson, computeHash, hashRecord, prepareRecord, recordSchemaProblem, ZERO_HASH, type AuditRecord } from "./record.ts";
import { isGatewayError } from "../core/errors.ts";

/** An independent, obviously correct encoder to compare the fast one with. */
function reference(value: unknown): string | undefined {
  if (value === null) return "null";
  if (typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return reference((value as { toJSON(): unknown }).toJSON());
  }
  if (Array.isArray(value)) return `[${value.map((v) => reference(v) ?? "null").join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const members = Object.keys(obj)
      .sort()
      .flatMap((k) => {
        const v = reference(obj[k]);
        return v === undefined ? [] : [`${JSON.stringify(k)}:${v}`];
      });
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}

function randomValue(rand: () => number, depth: number): unknown {
  const r = rand();
  if (depth > 3 || r < 0.3) {
    const pick = Math.floor(rand() * 9);
    return [null, true, 1.5, -0, "plain", 'quote " back \\ slash', "ctl\n\u0001", "\ud83d\ude00 emoji", undefined][pick];
  }
  if (r < 0.5) return Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(rand, depth + 1));
  const keys = ["b", "a", "10", "9", "0", "__proto__", "é", "Z", "aa", "a b", "constructor"];
  const obj: Record<string, unknown> = {};
  for (let i = Math.floor(rand() * 5); i > 0; i--) {
    const k = keys[Math.floor(rand() * keys.length)]!;
    Object.defineProperty(obj, k, { value: randomValue(rand, depth + 1), enumerable: true, configurable: true, writable: true });
  }
  return obj;
}

describe("canonicalJson", () => {
  test("sorts keys at every level, drops undefined, no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: "x" }, u: undefined })).toBe('{"a":{"c":"x","d":[3,{"z":1}]},"b":1}');
  });

  test("follows JSON.stringify for toJSON, NaN and undefined in arrays", () => {
    const date = new Date(Date.UTC(2026, 10, 28));
    expect(canonicalJson({ t: date, n: Number.NaN, a: [undefined, () => 1] })).toBe('{"a":[null,null],"n":null,"t":"2026-11-28T00:00:00.000Z"}');
  });

  test("orders integer-like keys as strings and keeps a __proto__ key", () => {
    const obj = JSON.parse('{"10":1,"9":2,"__proto__":3,"a":4}');
    expect(canonicalJson(obj)).toBe('{"10":1,"9":2,"__proto__":3,"a":4}');
  });

  test("agrees with a plain reference encoder on random values, and survives a JSON round trip", () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 2000; i++) {
      const value = { v: randomValue(rand, 0) };
      const text = canonicalJson(value);
      expect(text).toBe(reference(value)!);
      expect(canonicalJson(JSON.parse(text))).toBe(text);
    }
  });

  test("refuses a cycle and a bigint", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/bigint/);
  });
});

describe("hashRecord", () => {
  test("is the SHA-256 of the canonical form without hash", () => {
    const rec = { seq: 1, time: "2026-11-28T00:00:00.000Z", type: "gateway.start", prev: ZERO_HASH };
    const expected = createHash("sha256").update(`{"prev":"${ZERO_HASH}","seq":1,"time":"2026-11-28T00:00:00.000Z","type":"gateway.start"}`).digest("hex");
    expect(hashRecord(rec)).toBe(expected);
    expect(computeHash({ ...rec, hash: "f".repeat(64) })).toBe(expected);
  });

  test("a reused Bun.CryptoHasher gives the same digests as fresh ones (digest resets it)", () => {
    const hasher = new Bun.CryptoHasher("sha256");
    for (const text of ["a", "b", "a", "{}"]) {
      expect(hasher.update(text).digest("hex")).toBe(createHash("sha256").update(text).digest("hex"));
    }
  });
});

describe("prepareRecord", () => {
  test("gives the canonical text of the record and a record that reads back the same", () => {
    const { record, canonical } = prepareRecord(
      { type: "decision", target: "api", action: { path: "/x", method: "GET", kind: "http" }, decision: { effect: "deny", rule: null, message: "no" } },
      7,
      "2026-11-28T00:00:00.000Z",
      ZERO_HASH,
    );
    expect(canonical).toBe(canonicalJson(record));
    expect(JSON.parse(canonical)).toEqual(record);
    expect(record.seq).toBe(7);
  });

  test("takes the plain encoder for integer-like keys and still matches", () => {
    const { record, canonical } = prepareRecord({ type: "x", details: { "10": 1, "9": 2 } }, 1, "2026-11-28T00:00:00.000Z", ZERO_HASH);
    expect(canonical).toBe(`{"details":{"10":1,"9":2},"prev":"${ZERO_HASH}","seq":1,"time":"2026-11-28T00:00:00.000Z","type":"x"}`);
    expect(record.details).toEqual({ "10": 1, "9": 2 });
  });

  test("rejects unknown fields and schema violations with E_AUDIT_WRITE", () => {
    const time = "2026-11-28T00:00:00.000Z";
    const bad = [
      { type: "x", hash: "f".repeat(64) },
      { type: "x", seq: 9 },
      { type: "" },
      { type: "x", decision: { effect: "maybe", rule: null } },
      { type: "x", identity: { method: "dev", subject: "a", issuer: "i", groups: "admins" } },
      { type: "x", details: "text" },
      { type: "x", details: new Date(0) },
    ];
    for (const event of bad) {
      let error: unknown;
      try {
        prepareRecord(event as never, 1, time, ZERO_HASH);
      } catch (e) {
        error = e;
      }
      expect(isGatewayError(error, "E_AUDIT_WRITE")).toBe(true);
    }
  });
});

describe("record schema", () => {
  test("accepts a full record and names the first problem of a bad one", () => {
    const good: AuditRecord = {
      seq: 1,
      time: "2026-11-28T00:00:00.000Z",
      type: "decision",
      prev: ZERO_HASH,
      hash: "a".repeat(64),
      identity: { method: "oidc", subject: "alice", issuer: "https://idp", groups: ["eng"] },
      decision: { effect: "allow", rule: "r" },
    };
    expect(recordSchemaProblem(good)).toBeNull();
    expect(recordSchemaProblem({ ...good, seq: 0 })).toContain("/seq");
    expect(recordSchemaProblem({ ...good, time: "2026-11-28 00:00" })).toContain("/time");
    expect(recordSchemaProblem({ ...good, extra: 1 })).not.toBeNull();
  });
});

import { expect, test } from "bun:test";
import { checkBodyNamespace } from "./request-body.ts";
import { readProtobufMeta } from "./protobuf-meta.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";

// protobuf: key (field << 3 | wire), then a length-delimited value.
const ld = (field: number, bytes: Uint8Array | string) => {
  const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return new Uint8Array([(field << 3) | 2, b.length, ...b]);
};
const cat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const envelope = (kind: string, raw: Uint8Array) => cat(new Uint8Array([0x6b, 0x38, 0x73, 0]), ld(1, cat(ld(1, "v1"), ld(2, kind))), ld(2, raw));
const secret = (meta: Uint8Array) => envelope("Secret", cat(ld(1, meta), ld(2, cat(ld(1, "password"), ld(2, "aGk=")))));
const facts: KubernetesRequestFacts = { kind: "kubernetes", verb: "create", resource: "secrets", namespace: "staging", apiGroup: "", apiVersion: "v1" };
const PB = "application/vnd.kubernetes.protobuf";

test("the metadata of a protobuf Secret as kubectl create secret sends it", () => {
  const r = readProtobufMeta(secret(cat(ld(1, "db"), ld(3, "staging"))));
  expect(r).toMatchObject({ ok: true, kind: "Secret", name: "db", namespace: "staging" });
  expect(checkBodyNamespace(facts, secret(cat(ld(1, "db"), ld(3, "staging"))), PB)).toEqual({ ok: true, namespace: "staging", name: "db" });
});

test("a protobuf body naming another namespace than the path is refused", () => {
  const r = checkBodyNamespace(facts, secret(cat(ld(1, "db"), ld(3, "production"))), PB);
  expect(r.ok).toBe(false);
});

test("a namespace given twice (protobuf keeps the last) or metadata given twice (protobuf merges) is refused", () => {
  expect(checkBodyNamespace(facts, secret(cat(ld(3, "staging"), ld(3, "production"))), PB).ok).toBe(false);
  const twice = envelope("Secret", cat(ld(1, ld(3, "staging")), ld(1, ld(3, "production"))));
  expect(checkBodyNamespace(facts, twice, PB).ok).toBe(false);
});

test("bytes without the magic, or cut short, are refused", () => {
  expect(checkBodyNamespace(facts, new TextEncoder().encode("{}"), PB).ok).toBe(false);
  const whole = secret(cat(ld(1, "db"), ld(3, "staging")));
  expect(checkBodyNamespace(facts, whole.subarray(0, whole.length - 3), PB).ok).toBe(false);
});

test("an envelope without a kind or without an object is refused (the corpus's bare k8s magic)", () => {
  expect(checkBodyNamespace(facts, new Uint8Array([0x6b, 0x38, 0x73, 0]), PB).ok).toBe(false);
  expect(checkBodyNamespace(facts, envelope("", cat(ld(1, ld(3, "staging")))), PB).ok).toBe(false);
  expect(checkBodyNamespace(facts, envelope("Secret", new Uint8Array(0)), PB).ok).toBe(false);
});

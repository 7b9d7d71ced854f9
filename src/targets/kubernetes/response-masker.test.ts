import { expect, test } from "bun:test";
import { compileJsonMasker } from "../../masking/json-masker.ts";
import { createKubeMasker, MASKED_SECRET_DATA } from "./response-masker.ts";
import { JsonDocumentSplitter } from "./watch-stream.ts";

const secret = { apiVersion: "v1", kind: "Secret", metadata: { name: "db", annotations: { "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"password":"aHVudGVyMg=="}}' } }, data: { password: "aHVudGVyMg==" }, stringData: { token: "t0p" } };
const secrets = createKubeMasker({ secrets: true, rule: null, cells: null });

test("a Secret: every data value (kept valid base64), stringData and the last-applied annotation", () => {
  const out = JSON.stringify(secrets.maskDocument(secret).value);
  expect(out).not.toContain("aHVudGVyMg==");
  expect(out).not.toContain("t0p");
  expect(out).toContain(MASKED_SECRET_DATA);
  expect(Buffer.from(MASKED_SECRET_DATA, "base64").toString()).toBe("[masked]");
});

test("a list's items without kind, a watch event's object, a Table row's object", () => {
  const item = { metadata: { name: "db" }, data: { password: "aHVudGVyMg==" } };
  for (const doc of [{ kind: "SecretList", items: [item] }, { type: "ADDED", object: item }, { kind: "Table", columnDefinitions: [], rows: [{ cells: ["db"], object: item }] }, { type: "MODIFIED", object: { kind: "Table", rows: [{ cells: ["db"], object: item }] } }]) {
    expect(JSON.stringify(secrets.maskDocument(doc).value)).not.toContain("aHVudGVyMg==");
  }
});

test("a Secret inside another resource's response is masked by its kind; other kinds are not touched without masks", () => {
  const none = createKubeMasker({ secrets: false, rule: null, cells: null });
  expect(JSON.stringify(none.maskDocument({ kind: "List", items: [secret] }).value)).not.toContain("aHVudGVyMg==");
  const cm = { kind: "ConfigMap", data: { a: "b" } };
  expect(none.maskDocument(cm).value).toEqual(cm);
});

test("a rule's JSON path on the object, in a Table row's object and the cell printed from it", () => {
  const m = createKubeMasker({ secrets: false, rule: compileJsonMasker({ json: ["$.spec.nodeName"], columns: [], detectors: [] }), cells: null });
  const pod = { kind: "Pod", metadata: { name: "web" }, spec: { nodeName: "node-secret-7" } };
  expect(JSON.stringify(m.maskDocument(pod).value)).not.toContain("node-secret-7");
  const table = { kind: "Table", rows: [{ cells: ["web", "node-secret-7"], object: pod }] };
  expect(JSON.stringify(m.maskDocument(table).value)).not.toContain("node-secret-7");
});

test("not JSON: refused", () => {
  expect(() => secrets.maskText("<html>")).toThrow(/not valid JSON/);
});

test("the watch splitter cuts whole documents across chunks, braces in strings included, and refuses what is not JSON", () => {
  const s = new JsonDocumentSplitter(1 << 20);
  const text = '{"type":"ADDED","object":{"a":"}{\\"x"}}\n{"type":"DELETED","object":{}}\n';
  const docs: string[] = [];
  for (const ch of text) for (const d of s.push(new TextEncoder().encode(ch))) docs.push(new TextDecoder().decode(d));
  expect(docs).toEqual(['{"type":"ADDED","object":{"a":"}{\\"x"}}', '{"type":"DELETED","object":{}}']);
  expect(s.partial).toBe(false);
  expect(() => new JsonDocumentSplitter(100).push(new TextEncoder().encode("hello"))).toThrow();
  expect(() => new JsonDocumentSplitter(10).push(new TextEncoder().encode('{"a":"0123456789"}'))).toThrow(/over 10 bytes/);
});

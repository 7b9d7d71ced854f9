// Cancel keys: the gateway's own BackendKeyData per session, mapped to the upstream's with the secret.
import { expect, test } from "bun:test";
import { CancelRegistry } from "./cancel.ts";

test("a cancel key maps to the upstream's key only with the right secret", () => {
  const r = new CancelRegistry();
  let cancelled = 0;
  const upstream = { processId: 4242, secretKey: new Uint8Array([1, 2, 3, 4]) };
  const key = r.register(upstream, () => cancelled++);
  expect(key.processId).not.toBe(upstream.processId);
  expect(key.secretKey.length).toBe(4);
  expect(r.match(key.processId, new Uint8Array([0, 0, 0, 0]))).toBeNull();
  expect(r.match(key.processId + 1, key.secretKey)).toBeNull();
  const m = r.match(key.processId, key.secretKey)!;
  expect(m.upstream).toEqual(upstream);
  m.onCancel();
  expect(cancelled).toBe(1);
  r.unregister(key.processId);
  expect(r.match(key.processId, key.secretKey)).toBeNull();
  expect(r.size).toBe(0);
});

test("every session gets its own key", () => {
  const r = new CancelRegistry();
  const keys = Array.from({ length: 200 }, () => r.register({ processId: 1, secretKey: new Uint8Array(4) }, () => {}));
  expect(new Set(keys.map((k) => k.processId)).size).toBe(200);
});

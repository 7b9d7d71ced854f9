import { expect, test } from "bun:test";
import type { Checkpoint } from "../audit/checkpoint.ts";
import { createAdminApp, type AdminDeps } from "./admin-app.ts";

test("GET /audit/checkpoint serves the latest checkpoint without a token, 404 before the first", async () => {
  let latest: Checkpoint | null = null;
  // Only the route under test is reached; the other dependencies are never called.
  const app = createAdminApp({ checkpoint: () => latest, notReady: () => null } as unknown as AdminDeps);
  const none = await app.request("/audit/checkpoint");
  expect(none.status).toBe(404);
  expect(await none.json()).toEqual({ error: "not_found", message: "no audit checkpoint written yet" });
  latest = { seq: 7, hash: "ab".repeat(32), time: "2026-12-06T20:00:00.000Z", key_id: "0123456789abcdef", signature: "A".repeat(86) };
  const some = await app.request("/audit/checkpoint");
  expect(some.status).toBe(200);
  expect(await some.json()).toEqual(latest);
});

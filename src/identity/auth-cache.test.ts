import { expect, test } from "bun:test";
import type { Identity } from "../core/types.ts";
import { createCachedAuthenticate } from "./auth-cache.ts";
import { waitFor } from "../../test/helpers/wait.ts";

const alice: Identity = { method: "dev", subject: "alice", issuer: "t", groups: ["a"], expiresAt: 10_000 };

test("verifies once, then serves from cache until the credential expires", async () => {
  let now = 0;
  let calls = 0;
  const auth = createCachedAuthenticate(async () => (calls++, alice), { now: () => now }, { maxAgeMs: 60_000 });
  await auth("tok");
  await auth("tok");
  expect(calls).toBe(1);
  now = 10_000; // the token's own expiry
  await auth("tok");
  expect(calls).toBe(2);
});

test("failures are not cached and clear() forgets everything", async () => {
  let ok = false;
  let calls = 0;
  const auth = createCachedAuthenticate(async () => {
    calls++;
    if (!ok) throw new Error("bad");
    return alice;
  }, { now: () => 0 });
  await expect(auth("tok")).rejects.toThrow("bad");
  ok = true;
  expect((await auth("tok")).subject).toBe("alice");
  auth.clear();
  await auth("tok");
  expect(calls).toBe(3);
});

test("entries are bounded by maxAgeMs", async () => {
  let now = 0;
  let calls = 0;
  const auth = createCachedAuthenticate(async () => (calls++, { ...alice, expiresAt: undefined }), { now: () => now }, { maxAgeMs: 100 });
  await auth("k");
  now = 99;
  await auth("k");
  now = 100;
  await auth("k");
  expect(calls).toBe(2);
});

test("a check that began before clear() (a reload) does not put its answer back in the cache", async () => {
  let calls = 0;
  let release!: () => void;
  const auth = createCachedAuthenticate(
    async () => {
      calls++;
      if (calls === 1) await new Promise<void>((r) => (release = r));
      return alice;
    },
    { now: () => 0 },
  );
  const first = auth("tok");
  await waitFor("the first verification to start", () => calls === 1);
  auth.clear();
  release();
  expect((await first).subject).toBe("alice");
  await auth("tok");
  expect(calls).toBe(2);
});

test("peek answers only what a call would serve from the cache: nothing before, after expiry, after clear()", async () => {
  let now = 0;
  const auth = createCachedAuthenticate(async () => alice, { now: () => now }, { maxAgeMs: 60_000 });
  expect(auth.peek("tok")).toBeUndefined();
  await auth("tok");
  expect(auth.peek("tok")?.subject).toBe("alice");
  expect(auth.peek("other")).toBeUndefined();
  now = 10_000; // the token's own expiry
  expect(auth.peek("tok")).toBeUndefined();
  now = 0;
  await auth("tok");
  auth.clear();
  expect(auth.peek("tok")).toBeUndefined();
});

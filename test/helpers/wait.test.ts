// The bounded waits every test uses: they return what they waited for, and a wait that never
// ends fails with the name of what it waited for.
import { expect, test } from "bun:test";
import { signal, waitFor, within } from "./wait.ts";

test("waitFor returns the first truthy value of the condition", async () => {
  let n = 0;
  expect(await waitFor("n to reach 3", () => (++n >= 3 ? n : 0), { intervalMs: 1 })).toBe(3);
});

test("waitFor fails naming what it waited for, with the condition's last error", async () => {
  await expect(waitFor("the moon", () => false, { timeoutMs: 30, intervalMs: 5 })).rejects.toThrow("timed out after 30 ms waiting for the moon");
  await expect(
    waitFor("a server", () => {
      throw new Error("connection refused");
    }, { timeoutMs: 30, intervalMs: 5 }),
  ).rejects.toThrow("waiting for a server; last attempt failed: connection refused");
});

test("within passes a settled promise through and bounds one that never settles", async () => {
  const s = signal<string>();
  s.resolve("held");
  expect(await within("a hold", s.promise)).toBe("held");
  await expect(within("a close event", new Promise(() => {}), { timeoutMs: 30 })).rejects.toThrow("timed out after 30 ms waiting for a close event");
});

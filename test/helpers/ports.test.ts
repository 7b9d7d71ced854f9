import { expect, test } from "bun:test";
import { onFreePort } from "./ports.ts";

test("onFreePort starts again on another port when the port was taken meanwhile, and only then", async () => {
  const tried: number[] = [];
  const started = await onFreePort(async (port) => {
    tried.push(port);
    if (tried.length < 3) throw new Error(`gateway did not start: gatehouse serve: cannot start: Failed to start server. Is port ${port} in use?`);
    return `up on ${port}`;
  });
  expect(tried).toHaveLength(3);
  expect(started).toBe(`up on ${tried[2]}`);

  let calls = 0;
  const other = onFreePort(async () => {
    calls++;
    throw new Error("the config is invalid");
  });
  await expect(other).rejects.toThrow("the config is invalid");
  expect(calls).toBe(1);

  let taken = 0;
  await expect(
    onFreePort(async (port) => {
      taken++;
      throw new Error(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    }, 4),
  ).rejects.toThrow("EADDRINUSE");
  expect(taken).toBe(4);
});

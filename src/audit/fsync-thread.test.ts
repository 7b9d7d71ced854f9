import { afterEach, expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { tempLogs } from "./audit-test-helpers.ts";
import { FsyncThread } from "./fsync-thread.ts";
import { waitFor } from "../../test/helpers/wait.ts";

const tempPath = tempLogs("gatehouse-fsync-", "data");
const threads: FsyncThread[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const t of threads.splice(0)) t.stop();
  for (const fd of fds.splice(0)) closeSync(fd);
});

function start(onDone: () => void = () => {}, onDeath: (e: Error) => void = (e) => { throw e; }): FsyncThread {
  const t = new FsyncThread(onDone, onDeath);
  threads.push(t);
  return t;
}

const until = (check: () => boolean, what: string) => waitFor(what, check, { intervalMs: 5 });

test("a request is done once its fdatasync returns; later requests get later generations", async () => {
  const fd = openSync(tempPath(), "a");
  fds.push(fd);
  const t = start();
  writeSync(fd, "x".repeat(1000));
  const first = t.request(fd);
  const second = t.request(fd);
  expect(second).toBe(first + 1);
  await until(() => t.done >= second, "both requests");
  expect(t.error).toBeNull();
});

test("a failed fdatasync is reported by name and stays reported", async () => {
  const fd = openSync("/dev/null", "w"); // fdatasync on a character device: EINVAL
  fds.push(fd);
  const t = start();
  const gen = t.request(fd);
  await until(() => t.done >= gen, "the request");
  expect(t.error).toBe("fdatasync failed: EINVAL");
});

test("a message comes after an fsync only while one is wanted", async () => {
  const fd = openSync(tempPath(), "a");
  fds.push(fd);
  let messages = 0;
  const t = start(() => messages++);
  const quiet = t.request(fd);
  await until(() => t.done >= quiet, "the quiet request");
  // A window for a message that must not come (there is no event to wait for); under load it
  // can only let a wrong message slip by, never fail a right implementation.
  await Bun.sleep(20);
  expect(messages).toBe(0);
  t.wake(true);
  const loud = t.request(fd);
  await until(() => messages > 0, "a message");
  expect(t.done).toBeGreaterThanOrEqual(loud);
});

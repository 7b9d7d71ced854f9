// Test helper for crash.test.ts, run as a child process: appends from several concurrent
// writers forever and prints "seq writer n" for every acknowledged append, until it is killed.
import { openAuditLog } from "./log.ts";

const [path, writersArg] = process.argv.slice(2);
if (path === undefined) throw new Error("usage: crash-child.ts LOG [WRITERS]");
const log = await openAuditLog({ path, rotateSize: 64 * 1024 });
const writers = Number(writersArg ?? "8");
const run = process.pid;
await Promise.all(
  Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; ; n++) {
      const rec = await log.append({ type: "request", target: "crash", details: { run, w, n } });
      process.stdout.write(`${rec.seq} ${run} ${w} ${n}\n`);
    }
  }),
);

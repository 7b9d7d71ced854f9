// Test helper for crash.test.ts, run as a child process: appends from several concurrent
// writers forever and prints "seq writer n" for every acknowledged append, until it is killed.
// With KEYFILE it also writes signed checkpoints, every 50 records.
import { openAuditLog } from "./log.ts";
import { loadOrCreateSigningKey } from "./signing-key.ts";

const [path, writersArg, keyFile] = process.argv.slice(2);
if (path === undefined) throw new Error("usage: crash-child.ts LOG [WRITERS] [KEYFILE]");
const checkpoints = keyFile === undefined ? undefined : { key: await loadOrCreateSigningKey(keyFile), everyRecords: 50 };
const log = await openAuditLog({ path, rotateSize: 64 * 1024, ...(checkpoints ? { checkpoints } : {}) });
const writers = Number(writersArg ?? "8");
const run = process.pid;
await Promise.all(
  Array.from({ length: writers }, async (_, w) => {
    for (let n = 0; ; n++) {
      const rec = await log.append({ type: "request", target: "crash", details: { run, w, n } });
      process.stdout.write(`${rec.seq} ${run} ${w} ${n}\n`);
      // A turn of its own now and then, so that the checkpoints' immediates run between appends.
      if (checkpoints && n % 16 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }),
);

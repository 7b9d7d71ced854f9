// Test helper for crash.test.ts, run as a child process: appends from several concurrent
// writers forever and prints "seq writer n" for every acknowledged append, until it is killed.
// With KEYFILE it also writes signed checkpoints, every 50 records. With CRASH_MODE=fragments
// it appends as the hot path does: appendSync of a few records, flush(), then the acknowledgement,
// with an fsync interval of a minute, so that only the kernel holds what was acknowledged.
import { openAuditLog } from "./log.ts";
import { RecordTemplate } from "./record-template.ts";
import { loadOrCreateSigningKey } from "./signing-key.ts";

const [path, writersArg, keyFile] = process.argv.slice(2);
if (path === undefined) throw new Error("usage: crash-child.ts LOG [WRITERS] [KEYFILE]");
const fragments = process.env["CRASH_MODE"] === "fragments";
const checkpoints = keyFile === undefined ? undefined : { key: await loadOrCreateSigningKey(keyFile), everyRecords: 50 };
const log = await openAuditLog({ path, rotateSize: 64 * 1024, ...(fragments ? { fsyncIntervalMs: 60_000 } : {}), ...(checkpoints ? { checkpoints } : {}) });
const writers = Number(writersArg ?? "8");
const run = process.pid;
if (fragments) {
  const template = new RecordTemplate([{ type: "request", target: "crash" }], ["details"]);
  for (let n = 0; ; ) {
    // A chunk of 1–8 records (the last of them urgent, the others lazy), one write, then the acks.
    const chunk = 1 + (n % 8);
    const acks: string[] = [];
    for (let i = 0; i < chunk; i++, n++) {
      const seq = log.appendSync(template, { details: { run, w: 0, n } }, { lazy: i < chunk - 1 });
      acks.push(`${seq} ${run} 0 ${n}\n`);
    }
    const flushed = log.flush();
    if (flushed) await flushed;
    process.stdout.write(acks.join(""));
    await new Promise((resolve) => setImmediate(resolve));
  }
}
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

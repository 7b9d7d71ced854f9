// Child process for terminal-recording.test.ts: records output into argv[2] under a file size
// limit (ulimit -f, SIGXFSZ ignored) so that write(2) really fails with EFBIG part-way, and
// prints the recording's summary as JSON.
import { openTerminalRecording } from "./terminal-recording.ts";

const file = process.argv[2]!;
const reasons: string[] = [];
const rec = await openTerminalRecording({ file, width: 80, height: 24, onTruncated: (r) => reasons.push(r) });
for (let i = 0; i < 100; i++) {
  rec.output(new TextEncoder().encode(`${i} ${"y".repeat(1000)}\r\n`));
  await new Promise((r) => setImmediate(r)); // let each event be written before the next
}
console.log(JSON.stringify({ summary: await rec.close(), reasons }));

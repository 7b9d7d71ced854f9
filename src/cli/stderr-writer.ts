// The process's stderr for the CLI and the gateway's log, without Node's stream machinery: the
// first process.stderr.write loads it, about 3 ms of CPU before a start could accept
// (bench/README.md, start-up). A write(2) that blocks until the line is out is what Bun's
// process.stderr does on a pipe anyway (its stdio writes are forced synchronous). Should fd 2 be
// non-blocking and full (EAGAIN), or any other write fail, the rest goes to the fallback
// (process.stderr, which waits and reports as before), and so does everything after it, so
// lines never overtake each other.
import { writeSync } from "node:fs";

export interface StderrSink {
  /** write(2) on fd 2: bytes written, or throws (EAGAIN, EPIPE ...). */
  readonly write: (bytes: Uint8Array, offset: number) => number;
  /** Where the rest goes once a write failed: process.stderr. */
  readonly fallback: (bytes: Uint8Array) => void;
}

const fd2: StderrSink = {
  write: (bytes, offset) => writeSync(2, bytes, offset),
  fallback: (bytes) => void process.stderr.write(bytes),
};

export function stderrWriter(sink: StderrSink = fd2): (text: string) => void {
  let failed = false;
  return (text) => {
    const bytes = Buffer.from(text);
    if (failed) return sink.fallback(bytes);
    let offset = 0;
    try {
      while (offset < bytes.length) offset += sink.write(bytes, offset);
    } catch {
      failed = true;
      sink.fallback(bytes.subarray(offset));
    }
  };
}

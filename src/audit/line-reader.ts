// Streams the lines of a file as bytes, a chunk at a time, so reading a log of any size keeps
// memory flat. Lines are split on "\n" only; the caller decides what a bad line means.
import { open } from "node:fs/promises";
import { MAX_LINE_BYTES } from "./last-line.ts";
import { GatewayError } from "../core/errors.ts";

export interface RawLine {
  /** The line without its "\n". Valid until the consumer asks for the next line. */
  readonly bytes: Uint8Array;
  /** 1-based line number (counted from `start`). */
  readonly line: number;
  /** Byte offset of the line's first byte. */
  readonly offset: number;
  /** False only for a last line with no "\n" after it. */
  readonly terminated: boolean;
}

const CHUNK = 1024 * 1024;

export async function* readLines(file: string, start = 0): AsyncGenerator<RawLine> {
  for await (const batch of readLineBatches(file, start)) yield* batch;
}

/**
 * The same lines, one array per chunk read: a reader that looks at most lines only briefly
 * (the approvals at start skip all but a few) then pays one await per chunk, not per line.
 */
export async function* readLineBatches(file: string, start = 0): AsyncGenerator<RawLine[]> {
  const handle = await open(file, "r");
  try {
    let carry: Uint8Array | null = null;
    let carryOffset = start;
    let position = start;
    let line = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(CHUNK);
      const { bytesRead } = await handle.read(buf, 0, CHUNK, position);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      const batch: RawLine[] = [];
      let from = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl < 0) break;
        let bytes: Uint8Array = chunk.subarray(from, nl);
        let offset = position + from;
        if (carry !== null) {
          bytes = Buffer.concat([carry, bytes]);
          offset = carryOffset;
          carry = null;
        }
        batch.push({ bytes, line: ++line, offset, terminated: true });
        from = nl + 1;
      }
      if (batch.length > 0) yield batch;
      if (from < chunk.length) {
        const rest = chunk.subarray(from);
        if (carry === null) carryOffset = position + from;
        carry = carry === null ? Buffer.from(rest) : Buffer.concat([carry, rest]);
        if (carry.length > MAX_LINE_BYTES) {
          throw new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${file}: line ${line + 1} is longer than ${MAX_LINE_BYTES} bytes`, {
            details: { file, line: line + 1 },
          });
        }
      }
      position += bytesRead;
    }
    if (carry !== null && carry.length > 0) yield [{ bytes: carry, line: ++line, offset: carryOffset, terminated: false }];
  } finally {
    await handle.close();
  }
}

// Finds the last line of a file by reading backwards from a byte offset, so opening or
// following a log of many GB costs a few reads, not a scan.
import type { FileHandle } from "node:fs/promises";
import { GatewayError } from "../core/errors.ts";

export interface LastLine {
  /** Byte offset of the line's first byte. */
  readonly start: number;
  /** Offset just past the line, including its "\n" when terminated. */
  readonly end: number;
  /** The line without its "\n". */
  readonly bytes: Uint8Array;
  readonly terminated: boolean;
}

const CHUNK = 64 * 1024;
/** A record is a few KB; a "line" this long is damage, and we refuse to buffer it. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The last line of the first `end` bytes of a file, or null when `end` is 0. */
export async function readLastLine(handle: FileHandle, end: number, file: string): Promise<LastLine | null> {
  if (end <= 0) return null;
  const lastByte = Buffer.alloc(1);
  await readExactly(handle, lastByte, end - 1);
  const terminated = lastByte[0] === 0x0a;
  const contentEnd = terminated ? end - 1 : end;
  const chunks: Buffer[] = [];
  let pos = contentEnd;
  let start = 0;
  while (pos > 0) {
    const size = Math.min(CHUNK, pos);
    const buf = Buffer.alloc(size);
    await readExactly(handle, buf, pos - size);
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= 0) {
      chunks.unshift(buf.subarray(nl + 1));
      start = pos - size + nl + 1;
      break;
    }
    chunks.unshift(buf);
    pos -= size;
    if (contentEnd - pos > MAX_LINE_BYTES) {
      throw new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${file}: the last line is longer than ${MAX_LINE_BYTES} bytes`, {
        details: { file },
      });
    }
  }
  return { start, end, bytes: Buffer.concat(chunks), terminated };
}

async function readExactly(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await handle.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw new GatewayError("E_AUDIT_CORRUPT", `audit log changed while reading: unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

// Reads an audit log as it grows: each call returns only the records appended since the last,
// so a test that checks the log after each of hundreds of steps reads each line once instead of
// re-reading the whole file every time. A line still being written is left for the next call.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { parseLine } from "../../src/audit/parse-line.ts";
import type { AuditRecord } from "../../src/audit/record.ts";

export interface AuditCursor {
  /** The complete records appended since the previous call (or since the cursor was made). */
  next(): AuditRecord[];
}

/**
 * A cursor over the live audit file at `path`, starting at its current end (`fromStart` to
 * begin at its first line). Rotation would move lines out of sight, so a file that shrank or was
 * replaced is an error, never a silent gap.
 */
export function auditCursor(path: string, opts: { fromStart?: boolean } = {}): AuditCursor {
  const first = statSync(path);
  const ino = first.ino;
  let offset = opts.fromStart ? 0 : first.size;
  return {
    next() {
      const st = statSync(path);
      if (st.ino !== ino || st.size < offset) throw new Error(`audit log ${path} was rotated or truncated under the cursor (at byte ${offset}, now ${st.size} bytes)`);
      if (st.size === offset) return [];
      const bytes = Buffer.alloc(st.size - offset);
      const fd = openSync(path, "r");
      let got = 0;
      try {
        while (got < bytes.length) {
          const n = readSync(fd, bytes, got, bytes.length - got, offset + got);
          if (n === 0) break;
          got += n;
        }
      } finally {
        closeSync(fd);
      }
      const end = bytes.subarray(0, got).lastIndexOf(0x0a);
      if (end < 0) return [];
      const out: AuditRecord[] = [];
      let start = 0;
      while (start <= end) {
        const nl = bytes.indexOf(0x0a, start);
        const parsed = parseLine(bytes.subarray(start, nl), false);
        if (!parsed.ok) throw new Error(`audit log ${path} at byte ${offset + start}: ${parsed.problem}`);
        out.push(parsed.record);
        start = nl + 1;
      }
      offset += end + 1;
      return out;
    },
  };
}

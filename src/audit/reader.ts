// Reading the log back: every record of every file in chain order, streamed. Integrity is
// verify's job; here a line that is not a record stops the read with E_AUDIT_CORRUPT.
import { GatewayError } from "../core/errors.ts";
import { readLines } from "./line-reader.ts";
import { listLogFiles } from "./log-files.ts";
import { parseLine } from "./parse-line.ts";
import type { AuditRecord } from "./record.ts";

export { listLogFiles } from "./log-files.ts";
export { followRecords, type FollowOptions, type FollowedRecord } from "./follow-records.ts";

export interface RecordAt {
  readonly record: AuditRecord;
  readonly file: string;
  /** 1-based line number in `file`. */
  readonly line: number;
  /** Byte offset of the line in `file`. */
  readonly offset: number;
}

export interface TornTail {
  readonly file: string;
  readonly line: number;
  readonly offset: number;
  readonly length: number;
}

export interface ReadOptions {
  /**
   * Called for a last line without "\n" (being written right now, or torn by a crash), which is
   * then skipped. Without it such a line is an E_AUDIT_CORRUPT error.
   */
  readonly onTornTail?: (torn: TornTail) => void;
  /** Read only these files, in this order (default: all files of the log, from listLogFiles). */
  readonly files?: readonly string[];
}

/** All records of the log at `path` (rotated files oldest first, then the live one). */
export async function* readRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<RecordAt> {
  const files = opts.files ?? (await listLogFiles(path));
  for (const file of files) {
    for await (const raw of readLines(file)) {
      if (!raw.terminated) {
        const torn = { file, line: raw.line, offset: raw.offset, length: raw.bytes.length };
        if (opts.onTornTail === undefined) {
          throw new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${file}:${raw.line}: last line has no trailing newline (torn write?)`, {
            details: torn,
          });
        }
        opts.onTornTail(torn);
        continue;
      }
      const parsed = parseLine(raw.bytes, false);
      if (!parsed.ok) {
        throw new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${file}:${raw.line}: ${parsed.problem}`, {
          details: { file, line: raw.line, offset: raw.offset },
        });
      }
      yield { record: parsed.record, file, line: raw.line, offset: raw.offset };
    }
  }
}

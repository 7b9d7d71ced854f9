// Reading the log back: every record of every file in chain order, streamed. Integrity is
// verify's job; here a line that is not a record stops the read with E_AUDIT_CORRUPT.
import { GatewayError } from "../core/errors.ts";
import { readLineBatches } from "./line-reader.ts";
import { listLogFiles } from "./log-files.ts";
import { decodeLine, excerpt, parseLine } from "./parse-line.ts";
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
  /**
   * Only records whose type starts with this (say "approval."). Other lines are still read as
   * JSON, and one that is not stops the read as ever, but they are neither schema-checked nor
   * yielded: reading a long log for a few of its records (the approvals, at every start) costs
   * a fraction. A line is told by its bytes: the writer's canonical JSON has `"type":"…"` at
   * its top level exactly so, and a quote inside a string value is escaped, so no record of
   * that type is skipped (a nested "type" key only makes a line be checked in full).
   */
  readonly typePrefix?: string;
}

/** All records of the log at `path` (rotated files oldest first, then the live one). */
export async function* readRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<RecordAt> {
  const files = opts.files ?? (await listLogFiles(path));
  const needle = opts.typePrefix === undefined ? null : Buffer.from(`"type":${JSON.stringify(opts.typePrefix).slice(0, -1)}`);
  for (const file of files) {
    for await (const batch of readLineBatches(file)) {
      for (const raw of batch) {
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
        if (needle !== null && Buffer.from(raw.bytes.buffer, raw.bytes.byteOffset, raw.bytes.length).indexOf(needle) < 0) {
          const problem = jsonProblem(raw.bytes);
          if (problem !== null) throw damaged(file, raw.line, raw.offset, problem);
          continue;
        }
        const parsed = parseLine(raw.bytes, false);
        if (!parsed.ok) throw damaged(file, raw.line, raw.offset, parsed.problem);
        if (needle !== null && !parsed.record.type.startsWith(opts.typePrefix!)) continue;
        yield { record: parsed.record, file, line: raw.line, offset: raw.offset };
      }
    }
  }
}

function damaged(file: string, line: number, offset: number, problem: string): GatewayError {
  return new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${file}:${line}: ${problem}`, { details: { file, line, offset } });
}

/** Null when the line is UTF-8 JSON of an object (what a skipped record must at least be), else what it is not. */
function jsonProblem(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return "empty line";
  const text = decodeLine(bytes);
  if (text === null) return "not valid UTF-8";
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return `not valid JSON (${(e as Error).message}): ${excerpt(text)}`;
  }
  return value !== null && typeof value === "object" && !Array.isArray(value) ? null : "not an audit record: not a JSON object";
}

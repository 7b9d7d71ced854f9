// The repair at open: a crash can leave the last line torn (half written, or garbage from a
// lost block). We cut exactly that line and say so in the log; anything worse is left for a
// person, because silently continuing a damaged chain would hide it.
import { open } from "node:fs/promises";
import { GatewayError } from "../core/errors.ts";
import { readLastLine, type LastLine } from "./last-line.ts";
import { bytesExcerpt, parseLine } from "./parse-line.ts";
import type { AuditRecord } from "./record.ts";

/** What the repair at open cut from a file. */
export interface Repair {
  readonly file: string;
  /** Byte offset where the cut bytes began (the file's new size). */
  readonly offset: number;
  /** How many bytes were cut. */
  readonly length: number;
  /** Why the line was cut. */
  readonly reason: string;
  /** The start of the cut bytes, printable. */
  readonly excerpt: string;
}

export interface TailState {
  /** The last intact record of the file, null when it is (now) empty. */
  readonly last: AuditRecord | null;
  readonly repair: Repair | null;
}

function lineProblem(line: LastLine): { record: AuditRecord; problem?: undefined } | { problem: string } {
  if (!line.terminated) return { problem: "torn last line: no trailing newline" };
  const parsed = parseLine(line.bytes, true);
  return parsed.ok ? { record: parsed.record } : { problem: parsed.problem };
}

/**
 * Checks the last line of `file` and returns the last good record. With `allowCut`, a torn last
 * line is cut (truncate + fsync); without, it is an E_AUDIT_CORRUPT error.
 */
export async function inspectTail(file: string, allowCut: boolean): Promise<TailState> {
  const handle = await open(file, "r+");
  try {
    const size = (await handle.stat()).size;
    const last = await readLastLine(handle, size, file);
    if (last === null) return { last: null, repair: null };
    const checked = lineProblem(last);
    if (checked.problem === undefined) return { last: checked.record, repair: null };

    if (!allowCut) {
      throw new GatewayError(
        "E_AUDIT_CORRUPT",
        `audit log damaged: ${file}: ${checked.problem} at byte ${last.start}, in a file that is not the end of the chain; run \`gatehouse verify\``,
        { details: { file, offset: last.start } },
      );
    }
    const before = await readLastLine(handle, last.start, file);
    let previous: AuditRecord | null = null;
    if (before !== null) {
      const prior = lineProblem(before);
      if (prior.problem !== undefined) {
        throw new GatewayError(
          "E_AUDIT_CORRUPT",
          `audit log damaged: ${file}: the line at byte ${before.start} is bad (${prior.problem}) as well as the last one (${checked.problem}); ` +
            "that is not a torn write, so it is not repaired automatically: run `gatehouse verify`",
          { details: { file, offset: before.start } },
        );
      }
      previous = prior.record;
    }
    const repair: Repair = {
      file,
      offset: last.start,
      length: size - last.start,
      reason: checked.problem,
      excerpt: bytesExcerpt(last.bytes),
    };
    await handle.truncate(last.start);
    await handle.sync();
    return { last: previous, repair };
  } finally {
    await handle.close();
  }
}

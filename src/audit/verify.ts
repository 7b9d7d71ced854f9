// Walks the whole chain, every file, and reports the first record that is not what the chain
// says it must be: unreadable, malformed, out of sequence, unlinked, or altered.
import { readLines } from "./line-reader.ts";
import { listLogFiles } from "./log-files.ts";
import { parseLine } from "./parse-line.ts";
import { ZERO_HASH } from "./record.ts";

export type VerifyResult =
  | { readonly ok: true; readonly records: number }
  | {
      readonly ok: false;
      readonly file: string;
      /** 1-based line number in `file`; 0 when no file could be read at all. */
      readonly line: number;
      readonly seq?: number;
      readonly problem: string;
      /** Records that checked out before the bad one. */
      readonly records: number;
    };

export async function verifyLog(path: string): Promise<VerifyResult> {
  const files = await listLogFiles(path);
  if (files.length === 0) return { ok: false, file: path, line: 0, problem: "no audit log files found", records: 0 };
  let records = 0;
  let expectedSeq = 1;
  let prevHash = ZERO_HASH;
  for (const file of files) {
    try {
      for await (const raw of readLines(file)) {
        const fail = (problem: string, seq?: number) =>
          ({ ok: false, file, line: raw.line, problem, records, ...(seq === undefined ? {} : { seq }) }) as const;
        if (!raw.terminated) return fail(`torn last line: no trailing newline (${raw.bytes.length} bytes at byte ${raw.offset})`);
        const parsed = parseLine(raw.bytes, true);
        if (!parsed.ok) return fail(parsed.problem, seqOf(raw.bytes));
        const r = parsed.record;
        if (r.seq !== expectedSeq) {
          const what =
            r.seq > expectedSeq
              ? `seq gap: expected ${expectedSeq}, found ${r.seq} (${r.seq - expectedSeq} record(s) missing, or records reordered)`
              : `seq out of order: expected ${expectedSeq}, found ${r.seq} (record repeated or reordered)`;
          return fail(what, r.seq);
        }
        if (r.prev !== prevHash) {
          return fail(`broken link: record says prev ${r.prev}, previous record's hash is ${prevHash}`, r.seq);
        }
        prevHash = r.hash;
        expectedSeq++;
        records++;
      }
    } catch (e) {
      return { ok: false, file, line: 0, problem: `cannot read: ${(e as Error).message}`, records };
    }
  }
  return { ok: true, records };
}

/** The seq of a line that failed its checks, when it can still be read, to help find it. */
function seqOf(bytes: Uint8Array): number | undefined {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as { seq?: unknown };
    return typeof value.seq === "number" ? value.seq : undefined;
  } catch {
    return undefined;
  }
}

// Walks the whole chain, every file, and reports the first record that is not what the chain
// says it must be: unreadable, malformed, out of sequence, unlinked, or altered; checks every
// signed checkpoint (checkpoint.ts) against the trusted keys; and, given a head saved elsewhere,
// that the log still holds it, which the chain alone cannot show for records cut off the end;
// and, when asked, that the recordings records link to are there unchanged (verify-recordings.ts).
import { dirname } from "node:path";
import { CHECKPOINT_TYPE, checkpointProblem, parseCheckpoint, type ChainHead, type Checkpoint } from "./checkpoint.ts";
import { readLines } from "./line-reader.ts";
import { listLogFiles } from "./log-files.ts";
import { parseLine } from "./parse-line.ts";
import { ZERO_HASH } from "./record.ts";
import type { PublicKey } from "./signing-key.ts";
import { checkRecordings } from "./verify-recordings.ts";

export interface VerifyOptions {
  /** Keys whose checkpoint signatures are trusted. Without any, signatures are not checked (and the result says so). */
  readonly keys?: readonly PublicKey[];
  /** A head saved elsewhere: the log must hold a record with this seq and hash. */
  readonly head?: ChainHead;
  /**
   * Check the files records link to (details.recording, details.output) against the size and
   * SHA-256 they hold; `dir`: look for them there by name (a log copied with its recordings).
   * Without it recordings are not checked.
   */
  readonly recordings?: { readonly dir?: string };
}

/** The newest checkpoint of the log, and the seq of the record that holds it. */
export type LastCheckpoint = Checkpoint & { readonly record_seq: number };

export type VerifyFailure = {
  readonly ok: false;
  readonly file: string;
  /** 1-based line number in `file`; 0 when no file could be read at all, or the problem is no one line. */
  readonly line: number;
  readonly seq?: number;
  readonly problem: string;
  /** Records that checked out before the bad one. */
  readonly records: number;
};

export type VerifyResult = { readonly ok: true; readonly records: number } | VerifyFailure;

export type VerifyReport =
  | {
      readonly ok: true;
      readonly records: number;
      /** Checkpoint records in the log. */
      readonly checkpoints: number;
      /** "verified" when every checkpoint's signature was checked against a trusted key. */
      readonly signatures: "verified" | "not checked";
      readonly last_checkpoint: LastCheckpoint | null;
      /** Records after the last checkpoint record (all of them when there is none): nothing signed anchors them yet. */
      readonly not_checkpointed: number;
      /** The saved head that was found in the log, when one was given. */
      readonly head?: ChainHead;
      /** Recording files checked, when opts.recordings asked for it. */
      readonly recordings?: number;
    }
  | VerifyFailure;

/** The chain's check alone: checkpoints are checked for shape and link, not signature (no keys). */
export async function verifyLog(path: string): Promise<VerifyResult> {
  const report = await verifyLogReport(path);
  return report.ok ? { ok: true, records: report.records } : report;
}

/** The whole check: chain, checkpoints against `opts.keys`, and the saved `opts.head`. */
export async function verifyLogReport(path: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const keys = opts.keys ?? [];
  const files = await listLogFiles(path);
  if (files.length === 0) return { ok: false, file: path, line: 0, problem: "no audit log files found", records: 0 };
  let records = 0;
  let expectedSeq = 1;
  let prevHash = ZERO_HASH;
  let checkpoints = 0;
  let last: LastCheckpoint | null = null;
  let recordings = 0;
  let headHash: { hash: string; file: string; line: number } | null = opts.head?.seq === 0 ? { hash: ZERO_HASH, file: files[0]!, line: 0 } : null;
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
        if (r.type === CHECKPOINT_TYPE) {
          const cp = parseCheckpoint(r.details);
          if (!cp.ok) return fail(`malformed checkpoint: ${cp.problem}`, r.seq);
          const c = cp.checkpoint;
          if (c.seq !== r.seq - 1 || c.hash !== r.prev) {
            return fail(`checkpoint signs seq ${c.seq} with hash ${c.hash}, but the record before it is seq ${r.seq - 1} with hash ${r.prev}`, r.seq);
          }
          if (keys.length > 0) {
            const problem = checkpointProblem(c, keys);
            if (problem !== null) return fail(`checkpoint ${problem}`, r.seq);
          }
          checkpoints++;
          last = { ...c, record_seq: r.seq };
        }
        if (opts.recordings !== undefined && r.details !== undefined) {
          const check = await checkRecordings(r.details, r.session, { base: dirname(file), ...opts.recordings });
          recordings += check.checked;
          if (check.problem !== null) return fail(check.problem, r.seq);
        }
        if (opts.head !== undefined && r.seq === opts.head.seq) headHash = { hash: r.hash, file, line: raw.line };
        prevHash = r.hash;
        expectedSeq++;
        records++;
      }
    } catch (e) {
      return { ok: false, file, line: 0, problem: `cannot read: ${(e as Error).message}`, records };
    }
  }
  let head: ChainHead | undefined;
  if (opts.head !== undefined) {
    const want = opts.head;
    if (headHash === null) {
      return {
        ok: false,
        file: files[files.length - 1]!,
        line: 0,
        problem: `the log was cut or rewritten: it ends at seq ${records}, but the saved head is seq ${want.seq} (${want.seq - records} record(s) missing from the end)`,
        records,
      };
    }
    if (headHash.hash !== want.hash) {
      return {
        ok: false,
        file: headHash.file,
        line: headHash.line,
        seq: want.seq,
        problem: `the log was rewritten: record seq ${want.seq} has hash ${headHash.hash}, but the saved head says ${want.hash}`,
        records,
      };
    }
    head = { seq: want.seq, hash: want.hash };
  }
  return {
    ok: true,
    records,
    checkpoints,
    signatures: keys.length > 0 ? "verified" : "not checked",
    last_checkpoint: last,
    not_checkpointed: records - (last?.record_seq ?? 0),
    ...(head ? { head } : {}),
    ...(opts.recordings !== undefined ? { recordings } : {}),
  };
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

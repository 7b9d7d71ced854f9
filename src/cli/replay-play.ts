// `gatehouse replay` of a session with terminal recordings: each recording the session's records
// link is checked against its audit record (size and sha-256, as verify does) and played in
// order; a recording that does not match is not played.
import { dirname } from "node:path";
import type { AuditRecord } from "../audit/record.ts";
import { checkRecordings, resolveRecordingPath } from "../audit/verify-recordings.ts";
import { errorMessage } from "../core/errors.ts";
import { recordingLinks } from "../recording/recording-ref.ts";
import type { Io } from "./command.ts";
import { playCast, type PlayOptions } from "./replay-cast.ts";

export interface PlayRecordingsOptions extends Omit<PlayOptions, "write"> {
  /** Look for the files here by name instead of at the recorded path. */
  readonly dir?: string;
}

/** Plays the session's terminal recordings; null when it has none (print the transcript instead). */
export async function playRecordings(records: readonly AuditRecord[], log: string, io: Io, opts: PlayRecordingsOptions): Promise<number | null> {
  const linked = records.filter((r) => recordingLinks(r.details).some((l) => l.field === "recording"));
  if (linked.length === 0) return null;
  for (const r of linked) {
    const recording = (r.details as { recording: unknown }).recording;
    const base = { base: dirname(log), ...(opts.dir !== undefined ? { dir: opts.dir } : {}) };
    const check = await checkRecordings({ recording }, r.session, base);
    if (check.problem !== null) {
      io.stderr(`gatehouse replay: not played: ${check.problem}\n`);
      return 1;
    }
    const path = resolveRecordingPath(recordingLinks({ recording })[0]!.file, base);
    io.stderr(`gatehouse replay: session ${r.session ?? "?"}, recording ${path} (sha-256 as recorded, seq ${r.seq})\n`);
    try {
      const result = await playCast(path, { ...opts, write: io.stdout });
      const how = result.stopped ? "stopped" : "end of recording";
      io.stderr(`\ngatehouse replay: ${how}: ${result.events} output events, ${result.duration.toFixed(1)} s, ${result.header.width}x${result.header.height}\n`);
      if (result.stopped) return 0;
    } catch (e) {
      io.stderr(`gatehouse replay: ${errorMessage(e)}\n`);
      return 1;
    }
  }
  return 0;
}

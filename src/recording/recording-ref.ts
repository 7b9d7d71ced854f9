// How the audit log points at recordings: the field names a target puts in a record's
// details, where the files live, and how `gatehouse verify` finds every link in a record.
//
//   details.recording = { file, sha256, bytes, events, truncated }          a terminal session (.cast)
//   details.output    = { stdout: CapturedStream, stderr: CapturedStream }  an exec's output
//
// `file` is the path the gateway wrote (absolute); `sha256` and `bytes` are those of the file
// as written. A CapturedStream also has the hash and size of the WHOLE stream, which differ
// from the file's when the capture was cut at the limit.
import { join } from "node:path";

/** What a closed terminal recording holds: goes into details.recording. */
export interface RecordingSummary {
  readonly file: string;
  /** Hex SHA-256 of the file. */
  readonly sha256: string;
  /** Size of the file. */
  readonly bytes: number;
  /** Event lines written (o, i, r, and a final m when truncated). */
  readonly events: number;
  /** True when the disk fell behind or failed and later events are missing (see reason). */
  readonly truncated: boolean;
  readonly reason?: string;
}

/** One captured output stream of an exec (stdout or stderr). */
export interface CapturedStream {
  /** Hex SHA-256 of the whole stream, however long. */
  readonly sha256: string;
  /** Bytes in the whole stream. */
  readonly bytes: number;
  /** Bytes kept in `file` (at most the limit). */
  readonly captured_bytes: number;
  /** True when the stream was longer than what was kept (or the file could not be written). */
  readonly truncated: boolean;
  /** The file holding the first captured_bytes bytes; absent when nothing was captured. */
  readonly file?: string;
  /** Hex SHA-256 of `file` (equal to sha256 unless truncated). */
  readonly file_sha256?: string;
  /** Why the capture stopped early when that was not the limit (a write error). */
  readonly reason?: string;
}

export interface ExecOutputSummary {
  readonly stdout: CapturedStream;
  readonly stderr: CapturedStream;
}

/** The audit details fields that link recordings. */
export const RECORDING_FIELD = "recording";
export const EXEC_OUTPUT_FIELD = "output";

/** A file an audit record vouches for, with the hash it must still have. */
export interface RecordingLink {
  readonly file: string;
  readonly sha256: string;
  readonly bytes?: number;
  /** Where in the record it was found, for messages: "recording", "output.stdout" … */
  readonly field: string;
}

/** Every recording file a record's details link to (none for most records). */
export function recordingLinks(details: unknown): RecordingLink[] {
  if (!isObject(details)) return [];
  const links: RecordingLink[] = [];
  const rec = details[RECORDING_FIELD];
  if (isObject(rec) && typeof rec["file"] === "string" && typeof rec["sha256"] === "string") {
    links.push({ file: rec["file"], sha256: rec["sha256"], ...sizeOf(rec["bytes"]), field: RECORDING_FIELD });
  }
  const output = details[EXEC_OUTPUT_FIELD];
  if (isObject(output)) {
    for (const stream of ["stdout", "stderr"] as const) {
      const s = output[stream];
      if (isObject(s) && typeof s["file"] === "string") {
        const hash = typeof s["file_sha256"] === "string" ? s["file_sha256"] : s["sha256"];
        if (typeof hash === "string") links.push({ file: s["file"], sha256: hash, ...sizeOf(s["captured_bytes"]), field: `${EXEC_OUTPUT_FIELD}.${stream}` });
      }
    }
  }
  return links;
}

function sizeOf(n: unknown): { bytes?: number } {
  return typeof n === "number" ? { bytes: n } : {};
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The folder recordings go in: <state_dir>/recordings. */
export function recordingsDir(stateDir: string): string {
  return join(stateDir, "recordings");
}

/**
 * A file name for a session's recording: the session id made safe for a file name, plus a
 * suffix (".cast", "-3.stdout" for the third exec's stdout …).
 */
export function recordingFile(stateDir: string, session: string, suffix = ".cast"): string {
  const safe = session.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 200) || "session";
  return join(recordingsDir(stateDir), safe + suffix);
}

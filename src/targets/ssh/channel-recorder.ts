// What is kept of a session channel's bytes beside its audit records: a terminal session (a
// shell or an exec with a pty) as an asciicast v2 file (output, resizes, and input when the
// target's record_input says so); an exec without a pty as its stdout and stderr up to
// exec_output_limit, with the hash of the whole of each. The channel's record links the files
// (details.recording, details.output) by name and sha-256, which `gatehouse verify` checks.
import type { PseudoTtyInfo } from "ssh2";
import type { Clock, SshRequestFacts } from "../../core/types.ts";
import { openExecCapture } from "../../recording/exec-capture.ts";
import { EXEC_OUTPUT_FIELD, RECORDING_FIELD, recordingFile } from "../../recording/recording-ref.ts";
import { openTerminalRecording } from "../../recording/terminal-recording.ts";
import type { RelayTaps } from "./relay.ts";

/** exec_output_limit when the target does not set one. */
export const DEFAULT_EXEC_OUTPUT_LIMIT = 1024 * 1024;

export interface ChannelRecorder {
  readonly taps: RelayTaps;
  /** window-change. */
  resize(cols: number, rows: number): void;
  /** Closes the files; the record's details that link them. */
  close(): Promise<Record<string, unknown>>;
}

export interface RecorderOptions {
  readonly stateDir: string;
  readonly recordInput: boolean;
  readonly execOutputLimit: number;
  readonly clock: Clock;
}

/**
 * The recorder of one started channel (`name`: unique in the state folder, e.g. the session id
 * and the channel's number), or null for what has no terminal or output to keep (SFTP, forwards).
 * Rejects when the file cannot be created.
 */
export async function openChannelRecorder(opts: RecorderOptions, name: string, facts: SshRequestFacts, pty: PseudoTtyInfo | null): Promise<ChannelRecorder | null> {
  if (facts.action !== "shell" && facts.action !== "exec") return null;
  if (pty !== null) {
    const rec = await openTerminalRecording({
      file: recordingFile(opts.stateDir, name, ".cast"),
      width: pty.cols,
      height: pty.rows,
      term: pty.term,
      ...(facts.command !== undefined ? { command: facts.command } : {}),
      title: `${facts.action === "exec" ? facts.command : "shell"} as ${facts.user}`,
      recordInput: opts.recordInput,
      clock: opts.clock,
    });
    return {
      // A terminal shows stdout and stderr alike.
      taps: { output: (chunk) => rec.output(chunk), input: (chunk) => rec.input(chunk) },
      resize: (cols, rows) => rec.resize(cols, rows),
      close: async () => ({ [RECORDING_FIELD]: await rec.close() }),
    };
  }
  const capture = openExecCapture({ prefix: recordingFile(opts.stateDir, name, ""), limit: opts.execOutputLimit });
  return {
    taps: { output: (chunk, stderr) => (stderr ? capture.stderr(chunk) : capture.stdout(chunk)) },
    resize: () => {},
    close: async () => ({ [EXEC_OUTPUT_FIELD]: await capture.close() }),
  };
}

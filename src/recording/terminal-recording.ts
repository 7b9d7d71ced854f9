// A terminal session (an SSH pty, a kubectl exec -t) as an asciicast v2 file
// (https://docs.asciinema.org/manual/asciicast/v2/): a header line, then one
// [seconds, "o"|"i"|"r", data] line per event, streamed to disk through a bounded queue.
// Output is always recorded, input only when asked. A UTF-8 character split between two
// chunks is held back and written whole with the next event, never as two U+FFFD.
import { openBatchedFile, type BatchedFile } from "./batched-file.ts";
import type { RecordingSummary } from "./recording-ref.ts";

export interface TerminalRecordingOptions {
  /** The .cast file to create (see recordingFile()); it must not exist yet. */
  readonly file: string;
  /** The terminal size at the start (pty-req). */
  readonly width: number;
  readonly height: number;
  /** The client's TERM (pty-req) and the shell, when known: the header's env. */
  readonly term?: string;
  readonly shell?: string;
  readonly title?: string;
  /** What runs, when not a login shell (an exec with a pty). */
  readonly command?: string;
  /** Record the caller's keystrokes as "i" events too (they may hold passwords typed at prompts). */
  readonly recordInput?: boolean;
  /** Milliseconds since the epoch; event times are taken from it. Default Date.now. */
  readonly clock?: { now(): number };
  /** See BatchedFileOptions.maxQueuedBytes. */
  readonly maxQueuedBytes?: number;
  /** Called once when the recording stops taking events (the disk fell behind, or a write failed). */
  readonly onTruncated?: (reason: string) => void;
}

export interface TerminalRecording {
  readonly file: string;
  /** What the terminal showed (the upstream's output, after masking if the policy masks). */
  output(data: Uint8Array): void;
  /** What the caller typed; ignored unless recordInput. */
  input(data: Uint8Array): void;
  /** window-change: the new size. */
  resize(cols: number, rows: number): void;
  /** Writes what is held back, closes the file and says what it holds. Idempotent. */
  close(): Promise<RecordingSummary>;
}

/** Creates the file and writes the header. Rejects when the file cannot be created. */
export async function openTerminalRecording(opts: TerminalRecordingOptions): Promise<TerminalRecording> {
  const clock = opts.clock ?? { now: () => Date.now() };
  const start = clock.now();
  const out = await openBatchedFile(opts.file, {
    lines: true,
    ...(opts.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: opts.maxQueuedBytes }),
    ...(opts.onTruncated === undefined ? {} : { onTruncated: opts.onTruncated }),
  });
  const env: Record<string, string> = {};
  if (opts.term !== undefined) env["TERM"] = opts.term;
  if (opts.shell !== undefined) env["SHELL"] = opts.shell;
  const header = {
    version: 2,
    width: size(opts.width, 80),
    height: size(opts.height, 24),
    timestamp: Math.floor(start / 1000),
    env,
    ...(opts.title === undefined ? {} : { title: opts.title }),
    ...(opts.command === undefined ? {} : { command: opts.command }),
  };
  out.write(JSON.stringify(header) + "\n");
  return new CastWriter(opts.file, out, clock, start, opts.recordInput === true);
}

function size(n: number, fallback: number): number {
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

class CastWriter implements TerminalRecording {
  // One decoder per direction: each keeps the bytes of a character cut at a chunk's end.
  private readonly outDecoder = new TextDecoder("utf-8");
  private readonly inDecoder = new TextDecoder("utf-8");
  private lastTime = 0;
  private closed: Promise<RecordingSummary> | null = null;

  constructor(
    readonly file: string,
    private readonly out: BatchedFile,
    private readonly clock: { now(): number },
    private readonly start: number,
    private readonly recordInput: boolean,
  ) {}

  output(data: Uint8Array): void {
    this.text("o", this.outDecoder.decode(data, { stream: true }));
  }

  input(data: Uint8Array): void {
    if (this.recordInput) this.text("i", this.inDecoder.decode(data, { stream: true }));
  }

  resize(cols: number, rows: number): void {
    if (Number.isInteger(cols) && Number.isInteger(rows) && cols > 0 && rows > 0) this.event("r", `${cols}x${rows}`);
  }

  private text(type: "o" | "i", text: string): void {
    if (text.length > 0) this.event(type, text);
  }

  private event(type: string, data: string): void {
    if (this.closed !== null || this.out.truncated) return;
    this.out.write(`[${this.seconds()}, "${type}", ${JSON.stringify(data)}]\n`);
  }

  private seconds(): string {
    // Never backwards, even when the wall clock is set back: players expect ordered events.
    this.lastTime = Math.max(this.lastTime, (this.clock.now() - this.start) / 1000);
    return this.lastTime.toFixed(6);
  }

  close(): Promise<RecordingSummary> {
    if (this.closed === null) {
      // The bytes of a character the stream ended inside become U+FFFD, as a terminal shows them.
      this.text("o", this.outDecoder.decode());
      if (this.recordInput) this.text("i", this.inDecoder.decode());
      const at = this.seconds();
      this.closed = this.out
        .close((s) => {
          if (!s.truncated) return undefined;
          // A marker ("m", asciicast v2) says where and why the recording stops; players skip it.
          return `[${at}, "m", ${JSON.stringify(`recording truncated: ${s.reason ?? "unknown reason"}`)}]\n`;
        })
        // Events are the lines the file holds after its header (a failed write may have cut some).
        .then((s) => ({ file: s.file, sha256: s.sha256, bytes: s.bytes, events: Math.max(0, s.lines - 1), truncated: s.truncated, ...(s.reason ? { reason: s.reason } : {}) }));
    }
    return this.closed;
  }
}

// An exec's stdout and stderr, kept up to a limit per command (exec_output_limit) while a
// SHA-256 and a byte count of the whole of each stream are always kept: a 200 MB `cat` costs
// `limit` bytes of disk and a hash, not 200 MB. Files are created on the first captured byte,
// so a command without output leaves no file. Like the terminal recording, writing never
// waits for the disk (see batched-file.ts).
import { openBatchedFile, type BatchedFile, type BatchedFileSummary } from "./batched-file.ts";
import type { CapturedStream, ExecOutputSummary } from "./recording-ref.ts";
import { errorMessage } from "../core/errors.ts";

export interface ExecCaptureOptions {
  /** Path prefix of the capture files: "<prefix>.stdout" and "<prefix>.stderr" (see recordingFile()). */
  readonly prefix: string;
  /** Bytes kept for the command, stdout and stderr together (exec_output_limit); 0 keeps only hashes. */
  readonly limit: number;
  readonly maxQueuedBytes?: number;
  /** fdatasync each file before close() resolves. Default true. */
  readonly sync?: boolean;
}

export interface ExecCapture {
  stdout(data: Uint8Array): void;
  stderr(data: Uint8Array): void;
  /** Both streams' summaries (details.output). Idempotent. */
  close(): Promise<ExecOutputSummary>;
}

export function openExecCapture(opts: ExecCaptureOptions): ExecCapture {
  const budget = { left: Math.max(0, Math.floor(opts.limit)) };
  const out = new StreamCapture(`${opts.prefix}.stdout`, budget, opts);
  const err = new StreamCapture(`${opts.prefix}.stderr`, budget, opts);
  let closed: Promise<ExecOutputSummary> | null = null;
  return {
    stdout: (d) => out.write(d),
    stderr: (d) => err.write(d),
    close() {
      closed ??= Promise.all([out.close(), err.close()]).then(([stdout, stderr]) => ({ stdout, stderr }));
      return closed;
    },
  };
}

class StreamCapture {
  private readonly whole = new Bun.CryptoHasher("sha256");
  private bytes = 0;
  private cut = false;
  private sink: BatchedFile | null = null;
  private opening: Promise<void> | null = null;
  /** What arrived while the file was being created; bounded by the limit. */
  private early: Uint8Array[] = [];
  private failure: string | null = null;

  constructor(
    private readonly file: string,
    private readonly budget: { left: number },
    private readonly opts: ExecCaptureOptions,
  ) {}

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    this.whole.update(data);
    this.bytes += data.length;
    const keep = Math.min(data.length, this.budget.left);
    if (keep < data.length) this.cut = true;
    if (keep === 0 || this.failure !== null) return;
    this.budget.left -= keep;
    const part = data.subarray(0, keep);
    if (this.sink !== null) {
      this.sink.write(part); // refused when the disk fell behind: the summary says truncated
      return;
    }
    this.early.push(part.slice());
    this.opening ??= this.open();
  }

  private async open(): Promise<void> {
    try {
      this.sink = await openBatchedFile(this.file, {
        ...(this.opts.maxQueuedBytes === undefined ? {} : { maxQueuedBytes: this.opts.maxQueuedBytes }),
        ...(this.opts.sync === undefined ? {} : { sync: this.opts.sync }),
      });
    } catch (e) {
      this.failure = `cannot create ${this.file}: ${errorMessage(e)}`;
      this.early = [];
      return;
    }
    for (const part of this.early) this.sink.write(part);
    this.early = [];
  }

  async close(): Promise<CapturedStream> {
    if (this.opening !== null) await this.opening;
    const sha256 = this.whole.digest("hex");
    const base = { sha256, bytes: this.bytes };
    if (this.sink === null) {
      return { ...base, captured_bytes: 0, truncated: this.bytes > 0, ...(this.failure ? { reason: this.failure } : {}) };
    }
    const s: BatchedFileSummary = await this.sink.close();
    const reason = this.failure ?? s.reason;
    return {
      ...base,
      captured_bytes: s.bytes,
      truncated: this.cut || s.truncated || s.bytes < this.bytes,
      file: s.file,
      file_sha256: s.sha256,
      ...(reason ? { reason } : {}),
    };
  }
}

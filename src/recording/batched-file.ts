// An append-only file fed from a session's data path: write() only queues (never awaits, never
// blocks the socket callback), one write(2) per batch drains the queue, and a running SHA-256
// covers exactly the bytes that reached the file. The queue is bounded: when the disk falls
// behind by more than `maxQueuedBytes`, further writes are refused and the file is marked
// truncated (what was queued still goes out), so a slow disk costs the recording, never memory
// and never the session.
import { mkdir, open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import { errorMessage } from "../core/errors.ts";

export const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;

export interface BatchedFileOptions {
  /** Bytes waiting for the disk beyond which writes are refused and the file is truncated. Default 4 MiB. */
  readonly maxQueuedBytes?: number;
  /** Called once, when the file stops taking data (queue overflow or a write error), with why. */
  readonly onTruncated?: (reason: string) => void;
  /** fdatasync before close() resolves, so a linked hash is not ahead of the disk. Default true. */
  readonly sync?: boolean;
  /**
   * The data is lines (asciicast): a failed write is cut back to the last whole line, so the
   * file stays readable, and the summary counts lines.
   */
  readonly lines?: boolean;
}

export interface BatchedFileSummary {
  readonly file: string;
  /** Hex SHA-256 of the file's bytes. */
  readonly sha256: string;
  readonly bytes: number;
  /** write(2) calls it took (batches), for tests and benchmarks. */
  readonly writes: number;
  /** Lines in the file (with the `lines` option). */
  readonly lines: number;
  readonly truncated: boolean;
  /** Why it was truncated, when it was. */
  readonly reason?: string;
}

export interface BatchedFile {
  readonly file: string;
  /** Queues bytes; false when they were refused (truncated or closed). Never throws. */
  write(data: Uint8Array | string): boolean;
  readonly truncated: boolean;
  /** Bytes queued and not yet written. */
  readonly queued: number;
  /** Drains the queue, appends `trailer` (outside the queue bound), syncs, closes. Idempotent. */
  close(trailer?: (s: { truncated: boolean; reason?: string }) => string | undefined): Promise<BatchedFileSummary>;
}

const encoder = new TextEncoder();

/** Creates `file` (it must not exist; mode 0600, its folder 0700) and returns its writer. */
export async function openBatchedFile(file: string, opts: BatchedFileOptions = {}): Promise<BatchedFile> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  // "wx": a recording never overwrites another one (a reused session id is a bug to see).
  const fh = await open(file, "wx", 0o600);
  return new QueuedFile(file, fh, opts);
}

class QueuedFile implements BatchedFile {
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private written = 0;
  private writes = 0;
  /** With `lines`: the end of the last whole line written, the lines so far, and a torn line's bytes not yet hashed. */
  private wholeLines = 0;
  private lines = 0;
  private carry: Uint8Array[] = [];
  private readonly hasher = new Bun.CryptoHasher("sha256");
  private draining: Promise<void> | null = null;
  private scheduled = false;
  private stopped: string | null = null;
  private closing: Promise<BatchedFileSummary> | null = null;
  private readonly max: number;

  constructor(
    readonly file: string,
    private readonly fh: FileHandle,
    private readonly opts: BatchedFileOptions,
  ) {
    this.max = opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  }

  get truncated(): boolean {
    return this.stopped !== null;
  }

  get queued(): number {
    return this.queuedBytes;
  }

  write(data: Uint8Array | string): boolean {
    if (this.stopped !== null || this.closing !== null) return false;
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    if (bytes.length === 0) return true;
    if (this.queuedBytes + bytes.length > this.max) {
      this.stop(`the disk fell behind: ${this.queuedBytes} bytes were waiting to be written (limit ${this.max})`);
      return false;
    }
    // Copy: the caller's buffer (a socket chunk) may be reused once the callback returns.
    this.queue.push(typeof data === "string" ? bytes : bytes.slice());
    this.queuedBytes += bytes.length;
    this.schedule();
    return true;
  }

  private stop(reason: string): void {
    if (this.stopped !== null) return;
    this.stopped = reason;
    try {
      this.opts.onTruncated?.(reason);
    } catch {
      // A failing listener must not break the data path that called write().
    }
  }

  private schedule(): void {
    if (this.scheduled || this.draining !== null) return;
    this.scheduled = true;
    // Wait for the rest of this turn of the event loop, so one write(2) carries its events.
    setImmediate(() => {
      this.scheduled = false;
      this.startDrain();
    });
  }

  private startDrain(): Promise<void> {
    if (this.draining === null) {
      this.draining = this.drain().finally(() => {
        this.draining = null;
        if (this.queue.length > 0 && this.closing === null) this.schedule();
      });
    }
    return this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.length === 1 ? this.queue[0]! : Buffer.concat(this.queue);
      this.queue = [];
      const size = batch.length;
      try {
        await this.writeAll(batch);
      } catch (e) {
        this.queuedBytes = 0;
        this.queue = [];
        this.stop(`cannot write ${this.file}: ${errorMessage(e)}`);
        await this.cutBack();
        return;
      }
      this.queuedBytes -= size;
    }
  }

  private async writeAll(batch: Uint8Array): Promise<void> {
    let off = 0;
    while (off < batch.length) {
      this.writes++;
      const { bytesWritten } = await this.fh.write(batch, off, batch.length - off, this.written);
      if (bytesWritten <= 0) throw new Error("write(2) wrote nothing");
      this.hash(batch.subarray(off, off + bytesWritten));
      off += bytesWritten;
      this.written += bytesWritten;
    }
  }

  /** Hashes bytes that reached the file; with `lines`, only up to the last whole line (the rest waits in carry). */
  private hash(piece: Uint8Array): void {
    if (this.opts.lines !== true) {
      this.hasher.update(piece);
      return;
    }
    const last = piece.lastIndexOf(0x0a);
    if (last < 0) {
      this.carry.push(piece.slice());
      return;
    }
    for (const c of this.carry) this.hasher.update(c);
    this.carry = [];
    this.hasher.update(piece.subarray(0, last + 1));
    for (let i = piece.indexOf(0x0a); i >= 0 && i <= last; i = piece.indexOf(0x0a, i + 1)) this.lines++;
    this.wholeLines = this.written + last + 1;
    if (last + 1 < piece.length) this.carry.push(piece.slice(last + 1));
  }

  /** After a failed write: cut the file back to what the hash covers (whole lines with `lines`), so they agree. */
  private async cutBack(): Promise<void> {
    if (this.opts.lines === true) {
      this.written = this.wholeLines;
      this.carry = [];
    }
    await this.fh.truncate(this.written).catch(() => {});
  }

  close(trailer?: (s: { truncated: boolean; reason?: string }) => string | undefined): Promise<BatchedFileSummary> {
    if (this.closing === null) this.closing = this.finish(trailer);
    return this.closing;
  }

  private async finish(trailer?: (s: { truncated: boolean; reason?: string }) => string | undefined): Promise<BatchedFileSummary> {
    while (this.draining !== null || this.queue.length > 0) await this.startDrain();
    const state = this.stopped === null ? { truncated: false } : { truncated: true, reason: this.stopped };
    const last = trailer?.(state);
    if (last !== undefined && last.length > 0 && this.stopped?.startsWith("cannot write") !== true) {
      try {
        await this.writeAll(encoder.encode(last));
      } catch (e) {
        this.stop(`cannot write ${this.file}: ${errorMessage(e)}`);
        await this.cutBack();
      }
    }
    for (const c of this.carry) this.hasher.update(c); // a last line without "\n" (not written by the cast writer)
    if (this.opts.sync !== false) await this.fh.datasync().catch(() => {});
    await this.fh.close().catch(() => {});
    const reason = this.stopped;
    return {
      file: this.file,
      sha256: this.hasher.digest("hex"),
      bytes: this.written,
      writes: this.writes,
      lines: this.lines,
      truncated: reason !== null,
      ...(reason === null ? {} : { reason }),
    };
  }
}

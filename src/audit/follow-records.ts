// `tail -f` for the audit log: yields records as they are appended and carries on across
// rotation. It only reads (no locks), so it can never slow or block the writer.
import { watch, type FSWatcher } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { GatewayError } from "../core/errors.ts";
import { readLastLine } from "./last-line.ts";
import { listLogFileEntries, listLogFiles } from "./log-files.ts";
import { parseLine } from "./parse-line.ts";
import type { AuditRecord } from "./record.ts";

export interface FollowOptions {
  /** Following stops (the iterator ends) when this aborts. */
  readonly signal: AbortSignal;
  /** true (default): only records appended from now on. false: every record of every file first. */
  readonly fromEnd?: boolean;
  /** How often to look when no fs.watch event arrives (some filesystems send none), ms. Default 250. */
  readonly pollMs?: number;
}

export interface FollowedRecord {
  readonly record: AuditRecord;
  /** The file's name when it was opened (a rotated file has since been renamed). */
  readonly file: string;
  readonly offset: number;
}

interface Cursor {
  readonly file: string;
  readonly handle: FileHandle;
  readonly ino: number;
  readonly dev: number;
  /** Offset up to which bytes were read. */
  readPos: number;
  /** Offset just after the last whole line yielded. */
  consumed: number;
  /** Bytes of a line whose "\n" has not arrived yet. */
  carry: Buffer | null;
}

const CHUNK = 256 * 1024;

export async function* followRecords(path: string, opts: FollowOptions): AsyncGenerator<FollowedRecord> {
  const live = resolve(path);
  const { signal } = opts;
  const waker = createWaker(dirname(live), basename(live), opts.pollMs ?? 250, signal);
  let cur: Cursor | null = null;
  try {
    if (opts.fromEnd ?? true) {
      cur = await openCursor(live, "end");
    } else {
      const first = (await listLogFiles(live))[0];
      if (first !== undefined) cur = await openCursor(first, 0);
    }
    while (!signal.aborted) {
      if (cur === null) {
        cur = await openCursor(live, 0);
        if (cur === null) {
          await waker.wait();
          continue;
        }
      }
      // Look at the live name before reading to the end: if it already names another file, the
      // one we read was rotated before this point, so nothing is written to it after our read.
      const now = await stat(live).catch(() => null);
      for await (const rec of drain(cur)) {
        yield rec;
        if (signal.aborted) return;
      }
      if (now !== null && now.ino === cur.ino && now.dev === cur.dev) {
        const size = (await cur.handle.stat()).size;
        if (size < cur.readPos) {
          if (size >= cur.consumed) {
            // The repair at open cut a torn line we had only partly read.
            cur.readPos = cur.consumed;
            cur.carry = null;
          } else {
            // Truncated below what we already yielded: a different log now; read it from the start.
            cur.readPos = 0;
            cur.consumed = 0;
            cur.carry = null;
          }
          continue;
        }
        await waker.wait();
        continue;
      }
      // Our file is no longer the live one, and we read it to its end after it stopped growing.
      if (cur.carry !== null) {
        throw new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${cur.file}: last line at byte ${cur.consumed} has no trailing newline`, {
          details: { file: cur.file, offset: cur.consumed },
        });
      }
      const next = await openSuccessor(live, cur);
      if (next === null) {
        await waker.wait();
        continue;
      }
      await cur.handle.close();
      cur = next;
    }
  } finally {
    waker.close();
    if (cur !== null) await cur.handle.close().catch(() => {});
  }
}

async function openCursor(file: string, from: number | "end"): Promise<Cursor | null> {
  let handle: FileHandle;
  try {
    handle = await open(file, "r");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  try {
    const st = await handle.stat();
    let start = 0;
    if (from === "end") {
      // Start after the last whole line; a line still being written is read once it is whole.
      const last = await readLastLine(handle, st.size, file);
      start = last === null ? 0 : last.terminated ? last.end : last.start;
    } else {
      start = from;
    }
    return { file, handle, ino: st.ino, dev: st.dev, readPos: start, consumed: start, carry: null };
  } catch (e) {
    await handle.close().catch(() => {});
    throw e;
  }
}

async function* drain(cur: Cursor): AsyncGenerator<FollowedRecord> {
  for (;;) {
    const buf = Buffer.allocUnsafe(CHUNK);
    const { bytesRead } = await cur.handle.read(buf, 0, CHUNK, cur.readPos);
    if (bytesRead === 0) return;
    cur.readPos += bytesRead;
    let chunk = buf.subarray(0, bytesRead);
    if (cur.carry !== null) {
      chunk = Buffer.concat([cur.carry, chunk]);
      cur.carry = null;
    }
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      const offset = cur.consumed;
      const parsed = parseLine(chunk.subarray(from, nl), false);
      if (!parsed.ok) {
        throw new GatewayError("E_AUDIT_CORRUPT", `audit log damaged: ${cur.file}: line at byte ${offset}: ${parsed.problem}`, {
          details: { file: cur.file, offset },
        });
      }
      cur.consumed = offset + (nl - from) + 1;
      from = nl + 1;
      yield { record: parsed.record, file: cur.file, offset };
    }
    if (from < chunk.length) cur.carry = Buffer.from(chunk.subarray(from));
  }
}

/**
 * Opens the file that comes after `cur` in chain order, or returns null to try again later.
 * Names move under us (the live file becomes LOG.N at any moment), so the answer counts only if
 * the live file stayed the same while we looked: then no rotation happened in between, the
 * listing is complete, and a rotated name, which never changes again, is safe to open.
 */
async function openSuccessor(live: string, cur: Cursor): Promise<Cursor | null> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await stat(live).catch(() => null);
    const rotated = (await listLogFileEntries(live)).filter((f) => f.rotation !== null);
    let ours: number | null = null;
    for (const f of rotated) {
      const st = await stat(f.path).catch(() => null);
      if (st !== null && st.ino === cur.ino && st.dev === cur.dev) {
        ours = f.rotation;
        break;
      }
    }
    const after = await stat(live).catch(() => null);
    // The live file is missing (the writer is between rename and create): look again shortly.
    if (before === null || after === null) return null;
    if (before.ino !== after.ino || before.dev !== after.dev) continue;
    const nextRotated = ours === null ? undefined : rotated.find((f) => f.rotation! > ours);
    if (nextRotated !== undefined) return openCursor(nextRotated.path, 0);
    // Next is the live file (also when ours was deleted: the live file is all that is left).
    const next = await openCursor(live, 0);
    if (next === null) continue;
    if (next.ino === before.ino && next.dev === before.dev) return next;
    await next.handle.close();
  }
  return null;
}

interface Waker {
  /** Resolves on a change in the folder, after the poll interval, or on abort. */
  wait(): Promise<void>;
  close(): void;
}

function createWaker(dir: string, name: string, pollMs: number, signal: AbortSignal): Waker {
  let dirty = false;
  let wake: (() => void) | null = null;
  const fire = () => {
    dirty = true;
    const w = wake;
    wake = null;
    w?.();
  };
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      if (file === null || String(file).startsWith(name)) fire();
    });
    watcher.on("error", () => {
      watcher?.close();
      watcher = null;
    });
  } catch {
    // No inotify (or the folder is missing yet): polling alone still works.
    watcher = null;
  }
  signal.addEventListener("abort", fire, { once: true });
  return {
    wait() {
      if (dirty || signal.aborted) {
        dirty = false;
        return Promise.resolve();
      }
      return new Promise<void>((res) => {
        const timer = setTimeout(() => {
          wake = null;
          res();
        }, pollMs);
        wake = () => {
          clearTimeout(timer);
          dirty = false;
          res();
        };
      });
    },
    close() {
      watcher?.close();
      signal.removeEventListener("abort", fire);
    },
  };
}

// File-descriptor primitives of the audit writer, as promises where they run on the thread
// pool (open, close, fsync, fstat) and synchronous where that is the point (append).
import { close as closeCb, fdatasync as fdatasyncCb, fstat as fstatCb, open as openCb, writeSync } from "node:fs";
import { open as openHandle } from "node:fs/promises";

export const openFd = (path: string, flags: string, mode: number) =>
  new Promise<number>((res, rej) => openCb(path, flags, mode, (e, fd) => (e ? rej(e) : res(fd))));
export const closeFd = (fd: number) => new Promise<void>((res, rej) => closeCb(fd, (e) => (e ? rej(e) : res())));
export const fdatasync = (fd: number) => new Promise<void>((res, rej) => fdatasyncCb(fd, (e) => (e ? rej(e) : res())));
export const fstatSize = (fd: number) => new Promise<number>((res, rej) => fstatCb(fd, (e, s) => (e ? rej(e) : res(s.size))));
/**
 * Appends with write(2) on the event loop's own thread: a few microseconds into the page cache,
 * where a thread-pool write costs two thread hops on every decision. The fsync stays off-thread.
 */
export function writeAll(fd: number, buf: Buffer): void {
  let done = 0;
  while (done < buf.length) {
    const n = writeSync(fd, buf, done);
    if (n <= 0) throw new Error(`write returned ${n} with ${buf.length - done} bytes left`);
    done += n;
  }
}

/** fsync of the folder makes a created or renamed file's name durable, not only its bytes. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await openHandle(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

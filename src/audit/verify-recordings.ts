// For `gatehouse verify`: the recordings an audit record links (terminal sessions, captured exec
// output) must still be there with the size and SHA-256 the record holds. The chain vouches for
// the record; the record vouches for the file.
import { open } from "node:fs/promises";
import { basename, isAbsolute, join } from "node:path";
import { errorMessage } from "../core/errors.ts";
import { recordingLinks, type RecordingLink } from "../recording/recording-ref.ts";

export interface RecordingCheckOptions {
  /** Look for the files here (by file name) instead of at the path the record gives: a copied log and its recordings. */
  readonly dir?: string;
  /** Where relative paths are resolved from (the log's folder). */
  readonly base: string;
}

export interface RecordingCheck {
  /** Files checked. */
  readonly checked: number;
  /** The first problem, or null. */
  readonly problem: string | null;
}

/** Checks every file `details` links to; stops at the first that is missing or changed. */
export async function checkRecordings(details: unknown, session: string | undefined, opts: RecordingCheckOptions): Promise<RecordingCheck> {
  const links = recordingLinks(details);
  let checked = 0;
  for (const link of links) {
    const problem = await checkOne(link, session, opts);
    checked++;
    if (problem !== null) return { checked, problem };
  }
  return { checked, problem: null };
}

/** Where a linked file is looked for: in `dir` by name when given, else where the record says (relative to `base`). */
export function resolveRecordingPath(file: string, opts: RecordingCheckOptions): string {
  return opts.dir !== undefined ? join(opts.dir, basename(file)) : isAbsolute(file) ? file : join(opts.base, file);
}

async function checkOne(link: RecordingLink, session: string | undefined, opts: RecordingCheckOptions): Promise<string | null> {
  const path = resolveRecordingPath(link.file, opts);
  const what = `${link.field === "recording" ? "recording" : `captured ${link.field.replace("output.", "")}`} of session ${session ?? "(none)"}: ${path}`;
  let fh;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? `${what} is missing` : `${what} cannot be read: ${errorMessage(e)}`;
  }
  try {
    const hasher = new Bun.CryptoHasher("sha256");
    let size = 0;
    const buf = new Uint8Array(256 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, size);
      if (bytesRead === 0) break;
      hasher.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    const sha = hasher.digest("hex");
    if (link.bytes !== undefined && size !== link.bytes) {
      return `${what} was changed: it has ${size} bytes, the record says ${link.bytes} (sha-256 ${sha}, the record says ${link.sha256})`;
    }
    if (sha !== link.sha256) return `${what} was changed: its sha-256 is ${sha}, the record says ${link.sha256}`;
    return null;
  } catch (e) {
    return `${what} cannot be read: ${errorMessage(e)}`;
  } finally {
    await fh.close();
  }
}

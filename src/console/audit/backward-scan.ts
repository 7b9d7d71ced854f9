// Reads the audit log newest first and stops at the page's end: what the console's audit search
// and session list page through, however large the log. Raw bytes are searched first (a filter's
// JSON form, e.g. `"target":"prod"`, found with Buffer.indexOf in 1 MiB chunks), and only lines
// holding every needle are parsed and checked exactly. A time bound is found by bisecting each
// file on the records' times (appended in time order), not by reading up to it. A page also stops
// after `budgetBytes`, with a cursor to go on from, so a search that matches nothing stays quick.
import { open, stat, type FileHandle } from "node:fs/promises";
import { listLogFileEntries, type LogFile } from "../../audit/log-files.ts";
import type { AuditRecord } from "../../audit/record.ts";

const CHUNK = 1024 * 1024;
const NL = 0x0a;
const TIME_KEY = Buffer.from('"time":"');

/** Where a page starts: before this byte of this file (rotation number, 0 for the live file). */
export interface ScanCursor {
  readonly rotation: number;
  readonly offset: number;
}

export function formatCursor(c: ScanCursor): string {
  return `${c.rotation}.${c.offset}`;
}

export function parseCursor(text: string | undefined): ScanCursor | null {
  const m = /^(\d{1,9})\.(\d{1,15})$/.exec(text ?? "");
  return m ? { rotation: Number(m[1]), offset: Number(m[2]) } : null;
}

export interface ScanOptions {
  /** Start before this point (the previous page's `next`); default: the end of the log. */
  readonly before?: ScanCursor | null;
  /**
   * Raw bytes a line must hold: one string of each group (the first group, the most selective,
   * is searched for; the others are checked on the lines it finds). None: every line.
   */
  readonly needles?: readonly (readonly string[])[];
  /** Exact check of a parsed record (the needles only narrow what is parsed). */
  readonly match?: (r: AuditRecord) => boolean;
  /** ISO times, inclusive: records outside are skipped; reading stops at the first older than `since`. */
  readonly since?: string;
  readonly until?: string;
  readonly limit: number;
  /** A matching record after which nothing older is wanted (a session's start): the scan ends there. */
  readonly stop?: (r: AuditRecord) => boolean;
  /** Bytes read before the page stops short, with a cursor (default 256 MiB). */
  readonly budgetBytes?: number;
}

export interface ScannedRecord {
  readonly record: AuditRecord;
  /** Where the record's line starts (a page after it starts before this). */
  readonly at: ScanCursor;
}

export interface ScanResult {
  readonly records: ScannedRecord[];
  /** Where the next (older) page starts; null when the log is read to its start (or to `since`). */
  readonly next: ScanCursor | null;
  /** The budget ran out before the page was full (`next` goes on). */
  readonly partial: boolean;
  readonly bytesRead: number;
}

/** JSON-escaped form of a member `"key":"value"` as canonical JSON writes it. */
export function memberNeedle(key: string, value: string): string {
  return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
}

/** Free text as it appears inside a JSON string (quotes, backslashes, control characters escaped). */
export function textNeedle(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

export async function scanBackward(logPath: string, opts: ScanOptions): Promise<ScanResult> {
  const files = (await listLogFileEntries(logPath)).reverse();
  const groups = (opts.needles ?? []).filter((g) => g.length > 0).map((g) => g.map((n) => Buffer.from(n)));
  const anyOf = groups[0] ?? [];
  const allOf = groups.slice(1);
  const budget = opts.budgetBytes ?? 256 * 1024 * 1024;
  const out: ScannedRecord[] = [];
  let bytesRead = 0;
  const before = opts.before ?? null;
  let started = before === null;
  for (const f of files) {
    const rotation = f.rotation ?? 0;
    if (!started) {
      // Files newer than the cursor's are done already (live first, then rotations high to low).
      if (before!.rotation !== 0 && (rotation === 0 || rotation > before!.rotation)) continue;
      started = true;
    }
    const handle = await open(f.path, "r");
    try {
      let end = (await handle.stat()).size;
      if (before !== null && rotation === before.rotation) end = Math.min(end, before.offset);
      if (opts.until !== undefined) end = Math.min(end, await firstLineAfter(handle, end, opts.until));
      const r = await scanFile(handle, f, end, { anyOf, allOf, opts, out, budget: budget - bytesRead });
      bytesRead += r.bytesRead;
      if (r.stop === "full" || r.stop === "budget") return { records: out, next: r.next, partial: r.stop === "budget", bytesRead };
      if (r.stop === "since") return { records: out, next: null, partial: false, bytesRead };
    } finally {
      await handle.close();
    }
  }
  return { records: out, next: null, partial: false, bytesRead };
}

interface FileScan {
  readonly anyOf: readonly Buffer[];
  readonly allOf: readonly (readonly Buffer[])[];
  readonly opts: ScanOptions;
  readonly out: ScannedRecord[];
  readonly budget: number;
}

async function scanFile(handle: FileHandle, f: LogFile, end: number, s: FileScan): Promise<{ stop: "full" | "budget" | "since" | "eof"; next: ScanCursor | null; bytesRead: number }> {
  const rotation = f.rotation ?? 0;
  let pos = end;
  // Bytes at the start of the chunk read last that begin a line started further back.
  let tail: Buffer = Buffer.alloc(0);
  let bytesRead = 0;
  while (pos > 0) {
    if (bytesRead >= s.budget) return { stop: "budget", next: { rotation, offset: pos + tail.length }, bytesRead };
    const start = Math.max(0, pos - CHUNK);
    const buf = Buffer.allocUnsafe(pos - start);
    const { bytesRead: n } = await handle.read(buf, 0, buf.length, start);
    bytesRead += n;
    const data = tail.length > 0 ? Buffer.concat([buf.subarray(0, n), tail]) : buf.subarray(0, n);
    // Only whole lines: from the first line start in this chunk (or the file's start) to the
    // last "\n" (the very end of the file may be a line still being written).
    const first = start === 0 ? 0 : data.indexOf(NL) + 1;
    if (start > 0 && first === 0) {
      tail = data; // a line longer than a chunk: read on
      pos = start;
      continue;
    }
    const lastNl = data.lastIndexOf(NL);
    const region = lastNl >= first ? data.subarray(first, lastNl + 1) : Buffer.alloc(0);
    const regionOffset = start + first;
    tail = start === 0 ? Buffer.alloc(0) : Buffer.from(data.subarray(0, first));
    const r = scanRegion(region, regionOffset, rotation, s);
    if (r !== null) return { ...r, bytesRead };
    pos = start;
  }
  return { stop: "eof", next: null, bytesRead };
}

/** One run of whole lines, newest (last) first. Null: go on to older bytes. */
function scanRegion(region: Buffer, regionOffset: number, rotation: number, s: FileScan): { stop: "full" | "since"; next: ScanCursor | null } | null {
  const { opts, out } = s;
  let olderThanSince = false;
  if (opts.since !== undefined && region.length > 0) {
    // The oldest line here: when it is before `since`, this region is the last one to read.
    const firstEnd = region.indexOf(NL);
    const t = lineTime(region.subarray(0, firstEnd));
    if (t !== null && t < opts.since) olderThanSince = true;
  }
  for (const start of candidateStarts(region, s.anyOf)) {
    const end = region.indexOf(NL, start);
    const line = region.subarray(start, end);
    if (!s.allOf.every((group) => group.some((n) => line.indexOf(n) >= 0))) continue;
    let record: AuditRecord;
    try {
      record = JSON.parse(line.toString("utf8")) as AuditRecord;
    } catch {
      continue; // verify reports a damaged line; the search shows what it can read
    }
    if (typeof record !== "object" || record === null || typeof record.time !== "string") continue;
    if (opts.since !== undefined && record.time < opts.since) return { stop: "since", next: null };
    if (opts.until !== undefined && record.time > opts.until) continue;
    if (opts.match !== undefined && !opts.match(record)) continue;
    const at = { rotation, offset: regionOffset + start };
    out.push({ record, at });
    if (out.length >= opts.limit) return { stop: "full", next: at };
    if (opts.stop?.(record) === true) return { stop: "since", next: null };
  }
  return olderThanSince ? { stop: "since", next: null } : null;
}

/** Line starts in the region holding one of `anyOf` (all lines without it), newest first. */
function candidateStarts(region: Buffer, anyOf: readonly Buffer[]): number[] {
  const starts: number[] = [];
  if (anyOf.length === 0) {
    let e = region.length - 1; // the region ends with "\n"
    while (e >= 0) {
      const b = e === 0 ? -1 : region.lastIndexOf(NL, e - 1);
      starts.push(b + 1);
      e = b;
    }
    return starts;
  }
  const seen = new Set<number>();
  for (const needle of anyOf) {
    let from = region.length;
    for (;;) {
      const hit = from < 0 ? -1 : region.lastIndexOf(needle, from);
      if (hit < 0) break;
      const start = hit === 0 ? 0 : region.lastIndexOf(NL, hit - 1) + 1;
      seen.add(start);
      from = start - 1;
      if (from < 0) break;
    }
  }
  return [...seen].sort((a, b) => b - a);
}

/** The record's own time: the last `"time":"` of the line (members are in key order, nested ones come first). */
export function lineTime(line: Buffer): string | null {
  const i = line.lastIndexOf(TIME_KEY);
  if (i < 0) return null;
  const s = i + TIME_KEY.length;
  return line.toString("latin1", s, s + 24);
}

/**
 * The offset of the first whole line, at or before `end`, whose time is later than `until`
 * (`end` when none is): a bisection on line starts, a few reads per file.
 */
async function firstLineAfter(handle: FileHandle, end: number, until: string): Promise<number> {
  let lo = 0;
  let hi = end;
  // Invariant: every line starting before lo is at or before `until`; the line at hi (if any) is after.
  while (hi - lo > 64 * 1024) {
    const mid = Math.floor((lo + hi) / 2);
    const line = await lineFrom(handle, mid, end);
    if (line === null) {
      hi = mid;
      continue;
    }
    const t = lineTime(line.bytes);
    if (t === null || t <= until) lo = line.start + line.bytes.length + 1;
    else hi = line.start;
  }
  return hi;
}

/** The first whole line starting after `offset` (or at 0). */
async function lineFrom(handle: FileHandle, offset: number, end: number): Promise<{ start: number; bytes: Buffer } | null> {
  let size = 64 * 1024;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.min(size, end - offset));
    const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
    const data = buf.subarray(0, bytesRead);
    const s = offset === 0 ? 0 : data.indexOf(NL) + 1;
    const e = s > 0 || offset === 0 ? data.indexOf(NL, s) : -1;
    if (e >= 0) return { start: offset + s, bytes: data.subarray(s, e) };
    if (offset + bytesRead >= end || size >= 16 * 1024 * 1024) return null;
    size *= 4;
  }
}

/** The record whose line starts at `at` (a cursor a scan gave), or null when it is not there (rotated since, damaged). */
export async function readRecordAt(logPath: string, at: ScanCursor): Promise<AuditRecord | null> {
  const file = (await listLogFileEntries(logPath)).find((f) => (f.rotation ?? 0) === at.rotation);
  if (file === undefined) return null;
  const handle = await open(file.path, "r");
  try {
    const end = (await handle.stat()).size;
    if (at.offset >= end) return null;
    const line = await lineFrom(handle, at.offset === 0 ? 0 : at.offset - 1, end);
    if (line === null || line.start !== at.offset) return null;
    const r = JSON.parse(line.bytes.toString("utf8")) as AuditRecord;
    return typeof r === "object" && r !== null && typeof r.time === "string" ? r : null;
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

/** Size of the log's files together (for the page: how much there is to search). */
export async function logSize(logPath: string): Promise<number> {
  let n = 0;
  for (const f of await listLogFileEntries(logPath)) n += await stat(f.path).then((s) => s.size, () => 0);
  return n;
}

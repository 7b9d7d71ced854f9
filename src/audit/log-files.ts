// Which files make up one audit log. Rotation renames the live file `<path>` to `<path>.<N>`
// with N one above the highest already there, so numeric order of N is chain order
// (audit.log.1 oldest) and the live `<path>` always comes last.
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

export interface LogFile {
  readonly path: string;
  /** Rotation number; null for the live file. */
  readonly rotation: number | null;
}

/** Rotated files in chain order, then the live file if it exists. A missing folder is an empty log. */
export async function listLogFileEntries(path: string): Promise<LogFile[]> {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw e;
  }
  const rotated: LogFile[] = [];
  let live = false;
  for (const name of names) {
    if (name === base) {
      live = true;
      continue;
    }
    if (!name.startsWith(base + ".")) continue;
    const suffix = name.slice(base.length + 1);
    // Only plain decimal suffixes: audit.log.1.gz or audit.log.bak are not part of the chain.
    if (!/^[1-9][0-9]*$/.test(suffix)) continue;
    rotated.push({ path: join(dir, name), rotation: Number(suffix) });
  }
  rotated.sort((a, b) => a.rotation! - b.rotation!);
  if (live) {
    // readdir can list a name that is gone a moment later (rotation in progress); stat settles it.
    const ok = await stat(path).then(
      (s) => s.isFile(),
      () => false,
    );
    if (ok) rotated.push({ path, rotation: null });
  }
  return rotated;
}

/** Paths of the log's files in chain order: rotated ones oldest first, then the live one. */
export async function listLogFiles(path: string): Promise<string[]> {
  return (await listLogFileEntries(path)).map((f) => f.path);
}

export function rotatedPath(path: string, n: number): string {
  return `${path}.${n}`;
}

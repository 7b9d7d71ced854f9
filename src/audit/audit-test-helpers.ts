// Temporary audit logs for the audit tests: each test gets a fresh directory, and the
// directories are removed after every test, so that no test reads another's files.
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Returns a function that makes a fresh temporary directory named `prefix…` and gives the
 * path `...under` inside it (by default `audit.log`). Call it at the top of a test file: it
 * registers the afterEach that removes the directories of that file's tests.
 */
export function tempLogs(prefix: string, ...under: string[]): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return join(dir, ...(under.length ? under : ["audit.log"]));
  };
}

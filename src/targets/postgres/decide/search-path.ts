// The session's search_path as the gateway knows it, for resolving unqualified names. It starts
// from what the upstream reports at login (with "$user" only when that schema exists) and follows SET/RESET search_path and set_config in
// statements that succeeded. Where the outcome is not certain (inside a transaction block that
// may roll back, SET LOCAL, a role change that moves "$user"), the path only grows: it keeps
// every schema that may be in effect, so every candidate is checked and nothing slips through
// a schema the gateway did not think of.
import type { AnalysisContext, SettingChange } from "../sql/analysis.ts";
import { parseSearchPath } from "../sql/name-resolution.ts";

export class SearchPathTracker {
  private path: string[];
  private ctx: AnalysisContext;
  /** Set when a change could not be followed at all (SET … FROM CURRENT): unqualified names cannot be resolved. */
  unknownBecause: string | null = null;

  /**
   * `userSchemaExists`: whether a schema named like the session user exists at login; when it
   * does not, "$user" resolves to nothing (as in PostgreSQL) until a CREATE SCHEMA succeeds.
   */
  constructor(
    private readonly initial: readonly string[],
    private readonly user: string | undefined,
    private userSchemaExists = true,
  ) {
    this.path = [...initial];
    this.ctx = this.makeContext();
  }

  /** A CREATE SCHEMA succeeded: it may be the one "$user" names. */
  schemaCreated(): void {
    if (this.userSchemaExists) return;
    this.userSchemaExists = true;
    this.ctx = this.makeContext();
  }

  /** The context for the SQL analysis; the same object until the path changes (caches key on it). */
  get context(): AnalysisContext {
    return this.ctx;
  }

  get schemas(): readonly string[] {
    return this.path;
  }

  /**
   * A statement with these setting changes succeeded. `certain`: it ran outside any transaction
   * block as its own implicit transaction, so a plain SET is now in effect for good.
   */
  apply(changes: readonly SettingChange[], certain: boolean): void {
    let changed = false;
    for (const c of changes) {
      if (c.name === "search_path" || c.name === "all") {
        if (c.opaque) {
          this.unknownBecause = "a SET of search_path whose value the gateway cannot know";
          continue;
        }
        const next = c.value === null || c.name === "all" ? [...this.initial] : parseSearchPath(c.value);
        if (next === null) continue; // PostgreSQL rejects such a value, so nothing changed.
        if (certain && !c.local) {
          this.path = next;
          this.unknownBecause = null;
        } else {
          this.path = union(this.path, next);
        }
        changed = true;
      } else if ((c.name === "role" || c.name === "session_authorization") && c.value !== null) {
        // "$user" now names another schema: keep that one in view too.
        const v = c.value.toLowerCase() === "none" || c.value.toLowerCase() === "default" ? null : c.value;
        if (v !== null) {
          this.path = union(this.path, [v]);
          changed = true;
        }
      }
    }
    if (changed) this.ctx = this.makeContext();
  }

  private makeContext(): AnalysisContext {
    return this.user === undefined || !this.userSchemaExists ? { searchPath: [...this.path] } : { searchPath: [...this.path], user: this.user };
  }
}

function union(a: readonly string[], b: readonly string[]): string[] {
  const out = [...a];
  for (const s of b) if (!out.includes(s)) out.push(s);
  return out;
}

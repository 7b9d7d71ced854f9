// One problem found in a config or policy test file, located by file:line:col and key path,
// and the single GatewayError that carries all of them to the person who has to fix them.
import { GatewayError, type ErrorCode } from "../core/errors.ts";

export type KeyPath = readonly (string | number)[];

export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Key path as people write it, e.g. "rules[0].effect"; "" for the whole file. */
  readonly path: string;
  readonly message: string;
}

/** Issues listed per error; more would bury the first ones, which are usually the cause. */
export const MAX_ISSUES = 20;

/** ["rules", 0, "effect"] → "rules[0].effect"; odd keys are quoted so the path stays unambiguous. */
export function formatKeyPath(path: KeyPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function formatIssue(issue: ConfigIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.col}`;
  return issue.path === "" ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Builds the one error for a list of issues: one line each, the structured list in details. */
export function issuesError(code: ErrorCode, issues: readonly ConfigIssue[]): GatewayError {
  const shown = issues.slice(0, MAX_ISSUES);
  const lines = shown.map(formatIssue);
  if (issues.length > shown.length) lines.push(`… and ${issues.length - shown.length} more`);
  return new GatewayError(code, lines.join("\n"), { details: { issues: shown, total: issues.length } });
}

/** The issues carried by an error from the loader, or none. */
export function issuesOf(e: unknown): readonly ConfigIssue[] {
  if (!(e instanceof GatewayError)) return [];
  const list = e.details["issues"];
  return Array.isArray(list) ? (list as ConfigIssue[]) : [];
}

// An audit search as the console's form gives it (time range, identity, target, effect, rule,
// record type, session, free text) turned into what the backward scan needs: raw needles that
// narrow the lines parsed (the most selective first) and the exact check of a parsed record.
import type { ReadableRecord } from "../../audit/completions.ts";
import { memberNeedle, textNeedle, type ScanOptions } from "./backward-scan.ts";

export interface AuditQuery {
  /** ISO times, inclusive. */
  readonly since?: string;
  readonly until?: string;
  /** Subject or display name, exactly. */
  readonly identity?: string;
  readonly target?: string;
  readonly effect?: "allow" | "deny" | "review";
  readonly rule?: string;
  readonly type?: string;
  readonly session?: string;
  /** Anywhere in the record as written (case-sensitive, so it can be searched in raw bytes). */
  readonly text?: string;
}

const EFFECTS = new Set(["allow", "deny", "review"]);

/** The query from URL parameters; empty or malformed values are left out (with a note for the page). */
export function parseAuditQuery(params: Record<string, string | undefined>): { query: AuditQuery; problems: string[] } {
  const problems: string[] = [];
  const q: Record<string, string> = {};
  for (const key of ["identity", "target", "rule", "type", "session", "text"] as const) {
    const v = params[key]?.trim();
    if (v) q[key] = v.slice(0, 500);
  }
  const effect = params["effect"]?.trim();
  if (effect) {
    if (EFFECTS.has(effect)) q["effect"] = effect;
    else problems.push(`effect must be allow, deny or review, not "${effect}"`);
  }
  for (const key of ["since", "until"] as const) {
    const v = params[key]?.trim();
    if (!v) continue;
    const t = parseTime(v, key === "until");
    if (t === null) problems.push(`${key}: "${v}" is not a time (2026-12-07T01:30, or 2026-12-07)`);
    else q[key] = t;
  }
  return { query: q as AuditQuery, problems };
}

/**
 * A time as a person types it in a form (datetime-local gives 2026-12-07T01:30, UTC here) as the
 * records' ISO form; a bare date as its first (since) or last (until) millisecond.
 */
export function parseTime(text: string, end: boolean): string | null {
  let m = /^(\d{4}-\d{2}-\d{2})$/.exec(text);
  if (m) return `${m[1]}T${end ? "23:59:59.999" : "00:00:00.000"}Z`;
  m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2}(\.\d{1,3})?)?Z?$/.exec(text);
  if (!m) return null;
  const secs = m[3] ?? (end ? ":59" : ":00");
  const ms = m[4] ? "" : end && !m[3] ? ".999" : ".000";
  const d = new Date(`${m[1]}T${m[2]}${secs}${ms}Z`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Scan options for `q` (with `limit`, cursor and budget left to the caller). */
export function auditScan(q: AuditQuery): Pick<ScanOptions, "needles" | "match" | "since" | "until"> {
  // Most selective first: the first group is what the scan searches the bytes for.
  const needles: string[][] = [];
  if (q.session !== undefined) needles.push([memberNeedle("session", q.session)]);
  if (q.text !== undefined) needles.push([textNeedle(q.text)]);
  if (q.identity !== undefined) needles.push([memberNeedle("subject", q.identity), memberNeedle("name", q.identity)]);
  if (q.rule !== undefined) needles.push([memberNeedle("rule", q.rule)]);
  if (q.target !== undefined) needles.push([memberNeedle("target", q.target)]);
  if (q.type !== undefined) needles.push([memberNeedle("type", q.type)]);
  if (q.effect !== undefined) needles.push([memberNeedle("effect", q.effect)]);
  return {
    needles,
    match: (r) => matchesQuery(r, q),
    ...(q.since !== undefined ? { since: q.since } : {}),
    ...(q.until !== undefined ? { until: q.until } : {}),
  };
}

export function matchesQuery(r: ReadableRecord, q: AuditQuery): boolean {
  if (q.session !== undefined && r.session !== q.session) return false;
  if (q.identity !== undefined && r.identity?.subject !== q.identity && (r.identity as { name?: string } | undefined)?.name !== q.identity) return false;
  if (q.target !== undefined && r.target !== q.target) return false;
  if (q.type !== undefined && r.type !== q.type) return false;
  if (q.effect !== undefined && r.decision?.effect !== q.effect) return false;
  if (q.rule !== undefined && r.decision?.rule !== q.rule) return false;
  // The needle matched the raw line; a text that only matched a key name still counts (it is in the record).
  return true;
}

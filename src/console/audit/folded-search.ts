// The audit search for record type "statement" or "request" also finds completions folded into a
// later decision record's details.completed (audit/completions.ts), and shows each as a row of
// its own, as a standalone record would be. The scan matches the carrying decision records on
// what they share with their completions (session, identity, target, time); the statement and
// rule of each completion are in the decision record that allowed it, found by one more backward
// scan from there (bounded: those records are usually a few lines back). The rule, effect and text
// filters are checked on the completion once that is known; one whose decision record lies beyond
// the lookup's budget shows without statement or rule, and only when no such filter is given.
// Not covered: an identity filter finds an HTTP completion only when its carrier is of the same
// caller (two callers on one keep-alive connection: the other's carrier line lacks the needle).
import { CompletionExpander, completionType, foldedCompletions, UNBOUNDED, type CompletionRecord, type ReadableRecord } from "../../audit/completions.ts";
import type { AuditRecord } from "../../audit/record.ts";
import { matchesQuery, type AuditQuery } from "./audit-query.ts";
import { memberNeedle, scanBackward, textNeedle, type ScannedRecord, type ScanOptions } from "./backward-scan.ts";

/** Bytes read back from a page's carriers to find the decision records their completions name. */
const LOOKUP_BUDGET = 16 * 1024 * 1024;

/** Whether the query's record type is one a completion folded into a decision record can have. */
export function searchesFolded(q: AuditQuery): boolean {
  return q.type === "statement" || q.type === "request";
}

/**
 * A decision record that carries completions of the query's type and matches what it shares with
 * them. An HTTP completion names its own session (its carrier is the decision record of the
 * connection's next request, another session), so a session filter is met by an entry naming it.
 */
function carries(r: AuditRecord, q: AuditQuery): boolean {
  const entries = r.type === "decision" ? foldedCompletions(r) : [];
  if (entries.length === 0) return false;
  if (completionType((r.action as Record<string, unknown> | undefined)?.["kind"]) !== q.type) return false;
  const session = q.session !== undefined && entries.some((e) => e["session"] === q.session) ? undefined : q.session;
  return matchesQuery(r, { ...q, type: "decision", effect: undefined, rule: undefined, session });
}

/**
 * The scan of `q` widened to the carriers of folded completions: the groups of the type, rule,
 * effect and text needles (which a carrier's own bytes need not hold) also take a line with
 * `"completed":[{`; rule, effect and text are checked on each completion after the lookup.
 */
export function foldedScan(q: AuditQuery, scan: Pick<ScanOptions, "needles" | "match" | "since" | "until">): Pick<ScanOptions, "needles" | "match" | "since" | "until"> {
  const own = new Set<string>();
  if (q.rule !== undefined) own.add(memberNeedle("rule", q.rule));
  if (q.effect !== undefined) own.add(memberNeedle("effect", q.effect));
  if (q.text !== undefined) own.add(textNeedle(q.text));
  const typeNeedle = memberNeedle("type", q.type!);
  // A carrier line may stand in for those groups; a standalone record's line still needs them.
  const needles = (scan.needles ?? []).map((g) => (g.includes(typeNeedle) || g.every((n) => own.has(n)) ? [...g, '"completed":[{'] : g));
  return { ...scan, needles, match: (r) => (scan.match?.(r) ?? true) || carries(r, q) };
}

/**
 * The page's rows with each carrier replaced by its folded completions of the query's type that
 * match it (newest first, as the page is), each at its carrier's place in the log.
 */
export async function expandFolded(logPath: string, q: AuditQuery, rows: readonly ScannedRecord[]): Promise<{ record: ReadableRecord; at: ScannedRecord["at"] }[]> {
  const text = q.text !== undefined ? textNeedle(q.text) : undefined;
  // A standalone record's line held the text needle; a folded completion is checked on its parts.
  const shown = (c: CompletionRecord) => c.type === q.type && matchesQuery(c, q) && (text === undefined || JSON.stringify(c).includes(text));
  const carriers = rows.filter((r) => !matchesQuery(r.record, q));
  if (carriers.length === 0) return [...rows];
  const needed = new Set(carriers.flatMap((c) => foldedCompletions(c.record).map((e) => e.decision)));
  // Decision lines are most of a busy log, so this reads about what the page read, and stops at the last one needed.
  const found = await scanBackward(logPath, {
    needles: [[memberNeedle("type", "decision")]],
    match: (r) => needed.has(r.seq),
    before: carriers[0]!.at,
    limit: needed.size,
    budgetBytes: LOOKUP_BUDGET,
  });
  const expander = new CompletionExpander(UNBOUNDED);
  for (const d of found.records.map((r) => r.record).sort((a, b) => a.seq - b.seq)) expander.take(d);
  const bySeq = new Map<number, CompletionRecord[]>();
  for (const c of [...carriers].sort((a, b) => a.record.seq - b.record.seq)) bySeq.set(c.record.seq, expander.take(c.record));
  const out: { record: ReadableRecord; at: ScannedRecord["at"] }[] = [];
  for (const r of rows) {
    const folded = bySeq.get(r.record.seq);
    if (folded === undefined) out.push(r);
    else for (const c of [...folded].reverse()) if (shown(c)) out.push({ record: c, at: r.at });
  }
  return out;
}

// What tests read of statement (and request) completions, in whichever form the gateway wrote
// them: a standalone `statement` / `request` record, or an entry of the next decision record's
// details.completed (the session's for PostgreSQL, the client connection's for HTTP; the hot
// path; which one depends on timing). Both read as records shaped
// like the standalone one (src/audit/completions.ts), so a test checks the same facts either way.
import { CompletionExpander, completionsOf, UNBOUNDED, withFoldedCompletions, type CompletionRecord, type ReadableRecord } from "../../src/audit/completions.ts";

export type { CompletionRecord } from "../../src/audit/completions.ts";

/** The statement completions among `records` (of one `session` when given), in log order. */
export function statementsOf(records: Iterable<ReadableRecord>, session?: string): CompletionRecord[] {
  return completionsOf(records).filter((c) => c.type === "statement" && (session === undefined || c.session === session));
}

/**
 * The HTTP request completions among `records` (of one request, `session`, when given), in log
 * order: standalone `request` records and entries folded into the decision record of the
 * connection's next request, whose session is the entry's own.
 */
export function requestsOf(records: Iterable<ReadableRecord>, session?: string): CompletionRecord[] {
  return completionsOf(records).filter((c) => c.type === "request" && (session === undefined || c.session === session));
}

/** The records with each folded completion as a record of its own, just before the record that carried it (where a standalone one would be). */
export function withCompletions<R extends ReadableRecord>(records: Iterable<R>): (R | CompletionRecord)[] {
  return [...withFoldedCompletions(records, new CompletionExpander(UNBOUNDED))];
}

/** A completion's details member `key` (rows, outcome, tag, masked_cells, error, reason, parameters …). */
export function detail<T = unknown>(c: CompletionRecord, key: string): T | undefined {
  return c.details[key] as T | undefined;
}

// What the server's answers mean for the client's statements, for backend-relay.ts: each run
// ends once (its audit record, and what waits for it), and a Parse or Bind the server skipped
// or refused leaves its name meaning what it meant before.
import { parseNoticeFields } from "../protocol/backend-decoder.ts";
import type { RelayCore, StatementOutcome } from "./relay-core.ts";
import type { Expectation } from "./response-tracker.ts";
import { settlePortal, settleRun, type StatementRun } from "./session-state.ts";

export function finishRun(s: RelayCore, run: StatementRun, tag: string): void {
  if (run.done) return;
  run.onSuccess?.(tag);
  endRun(s, run, { kind: "complete", tag });
}

/** The server is done with the run: its audit record, and what waits for it (CatalogFence). */
export function endRun(s: RelayCore, run: StatementRun, outcome: StatementOutcome): void {
  if (run.done) return;
  run.done = true;
  if (outcome.kind === "error" || outcome.kind === "not_run") run.onFailure?.();
  s.finish(run, outcome);
  settleRun(run);
}

/** The run ended in the ErrorResponse whose body is given. */
export function failRun(s: RelayCore, run: StatementRun, body: Uint8Array): void {
  if (run.done) return;
  let code = "";
  let message = "";
  try {
    const f = parseNoticeFields(body);
    code = f.code ?? "";
    message = f.message ?? "";
  } catch {
    message = "(unreadable error)";
  }
  endRun(s, run, { kind: "error", code, message });
}

export function notRun(s: RelayCore, run: StatementRun, reason: string): void {
  endRun(s, run, { kind: "not_run", reason });
}

/** An entry whose message the server skipped: undo what the client's message was assumed to do. */
export function undoSkipped(s: RelayCore, d: Expectation): void {
  const reason = "an earlier message of the batch failed";
  if (d.kind === "execute" || d.kind === "function-call") notRun(s, d.run, reason);
  else if (d.kind === "query") for (const r of d.runs) notRun(s, r, reason);
  else if (d.kind === "parse") unparse(s, d);
  else if (d.kind === "bind") unbind(s, d);
}

/** A Parse that did not happen upstream: the name means what it meant before. */
export function unparse(s: RelayCore, d: Expectation & { kind: "parse" }): void {
  if (d.statement !== null && s.prepared.get(d.statement.name) === d.statement) {
    if (d.previous === undefined) s.prepared.delete(d.statement.name);
    else s.prepared.set(d.statement.name, d.previous);
  }
}

/** A Bind that did not happen upstream: its portal name means what it meant before. */
export function unbind(s: RelayCore, d: Expectation & { kind: "bind" }): void {
  const p = d.portal;
  if (p === null) return;
  if (s.portals.get(p.name) === p) {
    if (d.previous === undefined) s.portals.delete(p.name);
    else s.portals.set(p.name, d.previous);
  }
  settlePortal(p, false);
}

// A statement's run as the response tracker follows it to its answer: its facts for the audit,
// and what it does to the session when it succeeds (PREPARE, DEALLOCATE and DISCARD ALL change
// the named statements, SET the search_path, DDL the catalog cache, DECLARE and CLOSE the
// cursors FETCH reads, DECLARE a masked cursor).
import type { AnalysisContext, StatementInfo } from "../sql/analysis.ts";
import { isCatalogChanging } from "../catalog/catalog-changes.ts";
import type { RelayCore } from "./relay-core.ts";
import type { PreparedStatement, StatementRun } from "./session-state.ts";
import { factsOf, type CheckedStatement } from "../decide/statement-gate.ts";

/** The run of a statement the gate allowed; `checked.info`, when there, is what it counts as (an EXECUTE: what it runs). */
export function checkedRun(s: RelayCore, info: StatementInfo, checked: CheckedStatement & { info?: StatementInfo }, single: boolean, ctx: AnalysisContext): StatementRun {
  return statementRun(s, checked.info ?? info, checked.verdict.decision.rule, checked.spec, single, ctx, undefined, checked);
}

/** `ctx`: the analysis context `info` was made with (what a PREPARE's statement resolves against). */
export function statementRun(
  s: RelayCore,
  info: StatementInfo,
  rule: string | null,
  spec: StatementRun["spec"],
  single: boolean,
  ctx: AnalysisContext,
  parameters?: readonly (string | null)[],
  checked?: CheckedStatement,
): StatementRun {
  const discardAll = info.node === "DiscardStmt" && info.sets?.some((c) => c.name === "all") === true;
  // A DECLARE's cursor counts from now (statements behind it are decided before it is answered);
  // a CLOSE (or DISCARD ALL) closes the cursors declared before it, once it succeeded.
  const cursor = info.node === "DeclareCursorStmt" ? s.cursors.declared(info) : null;
  const closeMark = info.closes !== undefined || discardAll ? s.cursors.mark() : 0;
  const needs =
    cursor !== null ||
    closeMark !== 0 ||
    info.prepares !== undefined ||
    info.deallocates !== undefined ||
    info.sets !== undefined ||
    info.node === "DeclareCursorStmt" ||
    info.classes.some(isCatalogChanging);
  const onSuccess = needs
    ? () => {
        if (info.prepares !== undefined) {
          const p = info.prepares;
          s.prepared.set(p.name, {
            name: p.name,
            info: p.inner,
            verdict: null,
            spec: null,
            batch: -1,
            fields: null,
            described: false,
            source: { text: info.text, prepare: true, context: ctx },
            parameterTypes: [],
            epoch: -1,
            changesCatalog: false,
          });
        }
        // Names the server freed: a later Parse or PREPARE of them defines something new.
        if (info.deallocates !== undefined) forgetStatements(s.prepared, info.deallocates);
        if (discardAll) {
          forgetStatements(s.prepared, null);
          s.portals.clear();
          s.cursors.closed(null, closeMark);
        }
        if (cursor !== null) s.cursors.succeeded(cursor);
        if (info.closes !== undefined) s.cursors.closed(info.closes, closeMark);
        if (info.sets !== undefined) s.searchPath.apply(info.sets, single && s.txStatus === "I");
        if (info.classes.some(isCatalogChanging)) s.catalog.invalidate();
        if (info.classes.includes("ddl.create.schema") || info.classes.includes("procedural")) s.searchPath.schemaCreated();
        if (info.node === "DeclareCursorStmt" && spec !== null && checked !== undefined) s.statementGate.rememberCursor(spec, checked.verdict.masks);
      }
    : undefined;
  return {
    facts: factsOf(info),
    rule,
    spec,
    started: performance.now(),
    plan: null,
    rows: 0,
    done: false,
    ...(parameters !== undefined ? { parameters } : {}),
    ...(onSuccess !== undefined ? { onSuccess } : {}),
    ...(cursor !== null ? { onFailure: () => s.cursors.failed(cursor) } : {}),
  };
}

/** DEALLOCATE name, or every named statement (DEALLOCATE ALL, DISCARD ALL; the unnamed one stays). */
function forgetStatements(prepared: Map<string, PreparedStatement>, name: string | null): void {
  if (name !== null) {
    prepared.delete(name);
    return;
  }
  for (const key of [...prepared.keys()]) if (key !== "") prepared.delete(key);
}

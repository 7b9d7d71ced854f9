// The FunctionCall message (the protocol's fast path: a function called by OID, with no SQL):
// the gateway names the function from the catalog and decides the call as a statement of class
// function_call that calls it. A function it cannot name is refused, and so is a call behind a
// catalog change in the same batch (see catalog-changes.ts).
import type { Decoded, FunctionCall } from "./protocol/frontend-message.ts";
import { CHANGED_IN_BATCH, changesCatalog } from "./catalog-changes.ts";
import { denialError } from "./deny.ts";
import type { RelayCore } from "./relay-core.ts";
import type { CatalogFence } from "./session-state.ts";
import type { StatementInfo } from "./sql/analysis.ts";
import { factsOf, type CheckedStatement } from "./statement-gate.ts";
import { checkedRun } from "./statement-run.ts";

/** `changedInBatch`: whether a catalog-changing Execute was forwarded in this batch (frontend-relay.ts). */
export async function relayFunctionCall(s: RelayCore, m: Decoded<FunctionCall>, fence: CatalogFence, changedInBatch: () => boolean): Promise<void> {
  let name: string | null = null;
  try {
    name = await s.catalog.functionName(m.functionOid);
  } catch {
    name = null;
  }
  const info: StatementInfo = {
    classes: ["function_call"],
    relations: [],
    functions: name === null ? [] : [name],
    text: `FunctionCall ${name ?? `OID ${m.functionOid}`}`,
    node: "FunctionCall",
  };
  let error: Uint8Array | null = null;
  let checked: CheckedStatement | null = null;
  if (name === null) {
    const message = `FunctionCall of function OID ${m.functionOid} is denied: the gateway cannot name that function`;
    await s.statementGate.refuse(factsOf(info), "builtin:unknown-function", message, { protocol: "function_call" });
    error = denialError(message);
  } else if (changedInBatch()) {
    await s.statementGate.refuse(factsOf(info), CHANGED_IN_BATCH.rule, CHANGED_IN_BATCH.message, { protocol: "function_call" });
    error = denialError(CHANGED_IN_BATCH.message);
  } else {
    checked = await s.statementGate.check(info, { protocol: "function_call", oid: m.functionOid });
    if (!checked.verdict.allowed) error = denialError(checked.verdict.message, { rule: checked.verdict.decision.rule });
  }
  if (error !== null || checked === null) {
    s.toUpstream.push(s.deny.query);
    s.tracker.push({ kind: "deny-query", error: error!, sent: false });
    return;
  }
  const run = checkedRun(s, info, checked, false, s.searchPath.context);
  s.toUpstream.push(m.raw);
  s.tracker.push({ kind: "function-call", run });
  if (changesCatalog(info, checked.facts)) fence.watch(run);
}

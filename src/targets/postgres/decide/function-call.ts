// The FunctionCall message (the protocol's fast path: a function called by OID, with no SQL):
// the gateway names the function from the catalog and decides the call as a statement of class
// function_call that calls it. A function it cannot name is refused, and so is a call behind a
// catalog change in the same batch (see catalog-changes.ts). A call of set_config counts as the
// SQL call does: class set, the pseudo function of the setting it changes (every sensitive one
// when its name cannot be read), and the change, which the search_path follows.
import type { Decoded, FunctionCall } from "../protocol/frontend-message.ts";
import { CHANGED_IN_BATCH, changesCatalog } from "../catalog/catalog-changes.ts";
import { denialError, verdictDenial } from "../relay/deny.ts";
import type { RelayCore } from "../relay/relay-core.ts";
import type { CatalogFence } from "../relay/session-state.ts";
import type { StatementInfo } from "../sql/analysis.ts";
import { factsOf, type CheckedStatement } from "./statement-gate.ts";
import type { SettingChange } from "../sql/analysis.ts";
import { parseBool } from "../sql/literals.ts";
import { SENSITIVE_SETTINGS, settingFunction } from "../sql/setting-changes.ts";
import { checkedRun } from "../relay/statement-run.ts";

/** `changedInBatch`: whether a catalog-changing Execute was forwarded in this batch (frontend-relay.ts). */
export async function relayFunctionCall(s: RelayCore, m: Decoded<FunctionCall>, fence: CatalogFence, changedInBatch: () => boolean): Promise<void> {
  let name: string | null = null;
  try {
    name = await s.catalog.functionName(m.functionOid);
  } catch {
    name = null;
  }
  const base: StatementInfo = {
    classes: ["function_call"],
    relations: [],
    functions: name === null ? [] : [name],
    text: `FunctionCall ${name ?? `OID ${m.functionOid}`}`,
    node: "FunctionCall",
  };
  const info = name === SET_CONFIG ? withSetConfig(base, m) : base;
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
    if (!checked.verdict.allowed) error = verdictDenial(checked.verdict);
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

const SET_CONFIG = "pg_catalog.set_config";
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** set_config(name, value, is_local) by FunctionCall: what the SQL call of it reports (setting-changes.ts setConfigCall). */
export function withSetConfig(info: StatementInfo, m: FunctionCall): StatementInfo {
  const name = argumentText(m, 0)?.toLowerCase() ?? null;
  const value = argumentText(m, 1);
  const local = argumentBool(m, 2);
  const names = name === null ? SENSITIVE_SETTINGS : [name];
  const sets: SettingChange[] =
    name === null
      ? [{ name: "search_path", value: null, local: false, opaque: true }]
      : [value !== null && local !== null ? { name, value, local } : { name, value: null, local: local ?? false, opaque: true }];
  return {
    ...info,
    classes: [...new Set([...info.classes, "set"])].sort(),
    functions: [...new Set([...info.functions, ...names.map(settingFunction)])].sort(),
    sets,
  };
}

function format(m: FunctionCall, i: number): 0 | 1 {
  const f = m.argumentFormats;
  return f.length === 0 ? 0 : f.length === 1 ? f[0]! : (f[i] ?? 0);
}

/** A text argument: its bytes are the UTF-8 text in either format; null when absent or unreadable. */
function argumentText(m: FunctionCall, i: number): string | null {
  const v = m.arguments[i];
  if (v === undefined || v === null) return null;
  try {
    return utf8.decode(v);
  } catch {
    return null;
  }
}

function argumentBool(m: FunctionCall, i: number): boolean | null {
  const v = m.arguments[i];
  if (v === undefined || v === null) return null;
  if (format(m, i) === 1) return v.length === 1 ? v[0] !== 0 : null;
  const t = argumentText(m, i);
  return t === null ? null : parseBool(t);
}

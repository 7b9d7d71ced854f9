// What a statement that reads masked columns sends besides its rows: the server's errors and
// notices can quote the values it read (invalid input syntax for type integer: "ann@…",
// Failing row contains (…)), and a setting given a value from a row comes back in a
// ParameterStatus. Their text is withheld: the SQLSTATE, the severity and the names of the
// objects involved stay, so clients and drivers act on them as before, and the number and
// order of messages do not change.
import type { PostgresRequestFacts } from "../../../core/types.ts";
import { MASKED } from "../../../masking/detectors.ts";
import type { MaskSpec } from "./mask-plan.ts";
import type { NoticeFields } from "../protocol/backend-message.ts";
import { parseNoticeFields } from "../protocol/backend-decoder.ts";
import { encodeBackendMessage } from "../protocol/encode.ts";
import { BackendType } from "../protocol/messages.ts";

/** SQLSTATE classes (the first two characters), as PostgreSQL's appendix A names them. */
export const SQLSTATE_CLASSES: Readonly<Record<string, string>> = {
  "00": "successful completion",
  "01": "warning",
  "02": "no data",
  "03": "SQL statement not yet complete",
  "08": "connection exception",
  "09": "triggered action exception",
  "0A": "feature not supported",
  "0B": "invalid transaction initiation",
  "0F": "locator exception",
  "0L": "invalid grantor",
  "0P": "invalid role specification",
  "0Z": "diagnostics exception",
  "20": "case not found",
  "21": "cardinality violation",
  "22": "data exception",
  "23": "integrity constraint violation",
  "24": "invalid cursor state",
  "25": "invalid transaction state",
  "26": "invalid SQL statement name",
  "27": "triggered data change violation",
  "28": "invalid authorization specification",
  "2B": "dependent privilege descriptors still exist",
  "2D": "invalid transaction termination",
  "2F": "SQL routine exception",
  "34": "invalid cursor name",
  "38": "external routine exception",
  "39": "external routine invocation exception",
  "3B": "savepoint exception",
  "3D": "invalid catalog name",
  "3F": "invalid schema name",
  "40": "transaction rollback",
  "42": "syntax error or access rule violation",
  "44": "WITH CHECK OPTION violation",
  "53": "insufficient resources",
  "54": "program limit exceeded",
  "55": "object not in prerequisite state",
  "57": "operator intervention",
  "58": "system error",
  "72": "snapshot failure",
  F0: "configuration file error",
  HV: "foreign data wrapper error",
  P0: "PL/pgSQL error",
  XX: "internal error",
};

/** SQLSTATEs whose message is a fixed text that quotes nothing (cancel, aborted transaction, serialization): kept. */
const FIXED_TEXT_CODES: ReadonlySet<string> = new Set(["25P02", "40001", "40P01", "57014", "57P01"]);

/** Fields that name things (or say where in the client's own query): kept. Message, detail, hint, context and internal query go. */
const KEPT_FIELDS: readonly (keyof NoticeFields)[] = ["severity", "severityNonLocalized", "code", "position", "schema", "table", "column", "dataType", "constraint", "file", "line", "routine"];

/** Statement classes that run no query of their own: with no relation and no function named, nothing they report comes from a row. */
const WITHOUT_ROWS: ReadonlySet<string> = new Set(["set", "show", "transaction", "listen", "notify", "deallocate", "discard", "close"]);

/**
 * Whether what the server says while a statement runs may quote values of masked columns: its
 * masks apply and it reads something (a relation, a function, a cursor), so not for a plain
 * SET or BEGIN that a masking rule happens to allow. Facts unknown (null): it may.
 */
export function readsMaskedData(spec: MaskSpec | null, facts: Pick<PostgresRequestFacts, "classes" | "relations" | "functions"> | null): boolean {
  if (spec === null) return false;
  if (facts === null) return true;
  return facts.relations.length > 0 || facts.functions.length > 0 || facts.classes.length === 0 || !facts.classes.every((c) => WITHOUT_ROWS.has(c));
}

export type WithheldReason = "statement" | "transaction";

/**
 * An ErrorResponse or NoticeResponse (type byte and body) as the client may see it when masked
 * data was read: same severity and SQLSTATE, a message that says the text is withheld.
 */
export function withheldNotice(type: number, body: Uint8Array, reason: WithheldReason): Uint8Array {
  const error = type === BackendType.ErrorResponse;
  let fields: NoticeFields;
  try {
    fields = parseNoticeFields(body, error ? "ErrorResponse" : "NoticeResponse");
  } catch {
    fields = error ? { severity: "ERROR", severityNonLocalized: "ERROR", code: "XX000" } : { severity: "NOTICE", severityNonLocalized: "NOTICE", code: "01000" };
  }
  const code = fields.code !== undefined && /^[0-9A-Z]{5}$/.test(fields.code) ? fields.code : error ? "XX000" : "01000";
  const kept: { -readonly [K in keyof NoticeFields]?: string } = {};
  for (const k of KEPT_FIELDS) {
    const v = fields[k];
    if (v !== undefined) kept[k] = v;
  }
  if (kept.severity === undefined) kept.severity = error ? "ERROR" : "NOTICE";
  const why = reason === "statement" ? "this statement reads masked columns" : "an earlier statement of this transaction read masked columns";
  const keepMessage = FIXED_TEXT_CODES.has(code) && fields.message !== undefined;
  const message = keepMessage ? fields.message! : `${SQLSTATE_CLASSES[code.slice(0, 2)] ?? "error"} (${code}): ${error ? "error" : "notice"} text withheld because ${why}`;
  const out = { ...kept, code, message, severity: kept.severity };
  return encodeBackendMessage(error ? { type: "ErrorResponse", fields: out } : { type: "NoticeResponse", fields: out });
}

/** A ParameterStatus whose value may come from a masked column. */
export function maskedParameterStatus(name: string): Uint8Array {
  return encodeBackendMessage({ type: "ParameterStatus", name, value: MASKED });
}

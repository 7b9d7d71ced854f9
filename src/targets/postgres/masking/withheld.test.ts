// What the server says besides rows when a statement read masked columns: notices withheld,
// and which statements count as reading masked data.
import { describe, expect, test } from "bun:test";
import { compileDetectors } from "../../../masking/detectors.ts";
import { compileMaskSpec } from "./mask-plan.ts";
import { parseBackendMessage } from "../protocol/backend-decoder.ts";
import { encodeErrorResponse, encodeNoticeResponse } from "../protocol/encode.ts";
import { BackendType } from "../protocol/messages.ts";
import { maskedParameterStatus, readsMaskedData, withheldNotice } from "./withheld.ts";

const body = (raw: Uint8Array) => raw.subarray(5);

describe("withheldNotice", () => {
  test("keeps severity, SQLSTATE, position and object names; drops the message, detail, hint, context and internal query", () => {
    // Fields that carry no data values: they must come back as the server sent them.
    const kept = {
      position: "12",
      schema: "sales",
      table: "customers",
      column: "name",
      constraint: "customers_name_nn",
      file: "execMain.c",
      line: "2006",
      routine: "ExecConstraints",
    };
    const raw = encodeErrorResponse({
      severity: "ERROR",
      code: "23502",
      message: 'null value in column "name" of relation "customers" violates not-null constraint',
      detail: "Failing row contains (1, null, ann@example.com).",
      hint: "ann@example.com",
      where: "SQL function \"f\" statement 1: ann@example.com",
      internalQuery: "SELECT 'ann@example.com'",
      internalPosition: "8",
      ...kept,
    });
    const out = withheldNotice(BackendType.ErrorResponse, body(raw), "statement");
    expect(new TextDecoder().decode(out)).not.toContain("ann@example.com");
    const m = parseBackendMessage(out[0]!, out.subarray(5));
    expect(m).toEqual({
      type: "ErrorResponse",
      fields: {
        severity: "ERROR",
        severityNonLocalized: "ERROR",
        code: "23502",
        message: "integrity constraint violation (23502): error text withheld because this statement reads masked columns",
        ...kept,
      },
    });
  });

  test("a notice stays a notice; the transaction reason; fixed texts (cancel) are kept", () => {
    const n = withheldNotice(BackendType.NoticeResponse, body(encodeNoticeResponse({ severity: "WARNING", code: "01000", message: "x ann@example.com" })), "transaction");
    expect(parseBackendMessage(n[0]!, n.subarray(5))).toEqual({
      type: "NoticeResponse",
      fields: { severity: "WARNING", severityNonLocalized: "WARNING", code: "01000", message: "warning (01000): notice text withheld because an earlier statement of this transaction read masked columns" },
    });
    const c = withheldNotice(BackendType.ErrorResponse, body(encodeErrorResponse({ severity: "ERROR", code: "57014", message: "canceling statement due to user request", where: "ann" })), "statement");
    expect(parseBackendMessage(c[0]!, c.subarray(5))).toMatchObject({ fields: { code: "57014", message: "canceling statement due to user request" } });
    expect(new TextDecoder().decode(c)).not.toContain("ann");
  });

  test("an unreadable body still becomes one well-formed error", () => {
    const out = withheldNotice(BackendType.ErrorResponse, new Uint8Array([0x4d, 0x61]), "statement");
    expect(parseBackendMessage(out[0]!, out.subarray(5))).toMatchObject({ type: "ErrorResponse", fields: { severity: "ERROR", code: "XX000" } });
  });
});

describe("readsMaskedData", () => {
  const spec = compileMaskSpec({ json: [], columns: ["email"], detectors: [] }, false, compileDetectors);
  const facts = (classes: string[], relations: string[] = [], functions: string[] = []) => ({ classes, relations, functions });
  test("no masks: never", () => {
    expect(readsMaskedData(null, facts(["read"], ["sales.customers"]))).toBe(false);
  });
  test("masks and something read: a relation, a function, a cursor, unknown facts", () => {
    expect(readsMaskedData(spec, facts(["read"], ["sales.customers"]))).toBe(true);
    expect(readsMaskedData(spec, facts(["read"], [], ["public.f"]))).toBe(true);
    expect(readsMaskedData(spec, facts(["fetch"]))).toBe(true);
    expect(readsMaskedData(spec, facts(["read"]))).toBe(true);
    expect(readsMaskedData(spec, facts([]))).toBe(true);
    expect(readsMaskedData(spec, null)).toBe(true);
  });
  test("masks, but a plain SET, SHOW or BEGIN that names nothing: not", () => {
    expect(readsMaskedData(spec, facts(["set"]))).toBe(false);
    expect(readsMaskedData(spec, facts(["transaction"]))).toBe(false);
    expect(readsMaskedData(spec, facts(["show"]))).toBe(false);
    expect(readsMaskedData(spec, facts(["set"], [], ["pg_catalog.now"]))).toBe(true);
  });
});

test("maskedParameterStatus", () => {
  const out = maskedParameterStatus("application_name");
  expect(parseBackendMessage(out[0]!, out.subarray(5))).toEqual({ type: "ParameterStatus", name: "application_name", value: "[masked]" });
});

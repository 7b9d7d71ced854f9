// How a denial reaches the client with the upstream's transaction state exactly as a server
// error would leave it: the gateway forwards, in place of the denied message, a DO block that
// raises an error (so a transaction block fails and later statements get 25P02 until ROLLBACK,
// and an extended-protocol batch skips to Sync), then replaces the upstream's ErrorResponse for
// it with its own, which carries the rule's message.
import type { Verdict } from "../../../gate/gate.ts";
import { parseNoticeFields } from "../protocol/backend-decoder.ts";
import { encodeErrorResponse, encodeFrontendMessages, encodeQuery } from "../protocol/encode.ts";

/** The upstream error the DO block raises; only an error with this text and code is replaced. */
export const DENY_MARKER = "gatehouse: statement denied";
const DENY_CODE = "42501";
const DO_BLOCK = `DO $gatehouse$BEGIN RAISE EXCEPTION USING ERRCODE = '${DENY_CODE}', MESSAGE = '${DENY_MARKER}'; END$gatehouse$`;

export interface DenyMessages {
  /** A simple Query running the DO block. */
  readonly query: Uint8Array;
  /** Parse, Bind and Execute of the DO block (unnamed statement and portal), and a Flush so the error comes at once. */
  readonly extended: Uint8Array;
}

export function denyMessages(): DenyMessages {
  return {
    query: encodeQuery(DO_BLOCK),
    extended: encodeFrontendMessages([
      { type: "Parse", statement: "", query: DO_BLOCK, parameterTypes: [] },
      { type: "Bind", portal: "", statement: "", parameterFormats: [], parameters: [], resultFormats: [] },
      { type: "Execute", portal: "", maxRows: 0 },
      { type: "Flush" },
    ]),
  };
}

/**
 * The ErrorResponse the client gets for a denied statement. DETAIL: `detail` when given (a
 * default deny's "read of sales.orders; no rule allows it for you"), else the deciding rule.
 */
export function denialError(message: string, opts: { code?: string; position?: number; rule?: string | null; detail?: string | undefined } = {}): Uint8Array {
  const detail = opts.detail ?? (opts.rule ? `gatehouse rule: ${opts.rule}` : undefined);
  return encodeErrorResponse({
    severity: "ERROR",
    code: opts.code ?? DENY_CODE,
    message,
    ...(opts.position !== undefined ? { position: String(opts.position) } : {}),
    ...(detail !== undefined ? { detail } : {}),
  });
}

/** The ErrorResponse for a statement the policy (or an approver) refused. */
export function verdictDenial(verdict: Pick<Verdict, "message" | "decision">): Uint8Array {
  return denialError(verdict.message, { rule: verdict.decision.rule, detail: verdict.decision.detail });
}

/** True when an upstream ErrorResponse body is the one our DO block raised. */
export function isDenyMarker(body: Uint8Array): boolean {
  try {
    const f = parseNoticeFields(body);
    return f.code === DENY_CODE && f.message === DENY_MARKER;
  } catch {
    return false;
  }
}

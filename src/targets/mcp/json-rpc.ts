// JSON-RPC 2.0 as MCP uses it: one message per body or line, read strictly (strict-json.ts)
// and sorted into request, notification or response. Batches are refused: MCP 2025-06-18
// removed them, and a batch is where one checked message hides another.
import { GatewayError } from "../../core/errors.ts";
import { decodeUtf8, parseStrictJson } from "./strict-json.ts";

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  readonly kind: "request";
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  readonly kind: "notification";
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

export interface JsonRpcResponse {
  readonly kind: "response";
  readonly id: JsonRpcId | null;
  readonly result?: Record<string, unknown>;
  readonly error?: { readonly code: number; readonly message: string; readonly data?: unknown };
}

export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/** JSON-RPC and MCP error codes (the SDK's ErrorCode), and the gateway's own in the server range. */
export const RPC_ERROR = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** The SDK's ConnectionClosed: the upstream went away. */
  UPSTREAM_CLOSED: -32000,
  /** The SDK's RequestTimeout: the call's time budget ran out. */
  TIMEOUT: -32001,
  /** MCP 2026-07-28 HeaderMismatch: routing headers that disagree with the body. */
  HEADER_MISMATCH: -32020,
  /** MCP 2026-07-28 UnsupportedProtocolVersionError (data.supported lists the versions). */
  UNSUPPORTED_VERSION: -32022,
  /** The gateway's: refused by policy (the rule's message), or a pin that does not hold. */
  DENIED: -32003,
  /** The gateway's: a budget (calls per window, result bytes) is spent. */
  BUDGET: -32029,
  /** The gateway's: the audit log cannot take the record, so nothing is done. */
  AUDIT_UNAVAILABLE: -32050,
} as const;

const ID_MAX = 256;

function refuse(message: string): never {
  throw new GatewayError("E_PROTOCOL", message);
}

function isId(v: unknown): v is JsonRpcId {
  return (typeof v === "string" && v.length <= ID_MAX) || (typeof v === "number" && Number.isSafeInteger(v));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One message from its bytes: UTF-8, strict JSON, one object (a batch is refused). Throws E_PROTOCOL. */
export function readMessage(bytes: Uint8Array): JsonRpcMessage {
  return readMessageText(decodeUtf8(bytes));
}

export function readMessageText(text: string): JsonRpcMessage {
  const value = parseStrictJson(text);
  if (Array.isArray(value)) refuse("JSON-RPC batches are refused: send one message per request");
  return toMessage(value);
}

/** Sorts a parsed value into a message, refusing whatever does not have exactly one shape. */
export function toMessage(value: unknown): JsonRpcMessage {
  if (!isObject(value)) refuse("a JSON-RPC message must be an object");
  if (value["jsonrpc"] !== "2.0") refuse('a JSON-RPC message must say "jsonrpc": "2.0"');
  const hasMethod = "method" in value;
  const hasId = "id" in value;
  const hasResult = "result" in value;
  const hasError = "error" in value;
  for (const k of Object.keys(value)) {
    if (k !== "jsonrpc" && k !== "id" && k !== "method" && k !== "params" && k !== "result" && k !== "error") refuse(`unexpected member "${k.slice(0, 64)}" in a JSON-RPC message`);
  }
  if (hasMethod) {
    if (hasResult || hasError) refuse("a message cannot be both a request and a response");
    const method = value["method"];
    if (typeof method !== "string" || method.length === 0 || method.length > 256) refuse("the method must be a non-empty string");
    const params = value["params"];
    // MCP params are always an object; by-position params have no meaning here.
    if (params !== undefined && !isObject(params)) refuse(`the params of ${method} must be an object`);
    if (!hasId) return { kind: "notification", method, ...(params !== undefined ? { params } : {}) };
    const id = value["id"];
    // MCP: "the ID MUST NOT be null".
    if (!isId(id)) refuse("a request id must be a string (up to 256 characters) or an integer");
    return { kind: "request", id, method, ...(params !== undefined ? { params } : {}) };
  }
  if ("params" in value) refuse("a response has no params");
  if (hasResult === hasError) refuse("a response must have exactly one of result and error");
  if (!hasId) refuse("a response must have an id");
  const id = value["id"];
  if (id !== null && !isId(id)) refuse("a response id must be a string, an integer or null");
  if (hasResult) {
    if (!isObject(value["result"])) refuse("a result must be an object");
    return { kind: "response", id, result: value["result"] };
  }
  const error = value["error"];
  if (!isObject(error) || typeof error["code"] !== "number" || !Number.isInteger(error["code"]) || typeof error["message"] !== "string") refuse("an error must have an integer code and a message");
  return { kind: "response", id, error: { code: error["code"], message: error["message"], ...("data" in error ? { data: error["data"] } : {}) } };
}

/** The message as JSON-RPC text (what goes on the wire). */
export function writeMessage(m: JsonRpcMessage): string {
  switch (m.kind) {
    case "request":
      return JSON.stringify({ jsonrpc: "2.0", id: m.id, method: m.method, ...(m.params !== undefined ? { params: m.params } : {}) });
    case "notification":
      return JSON.stringify({ jsonrpc: "2.0", method: m.method, ...(m.params !== undefined ? { params: m.params } : {}) });
    case "response":
      return JSON.stringify({ jsonrpc: "2.0", id: m.id, ...(m.error !== undefined ? { error: m.error } : { result: m.result ?? {} }) });
  }
}

export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: Record<string, unknown>): JsonRpcResponse {
  return { kind: "response", id, error: { code, message, ...(data !== undefined ? { data } : {}) } };
}

/** The id of a message that failed to read, when it can still be seen (so the error names it), else null. */
export function salvageId(text: string): JsonRpcId | null {
  try {
    const v = JSON.parse(text) as unknown;
    if (isObject(v) && isId(v["id"])) return v["id"];
  } catch {
    // nothing to salvage
  }
  return null;
}

// Typed messages a server sends.
import type { NoticeFieldName } from "./messages.ts";
import type { CopyData, CopyDone, Decoded } from "./frontend-message.ts";

export type { CopyData, CopyDone, Decoded } from "./frontend-message.ts";

export interface AuthenticationOk {
  readonly type: "AuthenticationOk";
}
export interface AuthenticationKerberosV5 {
  readonly type: "AuthenticationKerberosV5";
}
export interface AuthenticationCleartextPassword {
  readonly type: "AuthenticationCleartextPassword";
}
export interface AuthenticationMD5Password {
  readonly type: "AuthenticationMD5Password";
  /** 4 bytes. */
  readonly salt: Uint8Array;
}
export interface AuthenticationGSS {
  readonly type: "AuthenticationGSS";
}
export interface AuthenticationGSSContinue {
  readonly type: "AuthenticationGSSContinue";
  readonly data: Uint8Array;
}
export interface AuthenticationSSPI {
  readonly type: "AuthenticationSSPI";
}
export interface AuthenticationSASL {
  readonly type: "AuthenticationSASL";
  /** e.g. ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]. */
  readonly mechanisms: readonly string[];
}
export interface AuthenticationSASLContinue {
  readonly type: "AuthenticationSASLContinue";
  readonly data: Uint8Array;
}
export interface AuthenticationSASLFinal {
  readonly type: "AuthenticationSASLFinal";
  readonly data: Uint8Array;
}

export type Authentication =
  | AuthenticationOk
  | AuthenticationKerberosV5
  | AuthenticationCleartextPassword
  | AuthenticationMD5Password
  | AuthenticationGSS
  | AuthenticationGSSContinue
  | AuthenticationSSPI
  | AuthenticationSASL
  | AuthenticationSASLContinue
  | AuthenticationSASLFinal;

export interface BackendKeyData {
  readonly type: "BackendKeyData";
  readonly processId: number;
  /** 4 bytes in protocol 3.0 (3.2 allows up to 256). */
  readonly secretKey: Uint8Array;
}

export interface ParameterStatus {
  readonly type: "ParameterStatus";
  readonly name: string;
  readonly value: string;
}

export interface ReadyForQuery {
  readonly type: "ReadyForQuery";
  /** I idle, T in a transaction block, E in a failed transaction block. */
  readonly status: "I" | "T" | "E";
}

export interface FieldDescription {
  readonly name: string;
  /** OID of the source table, or 0 when the column is not a plain table column. */
  readonly tableOid: number;
  /** Attribute number of the column in that table, or 0. */
  readonly columnAttr: number;
  readonly typeOid: number;
  /** pg_type.typlen: negative for variable width. */
  readonly typeSize: number;
  /** pg_attribute.atttypmod; -1 when none. */
  readonly typeModifier: number;
  /** 0 text, 1 binary; always 0 in a Describe reply for a statement. */
  readonly format: 0 | 1;
}

export interface RowDescription {
  readonly type: "RowDescription";
  readonly fields: readonly FieldDescription[];
}

export interface DataRow {
  readonly type: "DataRow";
  /** Views into the message; null is SQL NULL. */
  readonly values: readonly (Uint8Array | null)[];
}

export interface CommandComplete {
  readonly type: "CommandComplete";
  /** e.g. "SELECT 1", "INSERT 0 3". */
  readonly tag: string;
}

/** The fields of an ErrorResponse or NoticeResponse; fields of unknown codes are ignored, as the protocol says. */
export type NoticeFields = { readonly [K in NoticeFieldName]?: string };

export interface ErrorResponse {
  readonly type: "ErrorResponse";
  readonly fields: NoticeFields;
}

export interface NoticeResponse {
  readonly type: "NoticeResponse";
  readonly fields: NoticeFields;
}

export interface NotificationResponse {
  readonly type: "NotificationResponse";
  readonly processId: number;
  readonly channel: string;
  readonly payload: string;
}

export interface ParseComplete {
  readonly type: "ParseComplete";
}
export interface BindComplete {
  readonly type: "BindComplete";
}
export interface CloseComplete {
  readonly type: "CloseComplete";
}
export interface NoData {
  readonly type: "NoData";
}
export interface PortalSuspended {
  readonly type: "PortalSuspended";
}
export interface EmptyQueryResponse {
  readonly type: "EmptyQueryResponse";
}

export interface ParameterDescription {
  readonly type: "ParameterDescription";
  readonly parameterTypes: readonly number[];
}

interface CopyResponseShape {
  /** 0 textual (every column format is 0), 1 binary. */
  readonly format: 0 | 1;
  readonly columnFormats: readonly (0 | 1)[];
}
export interface CopyInResponse extends CopyResponseShape {
  readonly type: "CopyInResponse";
}
export interface CopyOutResponse extends CopyResponseShape {
  readonly type: "CopyOutResponse";
}
export interface CopyBothResponse extends CopyResponseShape {
  readonly type: "CopyBothResponse";
}

export interface NegotiateProtocolVersion {
  readonly type: "NegotiateProtocolVersion";
  readonly newestMinorVersion: number;
  readonly unrecognizedOptions: readonly string[];
}

export interface FunctionCallResponse {
  readonly type: "FunctionCallResponse";
  readonly result: Uint8Array | null;
}

export type BackendMessage =
  | Authentication
  | BackendKeyData
  | ParameterStatus
  | ReadyForQuery
  | RowDescription
  | DataRow
  | CommandComplete
  | ErrorResponse
  | NoticeResponse
  | NotificationResponse
  | ParseComplete
  | BindComplete
  | CloseComplete
  | NoData
  | PortalSuspended
  | EmptyQueryResponse
  | ParameterDescription
  | CopyInResponse
  | CopyOutResponse
  | CopyBothResponse
  | CopyData
  | CopyDone
  | NegotiateProtocolVersion
  | FunctionCallResponse;

export type DecodedBackendMessage = Decoded<BackendMessage>;

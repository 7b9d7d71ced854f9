// Encoders for the messages the gateway produces or rewrites: its own answers to clients
// (errors, authentication, result sets) here, and (re-exported from encode-frontend.ts) its
// side of the upstream conversation. Every message in both directions has an encoder.
import type { BackendMessage, FieldDescription, NoticeFields } from "./backend-message.ts";
import { type ByteWriter, encodeWith, utf8Bytes } from "./byte-writer.ts";
import { AuthType, BackendType, NoticeField, type NoticeFieldName } from "./messages.ts";
import { protocolError } from "./protocol-error.ts";

// ---- server → client ----

/** Fields of an ErrorResponse the gateway writes; V (non-localized severity) defaults to S. */
export type ErrorFields = NoticeFields & {
  readonly severity: "ERROR" | "FATAL" | "PANIC";
  /** SQLSTATE, five characters, e.g. "42501". */
  readonly code: string;
  readonly message: string;
};

export type NoticeInput = NoticeFields & {
  readonly severity: "WARNING" | "NOTICE" | "DEBUG" | "INFO" | "LOG";
  readonly code: string;
  readonly message: string;
};

function writeNoticeFields(w: ByteWriter, fields: NoticeFields): void {
  if (fields.code !== undefined && !/^[0-9A-Z]{5}$/.test(fields.code)) {
    throw protocolError("bad-value", `encode: SQLSTATE "${fields.code}" is not five characters 0-9A-Z`);
  }
  // S and V first, as PostgreSQL sends them; then the rest in table order.
  const withV = fields.severity !== undefined && fields.severityNonLocalized === undefined
    ? { ...fields, severityNonLocalized: fields.severity }
    : fields;
  for (const name of Object.keys(NoticeField) as NoticeFieldName[]) {
    const value = withV[name];
    if (value === undefined) continue;
    w.uint8(NoticeField[name]).cstring(value, `field ${name}`);
  }
  w.uint8(0);
}

export function encodeErrorResponse(fields: ErrorFields): Uint8Array {
  return encodeBackendMessage({ type: "ErrorResponse", fields });
}

export function encodeNoticeResponse(fields: NoticeInput): Uint8Array {
  return encodeBackendMessage({ type: "NoticeResponse", fields });
}

export function encodeReadyForQuery(status: "I" | "T" | "E"): Uint8Array {
  return encodeBackendMessage({ type: "ReadyForQuery", status });
}

export function encodeAuthenticationOk(): Uint8Array {
  return encodeBackendMessage({ type: "AuthenticationOk" });
}

export function encodeAuthenticationCleartextPassword(): Uint8Array {
  return encodeBackendMessage({ type: "AuthenticationCleartextPassword" });
}

export function encodeAuthenticationMD5Password(salt: Uint8Array): Uint8Array {
  return encodeBackendMessage({ type: "AuthenticationMD5Password", salt });
}

export function encodeAuthenticationSASL(mechanisms: readonly string[]): Uint8Array {
  return encodeBackendMessage({ type: "AuthenticationSASL", mechanisms });
}

export function encodeAuthenticationSASLContinue(data: Uint8Array | string): Uint8Array {
  return encodeBackendMessage({ type: "AuthenticationSASLContinue", data: utf8Bytes(data) });
}

export function encodeAuthenticationSASLFinal(data: Uint8Array | string): Uint8Array {
  return encodeBackendMessage({ type: "AuthenticationSASLFinal", data: utf8Bytes(data) });
}

export function encodeParameterStatus(name: string, value: string): Uint8Array {
  return encodeBackendMessage({ type: "ParameterStatus", name, value });
}

export function encodeBackendKeyData(processId: number, secretKey: Uint8Array): Uint8Array {
  return encodeBackendMessage({ type: "BackendKeyData", processId, secretKey });
}

export function encodeCommandComplete(tag: string): Uint8Array {
  return encodeBackendMessage({ type: "CommandComplete", tag });
}

export function encodeRowDescription(fields: readonly FieldDescription[]): Uint8Array {
  return encodeBackendMessage({ type: "RowDescription", fields });
}

/** null values are SQL NULL (length -1); strings are written as UTF-8 text. */
export function encodeDataRow(values: readonly (Uint8Array | string | null)[]): Uint8Array {
  return encodeBackendMessage({ type: "DataRow", values: values.map((v) => (v === null ? null : utf8Bytes(v))) });
}

export function encodeEmptyQueryResponse(): Uint8Array {
  return encodeBackendMessage({ type: "EmptyQueryResponse" });
}

export function encodeBackendMessage(message: BackendMessage): Uint8Array {
  return encodeWith((w) => writeBackendMessage(w, message));
}

/** Several server messages in one buffer, for one socket write. */
export function encodeBackendMessages(messages: readonly BackendMessage[]): Uint8Array {
  return encodeWith((w) => {
    for (const m of messages) writeBackendMessage(w, m);
  }, 256);
}

function writeAuthentication(w: ByteWriter, code: number, body?: (w: ByteWriter) => void): void {
  const at = w.begin(BackendType.Authentication);
  w.int32(code);
  body?.(w);
  w.finish(at);
}

export function writeBackendMessage(w: ByteWriter, m: BackendMessage): void {
  switch (m.type) {
    case "AuthenticationOk":
      return writeAuthentication(w, AuthType.Ok);
    case "AuthenticationKerberosV5":
      return writeAuthentication(w, AuthType.KerberosV5);
    case "AuthenticationCleartextPassword":
      return writeAuthentication(w, AuthType.CleartextPassword);
    case "AuthenticationMD5Password":
      if (m.salt.length !== 4) throw protocolError("bad-value", `encode: MD5 salt must be 4 bytes, not ${m.salt.length}`);
      return writeAuthentication(w, AuthType.MD5Password, (w) => w.bytes(m.salt));
    case "AuthenticationGSS":
      return writeAuthentication(w, AuthType.GSS);
    case "AuthenticationGSSContinue":
      return writeAuthentication(w, AuthType.GSSContinue, (w) => w.bytes(m.data));
    case "AuthenticationSSPI":
      return writeAuthentication(w, AuthType.SSPI);
    case "AuthenticationSASL":
      return writeAuthentication(w, AuthType.SASL, (w) => {
        for (const name of m.mechanisms) {
          if (name === "") throw protocolError("bad-value", "encode: empty SASL mechanism name");
          w.cstring(name, "mechanism");
        }
        w.uint8(0);
      });
    case "AuthenticationSASLContinue":
      return writeAuthentication(w, AuthType.SASLContinue, (w) => w.bytes(m.data));
    case "AuthenticationSASLFinal":
      return writeAuthentication(w, AuthType.SASLFinal, (w) => w.bytes(m.data));
  }
  let at: number;
  switch (m.type) {
    case "BackendKeyData":
      at = w.begin(BackendType.BackendKeyData);
      w.int32(m.processId).bytes(m.secretKey);
      break;
    case "ParameterStatus":
      at = w.begin(BackendType.ParameterStatus);
      w.cstring(m.name, "name").cstring(m.value, "value");
      break;
    case "ReadyForQuery":
      at = w.begin(BackendType.ReadyForQuery);
      w.uint8(m.status.charCodeAt(0));
      break;
    case "RowDescription":
      at = w.begin(BackendType.RowDescription);
      w.count16(m.fields.length, "fields");
      for (const f of m.fields) {
        w.cstring(f.name, "field name").int32(f.tableOid).int16(f.columnAttr).int32(f.typeOid);
        w.int16(f.typeSize).int32(f.typeModifier).int16(f.format);
      }
      break;
    case "DataRow":
      at = w.begin(BackendType.DataRow);
      w.count16(m.values.length, "columns");
      for (const v of m.values) w.nullableBytes(v);
      break;
    case "CommandComplete":
      at = w.begin(BackendType.CommandComplete);
      w.cstring(m.tag, "tag");
      break;
    case "ErrorResponse":
    case "NoticeResponse":
      at = w.begin(m.type === "ErrorResponse" ? BackendType.ErrorResponse : BackendType.NoticeResponse);
      writeNoticeFields(w, m.fields);
      break;
    case "NotificationResponse":
      at = w.begin(BackendType.NotificationResponse);
      w.int32(m.processId).cstring(m.channel, "channel").cstring(m.payload, "payload");
      break;
    case "ParseComplete":
    case "BindComplete":
    case "CloseComplete":
    case "NoData":
    case "PortalSuspended":
    case "EmptyQueryResponse":
    case "CopyDone":
      at = w.begin(BackendType[m.type]);
      break;
    case "ParameterDescription":
      at = w.begin(BackendType.ParameterDescription);
      w.count16(m.parameterTypes.length, "parameters");
      for (const oid of m.parameterTypes) w.int32(oid);
      break;
    case "CopyInResponse":
    case "CopyOutResponse":
    case "CopyBothResponse":
      at = w.begin(BackendType[m.type]);
      w.uint8(m.format);
      w.count16(m.columnFormats.length, "columns");
      for (const f of m.columnFormats) w.int16(f);
      break;
    case "CopyData":
      at = w.begin(BackendType.CopyData);
      w.bytes(m.data);
      break;
    case "NegotiateProtocolVersion":
      at = w.begin(BackendType.NegotiateProtocolVersion);
      w.int32(m.newestMinorVersion).int32(m.unrecognizedOptions.length);
      for (const o of m.unrecognizedOptions) w.cstring(o, "option");
      break;
    case "FunctionCallResponse":
      at = w.begin(BackendType.FunctionCallResponse);
      w.nullableBytes(m.result);
      break;
  }
  w.finish(at);
}

export * from "./encode-frontend.ts";

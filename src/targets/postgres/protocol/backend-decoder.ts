// Decoder for what the server sends. The hot path (DataRow streaming) is callback style with
// no object per message: push(chunk, onMessage) hands out (type, body, raw) views, and the
// caller parses only the messages it needs with parseBackendMessage or a parse* function.
import type {
  Authentication,
  BackendKeyData,
  BackendMessage,
  CommandComplete,
  NegotiateProtocolVersion,
  NoticeFields,
  NotificationResponse,
  ParameterDescription,
  ParameterStatus,
  ReadyForQuery,
} from "./backend-message.ts";
import { ByteReader, decodeUtf8 } from "./byte-reader.ts";
import { parseDataRow } from "./data-row.ts";
import { createFrameReader, type FrameHandler, type RangeHandler } from "./frame-reader.ts";
import { AuthType, BackendType, NoticeField, type NoticeFieldName, TransactionStatus, describeTypeByte, knownBackendTypes } from "./messages.ts";
import { protocolError } from "./protocol-error.ts";
import { parseRowDescription } from "./row-description.ts";

/** PostgreSQL caps one field at 1 GB; a whole row may be a little more. */
export const DEFAULT_MAX_BACKEND_MESSAGE_SIZE = 0x40000000 + 0x100000;

export interface BackendDecoderOptions {
  readonly maxMessageSize?: number;
}

export interface BackendDecoder {
  /** See FrameReader.push: views of the chunk when whole, dead after any throw. */
  push(chunk: Uint8Array, onMessage: FrameHandler, onRange?: RangeHandler): void;
  readonly buffered: number;
}

export function createBackendDecoder(options: BackendDecoderOptions = {}): BackendDecoder {
  return createFrameReader({
    knownTypes: knownBackendTypes(),
    maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_BACKEND_MESSAGE_SIZE,
    side: "server",
  });
}

function empty<T extends BackendMessage>(body: Uint8Array, message: T): T {
  new ByteReader(body, message.type).end();
  return message;
}

/** Parses the body of one server message of the given type byte. */
export function parseBackendMessage(type: number, body: Uint8Array): BackendMessage {
  switch (type) {
    case BackendType.Authentication:
      return parseAuthentication(body);
    case BackendType.BackendKeyData:
      return parseBackendKeyData(body);
    case BackendType.ParameterStatus:
      return parseParameterStatus(body);
    case BackendType.ReadyForQuery:
      return parseReadyForQuery(body);
    case BackendType.RowDescription:
      return parseRowDescription(body);
    case BackendType.DataRow:
      return parseDataRow(body);
    case BackendType.CommandComplete:
      return parseCommandComplete(body);
    case BackendType.ErrorResponse:
      return { type: "ErrorResponse", fields: parseNoticeFields(body, "ErrorResponse") };
    case BackendType.NoticeResponse:
      return { type: "NoticeResponse", fields: parseNoticeFields(body, "NoticeResponse") };
    case BackendType.NotificationResponse:
      return parseNotificationResponse(body);
    case BackendType.ParseComplete:
      return empty(body, { type: "ParseComplete" });
    case BackendType.BindComplete:
      return empty(body, { type: "BindComplete" });
    case BackendType.CloseComplete:
      return empty(body, { type: "CloseComplete" });
    case BackendType.NoData:
      return empty(body, { type: "NoData" });
    case BackendType.PortalSuspended:
      return empty(body, { type: "PortalSuspended" });
    case BackendType.EmptyQueryResponse:
      return empty(body, { type: "EmptyQueryResponse" });
    case BackendType.ParameterDescription:
      return parseParameterDescription(body);
    case BackendType.CopyInResponse:
      return { type: "CopyInResponse", ...parseCopyResponse(body, "CopyInResponse") };
    case BackendType.CopyOutResponse:
      return { type: "CopyOutResponse", ...parseCopyResponse(body, "CopyOutResponse") };
    case BackendType.CopyBothResponse:
      return { type: "CopyBothResponse", ...parseCopyResponse(body, "CopyBothResponse") };
    case BackendType.CopyData:
      return { type: "CopyData", data: body };
    case BackendType.CopyDone:
      return empty(body, { type: "CopyDone" });
    case BackendType.NegotiateProtocolVersion:
      return parseNegotiateProtocolVersion(body);
    case BackendType.FunctionCallResponse: {
      const r = new ByteReader(body, "FunctionCallResponse");
      const result = r.nullableBytes("result");
      r.end();
      return { type: "FunctionCallResponse", result };
    }
  }
  throw protocolError("unknown-type", `unknown server message type ${describeTypeByte(type)}`, { type });
}

export function parseAuthentication(body: Uint8Array): Authentication {
  const r = new ByteReader(body, "Authentication");
  const code = r.int32("subtype");
  let m: Authentication;
  switch (code) {
    case AuthType.Ok:
      m = { type: "AuthenticationOk" };
      break;
    case AuthType.KerberosV5:
      m = { type: "AuthenticationKerberosV5" };
      break;
    case AuthType.CleartextPassword:
      m = { type: "AuthenticationCleartextPassword" };
      break;
    case AuthType.MD5Password:
      m = { type: "AuthenticationMD5Password", salt: r.bytes(4, "salt") };
      break;
    case AuthType.GSS:
      m = { type: "AuthenticationGSS" };
      break;
    case AuthType.GSSContinue:
      m = { type: "AuthenticationGSSContinue", data: r.rest() };
      break;
    case AuthType.SSPI:
      m = { type: "AuthenticationSSPI" };
      break;
    case AuthType.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const name = r.cstring("mechanism");
        if (name === "") break;
        mechanisms.push(name);
      }
      m = { type: "AuthenticationSASL", mechanisms };
      break;
    }
    case AuthType.SASLContinue:
      m = { type: "AuthenticationSASLContinue", data: r.rest() };
      break;
    case AuthType.SASLFinal:
      m = { type: "AuthenticationSASLFinal", data: r.rest() };
      break;
    default:
      throw protocolError("unsupported", `unknown authentication request type ${code}`, { code });
  }
  r.end();
  return m;
}

export function parseBackendKeyData(body: Uint8Array): BackendKeyData {
  const r = new ByteReader(body, "BackendKeyData");
  const processId = r.int32("process ID");
  const secretKey = r.rest();
  if (secretKey.length < 4 || secretKey.length > 256) {
    throw protocolError("bad-value", `BackendKeyData: secret key of ${secretKey.length} bytes (expected 4 to 256)`);
  }
  return { type: "BackendKeyData", processId, secretKey };
}

export function parseParameterStatus(body: Uint8Array): ParameterStatus {
  const r = new ByteReader(body, "ParameterStatus");
  const m: ParameterStatus = { type: "ParameterStatus", name: r.cstring("name"), value: r.cstring("value") };
  r.end();
  return m;
}

export function parseReadyForQuery(body: Uint8Array): ReadyForQuery {
  const r = new ByteReader(body, "ReadyForQuery");
  const s = r.uint8("status");
  r.end();
  if (s === TransactionStatus.Idle) return { type: "ReadyForQuery", status: "I" };
  if (s === TransactionStatus.InTransaction) return { type: "ReadyForQuery", status: "T" };
  if (s === TransactionStatus.Failed) return { type: "ReadyForQuery", status: "E" };
  throw protocolError("bad-value", `ReadyForQuery: unknown transaction status ${describeTypeByte(s)}`);
}

export function parseCommandComplete(body: Uint8Array): CommandComplete {
  const r = new ByteReader(body, "CommandComplete");
  const m: CommandComplete = { type: "CommandComplete", tag: r.cstring("tag") };
  r.end();
  return m;
}

const FIELD_NAME_BY_CODE: ReadonlyMap<number, NoticeFieldName> = new Map(
  (Object.entries(NoticeField) as [NoticeFieldName, number][]).map(([name, code]) => [code, name]),
);

/** The fields of an ErrorResponse or NoticeResponse: code byte + string, ending with a 0 byte. */
export function parseNoticeFields(body: Uint8Array, what = "ErrorResponse"): NoticeFields {
  const fields: { [K in NoticeFieldName]?: string } = {};
  let pos = 0;
  for (;;) {
    if (pos >= body.length) throw protocolError("unterminated-string", `${what}: field list has no terminating 0 byte`);
    const code = body[pos]!;
    pos++;
    if (code === 0) break;
    const end = body.indexOf(0, pos);
    if (end < 0) throw protocolError("unterminated-string", `${what}: field ${describeTypeByte(code)} has no NUL terminator`);
    const name = FIELD_NAME_BY_CODE.get(code);
    // Unknown field codes are to be ignored (the protocol may add fields), but still framed.
    if (name !== undefined) fields[name] = decodeUtf8(body, pos, end, `${what}: field ${describeTypeByte(code)}`);
    pos = end + 1;
  }
  if (pos !== body.length) throw protocolError("trailing-bytes", `${what}: ${body.length - pos} unexpected bytes after the last field`);
  return fields;
}

export function parseNotificationResponse(body: Uint8Array): NotificationResponse {
  const r = new ByteReader(body, "NotificationResponse");
  const m: NotificationResponse = {
    type: "NotificationResponse",
    processId: r.int32("process ID"),
    channel: r.cstring("channel"),
    payload: r.cstring("payload"),
  };
  r.end();
  return m;
}

export function parseParameterDescription(body: Uint8Array): ParameterDescription {
  const r = new ByteReader(body, "ParameterDescription");
  const n = r.count16("parameter count", 4);
  const parameterTypes: number[] = new Array(n);
  for (let i = 0; i < n; i++) parameterTypes[i] = r.uint32(`parameter ${i} type`);
  r.end();
  return { type: "ParameterDescription", parameterTypes };
}

function parseCopyResponse(body: Uint8Array, what: string): { format: 0 | 1; columnFormats: (0 | 1)[] } {
  const r = new ByteReader(body, what);
  const format = r.uint8("overall format");
  if (format !== 0 && format !== 1) throw protocolError("bad-value", `${what}: overall format ${format} is not 0 or 1`);
  const n = r.count16("column count", 2);
  const columnFormats: (0 | 1)[] = new Array(n);
  for (let i = 0; i < n; i++) columnFormats[i] = r.format(`column ${i} format`);
  r.end();
  return { format, columnFormats };
}

export function parseNegotiateProtocolVersion(body: Uint8Array): NegotiateProtocolVersion {
  const r = new ByteReader(body, "NegotiateProtocolVersion");
  const newestMinorVersion = r.int32("newest minor version");
  const n = r.int32("option count");
  if (n < 0 || n > r.remaining) throw protocolError("overrun", `NegotiateProtocolVersion: option count ${n} overruns the message`);
  const unrecognizedOptions: string[] = [];
  for (let i = 0; i < n; i++) unrecognizedOptions.push(r.cstring(`option ${i}`));
  r.end();
  return { type: "NegotiateProtocolVersion", newestMinorVersion, unrecognizedOptions };
}

// Wire constants of the PostgreSQL frontend/backend protocol 3.0 ("Message Formats" in the
// PostgreSQL docs): type bytes, startup codes, authentication subtypes, notice field codes.

/** Type bytes of messages the client sends (after the startup packet). */
export const FrontendType = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  FunctionCall: 0x46, // 'F'
  Flush: 0x48, // 'H'
  Parse: 0x50, // 'P'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
  CopyDone: 0x63, // 'c'
  CopyData: 0x64, // 'd'
  CopyFail: 0x66, // 'f'
  /** PasswordMessage, SASLInitialResponse, SASLResponse and GSSResponse all share 'p'. */
  PasswordMessage: 0x70, // 'p'
} as const;

/** Type bytes of messages the server sends. */
export const BackendType = {
  ParseComplete: 0x31, // '1'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  NotificationResponse: 0x41, // 'A'
  CommandComplete: 0x43, // 'C'
  DataRow: 0x44, // 'D'
  ErrorResponse: 0x45, // 'E'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  EmptyQueryResponse: 0x49, // 'I'
  BackendKeyData: 0x4b, // 'K'
  NoticeResponse: 0x4e, // 'N'
  Authentication: 0x52, // 'R'
  ParameterStatus: 0x53, // 'S'
  RowDescription: 0x54, // 'T'
  FunctionCallResponse: 0x56, // 'V'
  CopyBothResponse: 0x57, // 'W'
  ReadyForQuery: 0x5a, // 'Z'
  CopyDone: 0x63, // 'c'
  CopyData: 0x64, // 'd'
  NoData: 0x6e, // 'n'
  PortalSuspended: 0x73, // 's'
  ParameterDescription: 0x74, // 't'
  NegotiateProtocolVersion: 0x76, // 'v'
} as const;

/** The int32 after the length of a startup packet (which has no type byte). */
export const StartupCode = {
  /** Protocol 3.0: major 3 in the high 16 bits, minor 0 in the low 16. */
  ProtocolVersion3: 196608, // 3 << 16
  CancelRequest: 80877102, // 1234 << 16 | 5678
  SSLRequest: 80877103, // 1234 << 16 | 5679
  GSSENCRequest: 80877104, // 1234 << 16 | 5680
} as const;

/** Subtypes of the 'R' Authentication message (its first int32). */
export const AuthType = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

/** Field codes of ErrorResponse and NoticeResponse, by the name we give each field. */
export const NoticeField = {
  severity: 0x53, // 'S' localized severity
  severityNonLocalized: 0x56, // 'V'
  code: 0x43, // 'C' SQLSTATE
  message: 0x4d, // 'M'
  detail: 0x44, // 'D'
  hint: 0x48, // 'H'
  position: 0x50, // 'P'
  internalPosition: 0x70, // 'p'
  internalQuery: 0x71, // 'q'
  where: 0x57, // 'W'
  schema: 0x73, // 's'
  table: 0x74, // 't'
  column: 0x63, // 'c'
  dataType: 0x64, // 'd'
  constraint: 0x6e, // 'n'
  file: 0x46, // 'F'
  line: 0x4c, // 'L'
  routine: 0x52, // 'R'
} as const;

export type NoticeFieldName = keyof typeof NoticeField;

/** ReadyForQuery transaction status bytes. */
export const TransactionStatus = {
  Idle: 0x49, // 'I'
  InTransaction: 0x54, // 'T'
  Failed: 0x45, // 'E'
} as const;

/** Describe and Close name a prepared statement or a portal. */
export const DescribeTarget = {
  Statement: 0x53, // 'S'
  Portal: 0x50, // 'P'
} as const;

/** Format codes of parameters and result columns. */
export const FormatCode = { Text: 0, Binary: 1 } as const;

/** The server's one-byte answers to SSLRequest and GSSENCRequest. */
export const EncryptionResponse = { Accept: 0x53 /* 'S' */, Refuse: 0x4e /* 'N' */ } as const;

export type FrontendTypeName = keyof typeof FrontendType;
export type BackendTypeName = keyof typeof BackendType;

/** Per type byte: true when it starts a known message; a flat table so the hot path is one load. */
function knownTypes(table: Readonly<Record<string, number>>): Uint8Array {
  const known = new Uint8Array(256);
  for (const code of Object.values(table)) known[code] = 1;
  return known;
}

export function knownFrontendTypes(): Uint8Array {
  return knownTypes(FrontendType);
}

export function knownBackendTypes(): Uint8Array {
  return knownTypes(BackendType);
}

/** "'Q' (0x51)" for error messages; unprintable bytes show as hex only. */
export function describeTypeByte(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, "0")}`;
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}' (${hex})` : hex;
}

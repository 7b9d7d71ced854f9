// Typed messages a client sends: the startup packets (no type byte) and the typed messages after them.

export interface StartupMessage {
  readonly type: "StartupMessage";
  /** Major version in the high 16 bits, minor in the low 16 (3.0 = 196608). */
  readonly protocolVersion: number;
  /** In the order sent: user, database, application_name, options, _pq_.* … */
  readonly parameters: ReadonlyMap<string, string>;
}

export interface SSLRequest {
  readonly type: "SSLRequest";
}

export interface GSSENCRequest {
  readonly type: "GSSENCRequest";
}

export interface CancelRequest {
  readonly type: "CancelRequest";
  readonly processId: number;
  /** 4 bytes in protocol 3.0. */
  readonly secretKey: Uint8Array;
}

export type StartupPacket = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest;

/** 'S' names a prepared statement, 'P' a portal. */
export type DescribeTargetKind = "S" | "P";

export interface Query {
  readonly type: "Query";
  readonly query: string;
}

export interface Parse {
  readonly type: "Parse";
  /** "" is the unnamed statement. */
  readonly statement: string;
  readonly query: string;
  /** OIDs; 0 leaves a parameter's type to the server. */
  readonly parameterTypes: readonly number[];
}

export interface Bind {
  readonly type: "Bind";
  readonly portal: string;
  readonly statement: string;
  /** Empty (all text), one (applies to all) or one per parameter. */
  readonly parameterFormats: readonly (0 | 1)[];
  readonly parameters: readonly (Uint8Array | null)[];
  /** Empty (all text), one (applies to all) or one per result column. */
  readonly resultFormats: readonly (0 | 1)[];
}

export interface Describe {
  readonly type: "Describe";
  readonly target: DescribeTargetKind;
  readonly name: string;
}

export interface Execute {
  readonly type: "Execute";
  readonly portal: string;
  /** 0 means no limit. */
  readonly maxRows: number;
}

export interface Sync {
  readonly type: "Sync";
}

export interface Flush {
  readonly type: "Flush";
}

export interface Close {
  readonly type: "Close";
  readonly target: DescribeTargetKind;
  readonly name: string;
}

/** CopyData and CopyDone have the same shape in both directions. */
export interface CopyData {
  readonly type: "CopyData";
  readonly data: Uint8Array;
}

export interface CopyDone {
  readonly type: "CopyDone";
}

export interface CopyFail {
  readonly type: "CopyFail";
  readonly message: string;
}

export interface FunctionCall {
  readonly type: "FunctionCall";
  readonly functionOid: number;
  readonly argumentFormats: readonly (0 | 1)[];
  readonly arguments: readonly (Uint8Array | null)[];
  readonly resultFormat: 0 | 1;
}

export interface Terminate {
  readonly type: "Terminate";
}

/**
 * A 'p' message. Which one it is (PasswordMessage, SASLInitialResponse, SASLResponse,
 * GSSResponse) depends on the authentication request the server sent, which only the
 * connection knows: it calls the matching parse function on `data`.
 */
export interface AuthenticationResponse {
  readonly type: "AuthenticationResponse";
  readonly data: Uint8Array;
}

export type FrontendMessage =
  | Query
  | Parse
  | Bind
  | Describe
  | Execute
  | Sync
  | Flush
  | Close
  | CopyData
  | CopyDone
  | CopyFail
  | FunctionCall
  | Terminate
  | AuthenticationResponse;

/** A decoded message keeps its exact bytes (type byte, length, body) so it can be forwarded unchanged. */
export type Decoded<T> = T & { readonly raw: Uint8Array };

export type DecodedFrontendMessage = Decoded<FrontendMessage>;

// The parsed forms of an AuthenticationResponse.

export interface PasswordMessage {
  readonly type: "PasswordMessage";
  /** Cleartext, or "md5" + 32 hex digits. */
  readonly password: string;
}

export interface SASLInitialResponse {
  readonly type: "SASLInitialResponse";
  readonly mechanism: string;
  /** null when the client sent length -1 (no initial response). */
  readonly data: Uint8Array | null;
}

export interface SASLResponse {
  readonly type: "SASLResponse";
  readonly data: Uint8Array;
}

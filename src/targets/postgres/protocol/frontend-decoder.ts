// Decoders for what a client sends: the startup packet (no type byte) and, after it, the typed
// messages of protocol 3.0. One decoder per connection; malformed bytes throw E_PROTOCOL.
import { ByteReader } from "./byte-reader.ts";
import { createFrameReader } from "./frame-reader.ts";
import type {
  AuthenticationResponse,
  Bind,
  Close,
  CopyFail,
  DecodedFrontendMessage,
  Describe,
  DescribeTargetKind,
  Execute,
  FrontendMessage,
  FunctionCall,
  Parse,
  PasswordMessage,
  Query,
  SASLInitialResponse,
  SASLResponse,
  StartupPacket,
} from "./frontend-message.ts";
import { DescribeTarget, FrontendType, StartupCode, knownFrontendTypes } from "./messages.ts";
import { protocolError } from "./protocol-error.ts";

/** PostgreSQL's own cap on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
export const MAX_STARTUP_PACKET_SIZE = 10_000;

export interface StartupResult {
  readonly message: StartupPacket;
  /** The exact bytes of the packet. */
  readonly raw: Uint8Array;
  /** Bytes after the packet, which belong to the next phase (typed messages). */
  readonly rest: Uint8Array;
}

export interface StartupDecoder {
  /**
   * Returns the packet once it is whole, else null (keep pushing). After SSLRequest or
   * GSSENCRequest the client must wait for the server's answer, so bytes after them are an
   * error (they could otherwise be injected before a TLS handshake, CVE-2021-23214); after
   * that the same decoder reads the next startup packet.
   */
  push(chunk: Uint8Array): StartupResult | null;
}

export function createStartupDecoder(): StartupDecoder {
  let buf = new Uint8Array(0);
  let failure: unknown = null;

  function decode(chunk: Uint8Array): StartupResult | null {
    if (buf.length > 0) {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      chunk = joined;
    }
    if (chunk.length < 4) {
      buf = chunk.slice();
      return null;
    }
    const length = (chunk[0]! << 24) | (chunk[1]! << 16) | (chunk[2]! << 8) | chunk[3]!;
    if (length < 8) {
      throw protocolError("bad-length", `startup packet has invalid length ${length} (minimum 8)`, { length });
    }
    if (length > MAX_STARTUP_PACKET_SIZE) {
      throw protocolError(
        "too-large",
        `startup packet of ${length} bytes exceeds the limit ${MAX_STARTUP_PACKET_SIZE} (is the client speaking the PostgreSQL protocol?)`,
        { size: length, limit: MAX_STARTUP_PACKET_SIZE },
      );
    }
    if (chunk.length < length) {
      buf = chunk.slice();
      return null;
    }
    buf = new Uint8Array(0);
    const raw = chunk.subarray(0, length);
    const rest = chunk.subarray(length);
    const message = parseStartupPacket(raw);
    if ((message.type === "SSLRequest" || message.type === "GSSENCRequest") && rest.length > 0) {
      throw protocolError("bad-value", `${rest.length} bytes arrived after ${message.type} before the server answered it`);
    }
    return { message, raw, rest };
  }

  return {
    push(chunk) {
      if (failure !== null) {
        throw protocolError("failed-earlier", "client startup failed earlier and cannot continue", { cause: String(failure) });
      }
      try {
        return decode(chunk);
      } catch (e) {
        failure = e;
        throw e;
      }
    },
  };
}

/** Parses one whole startup packet (length prefix included). */
export function parseStartupPacket(raw: Uint8Array): StartupPacket {
  const r = new ByteReader(raw, "startup packet");
  r.int32("length");
  const code = r.int32("protocol code");
  switch (code) {
    case StartupCode.SSLRequest:
      r.end();
      return { type: "SSLRequest" };
    case StartupCode.GSSENCRequest:
      r.end();
      return { type: "GSSENCRequest" };
    case StartupCode.CancelRequest: {
      if (raw.length !== 16) {
        throw protocolError(
          "unsupported",
          `CancelRequest with a ${raw.length - 12}-byte secret key is not supported (protocol 3.0 uses 4 bytes)`,
          { length: raw.length },
        );
      }
      const processId = r.int32("process ID");
      const secretKey = r.bytes(4, "secret key");
      return { type: "CancelRequest", processId, secretKey };
    }
  }
  const major = code >>> 16;
  if (major !== 3) {
    throw protocolError(
      "unsupported",
      `unsupported startup code ${code} (protocol ${major}.${code & 0xffff}); this gateway speaks protocol 3`,
      { code },
    );
  }
  const parameters = new Map<string, string>();
  for (;;) {
    const name = r.cstring("parameter name");
    if (name === "") break;
    const value = r.cstring(`value of parameter "${name}"`);
    // Two values for one name could be read one way here and another way upstream.
    if (parameters.has(name)) throw protocolError("bad-value", `startup packet: parameter "${name}" appears twice`);
    parameters.set(name, value);
  }
  r.end();
  return { type: "StartupMessage", protocolVersion: code, parameters };
}

export interface FrontendDecoderOptions {
  /** Largest allowed length field of one message, bytes. */
  readonly maxMessageSize: number;
}

export interface FrontendDecoder {
  /** Whole messages so far, in order; a trailing partial message waits for the next push. */
  push(chunk: Uint8Array): DecodedFrontendMessage[];
  readonly buffered: number;
}

export function createFrontendDecoder(options: FrontendDecoderOptions): FrontendDecoder {
  const frames = createFrameReader({ knownTypes: knownFrontendTypes(), maxMessageSize: options.maxMessageSize, side: "client" });
  return {
    push(chunk) {
      const out: DecodedFrontendMessage[] = [];
      frames.push(chunk, (type, body, raw) => {
        out.push({ ...parseFrontendMessage(type, body), raw });
      });
      return out;
    },
    get buffered() {
      return frames.buffered;
    },
  };
}

function target(r: ByteReader): DescribeTargetKind {
  const t = r.uint8("target");
  if (t === DescribeTarget.Statement) return "S";
  if (t === DescribeTarget.Portal) return "P";
  throw protocolError("bad-value", `${r.what}: target byte ${t} is neither 'S' (statement) nor 'P' (portal)`);
}

function formats(r: ByteReader, field: string): (0 | 1)[] {
  const n = r.count16(`${field} count`, 2);
  const out: (0 | 1)[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.format(`${field} ${i}`);
  return out;
}

function values(r: ByteReader, field: string): (Uint8Array | null)[] {
  const n = r.count16(`${field} count`, 4);
  const out: (Uint8Array | null)[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = r.nullableBytes(`${field} ${i}`);
  return out;
}

function checkFormatCount(r: ByteReader, formatCount: number, valueCount: number, field: string): void {
  if (formatCount > 1 && formatCount !== valueCount) {
    throw protocolError("bad-value", `${r.what}: ${formatCount} ${field} format codes for ${valueCount} ${field}s`);
  }
}

function empty(body: Uint8Array, what: string): void {
  new ByteReader(body, what).end();
}

/** Parses the body of one typed client message. */
export function parseFrontendMessage(type: number, body: Uint8Array): FrontendMessage {
  switch (type) {
    case FrontendType.Query: {
      const r = new ByteReader(body, "Query");
      const m: Query = { type: "Query", query: r.cstring("query") };
      r.end();
      return m;
    }
    case FrontendType.Parse: {
      const r = new ByteReader(body, "Parse");
      const statement = r.cstring("statement name");
      const query = r.cstring("query");
      const n = r.count16("parameter type count", 4);
      const parameterTypes: number[] = new Array(n);
      for (let i = 0; i < n; i++) parameterTypes[i] = r.uint32(`parameter type ${i}`);
      r.end();
      const m: Parse = { type: "Parse", statement, query, parameterTypes };
      return m;
    }
    case FrontendType.Bind: {
      const r = new ByteReader(body, "Bind");
      const portal = r.cstring("portal name");
      const statement = r.cstring("statement name");
      const parameterFormats = formats(r, "parameter format");
      const parameters = values(r, "parameter");
      checkFormatCount(r, parameterFormats.length, parameters.length, "parameter");
      const resultFormats = formats(r, "result format");
      r.end();
      const m: Bind = { type: "Bind", portal, statement, parameterFormats, parameters, resultFormats };
      return m;
    }
    case FrontendType.Describe:
    case FrontendType.Close: {
      const what = type === FrontendType.Describe ? "Describe" : "Close";
      const r = new ByteReader(body, what);
      const m: Describe | Close = { type: what, target: target(r), name: r.cstring("name") };
      r.end();
      return m;
    }
    case FrontendType.Execute: {
      const r = new ByteReader(body, "Execute");
      const m: Execute = { type: "Execute", portal: r.cstring("portal name"), maxRows: r.int32("row limit") };
      r.end();
      return m;
    }
    case FrontendType.Sync:
      empty(body, "Sync");
      return { type: "Sync" };
    case FrontendType.Flush:
      empty(body, "Flush");
      return { type: "Flush" };
    case FrontendType.Terminate:
      empty(body, "Terminate");
      return { type: "Terminate" };
    case FrontendType.CopyDone:
      empty(body, "CopyDone");
      return { type: "CopyDone" };
    case FrontendType.CopyData:
      return { type: "CopyData", data: body };
    case FrontendType.CopyFail: {
      const r = new ByteReader(body, "CopyFail");
      const m: CopyFail = { type: "CopyFail", message: r.cstring("message") };
      r.end();
      return m;
    }
    case FrontendType.FunctionCall: {
      const r = new ByteReader(body, "FunctionCall");
      const functionOid = r.uint32("function OID");
      const argumentFormats = formats(r, "argument format");
      const args = values(r, "argument");
      checkFormatCount(r, argumentFormats.length, args.length, "argument");
      const resultFormat = r.format("result format");
      r.end();
      const m: FunctionCall = { type: "FunctionCall", functionOid, argumentFormats, arguments: args, resultFormat };
      return m;
    }
    case FrontendType.PasswordMessage: {
      const m: AuthenticationResponse = { type: "AuthenticationResponse", data: body };
      return m;
    }
  }
  throw protocolError("unknown-type", `unknown client message type ${type}`, { type });
}

/** The 'p' body after AuthenticationCleartextPassword or AuthenticationMD5Password. */
export function parsePasswordMessage(data: Uint8Array): PasswordMessage {
  const r = new ByteReader(data, "PasswordMessage");
  const password = r.cstring("password");
  r.end();
  return { type: "PasswordMessage", password };
}

/** The first 'p' body after AuthenticationSASL. */
export function parseSASLInitialResponse(data: Uint8Array): SASLInitialResponse {
  const r = new ByteReader(data, "SASLInitialResponse");
  const mechanism = r.cstring("mechanism");
  const response = r.nullableBytes("initial response");
  r.end();
  return { type: "SASLInitialResponse", mechanism, data: response };
}

/** A 'p' body after AuthenticationSASLContinue. */
export function parseSASLResponse(data: Uint8Array): SASLResponse {
  return { type: "SASLResponse", data };
}

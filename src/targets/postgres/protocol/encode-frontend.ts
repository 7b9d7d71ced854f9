// Encoders for what the gateway sends upstream as a client: startup packets, authentication
// responses, queries; writeFrontendMessage covers every client message.
import { type ByteWriter, encodeWith, utf8Bytes } from "./byte-writer.ts";
import type { FrontendMessage, StartupPacket } from "./frontend-message.ts";
import { FrontendType, StartupCode } from "./messages.ts";
import { protocolError } from "./protocol-error.ts";

export function encodeStartupMessage(
  parameters: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
  protocolVersion: number = StartupCode.ProtocolVersion3,
): Uint8Array {
  const map = parameters instanceof Map ? parameters : new Map(Object.entries(parameters));
  return encodeStartupPacket({ type: "StartupMessage", protocolVersion, parameters: map });
}

export function encodeSSLRequest(): Uint8Array {
  return encodeStartupPacket({ type: "SSLRequest" });
}

export function encodeGSSENCRequest(): Uint8Array {
  return encodeStartupPacket({ type: "GSSENCRequest" });
}

export function encodeCancelRequest(processId: number, secretKey: Uint8Array): Uint8Array {
  return encodeStartupPacket({ type: "CancelRequest", processId, secretKey });
}

export function encodeStartupPacket(p: StartupPacket): Uint8Array {
  return encodeWith((w) => {
    w.int32(0);
    switch (p.type) {
      case "SSLRequest":
        w.int32(StartupCode.SSLRequest);
        break;
      case "GSSENCRequest":
        w.int32(StartupCode.GSSENCRequest);
        break;
      case "CancelRequest":
        if (p.secretKey.length !== 4) {
          throw protocolError("unsupported", `encode: CancelRequest secret key of ${p.secretKey.length} bytes (protocol 3.0 uses 4)`);
        }
        w.int32(StartupCode.CancelRequest).int32(p.processId).bytes(p.secretKey);
        break;
      case "StartupMessage":
        w.int32(p.protocolVersion);
        for (const [name, value] of p.parameters) {
          if (name === "") throw protocolError("bad-value", "encode: empty startup parameter name");
          w.cstring(name, "parameter name").cstring(value, `parameter ${name}`);
        }
        w.uint8(0);
        break;
    }
    w.setInt32(0, w.length);
  }, 128);
}

export function encodePasswordMessage(password: string): Uint8Array {
  return encodeWith((w) => {
    const at = w.begin(FrontendType.PasswordMessage);
    w.cstring(password, "password");
    w.finish(at);
  });
}

/** data null sends length -1 (no initial response). */
export function encodeSASLInitialResponse(mechanism: string, data: Uint8Array | string | null): Uint8Array {
  return encodeWith((w) => {
    const at = w.begin(FrontendType.PasswordMessage);
    w.cstring(mechanism, "mechanism").nullableBytes(data === null ? null : utf8Bytes(data));
    w.finish(at);
  });
}

export function encodeSASLResponse(data: Uint8Array | string): Uint8Array {
  return encodeFrontendMessage({ type: "AuthenticationResponse", data: utf8Bytes(data) });
}

export function encodeQuery(sql: string): Uint8Array {
  return encodeFrontendMessage({ type: "Query", query: sql });
}

export function encodeSync(): Uint8Array {
  return encodeFrontendMessage({ type: "Sync" });
}

export function encodeTerminate(): Uint8Array {
  return encodeFrontendMessage({ type: "Terminate" });
}

export function encodeFrontendMessage(message: FrontendMessage): Uint8Array {
  return encodeWith((w) => writeFrontendMessage(w, message));
}

export function encodeFrontendMessages(messages: readonly FrontendMessage[]): Uint8Array {
  return encodeWith((w) => {
    for (const m of messages) writeFrontendMessage(w, m);
  }, 256);
}

function checkFormats(formats: number, values: number, what: string): void {
  if (formats > 1 && formats !== values) throw protocolError("bad-value", `encode: ${formats} ${what} format codes for ${values} values`);
}

export function writeFrontendMessage(w: ByteWriter, m: FrontendMessage): void {
  let at: number;
  switch (m.type) {
    case "Query":
      at = w.begin(FrontendType.Query);
      w.cstring(m.query, "query");
      break;
    case "Parse":
      at = w.begin(FrontendType.Parse);
      w.cstring(m.statement, "statement name").cstring(m.query, "query");
      w.count16(m.parameterTypes.length, "parameter types");
      for (const oid of m.parameterTypes) w.int32(oid);
      break;
    case "Bind":
      checkFormats(m.parameterFormats.length, m.parameters.length, "parameter");
      at = w.begin(FrontendType.Bind);
      w.cstring(m.portal, "portal name").cstring(m.statement, "statement name");
      w.count16(m.parameterFormats.length, "parameter formats");
      for (const f of m.parameterFormats) w.int16(f);
      w.count16(m.parameters.length, "parameters");
      for (const p of m.parameters) w.nullableBytes(p);
      w.count16(m.resultFormats.length, "result formats");
      for (const f of m.resultFormats) w.int16(f);
      break;
    case "Describe":
    case "Close":
      at = w.begin(FrontendType[m.type]);
      w.uint8(m.target.charCodeAt(0)).cstring(m.name, "name");
      break;
    case "Execute":
      at = w.begin(FrontendType.Execute);
      w.cstring(m.portal, "portal name").int32(m.maxRows);
      break;
    case "Sync":
    case "Flush":
    case "Terminate":
    case "CopyDone":
      at = w.begin(FrontendType[m.type]);
      break;
    case "CopyData":
      at = w.begin(FrontendType.CopyData);
      w.bytes(m.data);
      break;
    case "CopyFail":
      at = w.begin(FrontendType.CopyFail);
      w.cstring(m.message, "message");
      break;
    case "FunctionCall":
      checkFormats(m.argumentFormats.length, m.arguments.length, "argument");
      at = w.begin(FrontendType.FunctionCall);
      w.int32(m.functionOid);
      w.count16(m.argumentFormats.length, "argument formats");
      for (const f of m.argumentFormats) w.int16(f);
      w.count16(m.arguments.length, "arguments");
      for (const a of m.arguments) w.nullableBytes(a);
      w.int16(m.resultFormat);
      break;
    case "AuthenticationResponse":
      at = w.begin(FrontendType.PasswordMessage);
      w.bytes(m.data);
      break;
  }
  w.finish(at);
}

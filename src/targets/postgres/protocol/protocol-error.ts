// Decoding failures carry a machine-readable reason beside the message, so the gateway can
// answer the client precisely (e.g. SQLSTATE 54000 for an oversized message, 08P01 otherwise).
import { GatewayError } from "../../../core/errors.ts";

export const PROTOCOL_ERROR_REASONS = [
  /** A length field below 4, or one that does not fit the packet kind. */
  "bad-length",
  /** A message longer than the configured limit; details.size and details.limit say how long. */
  "too-large",
  "unknown-type",
  /** A string without its NUL terminator inside the message. */
  "unterminated-string",
  /** A count or length that reaches past the end of the message. */
  "overrun",
  /** Bytes left over after every field was read. */
  "trailing-bytes",
  /** A field whose value the protocol does not allow (format code, status byte, count). */
  "bad-value",
  /** Text that is not valid UTF-8. */
  "bad-encoding",
  /** Well formed, but something this codec deliberately does not speak. */
  "unsupported",
  /** A push after an earlier failure: the stream position is lost for good. */
  "failed-earlier",
] as const;

export type ProtocolErrorReason = (typeof PROTOCOL_ERROR_REASONS)[number];

export function protocolError(reason: ProtocolErrorReason, message: string, details: Record<string, unknown> = {}): GatewayError {
  return new GatewayError("E_PROTOCOL", message, { details: { reason, ...details } });
}

/** The reason of a protocol error from this codec, or undefined for anything else. */
export function protocolErrorReason(e: unknown): ProtocolErrorReason | undefined {
  if (!(e instanceof GatewayError) || e.code !== "E_PROTOCOL") return undefined;
  const reason = e.details["reason"];
  return typeof reason === "string" && (PROTOCOL_ERROR_REASONS as readonly string[]).includes(reason)
    ? (reason as ProtocolErrorReason)
    : undefined;
}

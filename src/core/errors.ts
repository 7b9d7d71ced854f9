// The one error type of the gateway: a closed set of codes that callers can switch on,
// and a message written for people ("what failed: detail").

export const ERROR_CODES = [
  "E_USAGE",
  "E_CONFIG_READ",
  "E_CONFIG_PARSE",
  "E_CONFIG_INVALID",
  "E_POLICY_INVALID",
  "E_SECRET",
  "E_AUTH_MISSING",
  "E_AUTH_EXPIRED",
  "E_AUTH_NOT_YET_VALID",
  "E_AUTH_AUDIENCE",
  "E_AUTH_ISSUER",
  "E_AUTH_SIGNATURE",
  "E_AUTH_ALGORITHM",
  "E_AUTH_MALFORMED",
  "E_AUTH_UNKNOWN_KEY",
  "E_AUTH_CLAIMS",
  "E_AUTH_JWKS",
  "E_AUDIT_WRITE",
  "E_AUDIT_CORRUPT",
  "E_APPROVAL",
  "E_UPSTREAM",
  "E_PROTOCOL",
  "E_MASK",
  "E_TEST_FAILED",
  "E_STATE",
  "E_INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class GatewayError extends Error {
  readonly code: ErrorCode;
  /** Extra facts for logs and tests (file, line, column, key path …); never secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatewayError";
    this.code = code;
    this.details = Object.freeze({ ...(options.details ?? {}) });
  }
}

export function isGatewayError(e: unknown, code?: ErrorCode): e is GatewayError {
  return e instanceof GatewayError && (code === undefined || e.code === code);
}

/** The message of anything thrown, for logs; GatewayError messages are already for people. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

// Why a credential was refused: one GatewayError per failure, with a message safe to show the
// caller (never the token, never our internals) and a short stable reason for the audit log.
import { errors as jose } from "jose";
import { GatewayError, type ErrorCode } from "../core/errors.ts";

/** Stable reasons for audit records and metrics; add to the end, never rename. */
export const AUTH_FAILURE_REASONS = [
  "missing",
  "too_large",
  "malformed",
  "unsupported",
  "issuer",
  "algorithm",
  "unknown_key",
  "signature",
  "expired",
  "not_yet_valid",
  "audience",
  "claims",
  "no_subject",
  "no_groups",
  "keys_unavailable",
  "unknown_machine_key",
  "error",
] as const;

export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

const REASON_BY_CODE: Partial<Record<ErrorCode, AuthFailureReason>> = {
  E_AUTH_MISSING: "missing",
  E_AUTH_MALFORMED: "malformed",
  E_AUTH_ISSUER: "issuer",
  E_AUTH_ALGORITHM: "algorithm",
  E_AUTH_UNKNOWN_KEY: "unknown_key",
  E_AUTH_SIGNATURE: "signature",
  E_AUTH_EXPIRED: "expired",
  E_AUTH_NOT_YET_VALID: "not_yet_valid",
  E_AUTH_AUDIENCE: "audience",
  E_AUTH_CLAIMS: "claims",
  E_AUTH_JWKS: "keys_unavailable",
};

export function authError(
  code: ErrorCode,
  reason: AuthFailureReason,
  message: string,
  options: { cause?: unknown; details?: Record<string, unknown> } = {},
): GatewayError {
  return new GatewayError(code, message, { cause: options.cause, details: { ...options.details, reason } });
}

/** The audit reason for anything `authenticate` threw; "error" for what is not an auth failure. */
export function authFailureReason(e: unknown): AuthFailureReason {
  if (!(e instanceof GatewayError)) return "error";
  const given = e.details["reason"];
  if (typeof given === "string" && (AUTH_FAILURE_REASONS as readonly string[]).includes(given)) {
    return given as AuthFailureReason;
  }
  return REASON_BY_CODE[e.code] ?? "error";
}

function isoOf(seconds: unknown): string | undefined {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return undefined;
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * Maps what jose threw onto our codes. Anything unexpected is still a refusal (fail closed);
 * its detail stays in `cause` for logs, out of the message.
 */
export function fromJoseError(e: unknown, issuerName: string): GatewayError {
  if (e instanceof GatewayError) return e;
  const details = { issuer: issuerName };
  if (e instanceof jose.JWTExpired) {
    const at = isoOf(e.payload["exp"]);
    return authError("E_AUTH_EXPIRED", "expired", at ? `token expired at ${at}` : "token expired", { cause: e, details });
  }
  if (e instanceof jose.JWTClaimValidationFailed) {
    if (e.reason === "missing") {
      if (e.claim === "sub") return authError("E_AUTH_CLAIMS", "no_subject", "token has no subject ('sub')", { cause: e, details });
      if (e.claim === "exp") return authError("E_AUTH_CLAIMS", "claims", "token has no expiry ('exp')", { cause: e, details });
      if (e.claim === "aud") return authError("E_AUTH_AUDIENCE", "audience", "token has no audience ('aud')", { cause: e, details });
      if (e.claim === "iss") return authError("E_AUTH_ISSUER", "issuer", "token has no issuer ('iss')", { cause: e, details });
      return authError("E_AUTH_CLAIMS", "claims", `token has no '${e.claim}' claim`, { cause: e, details });
    }
    switch (e.claim) {
      case "nbf": {
        const at = isoOf(e.payload["nbf"]);
        return authError("E_AUTH_NOT_YET_VALID", "not_yet_valid", at ? `token is not valid before ${at}` : "token is not valid yet", {
          cause: e,
          details,
        });
      }
      case "aud":
        return authError("E_AUTH_AUDIENCE", "audience", "token audience does not match", { cause: e, details });
      case "iss":
        return authError("E_AUTH_ISSUER", "issuer", "token issuer is not trusted", { cause: e, details });
      default:
        return authError("E_AUTH_CLAIMS", "claims", `token claim '${e.claim}' is invalid`, { cause: e, details });
    }
  }
  if (e instanceof jose.JWSSignatureVerificationFailed) {
    return authError("E_AUTH_SIGNATURE", "signature", "bad signature", { cause: e, details });
  }
  if (e instanceof jose.JOSEAlgNotAllowed) {
    return authError("E_AUTH_ALGORITHM", "algorithm", "token algorithm is not allowed", { cause: e, details });
  }
  if (e instanceof jose.JWKSNoMatchingKey) {
    return authError("E_AUTH_UNKNOWN_KEY", "unknown_key", "token signing key is unknown", { cause: e, details });
  }
  if (e instanceof jose.JWKSInvalid || e instanceof jose.JWKInvalid) {
    return authError("E_AUTH_JWKS", "keys_unavailable", `signing keys of issuer "${issuerName}" are unusable`, { cause: e, details });
  }
  if (e instanceof jose.JOSENotSupported) {
    return authError("E_AUTH_MALFORMED", "unsupported", "token uses an unsupported feature", { cause: e, details });
  }
  if (e instanceof jose.JWSInvalid || e instanceof jose.JWTInvalid) {
    return authError("E_AUTH_MALFORMED", "malformed", "token is malformed", { cause: e, details });
  }
  return authError("E_AUTH_MALFORMED", "error", "token could not be verified", { cause: e, details });
}

// Which JWS algorithms an issuer may use. Only asymmetric ones: with HS* the verifying key is
// the signing key, so anyone who can read the JWKS (everyone) could mint tokens.
import { GatewayError } from "../core/errors.ts";

export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
] as const;

const ALLOWED: ReadonlySet<string> = new Set(ASYMMETRIC_ALGORITHMS);

/** Why a configured algorithm cannot be allowed, or null when it can. */
export function algorithmProblem(alg: string): string | null {
  if (ALLOWED.has(alg)) return null;
  const why = /^HS/.test(alg)
    ? " (symmetric: the verifying key is the signing key, so anyone who can read the JWKS could mint tokens)"
    : alg === "none"
      ? " (unsigned tokens)"
      : "";
  return `algorithm "${alg}" is not allowed${why}: only ${ASYMMETRIC_ALGORITHMS.join(", ")}`;
}

/**
 * The allow list for one issuer. A configured symmetric, "none" or unknown algorithm is a
 * config error rather than silently dropped, so the operator learns why tokens would fail.
 */
export function resolveAlgorithms(configured: readonly string[] | undefined, issuerName: string): readonly string[] {
  if (configured === undefined) return ASYMMETRIC_ALGORITHMS;
  for (const alg of configured) {
    const problem = algorithmProblem(alg);
    if (problem !== null) {
      throw new GatewayError("E_CONFIG_INVALID", `identity issuer "${issuerName}": ${problem}`, { details: { issuer: issuerName, algorithm: alg } });
    }
  }
  return Object.freeze([...new Set(configured)]);
}

/** A header `alg` quoted for a message only when it looks like an algorithm name. */
export function printableAlg(alg: unknown): string {
  return typeof alg === "string" && /^[A-Za-z0-9_+-]{1,16}$/.test(alg) ? ` "${alg}"` : "";
}

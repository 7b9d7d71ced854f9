// Full verification of one issuer's JWTs with jose: algorithm allow list, signature, issuer,
// audience, exp/nbf/iat against the injected clock, subject and groups.
import { errors as jose, jwtVerify, type JWTPayload, type JWTVerifyOptions, type ProtectedHeaderParameters } from "jose";
import type { Clock, Identity } from "../core/types.ts";
import { authError, fromJoseError } from "./auth-failure.ts";
import { printableAlg } from "./algorithms.ts";
import { readGroups } from "./group-claim.ts";
import type { KeyResolver } from "./jwks-cache.ts";

export interface JwtVerifierSpec {
  /** Config name, for messages and logs. */
  readonly name: string;
  /** Exact `iss` value. */
  readonly issuer: string;
  readonly audience: string | readonly string[];
  readonly algorithms: readonly string[];
  readonly clockSkewMs: number;
  readonly groupsClaim: string;
  readonly method: Identity["method"];
  readonly keys: KeyResolver;
}

export interface JwtVerifier {
  readonly name: string;
  readonly issuer: string;
  /** `header` is the token's decoded, still unverified protected header. */
  verify(token: string, header: ProtectedHeaderParameters): Promise<Identity>;
}

/** Claims copied into Identity.claims for audit; never the whole payload, never the token. */
const AUDIT_CLAIMS = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti", "client_id", "azp", "scope", "email", "preferred_username", "name"];

export function createJwtVerifier(spec: JwtVerifierSpec, clock: Clock): JwtVerifier {
  const allowed: ReadonlySet<string> = new Set(spec.algorithms);

  /**
   * jose checks `iat` against the clock only together with maxTokenAge; it checks `nbf` and
   * `exp` always. A token issued later than now plus the skew comes from a clock we cannot
   * trust (or was minted to outlive a revocation), so it is refused like an early `nbf`.
   */
  function notIssuedInFuture(payload: JWTPayload): JWTPayload {
    const iat = payload.iat;
    if (typeof iat === "number" && iat * 1000 > clock.now() + spec.clockSkewMs) {
      const at = new Date(iat * 1000);
      const when = Number.isNaN(at.getTime()) ? "in the future" : `at ${at.toISOString()}, in the future`;
      throw authError("E_AUTH_NOT_YET_VALID", "not_yet_valid", `token is issued ${when} (beyond the allowed clock skew)`, {
        details: { issuer: spec.name },
      });
    }
    return payload;
  }

  async function verifySignatureAndClaims(token: string): Promise<JWTPayload> {
    const options: JWTVerifyOptions = {
      issuer: spec.issuer,
      audience: [...(typeof spec.audience === "string" ? [spec.audience] : spec.audience)],
      algorithms: [...spec.algorithms],
      clockTolerance: spec.clockSkewMs / 1000,
      currentDate: new Date(clock.now()),
      requiredClaims: ["exp", "sub"],
    };
    try {
      return notIssuedInFuture((await jwtVerify(token, spec.keys, options)).payload);
    } catch (e) {
      // A token without `kid` may fit several keys of the set; jose hands them over to try in turn.
      if (!(e instanceof jose.JWKSMultipleMatchingKeys)) throw e;
      let last: unknown = new jose.JWSSignatureVerificationFailed();
      for await (const key of e) {
        try {
          return notIssuedInFuture((await jwtVerify(token, key, options)).payload);
        } catch (inner) {
          // Only a wrong key is worth trying the next one; a valid signature with bad claims is final.
          if (!(inner instanceof jose.JWSSignatureVerificationFailed)) throw inner;
          last = inner;
        }
      }
      throw last;
    }
  }

  async function verify(token: string, header: ProtectedHeaderParameters): Promise<Identity> {
    // Checked before any key lookup, so "none" and HS* never reach a key or a JWKS fetch.
    if (typeof header.alg !== "string" || !allowed.has(header.alg)) {
      throw authError("E_AUTH_ALGORITHM", "algorithm", `token algorithm${printableAlg(header.alg)} is not allowed`, {
        details: { issuer: spec.name },
      });
    }
    let payload: JWTPayload;
    try {
      payload = await verifySignatureAndClaims(token);
    } catch (e) {
      throw fromJoseError(e, spec.name);
    }
    const subject = payload.sub;
    if (typeof subject !== "string" || subject.length === 0) {
      throw authError("E_AUTH_CLAIMS", "no_subject", "token has no subject ('sub')", { details: { issuer: spec.name } });
    }
    const groups = readGroups(payload, spec.groupsClaim);
    const claims: Record<string, unknown> = {};
    for (const name of AUDIT_CLAIMS) if (Object.hasOwn(payload, name)) claims[name] = payload[name];
    return Object.freeze({
      method: spec.method,
      subject,
      issuer: spec.issuer,
      groups: Object.freeze(groups),
      claims: Object.freeze(claims),
      ...(typeof payload.exp === "number" ? { expiresAt: payload.exp * 1000 } : {}),
    });
  }

  return { name: spec.name, issuer: spec.issuer, verify };
}

// Full verification of one issuer's JWTs with jose: algorithm allow list, signature, issuer,
// audience, exp/nbf/iat against the injected clock, subject and groups.
import { errors as jose, jwtVerify, type JWTPayload, type JWTVerifyOptions, type ProtectedHeaderParameters } from "jose";
import type { Clock, Identity } from "../core/types.ts";
import { authError, fromJoseError } from "./auth-failure.ts";
import { printableAlg } from "./algorithms.ts";
import { claimAt, readGroups } from "./group-claim.ts";
import { pickRecordClaims, renderDisplayName } from "./display-name.ts";
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
  /** false: a token without the groups claim is a caller with no groups (CI and workload tokens). Default true. */
  readonly requireGroups?: boolean;
  /** The issuer's display_name template and record_claims paths. */
  readonly displayName?: string;
  readonly recordClaims?: readonly string[];
  readonly method: Identity["method"];
  readonly keys: KeyResolver;
}

export interface JwtVerifier {
  readonly name: string;
  readonly issuer: string;
  /** `header` is the token's decoded, still unverified protected header. */
  verify(token: string, header: ProtectedHeaderParameters): Promise<Identity>;
}

/** A verified payload, frozen all the way down: rules and caches read it, nobody changes it. */
function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === "object" && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

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
    const groupsValue = claimAt(payload, spec.groupsClaim);
    const groups = spec.requireGroups === false && (groupsValue === undefined || groupsValue === null) ? [] : readGroups(payload, spec.groupsClaim);
    const claims = deepFreeze({ ...payload }) as Readonly<Record<string, unknown>>;
    const recorded = spec.recordClaims !== undefined ? pickRecordClaims(spec.recordClaims, claims) : null;
    return Object.freeze({
      method: spec.method,
      subject,
      issuer: spec.issuer,
      groups: Object.freeze(groups),
      claims,
      ...(spec.displayName !== undefined ? { name: renderDisplayName(spec.displayName, claims) } : {}),
      ...(recorded !== null ? { recordClaims: deepFreeze(recorded) } : {}),
      ...(typeof payload.exp === "number" ? { expiresAt: payload.exp * 1000 } : {}),
    });
  }

  return { name: spec.name, issuer: spec.issuer, verify };
}

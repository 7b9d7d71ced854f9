// Turns what a caller presented (a JWT access token or a machine key) into a verified Identity,
// or a GatewayError that says why not. Everything unknown or undecodable is refused.
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, type ProtectedHeaderParameters } from "jose";
import { GatewayError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import type { Clock, Identity } from "../core/types.ts";
import type { IdentitySection, IssuerConfig, MachineKeyConfig } from "../config/schema.ts";
import { authError } from "./auth-failure.ts";
import { resolveAlgorithms } from "./algorithms.ts";
import { formatKeyPath } from "../config/issue.ts";
import { issuerProblems } from "./identity-problems.ts";
import { DEV_ALGORITHM, DEV_ISSUER, loadOrCreateDevIssuer } from "./dev-issuer.ts";
import { DEFAULT_GROUPS_CLAIM } from "./group-claim.ts";
import { createJwksCache, type KeyResolver } from "./jwks-cache.ts";
import { createJwtVerifier, type JwtVerifier } from "./jwt-verifier.ts";
import { createMachineKeyVerifier } from "./machine-keys.ts";

/** Far above any real access token; refused before any decoding work. */
export const MAX_CREDENTIAL_BYTES = 16 * 1024;
export const DEFAULT_CLOCK_SKEW_MS = 30_000;

/** Header, payload, signature; the signature may be empty (alg "none") so that is caught as a JWT. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const JWE_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const BEARER = /^Bearer +/i;

export interface AuthenticatorDeps {
  /** Where the dev issuer's key lives (used only with identity.dev_issuer). */
  readonly stateDir: string;
  readonly clock: Clock;
  /** For discovery and JWKS. Default: the global fetch. */
  readonly fetch?: typeof fetch;
  readonly log?: (msg: string) => void;
  /** Least time between two JWKS fetches of one issuer. Default 30s. */
  readonly jwksCooldownMs?: number;
}

/** IdentitySection, or the loaded Config's identity (whose lists are readonly). */
export type IdentityInput =
  | IdentitySection
  | {
      readonly issuers?: readonly IssuerConfig[];
      readonly machine_keys?: readonly MachineKeyConfig[];
      readonly dev_issuer?: boolean;
    };

export interface Authenticator {
  /** `credential`: a JWT (optionally with its "Bearer " prefix) or a machine key. */
  authenticate(credential: string): Promise<Identity>;
}

export function isJwtShaped(credential: string): boolean {
  return JWT_SHAPE.test(credential);
}

function configError(message: string): GatewayError {
  return new GatewayError("E_CONFIG_INVALID", message);
}

function clockSkewMs(cfg: IssuerConfig): number {
  if (cfg.clock_skew === undefined) return DEFAULT_CLOCK_SKEW_MS;
  try {
    return parseDuration(cfg.clock_skew);
  } catch {
    throw configError(`identity issuer "${cfg.name}": clock_skew "${cfg.clock_skew}" is not a duration (e.g. 30s)`);
  }
}

export async function createAuthenticator(cfg: IdentityInput, deps: AuthenticatorDeps): Promise<Authenticator> {
  const log = deps.log ?? (() => {});
  const doFetch = deps.fetch ?? fetch;
  const byIssuer = new Map<string, JwtVerifier>();
  const names = new Set<string>();

  // The same checks the config loader reports with file:line:column; here for direct callers.
  const problems = issuerProblems(cfg.issuers ?? []);
  if (problems.length > 0) {
    throw configError(problems.map((p) => `identity.${formatKeyPath(p.path)}: ${p.message}`).join("\n"));
  }
  for (const issuer of cfg.issuers ?? []) {
    if (names.has(issuer.name)) throw configError(`identity issuer "${issuer.name}" is listed twice`);
    const audience = issuer.audience;
    names.add(issuer.name);
    const keys = createJwksCache({
      issuerName: issuer.name,
      issuer: issuer.issuer,
      ...(issuer.jwks_uri !== undefined ? { jwksUri: issuer.jwks_uri } : {}),
      fetch: doFetch,
      clock: deps.clock,
      log,
      ...(deps.jwksCooldownMs !== undefined ? { cooldownMs: deps.jwksCooldownMs } : {}),
    });
    byIssuer.set(
      issuer.issuer,
      createJwtVerifier(
        {
          name: issuer.name,
          issuer: issuer.issuer,
          audience,
          algorithms: resolveAlgorithms(issuer.algorithms, issuer.name),
          clockSkewMs: clockSkewMs(issuer),
          groupsClaim: issuer.groups_claim ?? DEFAULT_GROUPS_CLAIM,
          ...(issuer.require_groups !== undefined ? { requireGroups: issuer.require_groups } : {}),
          ...(issuer.display_name !== undefined ? { displayName: issuer.display_name } : {}),
          ...(issuer.record_claims !== undefined ? { recordClaims: issuer.record_claims } : {}),
          method: "oidc",
          keys: keys.getKey,
        },
        deps.clock,
      ),
    );
  }

  // The caller logs DEV_ISSUER_WARNING once, where it reports its other startup facts.
  if (cfg.dev_issuer === true) {
    const dev = await loadOrCreateDevIssuer(deps.stateDir);
    const local = createLocalJWKSet({ keys: [dev.publicJwk] });
    const keys: KeyResolver = (header) => local(header);
    byIssuer.set(
      DEV_ISSUER,
      createJwtVerifier(
        {
          name: DEV_ISSUER,
          issuer: dev.issuer,
          audience: dev.audience,
          algorithms: [DEV_ALGORITHM],
          clockSkewMs: DEFAULT_CLOCK_SKEW_MS,
          groupsClaim: DEFAULT_GROUPS_CLAIM,
          method: "dev",
          keys,
        },
        deps.clock,
      ),
    );
  }

  const machineKeys = createMachineKeyVerifier(cfg.machine_keys ?? []);

  async function authenticateJwt(token: string): Promise<Identity> {
    let header: ProtectedHeaderParameters;
    let iss: unknown;
    try {
      header = decodeProtectedHeader(token);
      iss = decodeJwt(token).iss;
    } catch (e) {
      throw authError("E_AUTH_MALFORMED", "malformed", "token is malformed", { cause: e });
    }
    if (typeof iss !== "string") throw authError("E_AUTH_ISSUER", "issuer", "token has no issuer ('iss')");
    const verifier = byIssuer.get(iss);
    if (verifier === undefined) throw authError("E_AUTH_ISSUER", "issuer", "token issuer is not trusted");
    return verifier.verify(token, header);
  }

  return {
    async authenticate(credential: string): Promise<Identity> {
      if (typeof credential !== "string" || credential.length === 0) throw authError("E_AUTH_MISSING", "missing", "no credential given");
      // Length first: UTF-16 units never exceed UTF-8 bytes, so this bounds the byte count check.
      if (credential.length > MAX_CREDENTIAL_BYTES || Buffer.byteLength(credential, "utf8") > MAX_CREDENTIAL_BYTES) {
        throw authError("E_AUTH_MALFORMED", "too_large", `token too large: more than ${MAX_CREDENTIAL_BYTES} bytes`);
      }
      const text = credential.replace(BEARER, "");
      if (text.length === 0) throw authError("E_AUTH_MISSING", "missing", "no credential given");
      if (JWT_SHAPE.test(text)) return authenticateJwt(text);
      if (JWE_SHAPE.test(text)) throw authError("E_AUTH_MALFORMED", "unsupported", "encrypted tokens (JWE) are not supported");
      return machineKeys.verify(text);
    },
  };
}

// Callers of authenticate() need the audit reason too; one import gives both.
export { authFailureReason, type AuthFailureReason } from "./auth-failure.ts";

// End to end: a real OpenID provider (npm oidc-provider) issues access tokens over HTTP; the
// Authenticator finds its keys by discovery and JWKS over HTTP, accepts its tokens, and refuses
// each classic forgery with the right reason.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, decodeJwt, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { GatewayError, type ErrorCode } from "../src/core/errors.ts";
import type { Clock } from "../src/core/types.ts";
import { createAuthenticator, type Authenticator } from "../src/identity/authenticator.ts";
import { authFailureReason, type AuthFailureReason } from "../src/identity/auth-failure.ts";
import { startOidcProvider, type OidcProviderHandle } from "./helpers/oidc-provider.ts";

let idp: OidcProviderHandle;
let auth: Authenticator;
let stateDir: string;
const requested: string[] = [];
// Frozen at the start so the JWKS cooldown counts are exact; the provider's tokens use real time.
let nowMs = Date.now();
const clock: Clock = { now: () => nowMs };
const countingFetch = ((input: string | URL | Request, init?: RequestInit) => {
  requested.push(input instanceof Request ? input.url : String(input));
  return fetch(input, init);
}) as unknown as typeof fetch;

const nowSec = () => Math.floor(nowMs / 1000);
const jwksFetches = () => requested.filter((u) => u === idp.jwksUri).length;
const enc = (value: unknown) => base64url.encode(JSON.stringify(value));

beforeAll(async () => {
  idp = await startOidcProvider({ groups: ["analysts", "db-readers"] });
  stateDir = await mkdtemp(join(tmpdir(), "gatehouse-oidc-"));
  auth = await createAuthenticator(
    { issuers: [{ name: "test-idp", issuer: idp.issuer, audience: idp.audience }] },
    { stateDir, clock, fetch: countingFetch },
  );
});

afterAll(async () => {
  await idp?.close();
  if (stateDir) await rm(stateDir, { recursive: true, force: true });
});

function validClaims(extra: JWTPayload = {}): JWTPayload {
  return { iss: idp.issuer, aud: idp.audience, sub: "mallory", groups: ["admins"], iat: nowSec(), exp: nowSec() + 300, ...extra };
}

/** Signs with the provider's own RSA key and kid: the IdP itself would have produced this. */
function signedByIdp(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: idp.keys.rsa.kid, ...header }).sign(idp.keys.rsa.privateKey);
}

async function refusal(credential: string): Promise<GatewayError> {
  let accepted: unknown;
  try {
    accepted = await auth.authenticate(credential);
  } catch (e) {
    if (!(e instanceof GatewayError)) throw e;
    return e;
  }
  throw new Error(`credential was accepted: ${JSON.stringify(accepted)}`);
}

describe("tokens from a real OpenID provider", () => {
  test("a client-credentials access token authenticates, keys found by discovery and JWKS over HTTP", async () => {
    const token = await idp.getToken();
    const identity = await auth.authenticate(token);
    expect(identity.method).toBe("oidc");
    expect(identity.subject).toBe(idp.clientId);
    expect(identity.issuer).toBe(idp.issuer);
    expect(identity.groups).toEqual(["analysts", "db-readers"]);
    expect(identity.claims?.["client_id"]).toBe(idp.clientId);
    expect(identity.expiresAt).toBe((decodeJwt(token).exp as number) * 1000);
    expect(requested).toContain(`${idp.issuer}/.well-known/openid-configuration`);
    expect(jwksFetches()).toBe(1);
  });

  test("per-token groups, a Bearer prefix, and no refetch for a known key", async () => {
    const token = await idp.getToken({ groups: ["oncall"] });
    const identity = await auth.authenticate(`Bearer ${token}`);
    expect(identity.groups).toEqual(["oncall"]);
    expect(jwksFetches()).toBe(1);
  });

  test("a token expired by less than the clock skew still passes", async () => {
    const identity = await auth.authenticate(await signedByIdp(validClaims({ iat: nowSec() - 300, exp: nowSec() - 10 })));
    expect(identity.subject).toBe("mallory");
  });
});

interface Attack {
  readonly name: string;
  readonly token: () => Promise<string>;
  readonly code: ErrorCode;
  readonly reason: AuthFailureReason;
  readonly message?: RegExp;
}

const attacks: Attack[] = [
  {
    name: 'alg "none"',
    token: async () => `${enc({ alg: "none", typ: "JWT" })}.${enc(validClaims())}.`,
    code: "E_AUTH_ALGORITHM",
    reason: "algorithm",
    message: /^token algorithm "none" is not allowed$/,
  },
  {
    name: 'alg "None" with the real kid and a junk signature',
    token: async () => `${enc({ alg: "None", kid: idp.keys.rsa.kid })}.${enc(validClaims())}.AAAA`,
    code: "E_AUTH_ALGORITHM",
    reason: "algorithm",
  },
  {
    name: "HS256 signed with the provider's RSA public key (PEM) as the HMAC secret",
    token: () =>
      new SignJWT(validClaims())
        .setProtectedHeader({ alg: "HS256", kid: idp.keys.rsa.kid })
        .sign(new TextEncoder().encode(idp.keys.rsa.publicPem)),
    code: "E_AUTH_ALGORITHM",
    reason: "algorithm",
  },
  {
    name: "HS512 signed with the provider's published JWK as the HMAC secret",
    token: () =>
      new SignJWT(validClaims())
        .setProtectedHeader({ alg: "HS512", kid: idp.keys.ec.kid })
        .sign(new TextEncoder().encode(JSON.stringify(idp.keys.ec.publicJwk))),
    code: "E_AUTH_ALGORITHM",
    reason: "algorithm",
  },
  {
    name: "expired, signed with the real key",
    token: () => signedByIdp(validClaims({ iat: nowSec() - 600, exp: nowSec() - 120 })),
    code: "E_AUTH_EXPIRED",
    reason: "expired",
    message: /^token expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/,
  },
  {
    name: "not valid yet (nbf two minutes ahead), signed with the real key",
    token: () => signedByIdp(validClaims({ nbf: nowSec() + 120 })),
    code: "E_AUTH_NOT_YET_VALID",
    reason: "not_yet_valid",
    message: /^token is not valid before \d{4}-/,
  },
  {
    name: "issuer not trusted, signed with the real key",
    token: () => signedByIdp(validClaims({ iss: "https://idp.evil.example" })),
    code: "E_AUTH_ISSUER",
    reason: "issuer",
    message: /^token issuer is not trusted$/,
  },
  {
    name: "issuer differing by a trailing slash",
    token: () => signedByIdp(validClaims({ iss: `${idp.issuer}/` })),
    code: "E_AUTH_ISSUER",
    reason: "issuer",
  },
  {
    name: "a real token for another audience",
    token: () => idp.getToken({ audience: "https://other-api.test" }),
    code: "E_AUTH_AUDIENCE",
    reason: "audience",
    message: /^token audience does not match$/,
  },
  {
    name: "unknown kid",
    token: async () => {
      const { privateKey } = await generateKeyPair("RS256");
      return new SignJWT(validClaims()).setProtectedHeader({ alg: "RS256", kid: "attacker-key" }).sign(privateKey);
    },
    code: "E_AUTH_UNKNOWN_KEY",
    reason: "unknown_key",
  },
  {
    name: "attacker's key under the real kid",
    token: async () => {
      const { privateKey } = await generateKeyPair("RS256");
      return new SignJWT(validClaims()).setProtectedHeader({ alg: "RS256", kid: idp.keys.rsa.kid }).sign(privateKey);
    },
    code: "E_AUTH_SIGNATURE",
    reason: "signature",
    message: /^bad signature$/,
  },
  {
    name: "attacker's key embedded in the header (jwk), no kid",
    token: async () => {
      const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
      return new SignJWT(validClaims()).setProtectedHeader({ alg: "RS256", jwk: await exportJWK(publicKey) }).sign(privateKey);
    },
    code: "E_AUTH_SIGNATURE",
    reason: "signature",
  },
  {
    name: "attacker's key set named by jku",
    token: async () => {
      const { privateKey } = await generateKeyPair("ES256");
      return new SignJWT(validClaims())
        .setProtectedHeader({ alg: "ES256", kid: "jku-key", jku: "http://127.0.0.1:9/jwks" })
        .sign(privateKey);
    },
    code: "E_AUTH_UNKNOWN_KEY",
    reason: "unknown_key",
  },
  {
    name: "tampered payload of a real token (groups flipped, signature kept)",
    token: async () => {
      const [header, payload, signature] = (await idp.getToken()).split(".");
      const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload!))) as JWTPayload;
      return `${header}.${enc({ ...claims, groups: ["admins"] })}.${signature}`;
    },
    code: "E_AUTH_SIGNATURE",
    reason: "signature",
  },
  {
    name: "a real token without a groups claim",
    token: () => idp.getToken({ groups: null }),
    code: "E_AUTH_CLAIMS",
    reason: "no_groups",
    message: /^token has no groups claim 'groups'$/,
  },
  {
    name: "no subject, signed with the real key",
    token: () => signedByIdp(validClaims({ sub: undefined })),
    code: "E_AUTH_CLAIMS",
    reason: "no_subject",
  },
  {
    name: "no expiry, signed with the real key",
    token: () => signedByIdp(validClaims({ exp: undefined })),
    code: "E_AUTH_CLAIMS",
    reason: "claims",
    message: /^token has no expiry/,
  },
  {
    name: "a 1 MB token signed with the real key",
    token: () => signedByIdp(validClaims({ padding: "x".repeat(1024 * 1024) })),
    code: "E_AUTH_MALFORMED",
    reason: "too_large",
    message: /^token too large/,
  },
  {
    name: "an encrypted token (JWE shape)",
    token: async () => `${enc({ alg: "dir", enc: "A256GCM" })}..${"A".repeat(16)}.${"B".repeat(22)}.${"C".repeat(22)}`,
    code: "E_AUTH_MALFORMED",
    reason: "unsupported",
  },
  {
    name: "garbage in JWT shape",
    token: async () => "eyJub3Q.anNvbg.c2ln",
    code: "E_AUTH_MALFORMED",
    reason: "malformed",
  },
];

describe("forgeries and bad tokens are refused with their reason", () => {
  for (const attack of attacks) {
    test(attack.name, async () => {
      const token = await attack.token();
      const e = await refusal(token);
      expect(e.code).toBe(attack.code);
      expect(authFailureReason(e)).toBe(attack.reason);
      if (attack.message) expect(e.message).toMatch(attack.message);
      // The message is shown to callers and logged: it must not carry the token or its parts.
      const parts = token.split(".").filter((p) => p.length >= 8);
      for (const part of parts) expect(e.message).not.toContain(part.slice(0, 32));
    });
  }
});

describe("JWKS refetch is rate-limited", () => {
  test("a flood of random kids makes at most one refetch per cooldown", async () => {
    nowMs += 31_000; // past the cooldown of the last fetch
    const before = jwksFetches();
    const { privateKey } = await generateKeyPair("ES256");
    for (let i = 0; i < 25; i++) {
      const token = await new SignJWT(validClaims()).setProtectedHeader({ alg: "ES256", kid: `random-${i}` }).sign(privateKey);
      expect((await refusal(token)).code).toBe("E_AUTH_UNKNOWN_KEY");
    }
    expect(jwksFetches()).toBe(before + 1);
    // Real tokens keep working meanwhile.
    expect((await auth.authenticate(await idp.getToken())).subject).toBe(idp.clientId);
  });
});

describe("configuration", () => {
  test("symmetric algorithms are refused even when configured", async () => {
    for (const alg of ["HS256", "none"]) {
      const e = await createAuthenticator(
        { issuers: [{ name: "test-idp", issuer: idp.issuer, audience: idp.audience, algorithms: ["RS256", alg] }] },
        { stateDir, clock, fetch: countingFetch },
      ).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(GatewayError);
      expect((e as GatewayError).code).toBe("E_CONFIG_INVALID");
    }
  });
});

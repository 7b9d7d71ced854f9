import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { GatewayError } from "../core/errors.ts";
import type { Clock } from "../core/types.ts";
import type { IssuerConfig } from "../config/schema.ts";
import { authFailureReason } from "./auth-failure.ts";
import { createAuthenticator, isJwtShaped, MAX_CREDENTIAL_BYTES, type Authenticator } from "./authenticator.ts";
import { newMachineKey, sha256Hex } from "./machine-keys.ts";

// A small real JWKS server holding one RSA and one EC key.
const rsa = await generateKeyPair("RS256", { extractable: true });
const ec = await generateKeyPair("ES256", { extractable: true });
let server: ReturnType<typeof Bun.serve>;
let jwksUri: string;
let stateDir: string;
const ISS = "https://idp.example.test";
const nowMs = 1_800_000_000_000;
const clock: Clock = { now: () => nowMs };
const nowSec = nowMs / 1000;

beforeAll(async () => {
  const keys = [
    { ...(await exportJWK(rsa.publicKey)), kid: "rsa", alg: "RS256", use: "sig" },
    { ...(await exportJWK(ec.publicKey)), kid: "ec", alg: "ES256", use: "sig" },
  ];
  server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ keys }) });
  jwksUri = `http://127.0.0.1:${server.port}/jwks`;
  stateDir = await mkdtemp(join(tmpdir(), "gatehouse-auth-"));
});
afterAll(async () => {
  server.stop(true);
  await rm(stateDir, { recursive: true, force: true });
});

function issuer(extra: Partial<IssuerConfig> = {}): IssuerConfig {
  return { name: "corp", issuer: ISS, audience: "gatehouse-api", jwks_uri: jwksUri, ...extra };
}

function auth(extra: Partial<IssuerConfig> = {}, more: { machine_keys?: { name: string; sha256: string; groups: string[] }[] } = {}) {
  return createAuthenticator({ issuers: [issuer(extra)], ...more }, { stateDir, clock });
}

function token(claims: JWTPayload = {}, alg: "RS256" | "ES256" = "RS256"): Promise<string> {
  const key = alg === "RS256" ? rsa.privateKey : ec.privateKey;
  return new SignJWT({ iss: ISS, aud: "gatehouse-api", sub: "alice", groups: ["analysts"], iat: nowSec, exp: nowSec + 300, ...claims })
    .setProtectedHeader({ alg, kid: alg === "RS256" ? "rsa" : "ec" })
    .sign(key);
}

async function refusal(a: Authenticator, credential: string): Promise<GatewayError> {
  try {
    await a.authenticate(credential);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("credential was accepted");
}

describe("credential shape and size", () => {
  test("JWT shape is three base64url segments, the last may be empty", () => {
    expect(isJwtShaped("eyJh.eyJi.c2ln")).toBe(true);
    expect(isJwtShaped("eyJh.eyJi.")).toBe(true);
    expect(isJwtShaped("ghk_abc")).toBe(false);
    expect(isJwtShaped("a.b")).toBe(false);
    expect(isJwtShaped("a.b.c.d.e")).toBe(false);
    expect(isJwtShaped("a.b.c d")).toBe(false);
  });

  test("more than 16 KiB is refused before any parsing, whatever its shape", async () => {
    const a = await auth();
    const junkJwt = `${"e".repeat(MAX_CREDENTIAL_BYTES)}.x.y`;
    for (const big of [junkJwt, "k".repeat(MAX_CREDENTIAL_BYTES + 1), "é".repeat(MAX_CREDENTIAL_BYTES / 2 + 1), "x".repeat(1 << 20)]) {
      const e = await refusal(a, big);
      expect(e.code).toBe("E_AUTH_MALFORMED");
      expect(authFailureReason(e)).toBe("too_large");
      expect(e.message).toBe("token too large: more than 16384 bytes");
    }
    // At the limit it is judged on its merits.
    expect((await refusal(a, "k".repeat(MAX_CREDENTIAL_BYTES))).message).toBe("not a valid token or machine key");
  });

  test("empty credentials are missing", async () => {
    const a = await auth();
    for (const empty of ["", "Bearer ", "bearer   "]) {
      expect((await refusal(a, empty)).code).toBe("E_AUTH_MISSING");
    }
  });
});

describe("JWT verification", () => {
  test("a valid token gives the subject, issuer, groups and its verified claims (frozen, for rules), and nothing for audit unless configured", async () => {
    const a = await auth();
    const identity = await a.authenticate(await token({ email: "alice@example.test", internal_secret: "do-not-copy", nested: { a: [1] } }));
    expect(identity.method).toBe("oidc");
    expect(identity.subject).toBe("alice");
    expect(identity.issuer).toBe(ISS);
    expect(identity.groups).toEqual(["analysts"]);
    expect(identity.claims).toMatchObject({ sub: "alice", email: "alice@example.test", nested: { a: [1] } });
    expect(Object.isFrozen(identity.claims)).toBe(true);
    expect(Object.isFrozen((identity.claims?.["nested"] as { a: number[] }).a)).toBe(true);
    // Audit records carry only display_name and record_claims (see auditIdentity): neither is set here.
    expect(identity.name).toBeUndefined();
    expect(identity.recordClaims).toBeUndefined();
    expect(identity.expiresAt).toBe(nowMs + 300_000);
  });

  test("display_name renders claim paths (dotted names such as kubernetes.io included); record_claims picks scalars and lists of scalars only", async () => {
    const a = await auth({
      require_groups: false,
      display_name: "k8s:{kubernetes.io.namespace}/{kubernetes.io.serviceaccount.name} {missing}",
      record_claims: ["kubernetes.io.namespace", "aud", "kubernetes.io.pod", "missing", "run_id"],
    });
    const identity = await a.authenticate(
      await token({
        groups: undefined,
        run_id: 42,
        "kubernetes.io": { namespace: "ops", serviceaccount: { name: "agent", uid: "u-1" }, pod: { name: "agent-0", uid: "p-1" } },
      }),
    );
    expect(identity.name).toBe("k8s:ops/agent ?");
    expect(identity.recordClaims).toEqual({ "kubernetes.io.namespace": "ops", aud: "gatehouse-api", run_id: 42 });
    expect(identity.groups).toEqual([]);
  });

  test("require_groups: false lets a token without groups in with none; an ill-typed groups claim is still refused; the default still refuses a missing one", async () => {
    const lax = await auth({ require_groups: false });
    expect((await lax.authenticate(await token({ groups: undefined }))).groups).toEqual([]);
    expect((await refusal(lax, await token({ groups: { a: 1 } }))).message).toBe("token groups claim 'groups' is not a string or a list of strings");
    const strictGroups = await auth();
    expect((await refusal(strictGroups, await token({ groups: undefined }))).message).toBe("token has no groups claim 'groups'");
  });

  test("groups from a configured nested claim; a missing one is refused", async () => {
    const a = await auth({ groups_claim: "realm_access.roles" });
    const identity = await a.authenticate(await token({ groups: undefined, realm_access: { roles: ["db-read"] } }));
    expect(identity.groups).toEqual(["db-read"]);
    const e = await refusal(a, await token());
    expect(e.message).toBe("token has no groups claim 'realm_access.roles'");
  });

  test("any one of several configured audiences matches", async () => {
    const a = await auth({ audience: ["other", "gatehouse-api"] });
    expect((await a.authenticate(await token({ aud: ["x", "gatehouse-api"] }))).subject).toBe("alice");
    expect((await refusal(a, await token({ aud: "x" }))).code).toBe("E_AUTH_AUDIENCE");
  });

  test("the algorithm allow list is per issuer", async () => {
    const a = await auth({ algorithms: ["ES256"] });
    expect((await a.authenticate(await token({}, "ES256"))).subject).toBe("alice");
    const e = await refusal(a, await token({}, "RS256"));
    expect(e.code).toBe("E_AUTH_ALGORITHM");
    expect(e.message).toBe('token algorithm "RS256" is not allowed');
  });

  test("clock skew is configurable", async () => {
    const expiredBy10s = await token({ exp: nowSec - 10 });
    expect((await (await auth()).authenticate(expiredBy10s)).subject).toBe("alice");
    expect((await refusal(await auth({ clock_skew: "5s" }), expiredBy10s)).code).toBe("E_AUTH_EXPIRED");
    const nbfIn10s = await token({ nbf: nowSec + 10 });
    expect((await refusal(await auth({ clock_skew: "0s" }), nbfIn10s)).code).toBe("E_AUTH_NOT_YET_VALID");
  });

  test("a token issued in the future beyond the clock skew is refused; within it, accepted", async () => {
    const a = await auth({ clock_skew: "30s" });
    const e = await refusal(a, await token({ iat: nowSec + 31 }));
    expect(e.code).toBe("E_AUTH_NOT_YET_VALID");
    expect(authFailureReason(e)).toBe("not_yet_valid");
    expect(e.message).toBe(`token is issued at ${new Date((nowSec + 31) * 1000).toISOString()}, in the future (beyond the allowed clock skew)`);
    expect((await a.authenticate(await token({ iat: nowSec + 30 }))).subject).toBe("alice");
    // jose itself refuses an early nbf beyond the skew; the same holds with the default skew.
    expect((await refusal(await auth(), await token({ nbf: nowSec + 31 }))).code).toBe("E_AUTH_NOT_YET_VALID");
    expect((await refusal(await auth(), await token({ iat: nowSec + 3600 }))).code).toBe("E_AUTH_NOT_YET_VALID");
  });

  test("an empty or non-string subject is refused", async () => {
    const a = await auth();
    for (const sub of ["", 42]) {
      const e = await refusal(a, await token({ sub: sub as string }));
      expect(e.code).toBe("E_AUTH_CLAIMS");
      expect(authFailureReason(e)).toBe("no_subject");
    }
  });

  test("a token without iss, or with a non-JSON payload, is refused", async () => {
    const a = await auth();
    expect((await refusal(a, await token({ iss: undefined }))).code).toBe("E_AUTH_ISSUER");
    expect((await refusal(a, "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln")).code).toBe("E_AUTH_MALFORMED");
  });
});

describe("machine keys through the Authenticator", () => {
  test("a configured key authenticates, with or without a Bearer prefix", async () => {
    const k = newMachineKey();
    const a = await auth({}, { machine_keys: [{ name: "ci", sha256: k.sha256, groups: ["deployers"] }] });
    expect(await a.authenticate(k.key)).toEqual({ method: "machine-key", subject: "ci", issuer: "ci", groups: ["deployers"] });
    expect((await a.authenticate(`Bearer ${k.key}`)).subject).toBe("ci");
    const e = await refusal(a, newMachineKey().key);
    expect(e.message).toBe("unknown machine key");
    expect(authFailureReason(e)).toBe("unknown_machine_key");
  });

  test("a credential that is neither a token nor of the machine key format is 'not a valid token or machine key'", async () => {
    const k = newMachineKey();
    const a = await auth({}, { machine_keys: [{ name: "ci", sha256: k.sha256, groups: [] }] });
    for (const junk of ["Bearer nonsense", "nonsense", "hunter2", k.sha256, `${k.key}x`, k.key.slice(0, -1), "ghk_short"]) {
      const e = await refusal(a, junk);
      expect(e.message).toBe("not a valid token or machine key");
      expect(e.code).toBe("E_AUTH_MALFORMED");
      expect(authFailureReason(e)).toBe("malformed");
    }
    // Something JWT-shaped says why it failed instead.
    expect((await refusal(a, "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln")).message).toBe("token is malformed");
    // A key configured by its digest authenticates whatever its format.
    const b = await auth({}, { machine_keys: [{ name: "legacy", sha256: sha256Hex("hunter2-but-long-and-random"), groups: [] }] });
    expect((await b.authenticate("hunter2-but-long-and-random")).subject).toBe("legacy");
  });
});

describe("configuration errors", () => {
  const cases: [string, Parameters<typeof createAuthenticator>[0]][] = [
    ["HS256 configured", { issuers: [issuer({ algorithms: ["RS256", "HS256"] })] }],
    ["none configured", { issuers: [issuer({ algorithms: ["none"] })] }],
    ["unknown algorithm", { issuers: [issuer({ algorithms: ["RS1"] })] }],
    ["same iss twice", { issuers: [issuer(), issuer({ name: "corp2" })] }],
    ["same name twice", { issuers: [issuer(), issuer({ issuer: "https://other.test" })] }],
    ["dev issuer's iss", { issuers: [issuer({ issuer: "gatehouse-dev" })] }],
    ["jwks_uri not a URL", { issuers: [issuer({ jwks_uri: "not a url" })] }],
    ["no jwks_uri and issuer not a URL", { issuers: [issuer({ jwks_uri: undefined, issuer: "corp-idp" })] }],
    ["bad clock_skew", { issuers: [issuer({ clock_skew: "soon" })] }],
    ["empty audience", { issuers: [issuer({ audience: "" })] }],
    ["jwks_uri on plain http elsewhere", { issuers: [issuer({ jwks_uri: "http://idp.example.test/jwks" })] }],
    ["discovery on plain http elsewhere", { issuers: [issuer({ jwks_uri: undefined, issuer: "http://idp.example.test" })] }],
    ["jwks_uri not http(s)", { issuers: [issuer({ jwks_uri: "ftp://idp.example.test/jwks" })] }],
    ["display_name with an unmatched brace", { issuers: [issuer({ display_name: "github:{repository@{ref}" })] }],
    ["display_name with an empty claim path", { issuers: [issuer({ display_name: "k8s:{kubernetes..namespace}" })] }],
    ["record_claims with an empty claim path", { issuers: [issuer({ record_claims: ["ref", "a."] })] }],
  ];
  for (const [name, cfg] of cases) {
    test(name, async () => {
      let caught: unknown;
      await createAuthenticator(cfg, { stateDir, clock }).catch((e: unknown) => {
        caught = e;
      });
      expect(caught).toBeInstanceOf(GatewayError);
      expect((caught as GatewayError).code).toBe("E_CONFIG_INVALID");
    });
  }

  test("plain http is fine on loopback: 127.0.0.0/8, ::1, localhost", async () => {
    for (const host of ["127.0.0.1", "127.3.4.5", "[::1]", "localhost"]) {
      await createAuthenticator({ issuers: [issuer({ jwks_uri: `http://${host}:1/jwks` })] }, { stateDir, clock });
      await createAuthenticator({ issuers: [issuer({ jwks_uri: undefined, issuer: `http://${host}:1` })] }, { stateDir, clock });
    }
  });

  test("the message names the key, the URL and why", async () => {
    const e = await createAuthenticator({ issuers: [issuer({ jwks_uri: "http://idp.example.test/jwks" })] }, { stateDir, clock }).catch((x: unknown) => x);
    expect((e as GatewayError).message).toBe(
      'identity.issuers[0].jwks_uri: issuer "corp": jwks_uri "http://idp.example.test/jwks" uses plain http on a host other than this one: ' +
        "anyone on the network path could replace the signing keys and mint tokens; use https (plain http is allowed only on loopback: 127.0.0.0/8, ::1, localhost)",
    );
  });
});

describe("authFailureReason", () => {
  test("is 'error' for what is not an auth failure", () => {
    expect(authFailureReason(new Error("boom"))).toBe("error");
    expect(authFailureReason("boom")).toBe("error");
    expect(authFailureReason(new GatewayError("E_INTERNAL", "x"))).toBe("error");
    expect(authFailureReason(new GatewayError("E_AUTH_EXPIRED", "x"))).toBe("expired");
  });
});

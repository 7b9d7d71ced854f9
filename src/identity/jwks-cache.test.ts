import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { errors as jose, exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { GatewayError } from "../core/errors.ts";
import type { Clock } from "../core/types.ts";
import { authFailureReason } from "./auth-failure.ts";
import { createAuthenticator } from "./authenticator.ts";
import { createJwksCache, type JwksCacheOptions } from "./jwks-cache.ts";

// A real HTTP server standing in for an IdP: discovery and JWKS, with switches for failures.
const hits = new Map<string, number>();
let jwks: { keys: JWK[] } | string = { keys: [] };
let jwksStatus = 200;
let discoveredIssuer: string | undefined;
let server: ReturnType<typeof Bun.serve>;
let base: string;

let nowMs = 1_800_000_000_000;
const clock: Clock = { now: () => nowMs };

const key1 = await generateKeyPair("ES256", { extractable: true });
const key2 = await generateKeyPair("ES256", { extractable: true });
const pub = async (k: CryptoKey, kid: string): Promise<JWK> => ({ ...(await exportJWK(k)), kid, alg: "ES256", use: "sig" });
const jwk1 = await pub(key1.publicKey, "k1");
const jwk2 = await pub(key2.publicKey, "k2");

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === "/.well-known/openid-configuration") {
        return Response.json({ issuer: discoveredIssuer ?? base, jwks_uri: `${base}/jwks` });
      }
      if (path === "/jwks") {
        if (jwksStatus !== 200) return new Response("down", { status: jwksStatus });
        return new Response(typeof jwks === "string" ? jwks : JSON.stringify(jwks), { headers: { "content-type": "application/json" } });
      }
      return new Response("not found", { status: 404 });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(() => {
  server.stop(true);
});

beforeEach(() => {
  hits.clear();
  jwks = { keys: [jwk1] };
  jwksStatus = 200;
  discoveredIssuer = undefined;
  nowMs = 1_800_000_000_000;
});

const jwksHits = () => hits.get("/jwks") ?? 0;

function cache(extra: Partial<JwksCacheOptions> = {}) {
  return createJwksCache({ issuerName: "idp", issuer: base, fetch, clock, ...extra });
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a failure");
}

describe("jwks cache", () => {
  test("finds keys by discovery, then serves from cache", async () => {
    const c = cache();
    expect((await c.getKey({ alg: "ES256", kid: "k1" })).type).toBe("public");
    await c.getKey({ alg: "ES256", kid: "k1" });
    expect(hits.get("/.well-known/openid-configuration")).toBe(1);
    expect(jwksHits()).toBe(1);
  });

  test("a flood of unknown kids refetches at most once per cooldown", async () => {
    const c = cache();
    await c.getKey({ alg: "ES256", kid: "k1" });
    nowMs += 30_000;
    for (let i = 0; i < 50; i++) {
      expect(await failure(c.getKey({ alg: "ES256", kid: `random-${i}` }))).toBeInstanceOf(jose.JWKSNoMatchingKey);
    }
    expect(jwksHits()).toBe(2);
    nowMs += 29_999;
    await failure(c.getKey({ alg: "ES256", kid: "random-x" }));
    expect(jwksHits()).toBe(2);
    nowMs += 1;
    await failure(c.getKey({ alg: "ES256", kid: "random-y" }));
    expect(jwksHits()).toBe(3);
    expect(c.fetchCount()).toBe(3);
  });

  test("concurrent first requests share one fetch", async () => {
    const c = cache({ jwksUri: `${base}/jwks` });
    await Promise.all(Array.from({ length: 10 }, () => c.getKey({ alg: "ES256", kid: "k1" })));
    expect(jwksHits()).toBe(1);
    expect(hits.get("/.well-known/openid-configuration")).toBeUndefined();
  });

  test("a failed fetch is a clear error, retried only after the cooldown", async () => {
    jwksStatus = 503;
    const logs: string[] = [];
    const c = cache({ log: (m) => logs.push(m) });
    const e = await failure(c.getKey({ alg: "ES256", kid: "k1" }));
    expect(e).toBeInstanceOf(GatewayError);
    expect((e as GatewayError).code).toBe("E_AUTH_JWKS");
    expect(authFailureReason(e)).toBe("keys_unavailable");
    // The caller's message names the issuer, not our network; the log has the detail.
    expect((e as GatewayError).message).toBe('signing keys of issuer "idp" are unavailable; try again later');
    expect(logs.join("\n")).toContain("HTTP 503");
    await failure(c.getKey({ alg: "ES256", kid: "k1" }));
    expect(jwksHits()).toBe(1);
    jwksStatus = 200;
    nowMs += 30_000;
    expect((await c.getKey({ alg: "ES256", kid: "k1" })).type).toBe("public");
    expect(jwksHits()).toBe(2);
  });

  test("bad documents are refused: wrong issuer in discovery, not JSON, not a key set, too large", async () => {
    discoveredIssuer = "https://someone-else.example";
    expect(((await failure(cache().getKey({ alg: "ES256", kid: "k1" }))) as GatewayError).code).toBe("E_AUTH_JWKS");
    discoveredIssuer = undefined;
    for (const body of ["<html>", JSON.stringify({ keys: "k1" }), JSON.stringify({ keys: [jwk1], pad: "x".repeat(600 * 1024) })]) {
      jwks = body;
      expect(((await failure(cache().getKey({ alg: "ES256", kid: "k1" }))) as GatewayError).code).toBe("E_AUTH_JWKS");
    }
  });

  test("an unreachable IdP is an error, not a crash", async () => {
    const closed = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response() });
    const url = `http://127.0.0.1:${closed.port}/jwks`;
    closed.stop(true);
    const e = await failure(cache({ jwksUri: url }).getKey({ alg: "ES256", kid: "k1" }));
    expect((e as GatewayError).code).toBe("E_AUTH_JWKS");
  });

  test("an https discovery document whose jwks_uri is plain http on another host is refused, and that URL never fetched", async () => {
    // The IdP's discovery is served over https (the fetch stands in for the network); it names
    // keys on plain http elsewhere, which anyone on the path could swap.
    const issuer = "https://idp.example.test";
    const asked: string[] = [];
    const logs: string[] = [];
    const fakeFetch = (async (input: string | URL | Request) => {
      const url = input instanceof Request ? input.url : String(input);
      asked.push(url);
      if (url === `${issuer}/.well-known/openid-configuration`) return Response.json({ issuer, jwks_uri: "http://keys.example.test/jwks" });
      if (url === "http://keys.example.test/jwks") return Response.json({ keys: [jwk1] });
      return new Response("not found", { status: 404 });
    }) as unknown as typeof fetch;
    const c = createJwksCache({ issuerName: "idp", issuer, fetch: fakeFetch, clock, log: (m) => logs.push(m) });
    const e = await failure(c.getKey({ alg: "ES256", kid: "k1" }));
    expect((e as GatewayError).code).toBe("E_AUTH_JWKS");
    expect(asked).toEqual([`${issuer}/.well-known/openid-configuration`]);
    expect(logs.join("\n")).toContain(`its jwks_uri "http://keys.example.test/jwks" uses plain http on a host other than this one`);
  });

  test("a discovered plain-http jwks_uri on loopback is used (a local provider, as in the tests)", async () => {
    const e = await cache().getKey({ alg: "ES256", kid: "k1" });
    expect(e.type).toBe("public");
    expect(base.startsWith("http://127.0.0.1:")).toBe(true);
  });

  test("keys past their max age are fetched again, and not used if that fails", async () => {
    const c = cache({ maxAgeMs: 600_000 });
    await c.getKey({ alg: "ES256", kid: "k1" });
    nowMs += 600_000;
    jwksStatus = 500;
    expect(((await failure(c.getKey({ alg: "ES256", kid: "k1" }))) as GatewayError).code).toBe("E_AUTH_JWKS");
    expect(jwksHits()).toBe(2);
  });
});

describe("key rotation through the Authenticator", () => {
  test("a token with a new kid is accepted once the cooldown allows a refetch", async () => {
    const auth = await createAuthenticator(
      { issuers: [{ name: "idp", issuer: base, audience: "api", jwks_uri: `${base}/jwks` }] },
      { stateDir: "/nonexistent-not-used", clock, fetch },
    );
    const sign = (key: CryptoKey, kid: string) =>
      new SignJWT({ groups: ["ops"] })
        .setProtectedHeader({ alg: "ES256", kid })
        .setIssuer(base)
        .setAudience("api")
        .setSubject("svc")
        .setExpirationTime(Math.floor(nowMs / 1000) + 3600)
        .sign(key);
    expect((await auth.authenticate(await sign(key1.privateKey, "k1"))).groups).toEqual(["ops"]);

    jwks = { keys: [jwk1, jwk2] };
    const rotated = await sign(key2.privateKey, "k2");
    const e = await failure(auth.authenticate(rotated));
    expect((e as GatewayError).code).toBe("E_AUTH_UNKNOWN_KEY");
    nowMs += 30_000;
    expect((await auth.authenticate(rotated)).subject).toBe("svc");
    expect(jwksHits()).toBe(2);
    expect(hits.get("/.well-known/openid-configuration")).toBeUndefined();
  });
});

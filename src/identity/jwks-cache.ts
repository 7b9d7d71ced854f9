// One issuer's signing keys (JWKS), found by jwks_uri or OpenID discovery and cached. An unknown
// `kid` triggers a refetch at most once per cooldown, so a flood of random kids cannot hammer the IdP.
import { createLocalJWKSet, errors as jose, type JSONWebKeySet, type JWSHeaderParameters, type LocalJWKSet } from "jose";
import type { Clock } from "../core/types.ts";
import { errorMessage } from "../core/errors.ts";
import { authError } from "./auth-failure.ts";
import { issuerUrlProblem } from "./issuer-url.ts";

export type KeyResolver = (header: JWSHeaderParameters) => Promise<CryptoKey>;

export interface JwksCacheOptions {
  /** The config name of the issuer, for messages. */
  readonly issuerName: string;
  /** The issuer URL; discovery happens at `<issuer>/.well-known/openid-configuration`. */
  readonly issuer: string;
  readonly jwksUri?: string;
  readonly fetch: typeof fetch;
  readonly clock: Clock;
  /** Least time between two fetches of this issuer's keys. Default 30s. */
  readonly cooldownMs?: number;
  /** Keys older than this are fetched again before use. Default 10m. */
  readonly maxAgeMs?: number;
  /** Per HTTP request. Default 5s. */
  readonly timeoutMs?: number;
  readonly log?: (msg: string) => void;
}

export interface JwksCache {
  /** Resolves the verification key for a token header; throws jose's JWKSNoMatchingKey when none fits. */
  readonly getKey: KeyResolver;
  /** Fetch attempts of the key set so far (discovery not counted); for tests and metrics. */
  readonly fetchCount: () => number;
}

export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
export const DEFAULT_JWKS_MAX_AGE_MS = 600_000;
/** No real key set or discovery document comes near this; a bigger answer is refused. */
const MAX_DOCUMENT_BYTES = 512 * 1024;

export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
}

export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const { issuerName, issuer, clock } = options;
  const cooldownMs = options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_JWKS_MAX_AGE_MS;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const log = options.log ?? (() => {});

  let keys: LocalJWKSet | undefined;
  let fetchedAt = -Infinity;
  let lastAttemptAt = -Infinity;
  let lastFailure: string | undefined;
  let jwksUri = options.jwksUri;
  let inflight: Promise<void> | undefined;
  let fetches = 0;

  const unavailable = (cause?: unknown) =>
    authError("E_AUTH_JWKS", "keys_unavailable", `signing keys of issuer "${issuerName}" are unavailable; try again later`, {
      cause,
      details: { issuer: issuerName },
    });

  async function getJson(url: string, what: string): Promise<unknown> {
    const res = await options.fetch(url, {
      headers: { accept: "application/json" },
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`${what} ${url} answered HTTP ${res.status}`);
    const declared = Number(res.headers.get("content-length") ?? "0");
    if (declared > MAX_DOCUMENT_BYTES) throw new Error(`${what} ${url} is too large (${declared} bytes)`);
    const body = await res.arrayBuffer();
    if (body.byteLength > MAX_DOCUMENT_BYTES) throw new Error(`${what} ${url} is too large (${body.byteLength} bytes)`);
    try {
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    } catch (cause) {
      throw new Error(`${what} ${url} is not JSON`, { cause });
    }
  }

  async function resolveJwksUri(): Promise<string> {
    if (jwksUri !== undefined) return jwksUri;
    const url = discoveryUrl(issuer);
    const doc = await getJson(url, "discovery document");
    if (doc === null || typeof doc !== "object") throw new Error(`discovery document ${url} is not an object`);
    const meta = doc as Record<string, unknown>;
    // OpenID Connect Discovery 1.0 §4.3: the document must name exactly the issuer we asked about.
    if (meta["issuer"] !== issuer) throw new Error(`discovery document ${url} names a different issuer`);
    const uri = meta["jwks_uri"];
    if (typeof uri !== "string") throw new Error(`discovery document ${url} has no usable jwks_uri`);
    // The config loader holds configured URLs to the same rule; a discovered one is checked here.
    const problem = issuerUrlProblem(uri, "its jwks_uri");
    if (problem !== null) throw new Error(`discovery document ${url}: ${problem}`);
    jwksUri = uri;
    return uri;
  }

  async function fetchKeys(): Promise<void> {
    lastAttemptAt = clock.now();
    fetches++;
    try {
      const uri = await resolveJwksUri();
      const doc = await getJson(uri, "key set");
      let set: LocalJWKSet;
      try {
        set = createLocalJWKSet(doc as JSONWebKeySet);
      } catch (cause) {
        throw new Error(`key set ${uri} is malformed`, { cause });
      }
      keys = set;
      fetchedAt = clock.now();
      lastFailure = undefined;
    } catch (e) {
      lastFailure = errorMessage(e);
      // A discovered jwks_uri may have moved; discover again next time.
      if (options.jwksUri === undefined) jwksUri = undefined;
      log(`identity: issuer "${issuerName}": fetching signing keys failed: ${lastFailure}`);
      throw unavailable(e);
    }
  }

  /** One fetch at a time per issuer; concurrent callers share it. */
  function refresh(): Promise<void> {
    inflight ??= fetchKeys().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  const mayFetch = () => clock.now() - lastAttemptAt >= cooldownMs;

  /** Waits for a fetch already under way; its failure is reported to whoever started it. */
  async function settle(): Promise<void> {
    if (inflight) await inflight.catch(() => {});
  }

  const isFresh = () => keys !== undefined && clock.now() - fetchedAt < maxAgeMs;

  async function currentKeys(): Promise<LocalJWKSet> {
    if (isFresh()) return keys!;
    // Stale or never fetched: use nothing old (a key the IdP revoked must stop working), and
    // after a failure wait out the cooldown rather than retry on every request. The decision
    // to fetch is taken before any await, so concurrent callers share one fetch.
    if (inflight === undefined && mayFetch()) await refresh();
    else await settle();
    if (isFresh()) return keys!;
    throw unavailable(lastFailure);
  }

  async function getKey(header: JWSHeaderParameters): Promise<CryptoKey> {
    const set = await currentKeys();
    try {
      return await set(header);
    } catch (e) {
      if (!(e instanceof jose.JWKSNoMatchingKey)) throw e;
      if (inflight) {
        await settle();
      } else {
        // The IdP may have rotated its keys since we fetched them.
        if (!mayFetch()) throw e;
        log(`identity: issuer "${issuerName}": token names an unknown key; fetching the key set again`);
        await refresh();
      }
      if (keys === undefined || keys === set) throw e;
      return keys(header);
    }
  }

  return { getKey, fetchCount: () => fetches };
}

// OpenID Connect login for the console: the authorization code flow with PKCE (S256), a state
// and a nonce, against an issuer the gateway already trusts. The ID token is verified by the
// gateway's own JWT verifier (keys from the issuer's JWKS, its groups claim and algorithms),
// with the console's client id as the audience.
import { createHash, randomBytes } from "node:crypto";
import { decodeJwt } from "jose";
import type { IssuerConfig } from "../config/schema.ts";
import { GatewayError, errorMessage } from "../core/errors.ts";
import type { Clock, Identity } from "../core/types.ts";
import { createAuthenticator } from "../identity/authenticator.ts";

/** What the login cookie keeps between the redirect to the issuer and the callback. */
export interface LoginState {
  readonly state: string;
  readonly verifier: string;
  readonly nonce: string;
  /** A local path (return-to.ts) to go to after the login. */
  readonly returnTo: string;
  /** ms since epoch; a callback after it is refused. */
  readonly expiresAt: number;
}

export interface OidcClient {
  readonly issuer: IssuerConfig;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly redirectUrl: string;
  readonly scopes: readonly string[];
}

interface Discovery {
  readonly authorization_endpoint: string;
  readonly token_endpoint: string;
}

export interface OidcLoginDeps {
  readonly clock: Clock;
  readonly stateDir: string;
  readonly fetch?: typeof fetch;
}

function loginError(message: string, cause?: unknown): GatewayError {
  return new GatewayError("E_AUTH_MALFORMED", message, cause === undefined ? {} : { cause });
}

const random = () => randomBytes(32).toString("base64url");

export function createOidcLogin(deps: OidcLoginDeps) {
  const doFetch = deps.fetch ?? fetch;
  const discoveries = new Map<string, { at: number; value: Discovery }>();

  async function discover(issuer: string): Promise<Discovery> {
    const known = discoveries.get(issuer);
    if (known && deps.clock.now() - known.at < 3_600_000) return known.value;
    const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
    let body: Partial<Discovery>;
    try {
      const res = await doFetch(url, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = (await res.json()) as Partial<Discovery>;
    } catch (e) {
      throw loginError(`cannot read the issuer's OpenID configuration at ${url}: ${errorMessage(e)}`, e);
    }
    if (typeof body.authorization_endpoint !== "string" || typeof body.token_endpoint !== "string") {
      throw loginError(`the issuer's OpenID configuration at ${url} names no authorization_endpoint or token_endpoint`);
    }
    const value = { authorization_endpoint: body.authorization_endpoint, token_endpoint: body.token_endpoint };
    discoveries.set(issuer, { at: deps.clock.now(), value });
    return value;
  }

  return {
    /** Where to send the browser, and what to keep in the login cookie until it comes back. */
    async start(client: OidcClient, returnTo: string): Promise<{ url: string; login: LoginState }> {
      const d = await discover(client.issuer.issuer);
      const login: LoginState = { state: random(), verifier: random(), nonce: random(), returnTo, expiresAt: deps.clock.now() + 10 * 60_000 };
      const challenge = createHash("sha256").update(login.verifier).digest("base64url");
      const url = new URL(d.authorization_endpoint);
      const scopes = new Set(["openid", ...client.scopes]);
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: client.clientId,
        redirect_uri: client.redirectUrl,
        scope: [...scopes].join(" "),
        state: login.state,
        nonce: login.nonce,
        code_challenge: challenge,
        code_challenge_method: "S256",
      }).toString();
      return { url: url.toString(), login };
    },

    /**
     * The callback: checks state, trades the code (with the PKCE verifier) for tokens, verifies
     * the ID token and its nonce. Returns the identity and when the token expires.
     */
    async finish(client: OidcClient, login: LoginState, query: { code?: string; state?: string; error?: string; error_description?: string }): Promise<Identity & { expiresAt: number }> {
      if (query.error !== undefined) throw loginError(`the issuer refused the login: ${query.error}${query.error_description ? ` (${query.error_description})` : ""}`);
      if (deps.clock.now() > login.expiresAt) throw loginError("the login took too long; start again");
      if (query.state === undefined || query.state !== login.state) throw loginError("the login's state does not match (a callback for another login, or a forged one)");
      if (query.code === undefined || query.code === "") throw loginError("the issuer sent no authorization code");
      const d = await discover(client.issuer.issuer);
      const form = new URLSearchParams({ grant_type: "authorization_code", code: query.code, redirect_uri: client.redirectUrl, code_verifier: login.verifier, client_id: client.clientId });
      const headers: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", accept: "application/json" };
      if (client.clientSecret !== undefined && client.clientSecret !== "") {
        headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString("base64")}`;
      }
      let tokens: { id_token?: unknown; error?: unknown; error_description?: unknown };
      try {
        const res = await doFetch(d.token_endpoint, { method: "POST", headers, body: form, signal: AbortSignal.timeout(10_000) });
        tokens = (await res.json()) as typeof tokens;
        if (!res.ok) throw new Error(`HTTP ${res.status} ${String(tokens.error ?? "")} ${String(tokens.error_description ?? "")}`.trim());
      } catch (e) {
        throw loginError(`the issuer's token endpoint refused the code: ${errorMessage(e)}`, e);
      }
      if (typeof tokens.id_token !== "string") throw loginError("the issuer's token response has no id_token");
      // The gateway's own verifier, with the console's client id as the audience of ID tokens.
      const verifier = await createAuthenticator({ issuers: [{ ...client.issuer, audience: client.clientId }] }, { stateDir: deps.stateDir, clock: deps.clock, ...(deps.fetch ? { fetch: deps.fetch } : {}) });
      const identity = await verifier.authenticate(tokens.id_token);
      if (decodeJwt(tokens.id_token).nonce !== login.nonce) throw loginError("the ID token's nonce does not match this login (a replayed token?)");
      const exp = identity.expiresAt ?? (decodeJwt(tokens.id_token).exp ?? 0) * 1000;
      return { ...identity, expiresAt: exp };
    },
  };
}

export type OidcLogin = ReturnType<typeof createOidcLogin>;

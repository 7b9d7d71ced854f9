// The callback's checks that need no issuer: a state that is not this login's, a login that took
// too long, and an error the issuer sent back are refused before any request leaves the gateway.
import { expect, test } from "bun:test";
import { createOidcLogin, type LoginState, type OidcClient } from "./oidc-login.ts";

const client: OidcClient = { issuer: { name: "corp", issuer: "https://idp.invalid", audience: "x" }, clientId: "c", redirectUrl: "https://gate.example/login/callback", scopes: ["openid"] };
const now = 1_800_000_000_000;
const login: LoginState = { state: "the-state", verifier: "v".repeat(43), nonce: "n", returnTo: "/", expiresAt: now + 60_000 };

test("a forged or stale callback is refused without asking the issuer", async () => {
  let fetched = 0;
  const oidc = createOidcLogin({ clock: { now: () => now }, stateDir: "/nonexistent", fetch: (async () => (fetched++, new Response("{}", { status: 500 }))) as unknown as typeof fetch });
  await expect(oidc.finish(client, login, { code: "c", state: "another-state" })).rejects.toThrow("the login's state does not match");
  await expect(oidc.finish(client, login, { code: "c" })).rejects.toThrow("the login's state does not match");
  await expect(oidc.finish(client, login, { state: "the-state" })).rejects.toThrow("the issuer sent no authorization code");
  await expect(oidc.finish(client, login, { error: "access_denied", error_description: "user cancelled" })).rejects.toThrow("the issuer refused the login: access_denied (user cancelled)");
  const late = createOidcLogin({ clock: { now: () => now + 61_000 }, stateDir: "/nonexistent" });
  await expect(late.finish(client, login, { code: "c", state: "the-state" })).rejects.toThrow("the login took too long");
  expect(fetched).toBe(0);
});

test("the authorization request carries PKCE S256, state, nonce and the registered redirect", async () => {
  const oidc = createOidcLogin({
    clock: { now: () => now },
    stateDir: "/nonexistent",
    fetch: (async () => Response.json({ authorization_endpoint: "https://idp.invalid/auth", token_endpoint: "https://idp.invalid/token" })) as unknown as typeof fetch,
  });
  const { url, login: l } = await oidc.start(client, "/approvals");
  const u = new URL(url);
  expect(u.origin + u.pathname).toBe("https://idp.invalid/auth");
  const p = Object.fromEntries(u.searchParams);
  expect(p).toMatchObject({ response_type: "code", client_id: "c", redirect_uri: client.redirectUrl, scope: "openid", state: l.state, nonce: l.nonce, code_challenge_method: "S256" });
  const challenge = new Bun.CryptoHasher("sha256").update(l.verifier).digest("base64url");
  expect(p.code_challenge).toBe(challenge);
  expect(l.returnTo).toBe("/approvals");
  expect(l.state.length).toBeGreaterThanOrEqual(40);
});

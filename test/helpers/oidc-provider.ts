// Starts a real OpenID provider (npm oidc-provider, in-process on Koa) on 127.0.0.1 that issues
// JWT access tokens by the client-credentials grant, with a groups claim, over real HTTP.
// Its signing keys are generated here, so tests can also sign crafted tokens with the real key and kid.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { exportJWK, exportSPKI, generateKeyPair, type JWK } from "jose";

export interface ProviderKey {
  readonly kid: string;
  readonly alg: "RS256" | "ES256";
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  readonly publicJwk: JWK;
  /** SPKI PEM of the public key (what a key-confusion attacker would use as an HMAC secret). */
  readonly publicPem: string;
}

export interface StartOidcProviderOptions {
  /** Groups put in every token unless getToken says otherwise. Default ["analysts"]. */
  readonly groups?: readonly string[];
  /** Default 0: a free port. */
  readonly port?: number;
  /** Default audience (resource indicator) of the tokens. Default "https://gatehouse.test". */
  readonly audience?: string;
  /** Access token lifetime, seconds. Default 300. */
  readonly ttlSeconds?: number;
  /**
   * Also a client for browser logins (the console): the authorization code flow with PKCE, the
   * provider's own login form (any password), and these accounts' groups in the ID token.
   */
  readonly loginClient?: { readonly redirectUris: readonly string[]; readonly accounts: Readonly<Record<string, readonly string[]>> };
}

export interface GetTokenOptions {
  /** Groups for this token; null leaves the groups claim out entirely. */
  readonly groups?: readonly string[] | null;
  readonly scope?: string;
  /** Requested as the RFC 8707 resource indicator; becomes `aud`. Must be an absolute URI. */
  readonly audience?: string;
  /**
   * A platform's token shape (GitHub Actions, GitLab CI, Kubernetes, SPIFFE): the payload becomes
   * exactly iss, iat, exp, jti and these claims (sub and aud included, any string), without the
   * provider's own client_id, scope and groups; the header carries `typ` as given (none: no typ).
   */
  readonly platform?: {
    readonly claims: Readonly<Record<string, unknown>>;
    readonly alg?: "RS256" | "ES256";
    readonly ttlSeconds?: number;
    /** nbf this many seconds before iat (GitHub's are five minutes early). Default 0. */
    readonly notBeforeSeconds?: number;
    readonly typ?: string;
  };
}

export interface OidcProviderHandle {
  /** The issuer (`iss`), also the base URL. */
  readonly issuer: string;
  readonly url: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly audience: string;
  /** The browser-login client, when asked for (StartOidcProviderOptions.loginClient). */
  readonly login?: { readonly clientId: string; readonly clientSecret: string };
  /** The provider's signing keys; access tokens are signed with `rsa`. */
  readonly keys: { readonly rsa: ProviderKey; readonly ec: ProviderKey };
  getToken(opts?: GetTokenOptions): Promise<string>;
  close(): Promise<void>;
}

/** The form field, outside the OAuth parameters, that carries one token's groups to extraTokenClaims. */
const GROUPS_FIELD = "gatehouse_test_groups";
/** The same for a platform's token shape (GetTokenOptions.platform). */
const PLATFORM_FIELD = "gatehouse_test_platform";

function platformOf(ctx: { oidc?: { body?: Record<string, unknown> } } | undefined): GetTokenOptions["platform"] | undefined {
  const raw = ctx?.oidc?.body?.[PLATFORM_FIELD];
  return typeof raw === "string" ? (JSON.parse(raw) as GetTokenOptions["platform"]) : undefined;
}

async function makeKey(alg: "RS256" | "ES256", kid: string): Promise<{ key: ProviderKey; privateJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: "sig" };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: "sig" };
  return { key: { kid, alg, privateKey, publicKey, publicJwk, publicPem: await exportSPKI(publicKey) }, privateJwk };
}

// oidc-provider ships no type declarations; a string-typed specifier keeps tsc from looking for them,
// and the few members used are typed here.
type ProviderCtor = new (issuer: string, config: Record<string, unknown>) => {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
};

export async function startOidcProvider(opts: StartOidcProviderOptions = {}): Promise<OidcProviderHandle> {
  const providerModule: string = "oidc-provider";
  const adapterModule: string = "oidc-provider/lib/adapters/memory_adapter.js";
  const { default: Provider } = (await import(providerModule)) as { default: ProviderCtor };
  const { createMemoryAdapter } = (await import(adapterModule)) as { createMemoryAdapter: (tolerance: number) => unknown };

  const defaultGroups = [...(opts.groups ?? ["analysts"])];
  const audience = opts.audience ?? "https://gatehouse.test";
  const ttl = opts.ttlSeconds ?? 300;
  const clientId = "gatehouse-test-client";
  const clientSecret = randomBytes(32).toString("base64url");
  const rsa = await makeKey("RS256", `rsa-${randomBytes(4).toString("hex")}`);
  const ec = await makeKey("ES256", `ec-${randomBytes(4).toString("hex")}`);

  // The issuer URL needs the port, so listen first and hand requests to the provider once it exists.
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => {
    if (handle) handle(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://127.0.0.1:${port}`;

  const loginClientId = "gatehouse-console";
  const loginClientSecret = randomBytes(32).toString("base64url");
  const login = opts.loginClient;
  type Ctx = { oidc: { client?: { clientId: string }; session?: { accountId?: string; grantIdFor(id: string): string | undefined }; result?: { consent?: { grantId?: string } }; provider: { Grant: GrantCtor } } };
  type GrantCtor = (new (o: { clientId: string; accountId: string }) => { addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; save(): Promise<string> }) & { find(id: string): Promise<unknown> };
  const loginConfig = login
    ? {
        findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub, name: sub, groups: [...(login.accounts[sub] ?? [])] }) }),
        claims: { openid: ["sub"], profile: ["name"], groups: ["groups"] },
        conformIdTokenClaims: false,
        // A first-party client: no consent screen, the grant is made at once.
        loadExistingGrant: async (ctx: Ctx) => {
          const id = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
          if (id) return ctx.oidc.provider.Grant.find(id);
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
          grant.addOIDCScope("openid profile groups");
          grant.addOIDCClaims(["groups", "name"]);
          await grant.save();
          return grant;
        },
      }
    : {};
  const provider = new Provider(issuer, {
    adapter: createMemoryAdapter(0),
    ...loginConfig,
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic",
      },
      ...(login
        ? [
            {
              client_id: loginClientId,
              client_secret: loginClientSecret,
              grant_types: ["authorization_code"],
              redirect_uris: [...login.redirectUris],
              response_types: ["code"],
              token_endpoint_auth_method: "client_secret_basic",
            },
          ]
        : []),
    ],
    jwks: { keys: [rsa.privateJwk, ec.privateJwk] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    scopes: login ? ["openid", "profile", "groups", "api", "read"] : ["api", "read"],
    ttl: { ClientCredentials: (ctx: { oidc?: { body?: Record<string, unknown> } }) => platformOf(ctx)?.ttlSeconds ?? ttl },
    features: {
      devInteractions: { enabled: login !== undefined },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A browser login asks for an ID token only: no resource, so no resource scopes to grant.
        defaultResource: (_ctx: unknown, client: { clientId: string }) => (client.clientId === loginClientId ? undefined : audience),
        getResourceServerInfo: (ctx: { oidc?: { body?: Record<string, unknown> } }, resource: string) => {
          const platform = platformOf(ctx);
          return {
            scope: "api read",
            audience: resource,
            accessTokenFormat: "jwt",
            accessTokenTTL: platform?.ttlSeconds ?? ttl,
            jwt: { sign: { alg: platform?.alg ?? "RS256" } },
          };
        },
      },
    },
    formats: {
      customizers: {
        jwt: (ctx: { oidc?: { body?: Record<string, unknown> } }, _token: unknown, jwt: { header?: Record<string, unknown>; payload: Record<string, unknown> }) => {
          const platform = platformOf(ctx);
          if (platform === undefined) return;
          const { iss, iat, exp, jti } = jwt.payload;
          const nbf = typeof iat === "number" ? iat - (platform.notBeforeSeconds ?? 0) : iat;
          jwt.payload = { iss, iat, nbf, exp, jti, ...platform.claims };
          // JWT.sign puts typ: "at+jwt" first; a header field of the same name replaces it.
          jwt.header = { typ: platform.typ };
        },
      },
    },
    // The token request's body is kept raw on ctx.oidc.body; the extra field never reaches OAuth.
    extraTokenClaims: (ctx: { oidc?: { body?: Record<string, unknown> } }) => {
      const raw = ctx.oidc?.body?.[GROUPS_FIELD];
      const groups: unknown = typeof raw === "string" ? JSON.parse(raw) : defaultGroups;
      return groups === null ? undefined : { groups };
    },
  });
  handle = provider.callback();

  const tokenEndpoint = `${issuer}/token`;
  return {
    issuer,
    url: issuer,
    tokenEndpoint,
    jwksUri: `${issuer}/jwks`,
    clientId,
    clientSecret,
    audience,
    ...(login ? { login: { clientId: loginClientId, clientSecret: loginClientSecret } } : {}),
    keys: { rsa: rsa.key, ec: ec.key },
    async getToken(request: GetTokenOptions = {}): Promise<string> {
      const form = new URLSearchParams({ grant_type: "client_credentials", resource: request.audience ?? audience });
      if (request.scope !== undefined) form.set("scope", request.scope);
      if (request.groups !== undefined) form.set(GROUPS_FIELD, JSON.stringify(request.groups));
      if (request.platform !== undefined) form.set(PLATFORM_FIELD, JSON.stringify(request.platform));
      const res = await fetch(tokenEndpoint, {
        method: "POST",
        headers: {
          authorization: `Basic ${btoa(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`)}`,
          "content-type": "application/x-www-form-urlencoded",
        },
        body: form,
      });
      const body = (await res.json()) as { access_token?: unknown; error?: unknown; error_description?: unknown };
      if (!res.ok || typeof body.access_token !== "string") {
        throw new Error(`oidc-provider token request failed: HTTP ${res.status} ${String(body.error)} ${String(body.error_description)}`);
      }
      return body.access_token;
    },
    close(): Promise<void> {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    },
  };
}

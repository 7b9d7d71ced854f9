// The web console on the admin listener: login (OpenID Connect with PKCE, or the dev issuer's
// one-click login in development), the session cookie, roles from groups, CSRF checks on every
// state-changing request, and the pages: approvals and policy here, sessions and audit from
// their own sub-apps. Every login, logout and decision is an audit record.
import { Hono, type Context, type MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Approvals } from "../approvals/approvals.ts";
import type { Config } from "../config/schema.ts";
import { parseDuration } from "../core/duration.ts";
import { errorMessage } from "../core/errors.ts";
import type { Clock, Identity } from "../core/types.ts";
import { auditIdentity, type Gate } from "../gate/gate.ts";
import type { DevIssuer } from "../identity/dev-issuer.ts";
import { mintDevToken } from "../identity/dev-issuer.ts";
import type { Policy } from "../policy/compile.ts";
import { createApprovalPages } from "./approvals-page.ts";
import type { ConsoleEnv, ConsoleRole, ConsoleViewer } from "./console-env.ts";
import { h } from "./html.ts";
import { CONSOLE_CSP, CONSOLE_CSS, CONSOLE_CSS_PATH, CONSOLE_JS, CONSOLE_JS_PATH, layout } from "./layout.ts";
import type { LoginState, OidcClient, OidcLogin } from "./oidc-login.ts";
import { createPolicyPage, type PolicyStatus } from "./policy-page.ts";
import { safeReturnTo } from "./return-to.ts";
import { createCookieSigner, csrfMatches, LOGIN_COOKIE, newCsrfToken, readSession, SESSION_COOKIE, sessionCookie } from "./session-cookie.ts";

export interface ConsoleDeps {
  readonly config: () => Config;
  readonly policy: () => Policy;
  readonly gate: Pick<Gate, "decideApproval" | "record" | "recordHappened">;
  readonly approvals: Approvals;
  readonly clock: Clock;
  /** HMAC key of the cookies (session-cookie.ts loadOrCreateCookieKey). */
  readonly cookieKey: Buffer;
  /** The gateway's authenticator: the dev login checks the token it minted as every caller's is. */
  readonly authenticate: (credential: string) => Promise<Identity>;
  readonly oidc: OidcLogin;
  /** The dev issuer, for the one-click login (only when console.issuer is "dev" and the dev issuer is on). */
  readonly devIssuer?: () => Promise<DevIssuer>;
  readonly status: () => PolicyStatus;
  /** The admin listener serves TLS: cookies get Secure. */
  readonly tls: boolean;
  readonly remoteOf?: (session: string) => string | undefined;
  /** The other console pages (sessions, audit), mounted at their paths when given. */
  readonly pages?: { readonly sessions?: Hono<ConsoleEnv>; readonly audit?: Hono<ConsoleEnv> };
}

const DEFAULT_SESSION_MAX = 8 * 3_600_000;
// Scopes every IdP knows; one that needs a "groups" scope for the groups claim (Okta, Dex) is told so in console.scopes.
const DEFAULT_SCOPES = ["openid", "profile", "email"];
/** The paths behind the login (the admin API's own routes keep their bearer tokens). */
const CONSOLE_PATHS = ["/", "/approvals", "/approvals/*", "/policy", "/policy/*", "/sessions", "/sessions/*", "/audit", "/audit/*"];

/** The roles a person has in the console, from their groups and the configuration in force. */
export function rolesOf(groups: readonly string[], config: Config): Set<ConsoleRole> {
  const c = config.console;
  const has = (list: readonly string[] | undefined) => list !== undefined && groups.some((g) => list.includes(g));
  const roles = new Set<ConsoleRole>();
  if (has(c?.viewers) || has(c?.session_enders)) roles.add("view");
  if (has(c?.session_enders)) roles.add("end_sessions");
  // Approvers stay per rule: in an approver group of some review rule.
  if (config.rules.some((r) => r.effect === "review" && has(r.approvers))) roles.add("approve");
  return roles;
}

export function createConsoleApp(deps: ConsoleDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const signer = createCookieSigner(deps.cookieKey);
  // Sessions logged out before their expiry (by their CSRF token, unique to each login): a copy
  // of the cookie is refused too. In memory: a restart forgets them, the cookie key does not.
  const loggedOut = new Map<string, number>();
  // Live approval streams by login (CSRF token): a logout ends them at once, not at the login's expiry.
  const streams = new Map<string, Set<() => void>>();
  const onLogout = (csrf: string, end: () => void): (() => void) => {
    let set = streams.get(csrf);
    if (set === undefined) streams.set(csrf, (set = new Set()));
    set.add(end);
    return () => {
      set.delete(end);
      if (set.size === 0 && streams.get(csrf) === set) streams.delete(csrf);
    };
  };
  /** The request's session: signed by us, not expired, not logged out; or null. */
  const sessionOf = (c: Context<ConsoleEnv>) => {
    const read = readSession(signer, getCookie(c, SESSION_COOKIE), now());
    return read !== null && loggedOut.has(read.csrf) ? null : read;
  };
  const now = () => deps.clock.now();
  const secure = () => deps.tls || (deps.config().console?.redirect_url?.startsWith("https://") ?? false);

  const section = () => {
    const c = deps.config().console;
    if (c === undefined) throw new Error("the console is not configured");
    return c;
  };
  const isDev = () => section().issuer === "dev" && deps.config().identity.dev_issuer && deps.devIssuer !== undefined;
  const oidcClient = (): OidcClient => {
    const c = section();
    const issuer = deps.config().identity.issuers.find((i) => i.name === c.issuer);
    if (issuer === undefined || c.client_id === undefined || c.redirect_url === undefined) throw new Error(`console issuer "${c.issuer}" is not usable`);
    return { issuer, clientId: c.client_id, ...(c.client_secret ? { clientSecret: c.client_secret } : {}), redirectUrl: c.redirect_url, scopes: c.scopes ?? DEFAULT_SCOPES };
  };

  // Every console answer: no framing, no sniffing, no caching of pages with audit data, no referrer.
  app.use("*", async (c, next) => {
    await next();
    c.header("content-security-policy", CONSOLE_CSP);
    c.header("x-frame-options", "DENY");
    c.header("x-content-type-options", "nosniff");
    // same-origin, not no-referrer: under no-referrer Chromium sends "Origin: null" with a form
    // POST, which the same-origin check below refuses (found by the browser test of ending a session).
    c.header("referrer-policy", "same-origin");
    if (!c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
  });

  // A state-changing request must come from a page of this console (the browser says so), and
  // once logged in, carry the session's CSRF token (csrfCheck below).
  app.use("*", async (c, next) => {
    if (!isStateChanging(c.req.method)) return next();
    const site = c.req.header("sec-fetch-site");
    if (site !== undefined && site !== "same-origin" && site !== "none") return forbidden(c, "refused: this request did not come from a page of this console");
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== "null") {
      let host = "";
      try {
        host = new URL(origin).host;
      } catch {
        host = "";
      }
      // The URL's host is the Host header the browser sent (Bun builds req.url from it).
      if (host !== new URL(c.req.url).host) return forbidden(c, "refused: this request did not come from a page of this console");
    } else if (origin === "null" && site !== "same-origin") return forbidden(c, "refused: this request did not come from a page of this console");
    return next();
  });

  app.get(CONSOLE_CSS_PATH, (c) => c.body(CONSOLE_CSS, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "max-age=300" }));
  app.get(CONSOLE_JS_PATH, (c) => c.body(CONSOLE_JS, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "max-age=300" }));

  app.get("/login", (c) => {
    const returnTo = safeReturnTo(c.req.query("return_to"));
    // Already logged in (a bookmark, the back button): on to the page.
    if (sessionOf(c) !== null) return c.redirect(returnTo, 302);
    const c2 = section();
    const dev = isDev();
    const error = c.req.query("error");
    const body = h`${error === "expired" ? h`<p class="notice" role="status">Your console session ended; log in again.</p>` : ""}
${
  dev
    ? h`<p class="notice">Development mode: the dev issuer logs you in as anyone you name. Never use it in production.</p>
<form method="post" action="/login/dev" class="actions">
<input type="hidden" name="return_to" value="${returnTo}">
<label>Subject<input name="subject" value="dev-approver" required autocomplete="username"></label>
<label>Groups (comma separated)<input name="groups" value="${devGroups(deps.config()).join(",")}"></label>
<button type="submit" class="approve" autofocus>Log in with the dev issuer</button>
</form>`
    : h`<p>Log in with your organisation's account at <strong>${c2.issuer}</strong>.</p>
<p><a class="button approve" href="/login/start?return_to=${encodeURIComponent(returnTo)}" autofocus>Log in with ${c2.issuer}</a></p>`
}`;
    return c.html(layout(null, "Log in", body));
  });

  app.get("/login/start", async (c) => {
    if (isDev()) return c.redirect("/login", 302);
    const returnTo = safeReturnTo(c.req.query("return_to"));
    let started: { url: string; login: LoginState };
    try {
      started = await deps.oidc.start(oidcClient(), returnTo);
    } catch (e) {
      return loginFailed(c, `the login cannot start: ${errorMessage(e)}`, 503);
    }
    // Lax, not Strict: the issuer sends the browser back with a cross-site navigation.
    setCookie(c, LOGIN_COOKIE, signer.sign(started.login), { httpOnly: true, sameSite: "Lax", secure: secure(), path: "/login", maxAge: 600 });
    return c.redirect(started.url, 302);
  });

  app.get("/login/callback", async (c) => {
    const login = signer.verify(getCookie(c, LOGIN_COOKIE)) as LoginState | null;
    deleteCookie(c, LOGIN_COOKIE, { path: "/login", secure: secure(), httpOnly: true, sameSite: "Lax" });
    if (login === null || typeof login !== "object" || typeof login.state !== "string") return loginFailed(c, "no login in progress in this browser (or it was altered); start again", 400);
    let identity: Identity & { expiresAt: number };
    try {
      identity = await deps.oidc.finish(oidcClient(), login, c.req.query());
    } catch (e) {
      await deps.gate.recordHappened({ type: "console.login_refused", details: { issuer: section().issuer, reason: errorMessage(e) } });
      return loginFailed(c, `login refused: ${errorMessage(e)}`, 401);
    }
    return loggedIn(c, identity, identity.expiresAt, safeReturnTo(login.returnTo), "oidc");
  });

  app.post("/login/dev", async (c) => {
    if (!isDev()) return c.text("the dev login is off (console.issuer is not \"dev\", or identity.dev_issuer is off)", 404);
    const form = await c.req.parseBody();
    const subject = typeof form.subject === "string" ? form.subject.trim() : "";
    const groups = (typeof form.groups === "string" ? form.groups : "").split(",").map((g) => g.trim()).filter((g) => g !== "");
    if (subject === "") return loginFailed(c, "give a subject to log in as", 400);
    let identity: Identity;
    try {
      const dev = await deps.devIssuer!();
      const ttl = Math.min(maxSession(), 12 * 3_600_000);
      identity = await deps.authenticate(await mintDevToken({ sub: subject, groups, ttlMs: ttl }, dev, deps.clock));
    } catch (e) {
      return loginFailed(c, `login refused: ${errorMessage(e)}`, 401);
    }
    return loggedIn(c, identity, identity.expiresAt ?? now() + maxSession(), safeReturnTo(typeof form.return_to === "string" ? form.return_to : "/"), "dev");
  });

  const maxSession = () => {
    const m = deps.config().console?.session_max;
    return m !== undefined ? parseDuration(m) : DEFAULT_SESSION_MAX;
  };

  async function loggedIn(c: Context<ConsoleEnv>, identity: Identity, tokenExpiry: number, returnTo: string, how: "oidc" | "dev"): Promise<Response> {
    const roles = rolesOf(identity.groups, deps.config());
    if (roles.size === 0) {
      await deps.gate.recordHappened({ type: "console.login_refused", identity: auditIdentity(identity), details: { reason: "no console role", groups: identity.groups } });
      return loginFailed(c, `${identity.subject} has no role in the console: none of the groups (${identity.groups.join(", ") || "none"}) is a viewer, a session ender or an approver of a review rule`, 403);
    }
    const expiresAt = Math.min(tokenExpiry, now() + maxSession());
    try {
      // Fail closed: a login the audit log cannot take does not happen.
      await deps.gate.record({ type: "console.login", identity: auditIdentity(identity), details: { via: how, roles: [...roles], expires_at: new Date(expiresAt).toISOString() } });
    } catch (e) {
      return loginFailed(c, `login refused: the audit log cannot record it: ${errorMessage(e)}`, 503);
    }
    const value = sessionCookie(signer, { identity, expiresAt, csrf: newCsrfToken() });
    setCookie(c, SESSION_COOKIE, value, { httpOnly: true, sameSite: "Strict", secure: secure(), path: "/", maxAge: Math.max(1, Math.floor((expiresAt - now()) / 1000)) });
    // A page that moves on by itself rather than a redirect: a SameSite=Strict cookie is not
    // sent on the rest of a navigation that the issuer's site started. A function, not a string,
    // as the replacement: in a string, $` $' $& in the return path would be replacement patterns.
    const page = layout(null, "Logged in", h`<p>Logged in as ${identity.name ?? identity.subject}. <a id="continue" href="${returnTo}">Continue</a></p>`).replace("<head>", () => `<head><meta http-equiv="refresh" content="0;url=${escapeAttr(returnTo)}">`);
    return c.html(page, 200);
  }

  function loginFailed(c: Context<ConsoleEnv>, message: string, status: 400 | 401 | 403 | 404 | 503): Response {
    return c.html(layout(null, "Login failed", h`<p class="notice error" role="alert">${message}</p><p><a href="/login">Try again</a></p>`), status);
  }

  // Who is looking, for every console page; a missing, forged or expired cookie is no one.
  const authenticated: MiddlewareHandler<ConsoleEnv> = async (c, next) => {
    const session = sessionOf(c);
    if (session === null) {
      const hadCookie = getCookie(c, SESSION_COOKIE) !== undefined;
      if (c.req.method === "GET" && (c.req.header("accept") ?? "").includes("text/html")) {
        const back = safeReturnTo(c.req.path + (new URL(c.req.url).search || ""));
        return c.redirect(`/login?return_to=${encodeURIComponent(back)}${hadCookie ? "&error=expired" : ""}`, 302);
      }
      return c.json({ error: "unauthenticated", message: hadCookie ? "console session expired or invalid: log in again" : "log in to the console first" }, 401);
    }
    const roles = rolesOf(session.identity.groups, deps.config());
    if (roles.size === 0) return forbidden(c, `${session.identity.subject} no longer has a role in the console`);
    const viewer: ConsoleViewer = { identity: { ...session.identity, expiresAt: session.expiresAt }, roles, csrf: session.csrf };
    c.set("viewer", viewer);
    if (isStateChanging(c.req.method)) {
      let presented = c.req.header("x-csrf-token");
      if (presented === undefined) {
        const type = c.req.header("content-type") ?? "";
        if (type.includes("application/x-www-form-urlencoded") || type.includes("multipart/form-data")) {
          const form = await c.req.parseBody();
          presented = typeof form._csrf === "string" ? form._csrf : undefined;
        }
      }
      if (!csrfMatches(presented, session.csrf)) return forbidden(c, "refused: the form's CSRF token is missing or wrong (reload the page and try again)");
    }
    return next();
  };
  for (const p of CONSOLE_PATHS) app.use(p, authenticated);
  app.use("/logout", authenticated);

  const needs = (role: ConsoleRole | ConsoleRole[]): MiddlewareHandler<ConsoleEnv> => async (c, next) => {
    const v = c.get("viewer");
    const wanted = Array.isArray(role) ? role : [role];
    if (!wanted.some((r) => v.roles.has(r))) return forbidden(c, `this page needs the console role ${wanted.join(" or ")}`, v);
    return next();
  };

  app.post("/logout", async (c) => {
    const v = c.get("viewer");
    for (const [token, until] of loggedOut) if (until <= now()) loggedOut.delete(token);
    loggedOut.set(v.csrf, v.identity.expiresAt ?? now() + maxSession());
    for (const end of streams.get(v.csrf) ?? []) end();
    streams.delete(v.csrf);
    await deps.gate.recordHappened({ type: "console.logout", identity: auditIdentity(v.identity) });
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: secure(), httpOnly: true, sameSite: "Strict" });
    return c.redirect("/login", 303);
  });

  app.get("/", (c) => c.redirect("/approvals", 302));
  app.route("/approvals", createApprovalPages({ approvals: deps.approvals, gate: deps.gate, clock: deps.clock, rules: () => deps.config().rules, onLogout, ...(deps.remoteOf ? { remoteOf: deps.remoteOf } : {}) }));
  app.use("/policy", needs(["view", "approve"]));
  app.use("/policy/*", needs(["view", "approve"]));
  app.route("/policy", createPolicyPage({ config: deps.config, policy: deps.policy, status: deps.status }));
  for (const [path, sub, title] of [
    ["/sessions", deps.pages?.sessions, "Sessions"],
    ["/audit", deps.pages?.audit, "Audit"],
  ] as const) {
    app.use(path, needs("view"));
    app.use(`${path}/*`, needs("view"));
    if (sub !== undefined) app.route(path, sub);
    else app.get(path, (c) => c.html(layout(c.get("viewer"), title, h`<p class="empty">This page is not part of this build yet.</p>`, path)));
  }
  return app;
}

function isStateChanging(method: string): boolean {
  return method !== "GET" && method !== "HEAD" && method !== "OPTIONS";
}

function forbidden(c: Context<ConsoleEnv>, message: string, viewer?: ConsoleViewer): Response {
  if ((c.req.header("accept") ?? "").includes("text/html")) return c.html(layout(viewer ?? null, "Not allowed", h`<p class="notice error" role="alert">${message}</p>`), 403);
  return c.json({ error: "forbidden", message }, 403);
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** The dev login's suggested groups: every approver and viewer group the configuration names. */
function devGroups(config: Config): string[] {
  const groups = new Set<string>([...(config.console?.viewers ?? []), ...(config.console?.session_enders ?? [])]);
  for (const r of config.rules) if (r.effect === "review") for (const g of r.approvers ?? []) groups.add(g);
  return [...groups];
}

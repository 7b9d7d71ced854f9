// The console's login, session cookie, roles and CSRF checks, against the real gate, approvals
// and dev issuer (in memory, no listener): each way in that must be refused is refused.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMetrics } from "../admin/metrics.ts";
import { createAdminApp } from "../admin/admin-app.ts";
import { Approvals, type PendingRequest } from "../approvals/approvals.ts";
import { loadPolicyFromSources } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { silentLogger } from "../core/logger.ts";
import type { Identity, RequestFacts } from "../core/types.ts";
import { type AuditEvent, Gate, type Verdict } from "../gate/gate.ts";
import { createAuthenticator } from "../identity/authenticator.ts";
import { loadOrCreateDevIssuer } from "../identity/dev-issuer.ts";
import type { Policy } from "../policy/compile.ts";
import { createConsoleApp } from "./console-app.ts";
import { createOidcLogin } from "./oidc-login.ts";
import { SESSION_COOKIE } from "./session-cookie.ts";
import { within } from "../../test/helpers/wait.ts";

const CONFIG = `
gateway: { admin: { listen: "127.0.0.1:0" } }
identity: { dev_issuer: true }
console:
  issuer: dev
  viewers: [auditors]
  session_enders: [oncall]
targets:
  - { name: db, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:1" }
  - { name: pg, kind: postgres, listen: "127.0.0.1:0", upstream: { host: 127.0.0.1, database: app, user: app } }
rules:
  - name: two-eyes
    targets: [db]
    http: { paths: ["/two/**"] }
    effect: review
    approvers: [approvers]
    approvals_required: 2
  - name: db-writes
    targets: [db, pg]
    effect: review
    approvers: [approvers]
    message: writes need a second pair of eyes
`;

let dir: string;
let config: Config;
let policy: Policy;
let events: AuditEvent[];
let approvals: Approvals;
let gate: Gate;
let time = Date.now();
const clock = { now: () => time };
let app: ReturnType<typeof createAdminApp>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-console-"));
  const loaded = await loadPolicyFromSources([{ file: join(dir, "gatehouse.yaml"), text: CONFIG }], { baseDir: dir, env: {} });
  config = { ...loaded.config, gateway: { ...loaded.config.gateway, state_dir: dir } };
  policy = loaded.policy;
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(async () => {
  time = Date.now();
  events = [];
  approvals = new Approvals({ clock, onExpire: (p) => gate.expire(p) });
  gate = new Gate({ policy: () => policy, audit: { append: async (e) => (events.push(e), { seq: events.length }) }, approvals, clock, metrics: createMetrics(), log: silentLogger });
  const authenticator = await createAuthenticator(config.identity, { stateDir: dir, clock });
  const consoleApp = createConsoleApp({
    config: () => config,
    policy: () => policy,
    gate,
    approvals,
    clock,
    cookieKey: Buffer.alloc(32, 7),
    authenticate: (t) => authenticator.authenticate(t),
    oidc: createOidcLogin({ clock, stateDir: dir }),
    devIssuer: () => loadOrCreateDevIssuer(dir),
    status: () => ({ loadedAt: time }),
    tls: false,
    remoteOf: (s) => (s === "s1" ? "192.0.2.7:50122" : undefined),
  });
  app = createAdminApp({ gate, approvals, clock, metrics: createMetrics(), notReady: () => null, authenticate: async () => ({ method: "dev", subject: "x", issuer: "x", groups: [] }), console: consoleApp });
});

afterEach(() => approvals.close());

const BASE = "http://127.0.0.1:9090";
const HTML = { accept: "text/html" };

/** Logs in through the dev issuer's one-click form; returns the cookie header and the CSRF token. */
async function login(subject: string, groups: string[]): Promise<{ cookie: string; csrf: string }> {
  const res = await app.request(`${BASE}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: BASE }, body: new URLSearchParams({ subject, groups: groups.join(","), return_to: "/approvals" }) });
  expect(res.status).toBe(200);
  const set = res.headers.get("set-cookie") ?? "";
  expect(set).toContain("HttpOnly");
  expect(set).toContain("SameSite=Strict");
  const cookie = set.split(";")[0]!;
  const page = await (await app.request(`${BASE}/approvals`, { headers: { cookie, ...HTML } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  expect(csrf).toBeDefined();
  return { cookie, csrf: csrf! };
}

function hold(who: Identity, request: RequestFacts, session = "s1"): Promise<{ held: PendingRequest; verdict: Promise<Verdict> }> {
  return new Promise((resolve, reject) => {
    const verdict = gate.check({ identity: who, target: request.kind === "postgres" ? "pg" : "db", request, time }, { session, onHold: (p) => resolve({ held: p, verdict }) });
    void verdict.then((v) => reject(new Error(`the request was decided without being held: ${v.message}`)));
  });
}

const alice: Identity = { method: "dev", subject: "alice", issuer: "gatehouse-dev", groups: ["developers"] };
const post = (path: string, cookie: string, form: Record<string, string>, extra: Record<string, string> = {}) =>
  app.request(`${BASE}${path}`, { method: "POST", headers: { cookie, "content-type": "application/x-www-form-urlencoded", origin: BASE, ...extra }, body: new URLSearchParams(form) });

describe("login", () => {
  test("the login page of someone logged in goes on to the page", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    const res = await app.request(`${BASE}/login?return_to=%2Fpolicy`, { headers: { cookie, ...HTML } });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/policy");
  });

  test("a page without a session sends the browser to the login, keeping where it was going", async () => {
    const res = await app.request(`${BASE}/policy?x=1`, { headers: HTML });
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe("/login?return_to=%2Fpolicy%3Fx%3D1");
    // Not a browser: 401, and the admin API's own routes are untouched.
    expect((await app.request(`${BASE}/approvals`)).status).toBe(401);
    expect((await app.request(`${BASE}/healthz`)).status).toBe(200);
  });

  test("the dev login is audited and gives a signed, HttpOnly, SameSite=Strict session", async () => {
    await login("bob", ["approvers"]);
    expect(events.find((e) => e.type === "console.login")).toMatchObject({ identity: { subject: "bob", groups: ["approvers"] }, details: { via: "dev", roles: ["approve"] } });
  });

  test("someone with no console role is refused at the login, and that is audited", async () => {
    const res = await app.request(`${BASE}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ subject: "eve", groups: "developers" }) });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
    expect(events.find((e) => e.type === "console.login_refused")).toMatchObject({ identity: { subject: "eve" }, details: { reason: "no console role" } });
  });

  test("a forged, altered or expired cookie is no session", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    const value = cookie.slice(SESSION_COOKIE.length + 1);
    const [body, sig] = value.split(".");
    // Claim other groups with the old signature; sign with another key; drop the signature.
    const forgedBody = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, "base64url").toString()), g: ["approvers", "auditors"] })).toString("base64url");
    for (const bad of [`${forgedBody}.${sig}`, `${body}.${Buffer.alloc(32).toString("base64url")}`, `${body}`, "garbage"]) {
      const res = await app.request(`${BASE}/approvals`, { headers: { cookie: `${SESSION_COOKIE}=${bad}` } });
      expect(res.status).toBe(401);
    }
    // The token's lifetime (12h for the dev login, capped by session_max 8h) ends the session.
    time += 8 * 3_600_000 + 1000;
    const expired = await app.request(`${BASE}/approvals`, { headers: { cookie, ...HTML } });
    expect(expired.status).toBe(302);
    expect(expired.headers.get("location")).toBe("/login?return_to=%2Fapprovals&error=expired");
  });

  test("no open redirect through the OpenID login either: the login in progress keeps only a local path", async () => {
    const started: string[] = [];
    const oidcApp = createConsoleApp({
      config: () => ({ ...config, identity: { ...config.identity, issuers: [{ name: "corp", issuer: "https://idp.example", audience: "x" }] }, console: { issuer: "corp", client_id: "c", redirect_url: "https://gate.example/login/callback" } }),
      policy: () => policy,
      gate,
      approvals,
      clock,
      cookieKey: Buffer.alloc(32, 7),
      authenticate: async () => alice,
      oidc: {
        start: async (_c, returnTo) => (started.push(returnTo), { url: "https://idp.example/authorize?x", login: { state: "s".repeat(20), verifier: "v", nonce: "n", returnTo, expiresAt: time + 60_000 } }),
        finish: async () => ({ ...alice, groups: ["approvers"], expiresAt: time + 60_000 }),
      },
      status: () => ({ loadedAt: time }),
      tls: false,
    });
    for (const evil of ["https://evil.example/", "//evil.example", "/\\evil.example"]) {
      const res = await oidcApp.request(`${BASE}/login/start?return_to=${encodeURIComponent(evil)}`);
      expect(res.status).toBe(302);
      expect(res.headers.get("location")).toBe("https://idp.example/authorize?x");
      // The login cookie is Lax (the issuer's redirect back is cross-site), HttpOnly, Secure (an https redirect_url), for /login only.
      expect(res.headers.get("set-cookie")).toMatch(/^gatehouse_login=[^;]+; Max-Age=600; Path=\/login; HttpOnly; Secure; SameSite=Lax$/);
    }
    expect(started).toEqual(["/", "/", "/"]);
    // A callback without the login cookie (another browser, or forged) is refused.
    const none = await oidcApp.request(`${BASE}/login/callback?code=c&state=${"s".repeat(20)}`);
    expect(none.status).toBe(400);
    expect(none.headers.get("set-cookie") ?? "").not.toContain("gatehouse_console=");
  });

  test("no open redirect: the return path is only ever a local path", async () => {
    const page = await (await app.request(`${BASE}/login?return_to=${encodeURIComponent("https://evil.example/")}`)).text();
    expect(page).toContain('name="return_to" value="/"');
    for (const evil of ["//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"]) {
      const res = await app.request(`${BASE}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ subject: "bob", groups: "approvers", return_to: evil }) });
      const text = await res.text();
      expect(text).toContain('<meta http-equiv="refresh" content="0;url=/">');
      expect(text).not.toContain("evil.example");
    }
  });

  test("a return path with $' or $` is written into the page's refresh as itself (no replacement pattern pulls the page into the attribute)", async () => {
    for (const back of ["/approvals?x=$'", "/approvals?x=$`", "/approvals?x=$&"]) {
      const res = await app.request(`${BASE}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ subject: "bob", groups: "approvers", return_to: back }) });
      const text = await res.text();
      const meta = /<meta http-equiv="refresh" content="([^"]*)">/.exec(text);
      const url = new URL(back, BASE);
      expect(meta?.[1]).toBe(`0;url=${url.pathname}${url.search}`.replace(/&/g, "&amp;"));
      expect(text.match(/<head>/g)?.length).toBe(1);
    }
  });
});

describe("approving from the console", () => {
  test("approve once: the held request goes on at once, and the record names the approver and the console", async () => {
    const { cookie, csrf } = await login("bob", ["approvers"]);
    const { held, verdict } = await hold(alice, { kind: "http", method: "POST", path: "/orders" });
    const res = await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/approvals?done=approved&id=${held.id}`);
    expect(await verdict).toMatchObject({ allowed: true, message: "approved by bob" });
    expect(events.at(-1)).toMatchObject({ type: "approval.granted", identity: { subject: "bob" }, details: { approval: held.id, approver: "bob", via: "console" } });
  });

  test("approve for a while: the grant is recorded and covers the rule on the target; longer than grant_max is refused", async () => {
    const { cookie, csrf } = await login("bob", ["approvers"]);
    const { held, verdict } = await hold(alice, { kind: "http", method: "POST", path: "/orders" });
    const page = await (await app.request(`${BASE}/approvals`, { headers: { cookie, ...HTML } })).text();
    // grant_max defaults to 1h: the choices stop there, and the card says what the grant covers.
    expect([...page.matchAll(/<option value="([^"]+)">/g)].map((m) => m[1])).toEqual(["15m", "30m", "1h"]);
    expect(page).toContain("lets alice run, on target db, anything rule db-writes covers (any request) until the grant ends");
    const tooLong = await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf, for: "2h" });
    expect(tooLong.status).toBe(403);
    expect(await tooLong.text()).toContain("exceeds the limit of rule &quot;db-writes&quot; (grant_max 1h)");
    expect((await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf, for: "30m" })).status).toBe(303);
    expect((await verdict).allowed).toBe(true);
    const granted = events.at(-1)!;
    expect(granted.type).toBe("approval.granted");
    expect(Date.parse(String(granted.details!.grant_until)) - time).toBe(30 * 60_000);
    // Under the grant, the next request of the rule goes through without being held.
    const next = await gate.check({ identity: alice, target: "db", request: { kind: "http", method: "PUT", path: "/other" }, time });
    expect(next).toMatchObject({ allowed: true, approvalId: held.id });
  });

  test("a webhook's link to one request shows it first and marked, or says it is no longer waiting", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    await hold(alice, { kind: "http", method: "POST", path: "/orders/1" });
    const { held } = await hold(alice, { kind: "http", method: "POST", path: "/orders/2" }, "s2");
    const page = await (await app.request(`${BASE}/approvals?id=${held.id}`, { headers: { cookie, ...HTML } })).text();
    expect(page).toContain(`data-linked="req-${held.id}"`);
    expect(page.indexOf(`id="req-${held.id}"`)).toBe(page.indexOf('<article class="card"') + '<article class="card" '.length);
    const gone = await (await app.request(`${BASE}/approvals?id=apr_000000000000`, { headers: { cookie, ...HTML } })).text();
    expect(gone).toContain("apr_000000000000 is no longer waiting");
  });

  test("the page's script asks for JSON: the decision's answer, or why not, without a page", async () => {
    const { cookie, csrf } = await login("bob", ["approvers"]);
    const { held, verdict } = await hold(alice, { kind: "http", method: "POST", path: "/orders" });
    const json = { accept: "application/json" };
    const bad = await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf, for: "2h" }, json);
    expect(bad.status).toBe(403);
    expect(await bad.json()).toMatchObject({ error: "forbidden", message: expect.stringContaining("exceeds the limit") });
    const ok = await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf }, json);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ id: held.id, done: "approved", message: `${held.id}: Approved: the caller's request goes on now.` });
    expect((await verdict).allowed).toBe(true);
    const gone = await post(`/approvals/${held.id}/deny`, cookie, { _csrf: csrf, reason: "x" }, json);
    expect(gone.status).toBe(404);
  });

  test("deny with a reason: the caller gets it", async () => {
    const { cookie, csrf } = await login("bob", ["approvers"]);
    const { held, verdict } = await hold(alice, { kind: "http", method: "DELETE", path: "/orders/1" });
    expect((await post(`/approvals/${held.id}/deny`, cookie, { _csrf: csrf, reason: "not during the freeze" })).status).toBe(303);
    expect((await verdict).message).toBe(`approval ${held.id} denied by bob: not during the freeze`);
  });

  test("without the CSRF token, or with another session's, nothing is decided", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    const other = await login("carol", ["approvers"]);
    const { held } = await hold(alice, { kind: "http", method: "POST", path: "/orders" });
    const forms: Record<string, string>[] = [{}, { _csrf: "" }, { _csrf: other.csrf }, { _csrf: "x".repeat(32) }];
    for (const form of forms) {
      const res = await post(`/approvals/${held.id}/approve`, cookie, form);
      expect(res.status).toBe(403);
      expect(await res.text()).toContain("CSRF token is missing or wrong");
    }
    expect(approvals.get(held.id)).toBeDefined();
    expect(events.some((e) => e.type === "approval.granted")).toBe(false);
  });

  test("a request from another site is refused even with the token", async () => {
    const { cookie, csrf } = await login("bob", ["approvers"]);
    const { held } = await hold(alice, { kind: "http", method: "POST", path: "/orders" });
    expect((await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf }, { origin: "https://evil.example" })).status).toBe(403);
    expect((await post(`/approvals/${held.id}/approve`, cookie, { _csrf: csrf }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect(approvals.get(held.id)).toBeDefined();
  });

  test("a viewer who is not an approver cannot approve; the requester cannot approve their own request", async () => {
    const viewer = await login("vera", ["auditors"]);
    const { held } = await hold(alice, { kind: "http", method: "POST", path: "/orders" });
    const page = await (await app.request(`${BASE}/approvals`, { headers: { cookie: viewer.cookie, ...HTML } })).text();
    expect(page).toContain(held.id);
    expect(page).not.toContain(`action="/approvals/${held.id}/approve"`);
    const res = await post(`/approvals/${held.id}/approve`, viewer.cookie, { _csrf: viewer.csrf });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain("is not in an approver group of rule");
    // alice is an approver too, of other people's requests, never of her own.
    const self = await login("alice", ["developers", "approvers"]);
    const { held: own } = await hold({ ...alice, groups: ["developers", "approvers"] }, { kind: "http", method: "POST", path: "/orders" }, "s2");
    const mine = await post(`/approvals/${own.id}/approve`, self.cookie, { _csrf: self.csrf });
    expect(mine.status).toBe(403);
    expect(await mine.text()).toContain(`requested ${own.id} and cannot approve`);
    expect(approvals.get(held.id)).toBeDefined();
    expect(approvals.get(own.id)).toBeDefined();
  });

  test("script in a SQL statement or a path is shown as text, on the page and in the live stream", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    await hold(alice, { kind: "postgres", classes: ["read"], relations: [], functions: [], sql: "SELECT '<script>alert(1)</script>'" });
    await hold(alice, { kind: "http", method: "GET", path: '/x/"><img/src=x/onerror=alert(1)>' }, "s2");
    const page = await (await app.request(`${BASE}/approvals`, { headers: { cookie, ...HTML } })).text();
    expect(page).toContain("SELECT &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;");
    expect(page).not.toContain("<script>alert");
    expect(page).toContain("/x/&quot;&gt;&lt;img/src=x/onerror=alert(1)&gt;");
    expect(page).not.toContain("<img/src=x");
    const res = await app.request(`${BASE}/approvals/events`, { headers: { cookie } });
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    await reader.cancel();
    const snapshot = new TextDecoder().decode(value);
    expect(snapshot).toContain("event: snapshot");
    const data = JSON.parse(snapshot.split("\n").find((l) => l.startsWith("data: "))!.slice(6)) as { cards: { html: string }[] };
    expect(data.cards.map((c) => c.html).join("")).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(data.cards.map((c) => c.html).join("")).not.toContain("<script>");
  });

  test("the card says who, from where, what exactly, which rule and why, and how long", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    const { held } = await hold(alice, { kind: "postgres", classes: ["update"], relations: ["sales.orders"], functions: [], sql: "UPDATE sales.orders SET paid = true WHERE id = 7" });
    const page = await (await app.request(`${BASE}/approvals`, { headers: { cookie, ...HTML } })).text();
    for (const part of ["alice", "192.0.2.7:50122", "UPDATE sales.orders SET paid = true WHERE id = 7", "db-writes", "writes need a second pair of eyes", `data-since="${held.requestedAt}"`, `data-until="${held.expiresAt}"`, "Approve once", "Approve for a while", "Deny"]) {
      expect(page).toContain(part);
    }
  });

  test("a new held request arrives on the event stream without reloading", async () => {
    const { cookie } = await login("bob", ["approvers"]);
    const res = await app.request(`${BASE}/approvals/events`, { headers: { cookie } });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    expect(text).toContain("event: snapshot");
    const { held } = await hold(alice, { kind: "http", method: "POST", path: "/orders/live" });
    while (!text.includes("event: upsert")) text += decoder.decode((await reader.read()).value);
    expect(text).toContain(held.id);
    expect(text).toContain("/orders/live");
    await reader.cancel();
  });
});

test("the live stream ends when the console session does", async () => {
  const { cookie } = await login("bob", ["approvers"]);
  // 8h is session_max's default, and the dev token's lifetime (whole seconds): 0.5-1.5 s of the session are left.
  time += 8 * 3_600_000 - 1500;
  const res = await app.request(`${BASE}/approvals/events`, { headers: { cookie } });
  const reader = res.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("event: snapshot");
  const next = await within("the stream to end at the session's expiry", reader.read());
  expect(next.done).toBe(true);
});

test("the live stream ends when its login logs out (in another tab), and shows nothing held after", async () => {
  const bob = await login("bob", ["approvers"]);
  const res = await app.request(`${BASE}/approvals/events`, { headers: { cookie: bob.cookie } });
  const reader = res.body!.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toContain("event: snapshot");
  expect((await post("/logout", bob.cookie, { _csrf: bob.csrf })).status).toBe(303);
  await hold(alice, { kind: "http", method: "POST", path: "/after/logout" });
  let rest = "";
  for (;;) {
    const next = await within("the stream to end at the logout", reader.read());
    if (next.done) break;
    rest += new TextDecoder().decode(next.value);
  }
  expect(rest).not.toContain("/after/logout");
});

describe("approvals_required: 2 in the console", () => {
  test("the first approval is recorded and shown; the same approver cannot approve twice; a second approver releases it", async () => {
    const bob = await login("bob", ["approvers"]);
    const carol = await login("carol", ["approvers"]);
    const { held, verdict } = await hold(alice, { kind: "http", method: "POST", path: "/two/x" });
    let settled = false;
    void verdict.then(() => (settled = true));
    const first = await post(`/approvals/${held.id}/approve`, bob.cookie, { _csrf: bob.csrf });
    expect(first.headers.get("location")).toBe(`/approvals?done=recorded&id=${held.id}`);
    expect(settled).toBe(false);
    const bobPage = await (await app.request(`${BASE}/approvals?done=recorded&id=${held.id}`, { headers: { cookie: bob.cookie, ...HTML } })).text();
    expect(bobPage).toContain("Your approval is recorded; the request waits for another approver.");
    expect(bobPage).toContain("You approved this request; it waits for 1 more approver(s).");
    expect(bobPage).toMatch(/<dt>Approvals<\/dt><dd>1 of 2 <span class="muted">\(bob at [0-9T:-]+Z\)<\/span>/);
    const again = await post(`/approvals/${held.id}/approve`, bob.cookie, { _csrf: bob.csrf });
    expect(again.status).toBe(403);
    expect(await again.text()).toContain("has already approved");
    expect((await post(`/approvals/${held.id}/approve`, carol.cookie, { _csrf: carol.csrf })).headers.get("location")).toBe(`/approvals?done=approved&id=${held.id}`);
    expect((await verdict).allowed).toBe(true);
    expect(events.filter((e) => e.type.startsWith("approval.")).map((e) => e.type)).toEqual(["approval.requested", "approval.reviewed", "approval.granted"]);
  });
});

describe("roles", () => {
  test("a viewer sees the policy page; an approver of no other role does not see sessions and audit", async () => {
    const viewer = await login("vera", ["auditors"]);
    expect((await app.request(`${BASE}/policy`, { headers: { cookie: viewer.cookie, ...HTML } })).status).toBe(200);
    expect((await app.request(`${BASE}/audit`, { headers: { cookie: viewer.cookie, ...HTML } })).status).toBe(200);
    const approver = await login("bob", ["approvers"]);
    expect((await app.request(`${BASE}/audit`, { headers: { cookie: approver.cookie, ...HTML } })).status).toBe(403);
    expect((await app.request(`${BASE}/sessions`, { headers: { cookie: approver.cookie, ...HTML } })).status).toBe(403);
  });

  test("the policy page runs explain as the given identity", async () => {
    const viewer = await login("vera", ["auditors"]);
    const q = new URLSearchParams({ as: "alice", groups: "developers", target: "db", request: "POST /orders" });
    const page = await (await app.request(`${BASE}/policy?${q}`, { headers: { cookie: viewer.cookie, ...HTML } })).text();
    expect(page).toContain(policy.hash);
    expect(page).toContain("Explained: alice on db (http)");
    expect(page).toContain('<span class="badge review">review</span> by <code>db-writes</code>');
    // The rules as the YAML reads, each with where it is.
    expect(page).toContain("targets db; http: paths /two/**; approvers approvers (2 needed)");
    expect(page).toMatch(/gatehouse\.yaml:\d+<\/td>/);
  });

  test("logging out is audited and needs the CSRF token", async () => {
    const { cookie, csrf } = await login("bob", ["approvers"]);
    expect((await post("/logout", cookie, {})).status).toBe(403);
    const res = await post("/logout", cookie, { _csrf: csrf });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toContain(`${SESSION_COOKIE}=;`);
    expect(events.at(-1)).toMatchObject({ type: "console.logout", identity: { subject: "bob" } });
    // A copy of the cookie kept from before the logout is no session any more.
    expect((await app.request(`${BASE}/approvals`, { headers: { cookie } })).status).toBe(401);
    expect((await app.request(`${BASE}/login`, { headers: { cookie, ...HTML } })).status).toBe(200);
  });
});

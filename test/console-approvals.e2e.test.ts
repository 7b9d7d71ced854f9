// End to end, in a real browser: Debian's chromium (playwright-core, headless) logs in to the
// compiled gateway's console through a real OpenID provider (authorization code + PKCE), sees a
// psql statement held for review appear without a reload, approves it and psql completes;
// denies another and psql gets the reason as its error. Screenshots of the pages are kept
// (GATEHOUSE_SCREENSHOTS, default a temp folder) for people to look at.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { auditRecordsWhen, type GatewayProcess, startGatewayProcess } from "./helpers/gateway.ts";
import { startOidcProvider, type OidcProviderHandle } from "./helpers/oidc-provider.ts";
import { freePort } from "./helpers/ports.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";

const SHOTS = process.env.GATEHOUSE_SCREENSHOTS ?? join(tmpdir(), `gatehouse-console-shots-${process.pid}`);

let pg: PostgresInstance;
let idp: OidcProviderHandle;
let gw: GatewayProcess;
let browser: Browser;
let page: Page;
let admin: string;
let developerToken: string;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  pg = await startPostgres();
  await pg.psql("CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY, status text); INSERT INTO sales.orders VALUES (7, 'open'), (8, 'open'); CREATE TABLE sales.refunds (id int PRIMARY KEY, amount int); INSERT INTO sales.refunds VALUES (1, 10);");
  const adminPort = await freePort();
  admin = `http://127.0.0.1:${adminPort}`;
  idp = await startOidcProvider({ loginClient: { redirectUris: [`${admin}/login/callback`], accounts: { bob: ["approvers"], carol: ["approvers"], vera: ["auditors"] } } });
  developerToken = await idp.getToken({ groups: ["developers"] });
  // The admin port is fixed (the provider knows the redirect URL); the serving line gives the target's.
  gw = await startGatewayProcess({
    env: { CONSOLE_CLIENT_SECRET: idp.login!.clientSecret },
    files: {
      "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${adminPort}" } }
audit: { path: ./state/audit/audit.log }
identity:
  issuers:
    - { name: corp, issuer: "${idp.issuer}", audience: "${idp.audience}" }
console:
  issuer: corp
  client_id: ${idp.login!.clientId}
  client_secret: \${env:CONSOLE_CLIENT_SECRET}
  redirect_url: ${admin}/login/callback
  scopes: [openid, profile, groups]
  viewers: [auditors]
targets:
  - name: sales-db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
rules:
  - name: read-sales
    groups: [developers]
    postgres: { classes: [read], tables: ["sales.*"] }
    effect: allow
  - name: order-fixes
    groups: [developers]
    postgres: { classes: [update], tables: [sales.orders] }
    effect: review
    approvers: [approvers]
    message: changing orders needs an approver
    timeout: 10m
  - name: refunds
    groups: [developers]
    postgres: { classes: [update], tables: [sales.refunds] }
    effect: review
    approvers: [approvers]
    approvals_required: 2
    message: refunds need two approvers
    timeout: 10m
`,
    },
  });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: ["--no-sandbox"] });
  page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  gw?.cleanup();
  await idp?.close();
  await pg?.stop();
});

function psql(sql: string) {
  const proc = Bun.spawn(["psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(gw.port("sales-db")), "-U", "someone", "-d", "sales-db", "-c", sql], {
    env: { ...process.env, PGPASSWORD: developerToken, PGCONNECT_TIMEOUT: "20", LC_ALL: "C" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let finished = false;
  const result = Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).then(([stdout, stderr, code]) => ((finished = true), { stdout, stderr, code }));
  return { result, finished: () => finished };
}

test("log in through the OpenID provider (authorization code with PKCE), landing on the page asked for", async () => {
  await page.goto(`${admin}/approvals`);
  await page.waitForURL(/\/login\?return_to=%2Fapprovals/);
  await page.screenshot({ path: join(SHOTS, "console-login.png") });
  await page.getByRole("link", { name: "Log in with corp" }).click();
  // The provider's own login form (oidc-provider's development interactions).
  await page.waitForURL(new RegExp(`^${idp.issuer}/interaction/`));
  await page.fill('input[name="login"]', "bob");
  await page.fill('input[name="password"]', "any");
  await page.click('button[type="submit"]');
  await page.waitForURL(`${admin}/approvals`);
  expect(await page.textContent("h1")).toBe("Approvals");
  expect(await page.textContent(".who span")).toBe("bob");
  const cookies = await page.context().cookies(admin);
  const session = cookies.find((c) => c.name === "gatehouse_console");
  expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict" });
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((r) => r.type === "console.login"), "the console.login record");
  expect(records.find((r) => r.type === "console.login")).toMatchObject({ identity: { subject: "bob", groups: ["approvers"] }, details: { via: "oidc", roles: ["approve"] } });
}, 60_000);

test("a held psql statement appears without a reload; approving it lets psql complete", async () => {
  await page.goto(`${admin}/approvals`);
  await page.waitForSelector("#live:has-text('Live')");
  const navigations: string[] = [];
  page.on("framenavigated", (f) => navigations.push(f.url()));
  const run = psql("UPDATE sales.orders SET status = 'paid' WHERE id = 7");
  const card = page.locator("article", { hasText: "UPDATE sales.orders SET status = 'paid' WHERE id = 7" });
  await card.waitFor({ timeout: 30_000 });
  expect(navigations).toEqual([]);
  expect(await card.textContent()).toContain("order-fixes");
  expect(await card.textContent()).toContain("changing orders needs an approver");
  // From: the psql client's own address and port, as the session's start record has it.
  expect(await card.textContent()).toMatch(/From127\.0\.0\.1:\d+/);
  expect(run.finished()).toBe(false);
  await page.screenshot({ path: join(SHOTS, "console-approvals.png"), fullPage: true });
  await card.getByRole("button", { name: "Approve once" }).click();
  const r = await run.result;
  expect(r.stderr).not.toContain("ERROR");
  expect(r.stdout).toContain("UPDATE 1");
  expect(r.code).toBe(0);
  expect(await pg.psql("SELECT status FROM sales.orders WHERE id = 7")).toBe("paid\n");
  // Decided in place: the answer shows on the page, the card goes with the live stream, no navigation.
  await page.waitForSelector("#flash:has-text('Approved')");
  await card.waitFor({ state: "detached" });
  expect(navigations).toEqual([]);
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((x) => x.type === "approval.granted"), "the approval.granted record");
  expect(records.find((x) => x.type === "approval.granted")).toMatchObject({ identity: { subject: "bob" }, details: { via: "console", approver: "bob" } });
}, 90_000);

test("denying another: psql gets the error with the reason", async () => {
  await page.goto(`${admin}/approvals`);
  await page.waitForSelector("#live:has-text('Live')");
  const run = psql("UPDATE sales.orders SET status = '<script>alert(1)</script>' WHERE id = 8");
  const card = page.locator("article", { hasText: "WHERE id = 8" });
  await card.waitFor({ timeout: 30_000 });
  // The statement is shown as text: no script ran, no element was made of it.
  expect(await card.locator("pre.request").textContent()).toBe("UPDATE sales.orders SET status = '<script>alert(1)</script>' WHERE id = 8");
  expect(await page.locator("article script").count()).toBe(0);
  await card.getByLabel("Reason").fill("not during the freeze");
  await card.getByRole("button", { name: "Deny" }).click();
  const r = await run.result;
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain("denied by bob: not during the freeze");
  expect(await pg.psql("SELECT status FROM sales.orders WHERE id = 8")).toBe("open\n");
}, 90_000);

test("the policy page shows the policy and explains a statement as a given identity", async () => {
  await page.goto(`${admin}/policy?as=dev1&groups=developers&target=sales-db&request=${encodeURIComponent("DELETE FROM sales.orders")}`);
  expect(await page.textContent("h1")).toBe("Policy");
  expect(await page.locator("main").textContent()).toContain("order-fixes");
  expect(await page.locator("#explained").textContent()).toContain("Explained: dev1 on sales-db (postgres)");
  await page.screenshot({ path: join(SHOTS, "console-policy.png"), fullPage: true });
  // Readable on a phone: the same page at a phone's width.
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, storageState: await page.context().storageState() });
  await phone.goto(`${admin}/approvals`);
  const run = psql("UPDATE sales.orders SET status = 'late' WHERE id = 8");
  await phone.locator("article", { hasText: "status = 'late'" }).waitFor({ timeout: 30_000 });
  expect(await phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
  await phone.screenshot({ path: join(SHOTS, "console-approvals-phone.png"), fullPage: true });
  await phone.locator("article", { hasText: "status = 'late'" }).getByLabel("Reason").fill("no");
  await phone.locator("article", { hasText: "status = 'late'" }).getByRole("button", { name: "Deny" }).click();
  expect((await run.result).code).not.toBe(0);
  await phone.close();
}, 90_000);

test("approvals_required: 2: bob's approval is shown to carol, psql waits, and goes on at carol's", async () => {
  await page.goto(`${admin}/approvals`);
  await page.waitForSelector("#live:has-text('Live')");
  const run = psql("UPDATE sales.refunds SET amount = 20 WHERE id = 1");
  const card = page.locator("article", { hasText: "UPDATE sales.refunds" });
  await card.waitFor({ timeout: 30_000 });
  expect(await card.textContent()).toContain("Approvals0 of 2");
  await card.getByRole("button", { name: "Approve once" }).click();
  await page.waitForSelector("#flash:has-text('Your approval is recorded')");
  // Still held; bob's card now says so (the live stream replaced it).
  await page.locator("article", { hasText: "You approved this request; it waits for 1 more approver(s)." }).waitFor();
  expect(run.finished()).toBe(false);

  // carol, in another browser session, logs in through the provider and sees bob's approval.
  const other = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const carol = await other.newPage();
  await carol.goto(`${admin}/approvals`);
  await carol.getByRole("link", { name: "Log in with corp" }).click();
  await carol.waitForURL(new RegExp(`^${idp.issuer}/interaction/`));
  await carol.fill('input[name="login"]', "carol");
  await carol.fill('input[name="password"]', "any");
  await carol.click('button[type="submit"]');
  await carol.waitForURL(`${admin}/approvals`);
  const theirs = carol.locator("article", { hasText: "UPDATE sales.refunds" });
  expect(await theirs.textContent()).toMatch(/Approvals1 of 2 \(bob at [0-9T:-]+Z\)/);
  await carol.screenshot({ path: join(SHOTS, "console-approvals-two.png"), fullPage: true });
  await theirs.getByRole("button", { name: "Approve once" }).click();
  const r = await run.result;
  expect(r.stdout).toContain("UPDATE 1");
  expect(r.code).toBe(0);
  const records = await auditRecordsWhen(gw.auditPath, (all) => all.some((x) => x.type === "approval.granted" && (x.details as { approved_by?: unknown }).approved_by !== undefined), "the two-approver approval.granted record");
  expect(records.find((x) => x.type === "approval.reviewed")).toMatchObject({ identity: { subject: "bob" }, details: { approvals: 1, approvals_required: 2, via: "console" } });
  expect(records.find((x) => x.type === "approval.granted" && (x.details as { approved_by?: unknown }).approved_by !== undefined)).toMatchObject({ identity: { subject: "carol" }, details: { approved_by: ["bob", "carol"] } });
  await other.close();
}, 90_000);

test("a rejected reload shows on the policy page with its file:line:column, and the old policy keeps serving", async () => {
  const before = await page.goto(`${admin}/policy`).then(() => page.locator("dl.facts dd code").first().textContent());
  const path = gw.configPath;
  const text = await Bun.file(path).text();
  await Bun.write(path, text.replace("effect: allow", "effect: alow"));
  await gw.waitForLog("policy reload rejected", 30_000);
  await page.goto(`${admin}/policy`);
  const errors = await page.locator("#errs + pre").textContent();
  expect(errors).toMatch(/gatehouse\.yaml:\d+:\d+: rules\[0\]\.effect/);
  expect(await page.locator("main").textContent()).toContain("rejected, the policy above keeps serving");
  expect(await page.locator("dl.facts dd code").first().textContent()).toBe(before);
  await page.screenshot({ path: join(SHOTS, "console-policy-rejected.png"), fullPage: true });
  await Bun.write(path, text);
}, 60_000);

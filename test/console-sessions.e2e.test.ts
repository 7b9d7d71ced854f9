// End to end: the console's sessions and audit pages on a real gateway's admin listener (logged
// in through the dev issuer's one-click login: a signed cookie and a CSRF token), in front of a
// real PostgreSQL and a real sshd, with real psql and ssh, and Debian's chromium driven by
// playwright-core. A live psql session and a live ssh session are listed and ended from the
// console (the clients are told, session.end names who ended them); a viewer without
// end_sessions cannot; an ssh -tt session's recording plays in asciinema-player (bundled,
// served by the gateway); the audit search finds a statement, shown escaped.
// Screenshots go to test/artifacts/console/.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import type { AuditRecord } from "../src/audit/record.ts";
import { readRecords } from "../src/audit/reader.ts";
import { type ConsoleHarness, startConsoleHarness } from "./console-harness.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(180_000);

const ARTIFACTS = join(import.meta.dir, "artifacts", "console");
const EVIL = "select '<script>window.pwned=1</script>' as x";

let pg: PostgresInstance;
let sshd: SshdInstance;
let h: ConsoleHarness;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [pg, sshd] = await Promise.all([startPostgres(), startSshd()]);
  h = await startConsoleHarness(pg, sshd);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
});

afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await Promise.all([pg?.stop(), sshd?.stop()]);
});

async function records(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(h.gw.config().audit.path, { onTornTail: () => {} })) out.push(record);
  return out;
}

/** psql kept open on a pipe: statements written to its stdin, its output collected. */
async function openPsql(token: string) {
  const proc = Bun.spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(h.pgPort), "-U", "someone", "-d", "sales-db"], {
    env: { ...process.env, PGPASSWORD: token, PGSSLMODE: "disable", PGCONNECT_TIMEOUT: "10" },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  void (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c);
  })();
  void (async () => {
    for await (const c of proc.stderr) err += new TextDecoder().decode(c);
  })();
  return {
    proc,
    out: () => out,
    err: () => err,
    send(sql: string) {
      proc.stdin.write(sql + "\n");
      proc.stdin.flush();
    },
  };
}

function ssh(token: string, command: string | null, tty: boolean) {
  const env = { ...process.env, SSH_ASKPASS: join(h.dir, "askpass.sh"), SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0", GATEHOUSE_TEST_TOKEN: token };
  return Bun.spawn(
    ["ssh", ...(tty ? ["-tt"] : ["-T"]), "-p", String(h.sshPort), "-o", `UserKnownHostsFile=${h.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-F", "/dev/null", "-o", "BatchMode=no", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "-o", "PubkeyAuthentication=no", "deploy@127.0.0.1", ...(command !== null ? [command] : [])],
    { env, stdin: "pipe", stdout: "pipe", stderr: "pipe" },
  );
}

async function writeAskpass(): Promise<void> {
  await Bun.write(join(h.dir, "askpass.sh"), `#!/bin/sh\nprintf '%s\\n' "$GATEHOUSE_TEST_TOKEN"\n`);
  await Bun.spawn(["chmod", "755", join(h.dir, "askpass.sh")]).exited;
}

test("a live psql session is listed and ended from the console (POST with the CSRF token): psql is told, session.end says by whom", async () => {
  const token = await h.token("bob", ["analysts"]);
  const psql = await openPsql(token);
  psql.send("select 'alive-' || 42;");
  await waitFor("psql to answer its first statement", () => psql.out().includes("alive-42"));
  const live = await waitFor("the psql session in the registry", () => h.gw.liveSessions.list().find((s) => s.kind === "postgres" && s.identity.subject === "bob"));

  const { cookie, csrf } = await h.login("olivia", ["operators"]);
  const list = await (await fetch(`${h.consoleUrl}/sessions?identity=bob`, { headers: { cookie } })).text();
  expect(list).toContain(`data-session="${live.id}"`);
  // Without the token, or by a viewer who may not end sessions: refused, and the session goes on.
  expect((await fetch(`${h.consoleUrl}/sessions/${live.id}/end`, { method: "POST", headers: { cookie } })).status).toBe(403);
  const auditor = await h.login("ann", ["auditors"]);
  expect(await (await fetch(`${h.consoleUrl}/sessions`, { headers: { cookie: auditor.cookie } })).text()).not.toContain("End</button>");
  expect((await fetch(`${h.consoleUrl}/sessions/${live.id}/end`, { method: "POST", headers: { cookie: auditor.cookie, "x-csrf-token": auditor.csrf } })).status).toBe(403);
  psql.send("select 'still-' || 7;");
  await waitFor("psql to answer after the refused ends", () => psql.out().includes("still-7"));

  const res = await fetch(`${h.consoleUrl}/sessions/${live.id}/end`, { method: "POST", headers: { cookie, "x-csrf-token": csrf }, redirect: "manual" });
  expect(res.status).toBe(303);
  // psql reads the server's FATAL when it next uses the connection.
  psql.send("select 'after-end';");
  psql.proc.stdin.end();
  const code = await within("psql to exit once the session is ended", psql.proc.exited);
  expect(code).not.toBe(0);
  expect(psql.err()).toContain("session ended by olivia from the gatehouse console");
  const end = await waitFor("the session.end record", async () => (await records()).find((r) => r.type === "session.end" && r.session === live.id));
  expect(end.details).toMatchObject({ ended: "ended_by_operator", ended_by: { subject: "olivia", issuer: "gatehouse-dev" } });
  const action = (await records()).find((r) => r.type === "console.session_end" && r.session === live.id)!;
  expect(action.identity?.subject).toBe("olivia");
  expect(action.seq).toBeLessThan(end.seq);
  expect(h.gw.liveSessions.get(live.id)).toBeUndefined();
});

test("a live ssh session is ended from the console: ssh is disconnected with the reason", async () => {
  await writeAskpass();
  const token = await h.token("carol", ["agents"]);
  const proc = ssh(token, "echo ready; sleep 600", false);
  let out = "";
  void (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c);
  })();
  let err = "";
  void (async () => {
    for await (const c of proc.stderr) err += new TextDecoder().decode(c);
  })();
  await waitFor("ssh to run its command", () => out.includes("ready"));
  const live = await waitFor("the ssh session in the registry", () => h.gw.liveSessions.list().find((s) => s.kind === "ssh" && s.identity.subject === "carol"));
  const { cookie, csrf } = await h.login("olivia", ["operators"]);
  const res = await fetch(`${h.consoleUrl}/sessions/${live.id}/end`, { method: "POST", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: `_csrf=${csrf}`, redirect: "manual" });
  expect(res.status).toBe(303);
  await within("ssh to exit once the session is ended", proc.exited);
  expect(err).toContain("session ended by olivia");
  const end = await waitFor("the ssh session.end record", async () => (await records()).find((r) => r.type === "session.end" && r.session === live.id));
  expect(end.details).toMatchObject({ ended: "ended_by_operator", ended_by: { subject: "olivia" } });
});

test("in chromium: replay an ssh -tt recording in the player, search the audit log (script shown escaped), end a live psql session", async () => {
  await writeAskpass();
  // An ssh -tt session: its recording is an asciicast the player plays.
  const sshToken = await h.token("dave", ["agents"]);
  // An interactive shell (a terminal: -tt), typed into through stdin.
  const s = ssh(sshToken, null, true);
  s.stdin.write("printf 'replay-marker-%s\\n' 42; exit\n");
  s.stdin.end();
  const sshCode = await within("the ssh -tt command to finish", s.exited);
  if (sshCode !== 0) throw new Error(`ssh -tt exited ${sshCode}: ${await new Response(s.stderr).text()}`);
  const shellEnd = await waitFor("the recorded channel.end", async () => (await records()).find((r) => r.type === "channel.end" && r.identity?.subject === "dave" && (r.details as { recording?: unknown })?.recording !== undefined)).catch(async (e) => {
    throw new Error(`${e}: dave's records: ${JSON.stringify((await records()).filter((r) => r.identity?.subject === "dave"))}`);
  });
  await waitFor("the ssh session.end", async () => (await records()).find((r) => r.type === "session.end" && r.session === shellEnd.session));

  // A statement with script in it, and a live psql session to end.
  const psql = await openPsql(await h.token("erin", ["analysts"]));
  psql.send(EVIL + ";");
  await waitFor("psql to answer the statement with script in it", () => psql.out().includes("<script>"));
  const live = await waitFor("erin's psql session in the registry", () => h.gw.liveSessions.list().find((x) => x.identity.subject === "erin"));

  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  const dialogs: string[] = [];
  page.on("dialog", (d) => void (dialogs.push(d.message()), d.dismiss()));

  // The real login: the dev issuer's one-click form, then back to the sessions.
  await page.goto(`${h.consoleUrl}/sessions`);
  await page.waitForURL(/\/login/);
  await page.fill('input[name="subject"]', "olivia");
  await page.fill('input[name="groups"]', "operators");
  await page.screenshot({ path: join(ARTIFACTS, "login.png") });
  await page.click('button[type="submit"]');
  // The logged-in page sends the browser on (a meta refresh: the SameSite=Strict cookie is then sent).
  await page.waitForURL((u) => !u.pathname.startsWith("/login"), { timeout: 10_000 }).catch(async (e) => {
    await page.screenshot({ path: join(ARTIFACTS, "login-after.png") });
    throw new Error(`${e}; at ${page.url()}: ${(await page.content()).slice(0, 1500)}`);
  });

  // The session list: erin's live session with an End button; dave's past one.
  await page.goto(`${h.consoleUrl}/sessions`);
  await page.locator(`tr[data-session="${live.id}"]`).waitFor();
  await page.locator(`.past tr[data-session="${shellEnd.session}"]`).waitFor();
  await page.screenshot({ path: join(ARTIFACTS, "sessions.png"), fullPage: true });

  // The recording plays: the player renders the terminal's text.
  await page.locator(`.past tr[data-session="${shellEnd.session}"] a`).first().click();
  await page.locator(".ap-player").first().waitFor({ timeout: 30_000 });
  await page.locator(".ap-player").first().click(); // play
  await page.locator(".ap-player", { hasText: "replay-marker-42" }).first().waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(ARTIFACTS, "session-recording.png"), fullPage: true });

  // The audit search: the statement found by its text, shown as text, not run as script.
  await page.goto(`${h.consoleUrl}/audit`);
  await page.fill('input[name="text"]', "window.pwned");
  await page.fill('input[name="identity"]', "erin");
  await page.click('form.filters button[type="submit"]');
  await page.locator("table.audit tbody tr").first().waitFor();
  const rows = await page.locator("table.audit tbody tr").allTextContents();
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.every((r) => r.includes("erin"))).toBe(true);
  expect(rows.some((r) => r.includes("<script>window.pwned=1</script>"))).toBe(true);
  expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
  await page.screenshot({ path: join(ARTIFACTS, "audit-search.png"), fullPage: true });

  // The statement on erin's session page, escaped too; then End.
  await page.goto(`${h.consoleUrl}/sessions/${live.id}`);
  await page.locator("table.events").waitFor();
  expect(await page.locator("table.events").textContent()).toContain("<script>window.pwned=1</script>");
  expect(await page.evaluate(() => (globalThis as { pwned?: number }).pwned)).toBeUndefined();
  await page.screenshot({ path: join(ARTIFACTS, "session-live.png"), fullPage: true });
  await page.click("form.end button");
  await page.locator(".notice").waitFor();
  psql.send("select 'after-end';");
  psql.proc.stdin.end();
  const code = await within("erin's psql to exit once ended in the browser", psql.proc.exited);
  expect(code).not.toBe(0);
  await waitFor("erin's session.end", async () => (await records()).find((r) => r.type === "session.end" && r.session === live.id));
  await page.goto(`${h.consoleUrl}/sessions/${live.id}`);
  await page.locator("td", { hasText: "session.end" }).first().waitFor();
  expect(await page.textContent("dl.facts")).toContain("ended by olivia");
  await page.screenshot({ path: join(ARTIFACTS, "session-ended.png"), fullPage: true });
  expect(dialogs).toEqual([]);
  await page.close();
});

// End to end, the gateway's life over time with the compiled binary: SIGHUP reloads, a listener
// change is reported rather than half-applied, `tail -f` prints records as they are written,
// a restart keeps a pending approval request (approvable after the restart) and a live grant,
// both rebuilt from the audit log, and SIGTERM lets forwarded requests finish and be recorded.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readRecords } from "../src/audit/reader.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen, BINARY, type GatewayProcess, httpGatewayYaml, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { signal, waitFor, within } from "./helpers/wait.ts";
import { requestsOf } from "./helpers/audit-completions.ts";

setDefaultTimeout(60_000);

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let base: string;
let gwPort: number;
/** /api/slow arrived upstream, and what lets the upstream answer it. */
let slowArrived = signal();
let slowRelease = signal();
/** /api/hang is answered only when the tests are over. */
const hangRelease = signal();

function config(extraRules = "", listen = "127.0.0.1:0", identity = ""): string {
  return httpGatewayYaml({
    adminPort: 0,
    listen,
    upstream: `http://127.0.0.1:${upstream.port}`,
    identity,
    target: ["timeout: 2s"],
    rules: `
  - name: read
    groups: [developers]
    http: { methods: [GET], paths: ["/api/**"] }
    effect: allow
  - name: writes-need-approval
    groups: [developers]
    http: { methods: [POST], paths: ["/api/**"] }
    effect: review
    approvers: [approvers]
    grant_max: 2h
    timeout: 10m
${extraRules}`,
  });
}

async function token(sub: string, groups: string): Promise<string> {
  const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", sub, "--groups", groups, "--ttl", "1h"]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim().split("\n")[0]!;
}

const call = (path: string, tok: string, init: RequestInit = {}) =>
  fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${tok}`, ...(init.headers ?? {}) } });

async function records(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) out.push(record);
  return out;
}

async function pendingIds(approver: string): Promise<{ id: string; requester: string }[]> {
  const r = await runCli(["requests", "--admin", gw.adminUrl, "--token", approver, "--json"]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout).requests;
}

beforeAll(async () => {
  upstream = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/api/slow") {
        slowArrived.resolve();
        await slowRelease.promise;
      }
      if (url.pathname === "/api/hang") await hangRelease.promise;
      return Response.json({ method: req.method, path: url.pathname });
    },
  });
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": config() } });
  gwPort = gw.port("api");
  base = `http://127.0.0.1:${gwPort}`;
});

afterAll(() => {
  hangRelease.resolve();
  slowRelease.resolve();
  gw?.cleanup();
  upstream?.stop(true);
});

test("SIGHUP reloads the configuration, and the reload is audited", async () => {
  const before = (await records()).filter((r) => r.type === "policy.loaded").length;
  gw.proc.kill("SIGHUP");
  const after = await waitFor("a policy.loaded record after SIGHUP", async () => {
    const n = (await records()).filter((r) => r.type === "policy.loaded").length;
    return n > before ? n : 0;
  });
  expect(after).toBe(before + 1);
  expect(gw.proc.exitCode).toBeNull();
});

test("a listener change is reported as needing a restart; the rules of the same edit apply", async () => {
  const alice = await token("alice", "developers");
  // Another address (never bound: the change is not applied).
  const other = "127.0.0.2:0";
  writeFileSync(gw.configPath, config(`  - name: no-secret\n    http: { paths: ["/api/secret"] }\n    effect: deny\n    message: not here\n`, other));
  await gw.waitForLog(`target "api": listen changed from 127.0.0.1:0 to ${other}; restart to apply`);
  // The old listener keeps serving, with the new rules.
  expect(await statusOnceReloaded("/api/secret", alice, 403)).toBe(403);
  expect((await call("/api/orders", alice)).status).toBe(200);
  // Put the listener back for the tests below.
  writeFileSync(gw.configPath, config());
  expect(await statusOnceReloaded("/api/secret", alice, 200)).toBe(200);
});

/** The status of GET path with `credential`, polled until it is `want` (a reload takes a moment); fails naming it if it never is. */
async function statusOnceReloaded(path: string, credential: string, want: number): Promise<number> {
  let last = 0;
  await waitFor(`GET ${path} to answer ${want} once the edit is loaded`, async () => (last = (await call(path, credential)).status) === want, { intervalMs: 50 }).catch((e: Error) => {
    throw new Error(`${e.message} (last status ${last})`);
  });
  return want;
}

test("a machine key removed from the configuration stops working at the reload", async () => {
  const key = "ghk_lifecycle-test-key-0123456789abcdefghijklmnopqrs";
  const digest = createHash("sha256").update(key).digest("hex");
  writeFileSync(gw.configPath, config("", undefined, `machine_keys: [{ name: ci-bot, sha256: "${digest}", groups: [developers] }]`));
  expect(await statusOnceReloaded("/api/orders", key, 200)).toBe(200);
  writeFileSync(gw.configPath, config());
  expect(await statusOnceReloaded("/api/orders", key, 401)).toBe(401);
  // Dev tokens, still configured, keep working.
  expect((await call("/api/orders", await token("alice", "developers"))).status).toBe(200);
});

test("a request held for approval whose machine key a reload removed is refused 401 when approved, and never forwarded", async () => {
  const key = "ghk_lifecycle-held-key-0123456789abcdefghijklmnopqrs";
  const digest = createHash("sha256").update(key).digest("hex");
  writeFileSync(gw.configPath, config("", undefined, `machine_keys: [{ name: held-bot, sha256: "${digest}", groups: [developers] }]`));
  expect(await statusOnceReloaded("/api/orders", key, 200)).toBe(200);
  const bob = await token("bob", "approvers");
  const held = call("/api/orders/revoked-while-held", key, { method: "POST", body: "{}" });
  const id = await waitFor("held-bot's request to be listed as pending", async () => (await pendingIds(bob)).find((r) => r.requester === "held-bot")?.id ?? "");
  expect(id).toMatch(/^apr_/);
  const loaded = (await records()).filter((r) => r.type === "policy.loaded").length;
  writeFileSync(gw.configPath, config());
  await waitFor("the reload that removes held-bot's key", async () => (await records()).filter((r) => r.type === "policy.loaded").length > loaded);
  expect((await runCli(["approve", id, "--admin", gw.adminUrl, "--token", bob])).code).toBe(0);
  const r = await held;
  expect(r.status).toBe(401);
  expect(((await r.json()) as { reason: string }).reason).toBe("revoked");
  const recs = await records();
  // No completion of it in either form (a request record, or an entry of a later decision record).
  expect(requestsOf(recs).some((c) => (c.action as Record<string, unknown> | undefined)?.["path"] === "/api/orders/revoked-while-held")).toBe(false);
  expect(recs.some((x) => x.type === "auth.rejected" && x.identity?.subject === "held-bot" && (x.details as Record<string, unknown>)["reason"] === "revoked")).toBe(true);
});

test("tail -f prints records as they are written", async () => {
  const alice = await token("alice", "developers");
  const tail = Bun.spawn([BINARY, "tail", gw.auditPath, "-f", "--identity", "alice"], { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  let out = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of tail.stdout) out += dec.decode(chunk);
  })();
  try {
    // Follow mode starts at the end: keep asking until a fresh request's decision shows up (the
    // first request's decision may be written before tail reaches the end, its completion after).
    await waitFor("tail -f to print the decision of a request made after it started", async () => {
      expect((await call("/api/followed", alice)).status).toBe(200);
      return /decision allow alice api GET \/api\/followed rule=read/.test(out);
    }, { intervalMs: 100 });
    expect(out).toMatch(/decision allow alice api GET \/api\/followed rule=read/);
    expect(out).not.toContain("bob");
  } finally {
    tail.kill("SIGINT");
    await tail.exited;
    await reading;
  }
});

test("a restart keeps a pending request (approvable afterwards) and a live grant", async () => {
  const alice = await token("alice", "developers");
  const carol = await token("carol", "developers");
  const bob = await token("bob", "approvers");

  // Alice's write is approved with a grant; Carol's is still pending when the gateway stops.
  const aliceHeld = call("/api/orders", alice, { method: "POST", body: "{}" });
  const aliceId = await waitFor("alice's write to be listed as pending", async () => (await pendingIds(bob)).find((q) => q.requester === "alice")?.id ?? "");
  expect((await runCli(["approve", aliceId, "--for", "1h", "--admin", gw.adminUrl, "--token", bob])).code).toBe(0);
  expect((await aliceHeld).status).toBe(200);

  const carolHeld = call("/api/invoices", carol, { method: "POST", body: "{}" }).catch((e: unknown) => e);
  const carolId = await waitFor("carol's write to be listed as pending", async () => (await pendingIds(bob)).find((q) => q.requester === "carol")?.id ?? "");
  expect(carolId).toMatch(/^apr_/);

  expect(await gw.stop()).toBe(0);
  await within("carol's held connection to end with the gateway", carolHeld);
  await gw.restart();
  // The restarted gateway bound a new port.
  gwPort = gw.port("api");
  base = `http://127.0.0.1:${gwPort}`;

  // The grant was rebuilt: Alice writes again without a new approval.
  const again = await call("/api/orders/2", alice, { method: "POST", body: "{}" });
  expect(again.status).toBe(200);
  const grantUse = (await records()).filter((r) => r.type === "decision" && r.identity?.subject === "alice" && r.decision?.effect === "allow" && r.decision.rule === "writes-need-approval");
  expect(grantUse.length).toBeGreaterThan(0);

  // Carol's request is still pending after the restart, and an approver can still decide it.
  const pending = await pendingIds(bob);
  expect(pending.map((q) => q.id)).toContain(carolId);
  const denied = await runCli(["deny", carolId, "--reason", "decided after the restart", "--admin", gw.adminUrl, "--token", bob]);
  expect(denied.code).toBe(0);
  expect((await pendingIds(bob)).map((q) => q.id)).not.toContain(carolId);
  const decided = (await records()).find((r) => r.type.startsWith("approval.") && r.type !== "approval.requested" && JSON.stringify(r).includes(carolId));
  expect(decided).toBeDefined();

  const verify = await runCli(["verify", gw.auditPath]);
  expect(verify.code).toBe(0);
  expect(readFileSync(gw.auditPath, "utf8").length).toBeGreaterThan(0);
});

test("an upstream that does not answer within the target's timeout gets 502, and the request record says why", async () => {
  const alice = await token("alice", "developers");
  const r = await call("/api/hang", alice);
  expect(r.status).toBe(502);
  expect(((await r.json()) as { message: string }).message).toContain("no answer within 2s");
  // In either form: a request record, or an entry of the connection's next decision record.
  const hang = (all: AuditRecord[]) => requestsOf(all).find((c) => (c.action as { path?: string } | undefined)?.path === "/api/hang");
  const rec = hang(await auditRecordsWhen(gw.auditPath, (all) => hang(all) !== undefined, "the completion of /api/hang"));
  expect(rec?.details).toMatchObject({ status: 502, outcome: "upstream_error" });
});

test("SIGTERM lets a forwarded request finish, and its request record is written before the log closes", async () => {
  const alice = await token("alice", "developers");
  slowArrived = signal();
  slowRelease = signal();
  const slow = call("/api/slow", alice);
  // The upstream holds the request until the gateway has been told to stop.
  await within("the gateway to forward /api/slow", slowArrived.promise);
  const stops = () => gw.logs().split("\n").filter((l) => l.includes(" INFO  stopping")).length;
  const stopsBefore = stops(); // the restart above logged one too
  gw.proc.kill("SIGTERM");
  await waitFor("the gateway to log that it is stopping", () => stops() > stopsBefore);
  slowRelease.resolve();
  const r = await slow;
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ method: "GET", path: "/api/slow" });
  expect(await gw.proc.exited).toBe(0);
  const all = await records();
  // Held on its connection when the gateway stopped: written on its own before the log closed.
  const done = all.find((x) => x.type === "request" && (x.action as { path?: string } | undefined)?.path === "/api/slow");
  expect(done?.details).toMatchObject({ status: 200, outcome: "ok" });
  expect(requestsOf(all).filter((c) => (c.action as { path?: string } | undefined)?.path === "/api/slow")).toHaveLength(1);
  expect(all.slice(-2).map((x) => x.type)).toEqual(["gateway.stop", "audit.checkpoint"]); // stop signs the head last
  expect(gw.logs()).not.toContain("audit write failed");
  expect((await runCli(["verify", gw.auditPath])).code).toBe(0);
});

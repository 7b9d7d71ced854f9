// End to end, compiled gateway and real sshd: what ends or refuses an SSH connection. A token
// that expires ends the connection with the reason (the client prints it); a reload that takes a
// machine identity's SSH key away ends its live connection; an upstream whose host key is not
// the pinned one is refused with a clear message and an audit record; a user name the target's
// users: map does not name is refused.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utils } from "ssh2";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
let botKey: { file: string; publicKey: string };
const RULES = `
  - name: agents
    groups: [agents]
    effect: allow
`;
const identity = (keys: string) => `machine_keys: [{ name: deploy-bot, sha256: "${"d".repeat(64)}", groups: [agents]${keys} }]`;

beforeAll(async () => {
  sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), "gh-lifecycle-key-"));
  const file = join(dir, "id_ed25519");
  Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file]);
  botKey = { file, publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
  g = await startSshGateway(sshd, { rules: RULES, identity: identity(`, ssh_public_keys: ["${botKey.publicKey}"]`), target: [`users: { deploy: ${sshd.user} }`] });
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

const expiryOf = (jwt: string) => (JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString()) as { exp: number }).exp * 1000;

/** ssh running `command` in the background; its stderr as it comes. */
function background(gw: SshGateway, cred: Parameters<typeof sshLogin>[1], command: string) {
  const { args, env } = sshLogin(gw, cred);
  const p = Bun.spawn(["ssh", ...args, "deploy@127.0.0.1", command], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const out = { stdout: "", stderr: "" };
  for (const [name, stream] of [["stdout", p.stdout], ["stderr", p.stderr]] as const) {
    void (async () => {
      for await (const c of stream) out[name] += new TextDecoder().decode(c);
    })();
  }
  return { p, out };
}

test("a token that expires ends the connection; the client prints why and session.end says token_expired", async () => {
  let jwt = "";
  let run: ReturnType<typeof background> | null = null;
  // Minting and logging in can take seconds on a loaded machine: a longer token if the first expired first.
  for (let ttl = 3; run === null; ttl *= 2) {
    jwt = await devToken(g, "eve", "agents", `${ttl}s`);
    const r = background(g, { token: jwt }, "echo started; sleep 120");
    await waitFor("the command to start or the login to fail", () => r.out.stdout.includes("started") || r.p.exitCode !== null, { timeoutMs: 30_000 });
    if (r.out.stdout.includes("started") && Date.now() < expiryOf(jwt)) run = r;
    else if (ttl >= 48) throw new Error(`could not start a session with a ${ttl}s token: ${r.out.stderr}`);
  }
  const code = await within("ssh to end at the token's expiry", run.p.exited, { timeoutMs: 60_000 });
  expect(code).toBe(255);
  expect(Date.now()).toBeGreaterThanOrEqual(expiryOf(jwt));
  expect(run.out.stderr).toContain(`the token it was opened with expired at ${new Date(expiryOf(jwt)).toISOString()}`);
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "session.end" && r.identity?.subject === "eve"), "eve's session.end");
  expect(recs.find((r) => r.type === "session.end" && r.identity?.subject === "eve")!.details).toMatchObject({ ended: "token_expired" });
});

test("a reload that takes the machine identity's SSH key away ends its live connection", async () => {
  const run = background(g, { keyFile: botKey.file }, "echo started; sleep 120");
  await waitFor("the bot's command to start", () => run.out.stdout.includes("started"), { timeoutMs: 30_000 });
  const loaded = (all: AuditRecord[]) => all.filter((r) => r.type === "policy.loaded").length;
  const before = loaded(await auditRecordsWhen(g.gw.auditPath, () => true, "the log"));
  const text = readFileSync(g.gw.configPath, "utf8").replace(/, ssh_public_keys: \[[^\]]*\]/, "");
  writeFileSync(g.gw.configPath, text);
  await auditRecordsWhen(g.gw.auditPath, (all) => loaded(all) > before, "the reload's policy.loaded");
  expect(await within("the bot's ssh to end", run.p.exited, { timeoutMs: 30_000 })).toBe(255);
  expect(run.out.stderr).toContain("no longer trusts the credential");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "session.end" && r.identity?.subject === "deploy-bot"), "the bot's session.end");
  expect(recs.find((r) => r.type === "session.end" && r.identity?.subject === "deploy-bot")!.details).toMatchObject({ ended: "credential_revoked" });
  // And the key no longer logs in.
  const again = await runSsh(g, { keyFile: botKey.file }, [], { command: "true" });
  expect(again.code).toBe(255);
});

test("a user name the users: map does not name is refused, saying so", async () => {
  const token = await devToken(g, "alice", "agents");
  const ok = await runSsh(g, { token }, [], { command: "id -un" });
  expect(ok.stdout).toBe(`${sshd.user}\n`);
  const refused = await runSsh(g, { token }, [], { command: "true", user: "root" });
  expect(refused.code).toBe(255);
  expect(refused.stderr).toContain(`no upstream account for SSH user "root"`);
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "auth.rejected" && (r.details as { reason?: string })?.reason === "unknown_user"), "the unknown user's auth.rejected");
  expect(recs.find((r) => r.type === "auth.rejected" && (r.details as { reason?: string })?.reason === "unknown_user")!.details).toMatchObject({ user: "root" });
});

test("an upstream whose host key is not the pinned one is refused with a clear message and an audit record", async () => {
  const wrongPin = utils.generateKeyPairSync("ed25519").public;
  const bad = await startSshGateway(sshd, { rules: RULES, upstreamHostKey: wrongPin });
  try {
    const token = await devToken(bad, "alice", "agents");
    const r = await runSsh(bad, { token }, [], { command: "echo must-not-run" });
    expect(r.code).toBe(255);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("which is not the one pinned in the target's upstream.host_key");
    const recs = await auditRecordsWhen(bad.gw.auditPath, (all) => all.some((x) => x.type === "session.end"), "the refused session's end");
    const end = recs.find((x) => x.type === "session.end")!;
    expect(end.details).toMatchObject({ upstream_error: "host_key_mismatch" });
    expect((end.details as { presented?: string }).presented).toMatch(/^SHA256:/);
  } finally {
    await bad.gw.stop();
    bad.gw.cleanup();
  }
});

test("the gateway stopping ends live connections with a message and writes their session.end", async () => {
  const other = await startSshGateway(sshd, { rules: RULES });
  try {
    const run = background(other, { token: await devToken(other, "sam", "agents") }, "echo started; sleep 120");
    await waitFor("the command to start", () => run.out.stdout.includes("started"), { timeoutMs: 30_000 });
    expect(await other.gw.stop()).toBe(0);
    expect(await within("ssh to end", run.p.exited)).toBe(255);
    expect(run.out.stderr).toContain("the gateway is shutting down");
    const recs = await auditRecordsWhen(other.gw.auditPath, (all) => all.some((r) => r.type === "gateway.stop"), "gateway.stop");
    const end = recs.find((r) => r.type === "session.end" && r.identity?.subject === "sam");
    expect(end?.details).toMatchObject({ error: "the gateway stopped" });
    expect(recs.findIndex((r) => r === end)).toBeLessThan(recs.findIndex((r) => r.type === "gateway.stop"));
  } finally {
    other.gw.cleanup();
  }
});

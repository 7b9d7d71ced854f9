// End to end: the seed's SSH policy (policies/ssh-agents: agents may run `systemctl status **` and
// `journalctl **` on web-* hosts, never rm or sudo, and a restart waits for an SRE) on a real
// sshd through the compiled gateway, and the whole bypass corpus (test/bypass/ssh-commands.ts)
// sent as exec requests by the ssh2 client: every attempt is refused with exit status 126 (or held
// for approval, for restarts) and the canary file it aims at survives; the legitimate commands
// run. Also: an exec gets no terminal unless the target's exec_pty says so.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type ClientChannel } from "ssh2";
import { SSH_LEGITIMATE_COMMANDS, sshBypassAttempts } from "./bypass/ssh-commands.ts";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { within } from "./helpers/wait.ts";

setDefaultTimeout(300_000);

let sshd: SshdInstance;
let g: SshGateway;
let canary: string;
let client: Client;
let token: string;

beforeAll(async () => {
  sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), "gh-canary-"));
  chmodSync(dir, 0o777);
  canary = join(dir, "canary");
  writeFileSync(canary, "canary\n");
  chmodSync(canary, 0o666);
  // The seed policy as shipped, with its upstream account (ops) being the test sshd's account.
  const seed = readFileSync(join(import.meta.dir, "../policies/ssh-agents/gatehouse.yaml"), "utf8");
  const rules = seed.slice(seed.indexOf("rules:\n") + "rules:\n".length).replace("users: [ops]", `users: [${sshd.user}]`);
  g = await startSshGateway(sshd, { name: "web-1", rules, target: [`users: { ops: ${sshd.user} }`] });
  token = await devToken(g, "agent-7", "agents");
  client = new Client();
  const ready = new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    client.once("error", reject);
  });
  client.connect({ host: "127.0.0.1", port: g.port, username: "ops", password: token, hostVerifier: (k: Buffer) => k.equals(Buffer.from(g.hostPublicKey.split(" ")[1]!, "base64")) });
  await within("the ssh2 client to log in", ready);
});

afterAll(async () => {
  client?.end();
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

interface ExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly held: boolean;
}

/** One exec on the shared connection; a request held for approval is given up (its channel closed). */
function exec(command: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, ch: ClientChannel) => {
      if (err) return reject(err);
      let stdout = "";
      let stderr = "";
      let code: number | null = null;
      let held = false;
      ch.on("data", (d: Buffer) => (stdout += d.toString()));
      ch.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (!held && stderr.includes("request held for approval")) {
          held = true;
          ch.close();
        }
      });
      ch.on("exit", (c: number | null) => (code = c));
      ch.on("close", () => resolve({ code, stdout, stderr, held }));
    });
  });
}

test("every attempt of the bypass corpus is refused (126, or held for a restart) and the canary survives", async () => {
  const attempts = sshBypassAttempts(canary);
  expect(attempts.length).toBeGreaterThanOrEqual(60);
  const through: string[] = [];
  for (const a of attempts) {
    const r = await within(`attempt ${a.id}`, exec(a.command), { timeoutMs: 30_000 });
    const refused = a.expect === "review" ? r.held : r.code === 126 && r.stderr.includes("gatehouse: exec denied");
    if (!refused) through.push(`${a.id}: ${JSON.stringify(a.command)} → exit ${r.code} ${JSON.stringify(r.stderr.slice(0, 200))}`);
    expect(readFileSync(canary, "utf8")).toBe("canary\n");
  }
  expect(through).toEqual([]);
  // Nothing of it reached the upstream: no channel of the connection ran a command.
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.filter((r) => r.type === "decision").length >= attempts.length, "a decision per attempt");
  const ran = recs.filter((r) => r.type === "channel.end" && (r.action as { action?: string })?.action === "exec" && (r.details as { exit_status?: number }).exit_status !== undefined);
  expect(ran.map((r) => (r.action as { command: string }).command)).toEqual([]);
});

test("the legitimate commands are allowed and run upstream", async () => {
  for (const command of SSH_LEGITIMATE_COMMANDS) {
    // journalctl -f follows for ever: enough that it started.
    const r = await within(`"${command}"`, command.endsWith(" -f") ? execBriefly(command) : exec(command), { timeoutMs: 30_000 });
    expect({ command, code: r.code, denied: r.stderr.includes("denied") }).toEqual({ command, code: r.code === 126 ? -1 : r.code, denied: false });
  }
});

function execBriefly(command: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err: Error | undefined, ch: ClientChannel) => {
      if (err) return reject(err);
      let stderr = "";
      ch.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      // ssh2 reports the close only once the output is read.
      ch.on("data", () => {});
      // Allowed: the upstream opened it; close it after a moment of output or none.
      const timer = setTimeout(() => ch.close(), 500);
      ch.on("close", () => {
        clearTimeout(timer);
        resolve({ code: 0, stdout: "", stderr, held: false });
      });
    });
  });
}

test("an exec gets no terminal unless exec_pty is on (a pager would run commands policy never sees)", async () => {
  const r = await runSsh(g, { token }, ["-tt"], { command: "journalctl -u nginx", user: "ops" });
  expect(r.stderr).toContain("PTY allocation request failed");
  expect(r.stdout).toBe("");
  expect(r.code).toBe(255);
  // Without a terminal, the same command runs.
  const plain = await runSsh(g, { token }, [], { command: "journalctl -u nginx", user: "ops" });
  expect(plain.stderr).not.toContain("denied");
  expect(plain.code).not.toBe(126);
});

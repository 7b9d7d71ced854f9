// End to end: the pager route from "command via SFTP upload, then exec of the file". An agent may
// upload into /tmp/uploads-*/ and exec `journalctl **` only; `ssh -tt HOST journalctl --help`
// starts `less` when the command has a terminal, and `less` runs `!sh /tmp/uploads-…/x.sh`,
// which policy never sees. The upstream here is made like a host with a login session (sshd's
// SetEnv SYSTEMD_PAGERSECURE=0; without logind, systemd would put less in secure mode itself).
// With the target's default (exec_pty off) the command gets no terminal upstream, no pager
// starts and the canary survives; the control, a target with exec_pty on, shows the route is
// real: less opens and the upload runs. And where less is in secure mode (systemd's own, without
// a login session) and the target gives exec a terminal and lets SYSTEMD_* and LESS* through,
// the caller cannot lift it or give less a starting command by environment
// (SYSTEMD_PAGERSECURE=0, SYSTEMD_LESS='FRSXMK+!sh x.sh', LESS='+!sh x.sh').
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(180_000);

let sshd: SshdInstance;
let dir: string;
let canary: string;
let up: string;
let script: string;

const rules = `
  - name: agents-upload
    groups: [agents]
    ssh: { actions: [sftp], operations: [write, list], paths: ["/tmp/uploads-*/**"] }
    effect: allow
  - name: agents-read-logs
    groups: [agents]
    ssh: { actions: [exec], commands: ["journalctl **"] }
    effect: allow
`;

beforeAll(async () => {
  sshd = await startSshd({ config: ["SetEnv SYSTEMD_PAGERSECURE=0"] });
  dir = mkdtempSync(join(tmpdir(), "gh-pager-"));
  chmodSync(dir, 0o777);
  canary = join(dir, "canary");
  up = mkdtempSync("/tmp/uploads-");
  chmodSync(up, 0o777);
  // Placed directly: the upload itself is shown by ssh-bypass-files.e2e.test.ts.
  script = join(up, "x.sh");
  writeFileSync(script, `#!/bin/sh\nrm -f ${canary}\n`);
  chmodSync(script, 0o755);
});

afterAll(async () => {
  await sshd?.stop();
  for (const d of [dir, up]) if (d) rmSync(d, { recursive: true, force: true });
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `ssh -tt … journalctl --help` in a tmux pane; once less shows its prompt, types
 * `!sh x.sh`. Returns whether less opened and what the pane showed when ssh ended.
 */
async function pagerAttempt(g: SshGateway, extra: readonly string[] = []): Promise<{ pager: boolean; screen: string }> {
  writeFileSync(canary, "canary\n");
  chmodSync(canary, 0o666);
  const token = await devToken(g, "agent-7", "agents");
  const sock = `gh-pager-${process.pid}-${g.target}`;
  const { args, env } = sshLogin(g, { token });
  const envPart = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  const cmd = `env ${envPart} ssh -tt ${[...args, ...extra].map(shellQuote).join(" ")} ops@127.0.0.1 'journalctl --help'; echo SSH-EXITED-$?; sleep 600`;
  const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a]);
  expect(tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "20", cmd).exitCode).toBe(0);
  const screen = () => tmux("capture-pane", "-p", "-t", "t").stdout.toString();
  // Whatever less shows (a message waiting for RETURN, its help screen), RETURN and q until ssh ends.
  const quit = () =>
    waitFor("ssh to end after less", () => {
      if (screen().includes("SSH-EXITED-")) return true;
      tmux("send-keys", "-t", "t", "Enter");
      tmux("send-keys", "-t", "t", "q");
      return false;
    }, { intervalMs: 200 });
  try {
    // Either less holds the help (its prompt on the last line: ":", or "lines 1-19" with the
    // long prompt systemd asks for) or, with no pager, ssh ends.
    const first = await waitFor("less's prompt or the end of ssh", () => {
      const s = screen();
      if (s.includes("SSH-EXITED-")) return "ended";
      // A starting command given by environment ran (less then waits for a key).
      if (!existsSync(canary) || s.includes("!done")) return "ran";
      if (/^(:|lines \d+-\d+)/.test(s.trimEnd().split("\n").at(-1) ?? "")) return "pager";
      return null;
    }, { timeoutMs: 30_000 });
    if (first === "ended") return { pager: false, screen: screen() };
    if (first === "ran") {
      await quit();
      return { pager: true, screen: screen() };
    }
    tmux("send-keys", "-t", "t", `!sh ${script}`, "Enter");
    // less waits for a key after a shell command ("!done"); in secure mode "!" is no command and
    // the keys after it are read as others ("s": "log file support is not available").
    await waitFor("less to run or refuse the command", () => screen().includes("!done") || screen().includes("not available") || !existsSync(canary));
    await quit();
    return { pager: true, screen: screen() };
  } finally {
    tmux("kill-server");
  }
}

const isJournal = (r: AuditRecord) => r.type === "decision" && (r.action as { command?: string })?.command === "journalctl --help";

test("exec_pty off (the default): journalctl gets no terminal upstream, no pager starts, the upload does not run", async () => {
  const g = await startSshGateway(sshd, { name: "web-1", target: [`users: { ops: ${sshd.user} }`], rules });
  try {
    const r = await pagerAttempt(g);
    expect(r.pager).toBe(false);
    expect(r.screen).toContain("SSH-EXITED-0");
    expect(r.screen).toContain("See the journalctl(1) man page for details.");
    expect(readFileSync(canary, "utf8")).toBe("canary\n");
    const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some(isJournal), "journalctl's decision");
    expect(recs.find(isJournal)!.details).toMatchObject({ pty: { upstream: false } });
  } finally {
    await g.gw.stop();
    g.gw.cleanup();
  }
});

test("the control, exec_pty on: less opens under the allowed journalctl and runs the upload", async () => {
  const g = await startSshGateway(sshd, { name: "web-2", target: [`users: { ops: ${sshd.user} }`, "exec_pty: true"], rules });
  try {
    const r = await pagerAttempt(g);
    expect(r.pager).toBe(true);
    expect(existsSync(canary)).toBe(false);
  } finally {
    await g.gw.stop();
    g.gw.cleanup();
  }
});

test("a secure pager stays secure: SYSTEMD_PAGERSECURE=0, SYSTEMD_LESS and LESS with a starting !command are refused even when the env list names their prefixes", async () => {
  // This host's systemd runs less in secure mode (no login session), and sshd would take the variables.
  const secure = await startSshd({ config: ["AcceptEnv SYSTEMD_* LESS*"] });
  const g = await startSshGateway(secure, { name: "web-3", target: [`users: { ops: ${secure.user} }`, "exec_pty: true", 'env: [LANG, "SYSTEMD_*", "LESS*"]'], rules });
  try {
    // ssh_config splits SetEnv at spaces outside double quotes; the newline ends less's command.
    const start = `+!sh ${script}\n`;
    const r = await pagerAttempt(g, ["-o", `SetEnv=SYSTEMD_PAGERSECURE=0 "SYSTEMD_LESS=FRSXMK${start}" "LESS=${start}" SYSTEMD_COLORS=0`]);
    expect(existsSync(canary) ? readFileSync(canary, "utf8") : "canary deleted: the upload ran").toBe("canary\n");
    // less did open (exec_pty on), in secure mode: typing !sh is refused by less itself.
    expect(r.pager).toBe(true);
    const isDecision = (x: AuditRecord) => x.type === "decision" && (x.action as { command?: string })?.command === "journalctl --help";
    const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some(isDecision), "journalctl's decision");
    const d = recs.find(isDecision)!;
    expect(d.details).toMatchObject({ env: ["SYSTEMD_COLORS"] });
    expect([...(d.details as { env_refused: string[] }).env_refused].sort()).toEqual(["LESS", "SYSTEMD_LESS", "SYSTEMD_PAGERSECURE"]);
  } finally {
    await g.gw.stop();
    g.gw.cleanup();
    await secure.stop();
  }
});

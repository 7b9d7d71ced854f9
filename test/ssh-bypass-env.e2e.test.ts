// End to end: `ssh -o SendEnv=LD_PRELOAD -o SendEnv=BASH_ENV` with those variables set in the
// client's environment, as an attacker would send them, through the compiled gateway to a real
// sshd whose AcceptEnv lets both in (test/helpers/sshd.ts), so the gateway is the only thing that
// can stop them, for an exec and for an interactive shell (ssh -tt). The preloaded library is
// real (built with cc): its constructor leaves a mark in any process outside the client's side;
// the BASH_ENV script leaves one too. Sent straight to sshd (the control) both take effect;
// through the gateway neither does, and the audit record lists them as refused.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
let token: string;
let dir: string;
let library: string;
let bashEnv: string;
/** Lines "preload <program>" and "bash_env" left by code that ran because of the variables. */
let marks: string;
let keyFile: string;

/**
 * The command run upstream: prints what it sees of the three variables, then starts a bash
 * script, as an allowed command might. (The bash that sshd starts reads ~/.bashrc instead of
 * BASH_ENV, and so does the last command of the line, which it execs in its place; a bash
 * started below it reads BASH_ENV.)
 */
const COMMAND = `printf '[%s][%s][%s]\\n' "$APP_MODE" "$LD_PRELOAD" "$BASH_ENV"; bash -c :; exit 0`;

beforeAll(async () => {
  sshd = await startSshd();
  // The upstream account (not the test's) must read the library and script and write the marks.
  dir = mkdtempSync(join(tmpdir(), "gh-sendenv-"));
  chmodSync(dir, 0o777);
  marks = join(dir, "marks");
  // The client's own processes (ssh, its askpass) load the library too: GH_CLIENT_SIDE, which ssh
  // does not send, keeps them from leaving a mark.
  const source = join(dir, "preload.c");
  writeFileSync(source, `
#include <stdio.h>
#include <stdlib.h>
extern char *program_invocation_short_name;
__attribute__((constructor)) static void mark(void) {
  if (getenv("GH_CLIENT_SIDE") != NULL) return;
  FILE *f = fopen("${marks}", "a");
  if (f != NULL) { fprintf(f, "preload %s\\n", program_invocation_short_name); fclose(f); }
}
`);
  library = join(dir, "preload.so");
  const cc = Bun.spawnSync(["cc", "-shared", "-fPIC", "-o", library, source], { stdout: "pipe", stderr: "pipe" });
  if (cc.exitCode !== 0) throw new Error(`cc could not build the preload library: ${cc.stderr.toString()}`);
  chmodSync(library, 0o755);
  bashEnv = join(dir, "bash_env.sh");
  writeFileSync(bashEnv, `echo bash_env >> ${marks}\n`);
  chmodSync(bashEnv, 0o644);
  keyFile = join(dir, "upstream_key");
  writeFileSync(keyFile, sshd.clientKey, { mode: 0o600 });
  g = await startSshGateway(sshd, {
    // Prefixes that cover both names: only the gateway's fixed refusal stands in their way.
    target: ['env: ["L*", "B*", "APP_*"]'],
    rules: `
  - name: agents
    groups: [agents]
    ssh: { actions: [exec, shell] }
    effect: allow
`,
  });
  token = await devToken(g, "agent-7", "agents");
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The attacker's environment: the variables set, and ssh told to send them. */
const attack = { LD_PRELOAD: "", BASH_ENV: "", APP_MODE: "blue", GH_CLIENT_SIDE: "1" };
const SEND = ["-o", "SendEnv=LD_PRELOAD", "-o", "SendEnv=BASH_ENV", "-o", "SendEnv=APP_MODE"];

/** Runs COMMAND as an exec, or typed into an interactive shell (`ssh -tt`, the line on stdin). */
async function ssh(args: string[], env: Record<string, string>, dest: string, how: "exec" | "shell" = "exec"): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(["ssh", ...args, ...SEND, ...(how === "shell" ? ["-tt", dest] : [dest, COMMAND])], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env, ...attack, LD_PRELOAD: library, BASH_ENV: bashEnv },
    stdin: how === "shell" ? new TextEncoder().encode(`${COMMAND}\n`) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

const readMarks = () => (existsSync(marks) ? readFileSync(marks, "utf8") : "");

test("SendEnv of LD_PRELOAD and BASH_ENV through the gateway: neither reaches the upstream command, and the decision lists both as refused", async () => {
  const { args, env } = sshLogin(g, { token });
  const r = await ssh(args, env, "ops@127.0.0.1");
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  // APP_MODE, sent the same way and listed, arrives: the client did send the variables.
  expect(r.stdout).toBe("[blue][][]\n");
  expect(readMarks()).toBe("");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "decision" && (x.details as { env_refused?: string[] })?.env_refused !== undefined), "a decision naming refused env");
  const d = recs.find((x) => x.type === "decision" && (x.details as { env_refused?: string[] })?.env_refused !== undefined)!;
  expect(d.decision?.effect).toBe("allow");
  expect(d.action).toMatchObject({ action: "exec", command: COMMAND });
  expect(d.details).toMatchObject({ env: ["APP_MODE"] });
  expect([...(d.details as { env_refused: string[] }).env_refused].sort()).toEqual(["BASH_ENV", "LD_PRELOAD"]);
});

test("the same in an interactive shell (ssh -tt): neither variable reaches it, and the shell's decision lists both as refused", async () => {
  const { args, env } = sshLogin(g, { token });
  const r = await ssh(args, env, "ops@127.0.0.1", "shell");
  expect(r.code).toBe(0);
  // The terminal echoes the typed line (with its "[%s]"); the shell's answer is the printf's.
  expect(r.stdout).toContain("[blue][][]");
  expect(readMarks()).toBe("");
  const isShell = (x: AuditRecord) => x.type === "decision" && (x.action as { action?: string })?.action === "shell";
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some(isShell), "the shell's decision");
  const d = recs.find(isShell)!;
  expect(d.decision?.effect).toBe("allow");
  expect(d.details).toMatchObject({ env: ["APP_MODE"] });
  expect([...(d.details as { env_refused: string[] }).env_refused].sort()).toEqual(["BASH_ENV", "LD_PRELOAD"]);
});

test("the control: the same ssh command straight to sshd delivers both, and both run code upstream", async () => {
  const r = await ssh(
    ["-p", String(sshd.port), "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", keyFile, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"],
    {},
    `${sshd.user}@127.0.0.1`,
  );
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(`[blue][${library}][${bashEnv}]\n`);
  const seen = readMarks();
  expect(seen).toContain("bash_env\n");
  expect(seen).toMatch(/^preload (bash|printf)$/m);
});

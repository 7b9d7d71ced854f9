// End to end, compiled gateway in front of a real sshd, real ssh/scp/sftp: the bypass "command via
// SFTP upload, then exec of the file". (a) Under the seed policy (policies/ssh-agents) an upload
// is refused, and running a script already on the host (`/path/x.sh`, `sh x.sh`, `bash < x.sh`,
// `. x.sh`, `source x.sh`, `exec x.sh` …) is refused with 126. (b) Under a policy that lets the
// agent upload into /tmp/uploads-*/ but exec only `systemctl status **` and `journalctl **`, the
// upload works and no way of running it (by path, through a shell, under an allowed program's
// name, from PATH, through a link planted by SFTP) gets through. The script would delete a canary
// file and leave a marker; both are checked after every attempt.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";

setDefaultTimeout(300_000);

let sshd: SshdInstance;
/** The seed policy as shipped (target web-1, account ops = the test sshd's account). */
let seed: SshGateway;
let seedToken: string;
/** Uploads allowed into /tmp/uploads-*, exec only of status and journal queries. */
let uploads: SshGateway;
let uploadsToken: string;
/** Holds the canary, the marker the script would leave, and a script already on the host. */
let dir: string;
let canary: string;
let marker: string;
/** A script already on the host (not uploaded through the gateway). */
let existing: string;
/** The upload folder under policy (b): /tmp/uploads-XXXXXX. */
let up: string;
/** Local files the clients upload. */
let local: string;

const script = () => `#!/bin/sh\nrm -f ${canary}\necho ran > ${marker}\n`;

beforeAll(async () => {
  sshd = await startSshd();
  dir = mkdtempSync(join(tmpdir(), "gh-upload-canary-"));
  chmodSync(dir, 0o777);
  canary = join(dir, "canary");
  marker = join(dir, "ran");
  writeFileSync(canary, "canary\n");
  chmodSync(canary, 0o666);
  existing = join(dir, "x.sh");
  writeFileSync(existing, script());
  chmodSync(existing, 0o755);
  // The policy's glob names /tmp itself, whatever TMPDIR says.
  up = mkdtempSync("/tmp/uploads-");
  chmodSync(up, 0o777);
  local = mkdtempSync(join(tmpdir(), "gh-upload-local-"));
  writeFileSync(join(local, "x.sh"), script());
  chmodSync(join(local, "x.sh"), 0o755);

  const seedYaml = readFileSync(join(import.meta.dir, "../policies/ssh-agents/gatehouse.yaml"), "utf8");
  const seedRules = seedYaml.slice(seedYaml.indexOf("rules:\n") + "rules:\n".length).replace("users: [ops]", `users: [${sshd.user}]`);
  seed = await startSshGateway(sshd, { name: "web-1", rules: seedRules, target: [`users: { ops: ${sshd.user} }`] });
  seedToken = await devToken(seed, "agent-7", "agents");
  uploads = await startSshGateway(sshd, {
    name: "web-2",
    target: [`users: { ops: ${sshd.user} }`],
    rules: `
  - name: agents-upload
    groups: [agents]
    ssh: { actions: [sftp], operations: [write, list], paths: ["/tmp/uploads-*/**"] }
    effect: allow
  # sftp (not scp) starts by asking where it is (REALPATH "."), which policy reads as a list of
  # the home folder (README: realpath counts as list); without this rule it stops ("Need cwd").
  - name: agents-find-home
    groups: [agents]
    ssh: { actions: [sftp], operations: [list], paths: ["${sshd.home}"] }
    effect: allow
  - name: agents-read-services-and-logs
    groups: [agents]
    ssh: { actions: [exec], commands: ["systemctl status **", "journalctl **"] }
    effect: allow
`,
  });
  uploadsToken = await devToken(uploads, "agent-7", "agents");
});

afterAll(async () => {
  for (const g of [seed, uploads]) {
    await g?.gw.stop();
    g?.gw.cleanup();
  }
  await sshd?.stop();
  for (const d of [dir, up, local]) if (d) rmSync(d, { recursive: true, force: true });
});

/** scp or sftp as the agent (token as the password), `-P` for the port. */
async function transfer(g: SshGateway, token: string, program: "scp" | "sftp", extra: string[]): Promise<{ code: number; out: string }> {
  const { args, env } = sshLogin(g, { token });
  const withPort = args.map((a) => (a === "-p" ? "-P" : a));
  const p = Bun.spawn([program, ...withPort, ...extra], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: `${out}${err}`.replace(/\r\n/g, "\n") };
}

/** The ways to run the script at `path` (in folder `folder`) with an exec request. */
function runAttempts(path: string, folder: string): string[] {
  return [
    path,
    `sh ${path}`,
    `bash ${path}`,
    `bash < ${path}`,
    `sh < ${path}`,
    `. ${path}`,
    `source ${path}`,
    `exec ${path}`,
    `env ${path}`,
    `command ${path}`,
    `nohup ${path}`,
    `sh -c ${path}`,
    `bash -c '. ${path}'`,
    `cat ${path} | sh`,
    `${folder}/./x.sh`,
    `${folder}//x.sh`,
    `cd ${folder} && ./x.sh`,
    `cd ${folder}; sh x.sh`,
    `find ${folder} -name x.sh -exec sh {} ;`,
    `systemctl status nginx; sh ${path}`,
    `journalctl -u nginx && sh ${path}`,
    `journalctl -u nginx || . ${path}`,
    `journalctl -u "$(sh ${path})"`,
    `systemctl status \`sh ${path}\``,
    `journalctl --grep=$(. ${path})`,
    `journalctl -u nginx\nsh ${path}`,
    `systemctl status nginx > >(sh ${path})`,
  ];
}

function intact(): { canary: string | null; ran: boolean } {
  return { canary: existsSync(canary) ? readFileSync(canary, "utf8") : null, ran: existsSync(marker) };
}

/** Runs each attempt as an exec with real ssh; returns the ones not refused with 126 (or that ran). */
async function throughOf(g: SshGateway, token: string, commands: readonly string[]): Promise<string[]> {
  const through: string[] = [];
  for (const command of commands) {
    const r = await runSsh(g, { token }, [], { user: "ops", command });
    const refused = r.code === 126 && r.stderr.includes("gatehouse: exec denied") && r.stdout === "";
    const state = intact();
    if (!refused || state.canary !== "canary\n" || state.ran) through.push(`${JSON.stringify(command)} → exit ${r.code}, stderr ${JSON.stringify(r.stderr.slice(0, 160))}, canary ${JSON.stringify(state.canary)}, ran ${state.ran}`);
  }
  return through;
}

test("the seed policy: an scp or sftp upload of a script is refused and nothing lands upstream", async () => {
  const target = join(up, "seed-x.sh");
  const scp = await transfer(seed, seedToken, "scp", ["-q", join(local, "x.sh"), `ops@127.0.0.1:${target}`]);
  expect(scp.code).not.toBe(0);
  expect(scp.out).toContain("Permission denied");
  const batch = join(local, "batch-seed");
  writeFileSync(batch, `put ${join(local, "x.sh")} ${target}\n`);
  const sftp = await transfer(seed, seedToken, "sftp", ["-b", batch, "ops@127.0.0.1"]);
  // sftp stops at its first question (where am I: a list of the home folder), refused by policy.
  expect(sftp.code).not.toBe(0);
  expect(sftp.out).toContain("gatehouse: no rule allows this request (sftp list of");
  expect(existsSync(target)).toBe(false);
  const recs = await auditRecordsWhen(seed.gw.auditPath, (all) => all.some((r) => r.type === "decision" && r.decision?.effect === "deny" && (r.action as { operation?: string })?.operation === "write"), "the refused SFTP write");
  const sftpDecisions = recs.filter((r) => r.type === "decision" && (r.action as { action?: string })?.action === "sftp");
  expect(sftpDecisions.every((r) => r.decision?.effect === "deny")).toBe(true);
  expect(sftpDecisions.filter((r) => (r.action as { operation?: string }).operation === "write").map((r) => (r.action as { path?: string }).path)).toEqual([target]);
});

test("the seed policy: every way to run a script already on the host is refused with 126 and the canary survives", async () => {
  const attempts = runAttempts(existing, dir);
  expect(await throughOf(seed, seedToken, attempts)).toEqual([]);
  expect(intact()).toEqual({ canary: "canary\n", ran: false });
  // The script is runnable: the test's own shell, not through the gateway, would run it (checked
  // on a copy so the canary stays). A refusal above is the gateway's, not a broken script's.
  const copy = join(local, "copy.sh");
  writeFileSync(copy, `#!/bin/sh\necho runnable\n`);
  chmodSync(copy, 0o755);
  expect(Bun.spawnSync([copy]).stdout.toString()).toBe("runnable\n");
  // Nothing ran upstream: no exec channel got an exit status from the host.
  const recs = await auditRecordsWhen(seed.gw.auditPath, (all) => all.filter((r) => r.type === "decision" && (r.action as { action?: string })?.action === "exec").length >= attempts.length, "a decision per attempt");
  const ran = recs.filter((r) => r.type === "channel.end" && (r.action as { action?: string })?.action === "exec" && (r.details as { exit_status?: number }).exit_status !== undefined);
  expect(ran.map((r) => (r.action as { command: string }).command)).toEqual([]);
});

test("uploads allowed, exec only of status and journal queries: the upload works, every way to run it is refused, the canary survives", async () => {
  const path = join(up, "x.sh");
  const scp = await transfer(uploads, uploadsToken, "scp", ["-q", join(local, "x.sh"), `ops@127.0.0.1:${path}`]);
  // scp then sets the file's mode and times, a setstat the policy does not allow: it says so and goes on.
  expect(scp).toEqual({ code: 0, out: "scp: remote fsetstat: Permission denied\n" });
  expect(readFileSync(path, "utf8")).toBe(script());
  // Under the names of the allowed programs too, by sftp.
  const batch = join(local, "batch-uploads");
  writeFileSync(batch, [`put ${join(local, "x.sh")} ${up}/systemctl`, `put ${join(local, "x.sh")} ${up}/journalctl`, ""].join("\n"));
  const sftp = await transfer(uploads, uploadsToken, "sftp", ["-b", batch, "ops@127.0.0.1"]);
  expect(sftp.code).toBe(0);
  expect(readFileSync(join(up, "journalctl"), "utf8")).toBe(script());
  // scp keeps the local mode: the uploads can be executed by the account, if anything ran them.
  chmodSync(join(up, "systemctl"), 0o755);
  chmodSync(join(up, "journalctl"), 0o755);

  const attempts = [
    ...runAttempts(path, up),
    `${up}/systemctl status nginx`,
    `${up}/journalctl -u nginx`,
    `${up}/../${up.slice("/tmp/".length)}/journalctl`,
    `PATH=${up}:$PATH journalctl -u nginx`,
    `PATH=${up} systemctl status nginx`,
    `env PATH=${up} journalctl`,
    `cd ${up} && PATH=. journalctl`,
    `BASH_ENV=${path} journalctl -u nginx`,
    `ENV=${path} sh -c 'journalctl -u nginx'`,
    `journalctl -u nginx --output=cat | sh ${path}`,
  ];
  expect(await throughOf(uploads, uploadsToken, attempts)).toEqual([]);
  expect(intact()).toEqual({ canary: "canary\n", ran: false });

  // The other half of the trick, planting the file where a login runs it (~/.ssh/rc, ~/.bashrc,
  // ~/.profile) or linking the upload folder to it, is refused by SFTP's paths.
  const plant = join(local, "batch-plant");
  writeFileSync(plant, [
    `-put ${join(local, "x.sh")} ${sshd.home}/.ssh/rc`,
    `-put ${join(local, "x.sh")} ${sshd.home}/.bashrc`,
    `-put ${join(local, "x.sh")} ${up}/../../${sshd.home}/.profile`,
    `-symlink ${sshd.home}/.bashrc ${up}/bashrc-link`,
    `-rename ${path} ${sshd.home}/.bash_login`,
    "",
  ].join("\n"));
  const planted = await transfer(uploads, uploadsToken, "sftp", ["-b", plant, "ops@127.0.0.1"]);
  expect(planted.code).toBe(0);
  expect(planted.out.match(/Permission denied/g)?.length).toBe(5);
  expect(existsSync(join(up, "bashrc-link"))).toBe(false);
  expect(existsSync(path)).toBe(true);

  // And an allowed command still runs, after all that: the policy is not refusing everything.
  const ok = await runSsh(uploads, { token: uploadsToken }, [], { user: "ops", command: "systemctl status --help" });
  expect(ok.stderr).not.toContain("denied");
  expect(ok.code).not.toBe(126);
  expect(intact()).toEqual({ canary: "canary\n", ran: false });
});

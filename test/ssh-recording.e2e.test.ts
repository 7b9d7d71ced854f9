// End to end: the recordings of REAL sessions, made by the compiled gateway in front of a real
// sshd, read back by the tools a person uses. An interactive `ssh -tt` shell (driven through tmux,
// input recorded too) in which the user types `echo replay-marker-$((6*7))` and resizes the
// terminal: `gatehouse replay SESSION` plays its asciicast recording and shows replay-marker-42;
// `asciinema play` (Debian's, under a terminal made by script(1)) plays the same file; `gatehouse
// verify` passes on the log and, once a byte of the .cast file is changed, fails naming the
// session and the file (and replay refuses to play it); a removed recording is named too. An exec
// session replays as a transcript with its command and exit status.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { basename } from "node:path";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AuditRecord } from "../src/audit/record.ts";
import { auditRecordsWhen, runCli } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(180_000);

let sshd: SshdInstance;
let g: SshGateway;
let token: string;
/** The shell session: its id and its recording (from its channel.end record). */
let shell: { session: string; file: string; sha256: string };

const MARKER = "replay-marker-42";

beforeAll(async () => {
  sshd = await startSshd();
  g = await startSshGateway(sshd, {
    // Input events too, so the players are shown every event type the gateway writes (o, i, r).
    target: ["record_input: true"],
    rules: `
  - name: agents
    groups: [agents]
    ssh: { actions: [exec, shell] }
    effect: allow
`,
  });
  token = await devToken(g, "alice", "agents");
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const isShellEnd = (r: AuditRecord) => r.type === "channel.end" && (r.action as { action?: string })?.action === "shell";

test("an interactive ssh -tt session is recorded: the user types echo replay-marker-$((6*7)) and exits", async () => {
  const sock = `gh-rec-${process.pid}`;
  const { args, env } = sshLogin(g, { token });
  const envPart = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  // The trailing sleep keeps the pane (and what it shows) after ssh ends; kill-server ends it.
  const cmd = `env ${envPart} ssh -tt ${args.map(shellQuote).join(" ")} deploy@127.0.0.1; echo SSH-EXITED-$?; sleep 600`;
  const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a]);
  expect(tmux("new-session", "-d", "-s", "t", "-x", "100", "-y", "30", cmd).exitCode).toBe(0);
  const screen = () => tmux("capture-pane", "-p", "-t", "t").stdout.toString();
  try {
    await waitFor("the upstream shell's prompt", () => /[$#] *$/m.test(screen()), { timeoutMs: 30_000 });
    tmux("send-keys", "-t", "t", "echo replay-marker-$((6*7))", "Enter");
    await waitFor(`the shell to answer ${MARKER}`, () => screen().includes(MARKER));
    // A resize (an "r" event), seen by the upstream pty before the session ends.
    tmux("resize-window", "-t", "t", "-x", "90", "-y", "25");
    tmux("send-keys", "-t", "t", "stty size", "Enter");
    await waitFor("the pty size to follow the resize", () => screen().includes("25 90"));
    tmux("send-keys", "-t", "t", "exit", "Enter");
    await waitFor("ssh to exit", () => screen().includes("SSH-EXITED-0"));
  } finally {
    tmux("kill-server");
  }
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some(isShellEnd), "the shell's channel.end");
  const end = recs.find(isShellEnd)!;
  const rec = (end.details as { recording: { file: string; sha256: string } }).recording;
  shell = { session: end.session!, file: rec.file, sha256: rec.sha256 };
  expect(shell.session).toMatch(/^ssh_/);
  expect(basename(shell.file)).toEndWith(".cast");
  const [header, ...events] = readFileSync(shell.file, "utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as unknown);
  expect(header).toMatchObject({ version: 2, width: 100, height: 30 });
  const typed = events as [number, string, string][];
  expect(typed.filter((e) => e[1] === "o").map((e) => e[2]).join("")).toContain(MARKER);
  expect(typed.filter((e) => e[1] === "i").map((e) => e[2]).join("")).toContain("echo replay-marker-$((6*7))\r");
  expect(typed.some((e) => e[1] === "r" && e[2] === "90x25")).toBe(true);
});

test("gatehouse replay SESSION --no-wait plays the shell's recording, and prints replay-marker-42", async () => {
  const r = await runCli(["replay", shell.session, "--no-wait", "--config", g.gw.configPath]);
  expect(r.stderr).toContain(`session ${shell.session}, recording ${shell.file}`);
  expect(r.stderr).toContain("end of recording");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(MARKER);
  // The same with the log's path, and at its pace with pauses capped (the pause path, not --no-wait).
  const paced = await runCli(["replay", shell.session, g.gw.auditPath, "--idle-limit", "0.05", "--speed", "4"]);
  expect(paced.code).toBe(0);
  expect(paced.stdout).toBe(r.stdout);
  // --transcript: the session's records instead, naming the shell and its recording.
  const t = await runCli(["replay", shell.session, "--transcript", "--config", g.gw.configPath]);
  expect(t.code).toBe(0);
  expect(t.stdout).toContain(`session ${shell.session} on web — alice (agents)`);
  expect(t.stdout).toContain("ALLOW (agents)");
  expect(t.stdout).toContain(`recorded in ${basename(shell.file)}`);
  expect(t.stdout).toContain("exit 0");
});

test("asciinema play accepts the real session's recording (under a terminal, sped up and with idle time capped)", () => {
  for (const opts of ["-s 100", "--idle-time-limit 0.05"]) {
    const played = Bun.spawnSync(["script", "-q", "-e", "-c", `asciinema play ${opts} ${shellQuote(shell.file)}`, "/dev/null"], {
      stdout: "pipe",
      stderr: "pipe",
      stdin: "ignore",
      env: { ...process.env, LANG: "C.UTF-8", TERM: "xterm" },
    });
    expect({ opts, code: played.exitCode, stderr: played.stderr.toString() }).toEqual({ opts, code: 0, stderr: "" });
    expect(played.stdout.toString()).toContain(MARKER);
  }
});

test("an exec session replays as a transcript with its command and exit status", async () => {
  const command = "echo exec-transcript; exit 3";
  const r = await runSsh(g, { token }, [], { command });
  expect([r.stdout, r.code]).toEqual(["exec-transcript\n", 3]);
  const isEnd = (x: AuditRecord) => x.type === "channel.end" && (x.action as { command?: string })?.command === command;
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some(isEnd) && all.some((x) => x.type === "session.end" && x.session === all.find(isEnd)!.session), "the exec's channel.end and session.end");
  const session = recs.find(isEnd)!.session!;
  const t = await runCli(["replay", session, "--config", g.gw.configPath]);
  expect(t.stderr).toBe("");
  expect(t.code).toBe(0);
  const lines = t.stdout.trimEnd().split("\n");
  expect(lines[0]).toBe(`session ${session} on web — alice (agents)`);
  expect(lines[1]).toMatch(/START {2}from 127\.0\.0\.1:\d+, SSH user deploy, upstream account \S+, login by password, client OpenSSH_/);
  expect(t.stdout).toContain("#1 ALLOW (agents)");
  expect(t.stdout).toContain(`exec: ${command} (as ${sshd.user})`);
  expect(t.stdout).toMatch(/→ exit 3 · .*stdout 16 bytes/);
  expect(t.stdout).toMatch(/END {4}after [\d.]+ s: 1 channel/);
});

test("gatehouse verify passes on the log, then fails naming the session and the .cast file once a byte of it is changed", async () => {
  const ok = await runCli(["verify", g.gw.auditPath]);
  expect(ok.code).toBe(0);
  const bytes = readFileSync(shell.file);
  // One byte of the marker's output (same size, still valid JSON): only the hash can tell.
  const at = bytes.lastIndexOf(Buffer.from(MARKER));
  expect(at).toBeGreaterThan(0);
  bytes[at + MARKER.length - 1] = "3".charCodeAt(0);
  writeFileSync(shell.file, bytes);
  const bad = await runCli(["verify", g.gw.auditPath]);
  expect(bad.code).toBe(1);
  const said = bad.stdout + bad.stderr;
  expect(said).toContain(shell.session);
  expect(said).toContain(basename(shell.file));
  // And replay will not play a recording that no longer matches its audit record.
  const replay = await runCli(["replay", shell.session, "--no-wait", "--config", g.gw.configPath]);
  expect(replay.code).toBe(1);
  expect(replay.stderr).toContain("not played");
  expect(replay.stdout).not.toContain("replay-marker-43");
  // A recording removed is named too.
  rmSync(shell.file);
  const gone = await runCli(["verify", g.gw.auditPath]);
  expect(gone.code).toBe(1);
  expect(gone.stdout + gone.stderr).toContain(`recording of session ${shell.session}: ${shell.file} is missing`);
});

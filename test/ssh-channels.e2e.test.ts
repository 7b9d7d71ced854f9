// End to end, compiled gateway in front of a real sshd, real OpenSSH clients: an interactive
// shell (ssh -tt driven through tmux), several channels on one connection (ControlMaster),
// ssh -L carrying an HTTP request (and refused for whom the policy does not allow it), ssh -R,
// agent forwarding refused with a reason, and an exec held for review, then approved.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditRecordsWhen, runCli } from "./helpers/gateway.ts";
import { freePort, onFreePort } from "./helpers/ports.ts";
import { devToken, runSsh, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
let agent: string;
let forwarder: string;
let approver: string;
let restarter: string;
let web: ReturnType<typeof Bun.serve>;
/** A second HTTP server no rule lets anyone forward to. */
let other: ReturnType<typeof Bun.serve>;

const rules = (webPort: number) => `
  - name: agents
    groups: [agents]
    targets: [web]
    ssh: { actions: [exec, shell, sftp] }
    effect: allow
  - name: agents-tunnel
    groups: [agents]
    ssh: { actions: [forward], destinations: ["127.0.0.1:${webPort}"] }
    effect: allow
  - name: forwarders
    groups: [forwarders]
    targets: [web]
    effect: allow
  - name: restarts
    groups: [restarters]
    ssh: { actions: [exec], commands: ["echo restart-*"] }
    effect: review
    approvers: [ops]
`;

beforeAll(async () => {
  sshd = await startSshd();
  web = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (req) => new Response(`hello from upstream's side, ${new URL(req.url).pathname}\n`) });
  other = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("the other server\n") });
  // A fixed admin port: `gatehouse approve --config` finds the admin API in the file (see helpers/ports.ts).
  g = await onFreePort((adminPort) => startSshGateway(sshd, { rules: rules(web.port!), adminPort }));
  [agent, forwarder, approver, restarter] = await Promise.all([
    devToken(g, "alice", "agents"),
    devToken(g, "fred", "forwarders"),
    devToken(g, "olga", "ops"),
    devToken(g, "rita", "agents,restarters"),
  ]);
});

afterAll(async () => {
  web?.stop(true);
  other?.stop(true);
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

test("an interactive shell through tmux: typed commands run, the prompt answers, exit ends the session", async () => {
  const sock = `gh-ssh-${process.pid}`;
  const { args, env } = sshLogin(g, { token: agent });
  const envPart = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  const cmd = `env ${envPart} ssh -tt ${args.map(shellQuote).join(" ")} deploy@127.0.0.1; echo SSH-EXITED-$?; sleep 600`;
  const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a]);
  expect(tmux("new-session", "-d", "-s", "t", "-x", "120", "-y", "30", cmd).exitCode).toBe(0);
  const screen = () => tmux("capture-pane", "-p", "-t", "t").stdout.toString();
  try {
    await waitFor("the upstream shell's prompt", () => /[$#] *$/m.test(screen()), { timeoutMs: 30_000 });
    tmux("send-keys", "-t", "t", "echo $((6*7))-$(id -un)", "Enter");
    await waitFor("the shell to answer 42", () => screen().includes(`42-${sshd.user}`));
    tmux("send-keys", "-t", "t", "stty size", "Enter");
    await waitFor("the pty size to be the client's", () => screen().includes("30 120"));
    // window-change: the terminal shrinks, the upstream pty follows.
    tmux("resize-window", "-t", "t", "-x", "100", "-y", "25");
    tmux("send-keys", "-t", "t", "clear; stty size", "Enter");
    await waitFor("the pty size to follow the resize", () => screen().includes("25 100"));
    tmux("send-keys", "-t", "t", "exit 5", "Enter");
    await waitFor("ssh to exit with the shell's status", () => screen().includes("SSH-EXITED-5"));
  } finally {
    tmux("kill-server");
  }
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "channel.end" && (r.action as { action?: string })?.action === "shell"), "the shell's channel.end");
  const end = recs.find((r) => r.type === "channel.end" && (r.action as { action?: string })?.action === "shell")!;
  expect(end.details).toMatchObject({ exit_status: 5 });
  const decision = recs.find((r) => r.type === "decision" && (r.action as { action?: string })?.action === "shell")!;
  expect(decision.details).toMatchObject({ pty: { cols: 120, rows: 30 } });
  // The terminal session is recorded as asciicast v2, linked by name and sha-256.
  const rec = (end.details as { recording: { file: string; sha256: string; bytes: number; truncated: boolean } }).recording;
  expect(rec.truncated).toBe(false);
  const cast = readFileSync(rec.file);
  expect(createHash("sha256").update(cast).digest("hex")).toBe(rec.sha256);
  const [header, ...events] = cast.toString("utf8").trimEnd().split("\n").map((l) => JSON.parse(l) as unknown);
  expect(header).toMatchObject({ version: 2, width: 120, height: 30 });
  const shown = (events as [number, string, string][]).filter((e) => e[1] === "o").map((e) => e[2]).join("");
  expect(shown).toContain(`42-${sshd.user}`);
  expect((events as [number, string, string][]).some((e) => e[1] === "r" && e[2] === "100x25")).toBe(true);
  // Input is not recorded unless the target says record_input.
  expect((events as [number, string, string][]).some((e) => e[1] === "i")).toBe(false);
  // asciinema plays it (it wants a terminal: script(1) gives it one).
  const played = Bun.spawnSync(["script", "-q", "-e", "-c", `asciinema cat '${rec.file}'`, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore", env: { ...process.env, LANG: "C.UTF-8" } });
  expect(played.exitCode).toBe(0);
  expect(played.stdout.toString()).toContain(`42-${sshd.user}`);
  // gatehouse verify checks the link.
  const verified = await runCli(["verify", g.gw.auditPath]);
  expect(verified.code).toBe(0);
});

test("ControlMaster: many channels, at once and in turn, share one connection and one session, each with its exit status", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-cm-"));
  const control = join(dir, "cm");
  const { args, env } = sshLogin(g, { token: agent });
  const master = Bun.spawn(["ssh", ...args, "-M", "-S", control, "-N", "deploy@127.0.0.1"], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  try {
    await waitFor("the control socket", () => existsSync(control), { timeoutMs: 30_000 });
    const viaMaster = (command: string) => runSsh(g, {}, ["-S", control, "-o", "ControlMaster=no"], { command });
    // Twenty at once, twice: an exit status that lost its race with the EOF showed as 255 in
    // about one channel in fifteen.
    const ids = Array.from({ length: 20 }, (_, i) => i + 1);
    for (const round of [1, 2]) {
      const runs = await Promise.all(ids.map((i) => viaMaster(`echo channel-${round}-${i}; exit ${i}`)));
      expect(runs.map((r) => [r.stdout.trim(), r.code, r.code === 255 ? r.stderr : ""])).toEqual(ids.map((i) => [`channel-${round}-${i}`, i, ""]));
    }
    const again = await viaMaster("echo once-more");
    expect(again.stdout).toBe("once-more\n");
    // A command that closes its output long before it exits: the upstream's EOF comes well before
    // its exit status, and the status must still reach the client.
    const early = await viaMaster("echo early-eof; exec >&- 2>&-; sleep 1; exit 9");
    expect([early.stdout, early.code]).toEqual(["early-eof\n", 9]);
    const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.filter((r) => r.type === "channel.end" && /^echo (channel-|once-more)/.test((r.action as { command?: string })?.command ?? "")).length === 41, "41 channel.end records");
    const sessions = new Set(recs.filter((r) => r.type === "channel.end" && /^echo (channel-|once-more)/.test((r.action as { command?: string })?.command ?? "")).map((r) => r.session));
    expect(sessions.size).toBe(1);
  } finally {
    Bun.spawnSync(["ssh", "-S", control, "-O", "exit", "x"]);
    master.kill();
    await master.exited;
  }
});

async function forward(token: string, port: number): Promise<{ body: string | null; stderr: string }> {
  const local = await freePort();
  const { args, env } = sshLogin(g, { token });
  const p = Bun.spawn(["ssh", ...args, "-N", "-o", "ExitOnForwardFailure=yes", "-L", `127.0.0.1:${local}:127.0.0.1:${port}`, "deploy@127.0.0.1"], {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  let stderr = "";
  void (async () => {
    for await (const c of p.stderr) stderr += new TextDecoder().decode(c);
  })();
  try {
    // The listener is up once a connection to it is accepted (ssh -N prints nothing).
    const body = await waitFor("ssh -L to carry an HTTP request", async () => {
      try {
        const r = await fetch(`http://127.0.0.1:${local}/via-tunnel`);
        return { text: await r.text() };
      } catch (e) {
        if (stderr.includes("open failed")) return { text: null };
        throw e;
      }
    }, { timeoutMs: 30_000 });
    return { body: body.text, stderr };
  } finally {
    p.kill();
    await p.exited;
  }
}

test("ssh -L carries an HTTP request to a destination the policy allows, and is refused as administratively prohibited for another", async () => {
  const ok = await forward(agent, web.port!);
  expect(ok.body).toBe("hello from upstream's side, /via-tunnel\n");
  const refused = await forward(agent, other.port!);
  expect(refused.body).toBe(null);
  expect(refused.stderr).toContain("administratively prohibited");
  expect(refused.stderr).toContain(`forward to 127.0.0.1:${other.port} denied`);
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "channel.end" && (r.action as { action?: string })?.action === "forward"), "the forward's channel.end");
  const fwd = recs.find((r) => r.type === "channel.end" && (r.action as { action?: string })?.action === "forward")!;
  expect(fwd.action).toMatchObject({ destination: `127.0.0.1:${web.port}`, user: sshd.user });
  expect((fwd.details as { bytes_out: number }).bytes_out).toBeGreaterThan(0);
  const denied = recs.find((r) => r.type === "decision" && r.decision?.effect === "deny" && (r.action as { action?: string })?.action === "forward");
  expect(denied?.action).toMatchObject({ destination: `127.0.0.1:${other.port}` });
});

test("ssh -R and agent forwarding are refused, and the session's stderr says why", async () => {
  // ssh asks for agent forwarding only when it has an agent: ssh-agent runs it with one.
  const r = await runSsh(g, { token: forwarder }, ["-A", "-R", "127.0.0.1:0:127.0.0.1:22"], { command: "echo still-runs", prefix: ["ssh-agent"] });
  expect(r.stdout).toBe("still-runs\n");
  expect(r.stderr).toContain("agent forwarding is refused");
  expect(r.stderr).toContain("remote port forwarding (ssh -R) is refused");
});

test("an exec held for review prints the approval id and the approver's command, waits, then runs once approved", async () => {
  const { args, env } = sshLogin(g, { token: restarter });
  const p = Bun.spawn(["ssh", ...args, "deploy@127.0.0.1", "echo restart-web"], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let stderr = "";
  void (async () => {
    for await (const c of p.stderr) stderr += new TextDecoder().decode(c);
  })();
  const stdout = new Response(p.stdout).text();
  const id = await waitFor("the approval id on ssh's stderr", () => /request held for approval: id (\S+);/.exec(stderr)?.[1], { timeoutMs: 30_000 });
  expect(stderr).toContain(`gatehouse approve ${id}`);
  const approved = await runCli(["approve", id, "--config", g.gw.configPath], { env: { GATEHOUSE_TOKEN: approver } });
  expect(approved.stderr).toBe("");
  expect(approved.code).toBe(0);
  expect(await within("ssh to finish after the approval", stdout)).toBe("restart-web\n");
  expect(await p.exited).toBe(0);

  // Denied by the approver: exit 126 with the approver's reason, and nothing runs.
  const q = Bun.spawn(["ssh", ...args, "deploy@127.0.0.1", "echo restart-db"], { env: { ...process.env, ...env }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let qErr = "";
  void (async () => {
    for await (const c of q.stderr) qErr += new TextDecoder().decode(c);
  })();
  const qOut = new Response(q.stdout).text();
  const id2 = await waitFor("the second approval id", () => /request held for approval: id (\S+);/.exec(qErr)?.[1], { timeoutMs: 30_000 });
  const denied = await runCli(["deny", id2, "--reason", "not during business hours", "--config", g.gw.configPath], { env: { GATEHOUSE_TOKEN: approver } });
  expect(denied.code).toBe(0);
  expect(await within("ssh to end after the denial", q.exited)).toBe(126);
  expect(await qOut).toBe("");
  expect(qErr).toContain("not during business hours");
});

test("keep-alives pass: ssh with ServerAliveInterval=1 through a command that runs for three seconds", async () => {
  const r = await runSsh(g, { token: agent }, ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"], { command: "sleep 3; echo still-here" });
  expect(r.stdout).toBe("still-here\n");
  expect(r.code).toBe(0);
});

test("rsync -e ssh copies a tree up and back through the gateway", async () => {
  const src = mkdtempSync(join(tmpdir(), "gh-rsync-src-"));
  const dest = mkdtempSync(join(tmpdir(), "gh-rsync-dest-"));
  const back = mkdtempSync(join(tmpdir(), "gh-rsync-back-"));
  chmodSync(dest, 0o777);
  mkdirSync(join(src, "sub"));
  writeFileSync(join(src, "a.txt"), "alpha\n");
  writeFileSync(join(src, "sub", "b.bin"), randomBytes(200_000));
  const { args, env } = sshLogin(g, { token: agent });
  const e = ["ssh", ...args].map(shellQuote).join(" ");
  const up = Bun.spawnSync(["rsync", "-a", "-e", e, `${src}/`, `deploy@127.0.0.1:${dest}/tree/`], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  expect(up.stderr.toString()).toBe("");
  expect(up.exitCode).toBe(0);
  expect(readFileSync(join(dest, "tree", "sub", "b.bin"))).toEqual(readFileSync(join(src, "sub", "b.bin")));
  const down = Bun.spawnSync(["rsync", "-a", "-e", e, `deploy@127.0.0.1:${dest}/tree/`, `${back}/`], { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  expect(down.exitCode).toBe(0);
  expect(readFileSync(join(back, "a.txt"), "utf8")).toBe("alpha\n");
});

// End to end: the best-effort line policy for interactive shells (rules with `ssh: { lines }`).
// A real ssh -tt shell driven through tmux: a line a deny rule names is wiped before it runs and
// the caller is told why; other lines run; each line is a decision in the audit log. Not a
// boundary (README): the e2e shows what it does, not that it cannot be dodged. Also: with
// record_input, a terminal session's recording holds the caller's keystrokes.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Client, type ClientChannel } from "ssh2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;

beforeAll(async () => {
  sshd = await startSshd();
  g = await startSshGateway(sshd, {
    rules: `
  - name: shells
    groups: [agents]
    ssh: { actions: [shell] }
    effect: allow
  - name: no-rm-typed
    groups: [agents]
    ssh: { lines: ["rm **"] }
    effect: deny
    message: "no rm in shells"
`,
  });
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

test("a typed rm line is wiped before it runs and the caller told why; other lines run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gh-lines-"));
  chmodSync(dir, 0o777);
  const canary = join(dir, "canary");
  writeFileSync(canary, "x");
  chmodSync(canary, 0o666);
  const token = await devToken(g, "alice", "agents");
  const { args, env } = sshLogin(g, { token });
  const envPart = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ");
  const sock = `gh-lines-${process.pid}`;
  const tmux = (...a: string[]) => Bun.spawnSync(["tmux", "-L", sock, ...a]);
  expect(tmux("new-session", "-d", "-s", "t", "-x", "150", "-y", "40", `env ${envPart} ssh -tt ${args.map(shellQuote).join(" ")} deploy@127.0.0.1; sleep 600`).exitCode).toBe(0);
  const screen = () => tmux("capture-pane", "-p", "-t", "t").stdout.toString();
  try {
    await waitFor("the shell's prompt", () => /[$#] *$/m.test(screen()), { timeoutMs: 30_000 });
    tmux("send-keys", "-t", "t", `rm -f ${canary}`, "Enter");
    await waitFor("the refusal on the terminal", () => screen().includes("line refused: no rm in shells"));
    tmux("send-keys", "-t", "t", "echo still-going", "Enter");
    await waitFor("the next line to run", () => screen().includes("\nstill-going"));
  } finally {
    tmux("kill-server");
  }
  expect(existsSync(canary)).toBe(true);
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "decision" && (r.action as { line?: string })?.line === "echo still-going"), "the allowed line's decision");
  const lines = recs.filter((r) => r.type === "decision" && (r.action as { line?: string })?.line !== undefined).map((r) => [(r.action as { line: string }).line, r.decision?.effect]);
  expect(lines).toEqual([
    [`rm -f ${canary}`, "deny"],
    ["echo still-going", "allow"],
  ]);
});

test("record_input: a terminal session's cast also holds what the caller typed", async () => {
  const rec = await startSshGateway(sshd, { rules: "  - name: shells\n    groups: [agents]\n    effect: allow\n", target: ["record_input: true"] });
  try {
    const token = await devToken(rec, "alice", "agents");
    const c = new Client();
    await within("login", new Promise<void>((resolve, reject) => {
      c.once("ready", () => resolve());
      c.once("error", reject);
      c.connect({ host: "127.0.0.1", port: rec.port, username: "deploy", password: token, hostVerifier: () => true });
    }));
    await within("the shell to run and end", new Promise<void>((resolve, reject) => {
      c.shell({ rows: 24, cols: 80, term: "xterm" }, (err: Error | undefined, ch: ClientChannel) => {
        if (err) return reject(err);
        ch.on("data", () => {});
        ch.on("close", () => resolve());
        ch.write("echo typed-$((40+2))\nexit\n");
      });
    }));
    c.end();
    const recs = await auditRecordsWhen(rec.gw.auditPath, (all) => all.some((r) => r.type === "channel.end" && (r.details as { recording?: unknown }).recording !== undefined), "the shell's channel.end");
    const file = (recs.find((r) => r.type === "channel.end")!.details as { recording: { file: string } }).recording.file;
    const events = readFileSync(file, "utf8").trimEnd().split("\n").slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(events.filter((e) => e[1] === "i").map((e) => e[2]).join("")).toContain("echo typed-$((40+2))");
    expect(events.filter((e) => e[1] === "o").map((e) => e[2]).join("")).toContain("typed-42");
  } finally {
    await rec.gw.stop();
    rec.gw.cleanup();
  }
});

test("a shell without a terminal is refused where lines are decided: its stdin would reach the shell undecided", async () => {
  const token = await devToken(g, "agent-9", "agents");
  const marker = join(mkdtempSync(join(tmpdir(), "gh-lines-")), "kept");
  writeFileSync(marker, "kept\n");
  chmodSync(marker, 0o666);
  chmodSync(join(marker, ".."), 0o777);
  const r = await runSsh(g, { token }, ["-T"], { input: `rm -f ${marker}\nexit\n` });
  expect(r.code).toBe(126);
  expect(r.stderr).toContain("shell refused: this target decides shell lines, which needs a terminal");
  expect(existsSync(marker)).toBe(true);
});

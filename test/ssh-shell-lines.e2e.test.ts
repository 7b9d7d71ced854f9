// End to end: the best-effort line policy for interactive shells (rules with `ssh: { lines }`).
// A real ssh -tt shell driven through tmux: a line a deny rule names is wiped before it runs and
// the caller is told why; other lines run; each line is a decision in the audit log. Not a
// boundary (README): the e2e shows what it does, not that it cannot be dodged.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor } from "./helpers/wait.ts";

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

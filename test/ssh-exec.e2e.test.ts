// End to end: the compiled gateway's `kind: ssh` target in front of a real sshd, driven by the
// real OpenSSH client and the ssh2 library: exec with exit status, stdout, stderr and stdin; a
// denied command never runs upstream (exit 126 and the rule's message); logins with a token as
// password or keyboard-interactive answer, and with a machine identity's public key; a wrong
// token is refused with a message and audited; the env allow-list.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "ssh2";
import { auditRecordsWhen, runCli } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
let token: string;
/** In agents and restricted: rm is denied to her. */
let restricted: string;
/** A folder the upstream account may write to, for marker files. */
let markers: string;
let botKeyFile: string;

const RULES = `
  - name: agents
    groups: [agents]
    targets: [web]
    effect: allow
  - name: contractors-see-no-personal-data
    groups: [contractors]
    targets: [web]
    effect: allow
    mask: { detectors: [email, card] }
  - name: no-shells-for-restricted
    groups: [restricted]
    ssh: { actions: [shell] }
    effect: deny
    message: "restricted callers get no shell; run commands one by one"
  - name: no-rm
    groups: [restricted]
    ssh: { actions: [exec], commands: ["rm **"] }
    effect: deny
    message: "rm is not allowed through the gateway"
`;

beforeAll(async () => {
  sshd = await startSshd();
  markers = mkdtempSync(join(tmpdir(), "gatehouse-ssh-markers-"));
  chmodSync(markers, 0o777);
  // A machine identity that logs in with an SSH key (and has a machine key it never uses here).
  const botKey = await startKeygen();
  botKeyFile = botKey.file;
  g = await startSshGateway(sshd, {
    rules: RULES,
    target: ["env: [LANG, \"APP_*\"]", "exec_output_limit: 64KiB"],
    identity: `machine_keys: [{ name: deploy-bot, sha256: "${"b".repeat(64)}", groups: [agents], ssh_public_keys: ["${botKey.publicKey}"] }]`,
  });
  [token, restricted] = await Promise.all([devToken(g, "alice", "agents"), devToken(g, "bob", "agents,restricted")]);
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

async function startKeygen(): Promise<{ file: string; publicKey: string }> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bot-key-"));
  const file = join(dir, "id_ed25519");
  const r = Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bot", "-f", file]);
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  return { file, publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
}

test("exec: stdout, stderr and the exit status come back as from the host itself", async () => {
  const r = await runSsh(g, { token }, [], { command: "echo out; echo err >&2; id -un; exit 3" });
  expect(r.stderr).toContain("err");
  expect(r.stdout).toBe(`out\n${sshd.user}\n`);
  expect(r.code).toBe(3);
});

test("exec: stdin goes upstream, and 8 MB through cat come back whole (flow control both ways)", async () => {
  const small = await runSsh(g, { token }, [], { command: "cat", input: "hello through the gate\n" });
  expect(small.stdout).toBe("hello through the gate\n");
  const big = randomBytes(8 * 1024 * 1024).toString("base64");
  const r = await runSsh(g, { token }, [], { command: "cat", input: big });
  expect(r.code).toBe(0);
  const sha = createHash("sha256").update(big).digest("hex");
  expect(createHash("sha256").update(r.stdout).digest("hex")).toBe(sha);
  // Its output is captured up to exec_output_limit (64 KiB), with the hash of all of it.
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "channel.end" && (x.details as { bytes_in?: number })?.bytes_in === big.length), "the big cat's channel.end");
  const end = recs.find((x) => x.type === "channel.end" && (x.details as { bytes_in?: number })?.bytes_in === big.length)!;
  const stdout = (end.details as { output: { stdout: { sha256: string; bytes: number; captured_bytes: number; truncated: boolean; file: string } } }).output.stdout;
  expect(stdout).toMatchObject({ sha256: sha, bytes: big.length, captured_bytes: 64 * 1024, truncated: true });
  expect(readFileSync(stdout.file, "utf8")).toBe(big.slice(0, 64 * 1024));
});

test("a denied exec never runs upstream: exit 126 and the rule's message on stderr; an allowed one does", async () => {
  const marker = join(markers, "keep-me");
  writeFileSync(marker, "x");
  chmodSync(marker, 0o666);
  const denied = await runSsh(g, { token: restricted }, [], { command: `rm -f ${marker}` });
  expect(denied.code).toBe(126);
  expect(denied.stderr).toContain("rm is not allowed through the gateway");
  expect(existsSync(marker)).toBe(true);
  // Nor hidden behind another command: a line the gateway cannot split is any command to a deny rule.
  const hidden = await runSsh(g, { token: restricted }, [], { command: `true; rm -f ${marker}` });
  expect(hidden.code).toBe(126);
  expect(hidden.stderr).toContain("could not be split safely");
  expect(existsSync(marker)).toBe(true);
  // The same account can change that folder: the deny, not a permission, kept the file.
  const made = join(markers, "made");
  const allowed = await runSsh(g, { token: restricted }, [], { command: `touch ${made}` });
  expect(allowed.code).toBe(0);
  expect(existsSync(made)).toBe(true);
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "channel.end" && (r.action as { command?: string })?.command === `touch ${made}`), "the touch's channel.end");
  const decisions = recs.filter((r) => r.type === "decision" && (r.action as { command?: string })?.command === `rm -f ${marker}`);
  expect(decisions.map((r) => [r.decision?.effect, r.decision?.rule])).toEqual([["deny", "no-rm"]]);
  expect(recs.some((r) => r.type === "channel.end" && (r.action as { command?: string })?.command === `rm -f ${marker}`)).toBe(false);
  const touched = recs.find((r) => r.type === "channel.end" && (r.action as { command?: string })?.command === `touch ${made}`)!;
  expect(touched.details).toMatchObject({ exit_status: 0, bytes_in: 0, bytes_out: 0 });
  expect(typeof (touched.details as { duration_ms?: unknown }).duration_ms).toBe("number");
});

test("a denied shell: the rule's message, exit 126, and the connection closes; an allowed one reads its input", async () => {
  const denied = await runSsh(g, { token: restricted }, ["-T"], { input: "echo should-not-run\n" });
  expect(denied.stderr).toContain("restricted callers get no shell; run commands one by one");
  expect(denied.stdout).toBe("");
  expect(denied.code).toBe(126);
  const allowed = await runSsh(g, { token }, ["-T"], { input: "echo from-shell\nexit 4\n" });
  expect(allowed.stdout).toBe("from-shell\n");
  expect(allowed.code).toBe(4);
});

test("an exec gets no terminal upstream unless exec_pty is on; the caller's raw terminal still gets CR LF", async () => {
  const r = await runSsh(g, { token }, ["-tt"], { command: "tty; echo two" });
  expect(r.stderr).toContain("no terminal upstream for a command on this target (exec_pty is off)");
  expect(r.stdout).toBe("not a tty\r\ntwo\r\n");
  expect(r.code).toBe(0);
  const withPty = await startSshGateway(sshd, { rules: RULES, target: ["exec_pty: true"] });
  try {
    const t = await runSsh(withPty, { token: await devToken(withPty, "alice", "agents") }, ["-tt"], { command: "tty" });
    expect(t.stdout).toMatch(/^\/dev\/pts\/\d+\r\n$/);
    expect(t.stderr).not.toContain("no terminal upstream");
  } finally {
    await withPty.gw.stop();
    withPty.gw.cleanup();
  }
});

test("a wrong token is refused with a message the client prints, and an auth.rejected record", async () => {
  const r = await runSsh(g, { token: "not-a-token" }, [], { command: "true" });
  expect(r.code).toBe(255);
  expect(r.stderr).toContain("login to web refused");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "auth.rejected"), "an auth.rejected record");
  const rej = recs.find((x) => x.type === "auth.rejected")!;
  expect(rej.target).toBe("web");
  expect(rej.details).toMatchObject({ user: "deploy", method: "password" });
});

test("the token as keyboard-interactive answer logs in too", async () => {
  const r = await runSsh(g, { token, method: "keyboard-interactive" }, [], { command: "echo kbd" });
  expect(r.stdout).toBe("kbd\n");
  expect(r.code).toBe(0);
});

test("a machine identity logs in with its SSH key, as that identity", async () => {
  const r = await runSsh(g, { keyFile: botKeyFile }, [], { command: "echo from-bot" });
  expect(r.stderr).toBe("");
  expect(r.stdout).toBe("from-bot\n");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "session.start" && x.identity?.subject === "deploy-bot"), "the bot's session.start");
  const start = recs.find((x) => x.type === "session.start" && x.identity?.subject === "deploy-bot")!;
  expect(start.identity).toMatchObject({ method: "machine-key", groups: ["agents"] });
  expect(start.details).toMatchObject({ method: "publickey", account: sshd.user });
  // A key that belongs to nobody does not log in.
  const stranger = await startKeygen();
  const refused = await runSsh(g, { keyFile: stranger.file }, [], { command: "true" });
  expect(refused.code).toBe(255);
  expect(refused.stdout).toBe("");
});

test("env: listed variables reach the upstream, others (LD_PRELOAD, BASH_ENV) never do", async () => {
  const r = await runSsh(g, { token }, ["-o", "SetEnv=APP_MODE=blue LD_PRELOAD=/nonexistent/x.so BASH_ENV=/nonexistent/env.sh"], {
    command: `printf '[%s][%s][%s]\\n' "$APP_MODE" "$LD_PRELOAD" "$BASH_ENV"`,
  });
  expect(r.stdout).toBe("[blue][][]\n");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "decision" && (x.details as { env_refused?: string[] })?.env_refused !== undefined), "a decision naming refused env");
  const d = recs.find((x) => x.type === "decision" && (x.details as { env_refused?: string[] })?.env_refused !== undefined)!;
  expect(d.details).toMatchObject({ env: ["APP_MODE"], env_refused: ["LD_PRELOAD", "BASH_ENV"] });
});

test("mask: e-mails and card numbers in an exec's stdout and stderr are masked on the way, and in what is recorded", async () => {
  const contractor = await devToken(g, "carol", "agents,contractors");
  const command = `printf 'mail alice@example.com about card 4111 1111 1111 1111\\n'; printf 'err bob@example.org\\n' >&2`;
  const r = await runSsh(g, { token: contractor }, [], { command });
  expect(r.code).toBe(0);
  expect(r.stdout).toStartWith("mail ");
  for (const secret of ["alice@example.com", "4111 1111 1111 1111", "bob@example.org"]) expect(r.stdout + r.stderr).not.toContain(secret);
  expect(r.stderr).toStartWith("err ");
  // Unmasked for whom no rule masks it.
  const plain = await runSsh(g, { token }, [], { command });
  expect(plain.stdout).toContain("alice@example.com");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "channel.end" && x.identity?.subject === "carol"), "carol's channel.end");
  const end = recs.find((x) => x.type === "channel.end" && x.identity?.subject === "carol")!;
  expect((end.details as { masked: number }).masked).toBe(3);
  const captured = readFileSync((end.details as { output: { stdout: { file: string } } }).output.stdout.file, "utf8");
  expect(captured).toBe(r.stdout);
});

test("the ssh2 client library: password login, exec, exit status and stderr", async () => {
  const client = new Client();
  const ready = new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    client.once("error", reject);
  });
  client.connect({
    host: "127.0.0.1",
    port: g.port,
    username: "deploy",
    password: token,
    hostVerifier: (key: Buffer) => key.equals(Buffer.from(g.hostPublicKey.split(" ")[1]!, "base64")),
  });
  await within("the ssh2 client to log in", ready);
  const result = await within(
    "the exec to finish",
    new Promise<{ out: string; err: string; code: number | null }>((resolve, reject) => {
      client.exec("echo lib; echo oops >&2; exit 7", (err, ch) => {
        if (err) return reject(err);
        let out = "";
        let errOut = "";
        let code: number | null = null;
        ch.on("data", (d: Buffer) => (out += d.toString()));
        ch.stderr.on("data", (d: Buffer) => (errOut += d.toString()));
        ch.on("exit", (c: number) => (code = c));
        ch.on("close", () => resolve({ out, err: errOut, code }));
      });
    }),
  );
  client.end();
  expect(result).toEqual({ out: "lib\n", err: "oops\n", code: 7 });
});

/** An ssh2 client logged in to the gateway with `password`. */
async function libClient(password: string): Promise<Client> {
  const client = new Client();
  const ready = new Promise<void>((resolve, reject) => {
    client.once("ready", () => resolve());
    client.once("error", reject);
  });
  client.connect({ host: "127.0.0.1", port: g.port, username: "deploy", password, hostVerifier: (key: Buffer) => key.equals(Buffer.from(g.hostPublicKey.split(" ")[1]!, "base64")) });
  await within("the ssh2 client to log in", ready);
  return client;
}

test("signals: a signal request reaches the upstream command, and an exit by signal comes back as exit-signal", async () => {
  const client = await libClient(token);
  try {
    const trapped = await within(
      "the trapped TERM",
      new Promise<{ out: string; code: number | null }>((resolve, reject) => {
        client.exec("trap 'echo got-term; exit 7' TERM; echo ready; sleep 60 & wait", (err, ch) => {
          if (err) return reject(err);
          let out = "";
          let code: number | null = null;
          ch.on("data", (d: Buffer) => {
            out += d.toString();
            if (out === "ready\n") ch.signal("TERM");
          });
          ch.on("exit", (c: number | null) => (code = c));
          ch.on("close", () => resolve({ out, code }));
        });
      }),
    );
    expect(trapped).toEqual({ out: "ready\ngot-term\n", code: 7 });
    const killed = await within(
      "the killed command",
      new Promise<{ code: number | null; signal?: string }>((resolve, reject) => {
        client.exec("kill -KILL $$", (err, ch) => {
          if (err) return reject(err);
          let exit: { code: number | null; signal?: string } = { code: null };
          ch.on("exit", (code: number | null, signal?: string) => (exit = { code, ...(signal ? { signal } : {}) }));
          ch.on("data", () => {});
          ch.on("close", () => resolve(exit));
        });
      }),
    );
    expect(killed).toEqual({ code: null, signal: "SIGKILL" });
    const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "channel.end" && (x.action as { command?: string })?.command === "kill -KILL $$"), "the killed command's channel.end");
    expect(recs.find((x) => x.type === "channel.end" && (x.action as { command?: string })?.command === "kill -KILL $$")!.details).toMatchObject({ exit_signal: "KILL" });
  } finally {
    client.end();
  }
});

test("gatehouse verify checks every capture the records link, and names one that was altered", async () => {
  const r = await runSsh(g, { token }, [], { command: "echo evidence" });
  expect(r.stdout).toBe("evidence\n");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "channel.end" && (x.action as { command?: string })?.command === "echo evidence"), "the echo's channel.end");
  const end = recs.find((x) => x.type === "channel.end" && (x.action as { command?: string })?.command === "echo evidence")!;
  const file = (end.details as { output: { stdout: { file: string } } }).output.stdout.file;
  const ok = await runCli(["verify", "--config", g.gw.configPath]);
  expect(ok.code).toBe(0);
  writeFileSync(file, "forged\n");
  const bad = await runCli(["verify", "--config", g.gw.configPath]);
  expect(bad.code).toBe(1);
  expect(bad.stdout + bad.stderr).toContain(end.session!);
});

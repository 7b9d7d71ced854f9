// Starts a real OpenSSH server (/usr/sbin/sshd) for tests: its own host key and config in a temp
// dir, on 127.0.0.1 at a free port (sshd cannot listen on port 0 and report the port, so a port
// taken between probing and binding is retried), run in the foreground (-D -e) with no PAM. It
// logs in a dedicated test user (gatehouse-test, created if missing, with a password and its
// authorized keys in the temp dir), or root where the user cannot be made. Missing binaries are
// an error that says so, never a silent skip.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export const SSHD = "/usr/sbin/sshd";
export const TEST_USER = "gatehouse-test";
/** The test user's password upstream (PasswordAuthentication is on for it). */
export const TEST_USER_PASSWORD = "gatehouse-test-password-1";

export interface SshdInstance {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** The account tests log in as upstream: gatehouse-test, or root where it could not be made. */
  readonly user: string;
  readonly home: string;
  readonly dir: string;
  /** "ssh-ed25519 AAAA…" of the server's host key (pin it in upstream.host_key). */
  readonly hostPublicKey: string;
  /** A private key (OpenSSH format) authorized for `user`, and its public line. */
  readonly clientKey: string;
  readonly clientPublicKey: string;
  /** sshd's stderr so far (-e: its log). */
  logs(): string;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** More sshd_config lines. */
  readonly config?: readonly string[];
}

function run(argv: string[], input?: string): { code: number; out: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { input, encoding: "utf8" });
  return { code: r.status ?? -1, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
}

/** The test user, made once per machine; root when useradd is not possible. */
function ensureUser(): { user: string; home: string } {
  const exists = () => run(["id", "-u", TEST_USER]).code === 0;
  if (!exists()) {
    const r = run(["useradd", "--create-home", "--shell", "/bin/bash", TEST_USER]);
    // Exit 9: made meanwhile by a test running in parallel.
    if (r.code !== 0 && r.code !== 9 && !exists()) return { user: "root", home: "/root" };
  }
  // A locked account ("!" in shadow) cannot log in without PAM; a known password unlocks it.
  run(["chpasswd"], `${TEST_USER}:${TEST_USER_PASSWORD}\n`);
  const home = run(["sh", "-c", `getent passwd ${TEST_USER} | cut -d: -f6`]).out.trim() || `/home/${TEST_USER}`;
  return { user: TEST_USER, home };
}

function keygen(path: string): string {
  const r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "gatehouse-test", "-f", path]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.out}`);
  return readFileSync(`${path}.pub`, "utf8").trim();
}

export async function startSshd(opts: SshdOptions = {}): Promise<SshdInstance> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} not found: install Debian's openssh-server`);
  const { user, home } = ensureUser();
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-sshd-"));
  chmodSync(dir, 0o755);
  // Privilege separation needs its empty directory.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const hostPublicKey = keygen(join(dir, "ssh_host_ed25519_key"));
  const clientPublicKey = keygen(join(dir, "client_key"));
  writeFileSync(join(dir, "authorized_keys"), `${clientPublicKey}\n`, { mode: 0o644 });
  let output = "";
  let proc: Subprocess<"ignore", "ignore", "pipe"> | null = null;
  let port = 0;
  for (let attempt = 0; attempt < 5 && proc === null; attempt++) {
    port = await freePort();
    const config = [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "ssh_host_ed25519_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "UsePAM no",
      "PubkeyAuthentication yes",
      "PasswordAuthentication yes",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      `AllowUsers ${user}`,
      "AllowTcpForwarding yes",
      "AllowAgentForwarding yes",
      "X11Forwarding no",
      // Upstream accepts what the gateway must refuse, so a test shows the gateway refusing it.
      "AcceptEnv LANG LC_* APP_* LD_PRELOAD BASH_ENV",
      "Subsystem sftp internal-sftp",
      "MaxSessions 100",
      "MaxStartups 100:30:200",
      "LogLevel VERBOSE",
      ...(opts.config ?? []),
    ];
    writeFileSync(join(dir, "sshd_config"), `${config.join("\n")}\n`);
    const p = Bun.spawn([SSHD, "-D", "-e", "-f", join(dir, "sshd_config")], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
    const start = output.length;
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of p.stderr) output += dec.decode(chunk);
    })();
    const up = await waitFor(`sshd to listen on 127.0.0.1:${port}`, async () => {
      if (p.exitCode !== null) return "exited";
      if (output.slice(start).includes(`Server listening on 127.0.0.1 port ${port}`)) return "up";
      return null;
    }, { timeoutMs: 20_000 });
    if (up === "up") proc = p;
    else if (!/Address already in use|Bind to port/.test(output.slice(start))) throw new Error(`sshd did not start:\n${output}`);
  }
  if (proc === null) throw new Error(`sshd did not start after 5 ports:\n${output}`);
  const running = proc;
  return {
    host: "127.0.0.1",
    port,
    user,
    home,
    dir,
    hostPublicKey,
    clientKey: readFileSync(join(dir, "client_key"), "utf8"),
    clientPublicKey,
    logs: () => output,
    async stop() {
      running.kill("SIGTERM");
      await running.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

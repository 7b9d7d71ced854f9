// The compiled gateway with one `kind: ssh` target in front of a test sshd (./sshd.ts), and real
// OpenSSH clients pointed at it: a known_hosts file holding the gateway's host key (strict
// checking on), a token given as the password through SSH_ASKPASS (no terminal, no sshpass), or a
// machine identity's private key.
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GatewayProcess, runCli, startGatewayProcess } from "./gateway.ts";
import type { SshdInstance } from "./sshd.ts";

export interface SshGateway {
  readonly gw: GatewayProcess;
  readonly port: number;
  /** A known_hosts file that pins the gateway's host key. */
  readonly knownHosts: string;
  readonly hostPublicKey: string;
  /** The gateway's target name. */
  readonly target: string;
}

export interface SshGatewayOptions {
  /** YAML of the rules list (items starting "  - "). */
  readonly rules: string;
  /** More lines of the target, indented four spaces. */
  readonly target?: readonly string[];
  /** More of the identity flow map after dev_issuer, e.g. "machine_keys: [...]". */
  readonly identity?: string;
  /** Replaces the upstream login line (default: private_key from the sshd's client key). */
  readonly upstreamLogin?: string;
  /** Replaces the pinned upstream host key (a list: several pins). */
  readonly upstreamHostKey?: string | readonly string[];
  readonly env?: Record<string, string>;
  /** The target's name (default web). */
  readonly name?: string;
  /** A fixed admin API port (for `gatehouse approve --config`, which reads it from the file); default 0. */
  readonly adminPort?: number;
}

export function sshGatewayYaml(sshd: SshdInstance, opts: SshGatewayOptions): string {
  const extra = (opts.target ?? []).map((l) => `    ${l}\n`).join("");
  return `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${opts.adminPort ?? 0}" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true${opts.identity ? `, ${opts.identity}` : ""} }
targets:
  - name: ${opts.name ?? "web"}
    kind: ssh
    listen: 127.0.0.1:0
${extra}    upstream:
      host: 127.0.0.1
      port: ${sshd.port}
      user: ${sshd.user}
      ${opts.upstreamLogin ?? 'private_key: "${file:./upstream_key}"'}
      host_key: ${JSON.stringify(opts.upstreamHostKey ?? sshd.hostPublicKey)}
rules:
${opts.rules.replace(/^\n+/, "")}`;
}

export async function startSshGateway(sshd: SshdInstance, opts: SshGatewayOptions): Promise<SshGateway> {
  const { makeTempDir } = await import("./gateway.ts");
  const dir = makeTempDir("gatehouse-ssh-");
  writeFileSync(join(dir, "upstream_key"), sshd.clientKey, { mode: 0o600 });
  const gw = await startGatewayProcess({ dir, files: { "gatehouse.yaml": sshGatewayYaml(sshd, opts) }, ...(opts.env ? { env: opts.env } : {}) });
  const target = opts.name ?? "web";
  const port = gw.port(target);
  const hostPublicKey = readFileSync(join(dir, `state/ssh/${target}/ssh_host_ed25519_key.pub`), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  return { gw, port, knownHosts, hostPublicKey, target };
}

/** A dev token for `sub` in `groups`, minted by the gateway's own dev issuer. */
export async function devToken(g: SshGateway, sub: string, groups: string, ttl = "30m"): Promise<string> {
  const r = await runCli(["token", "--state-dir", join(g.gw.dir, "state"), "--sub", sub, "--groups", groups, "--ttl", ttl]);
  if (r.code !== 0) throw new Error(`gatehouse token failed: ${r.stderr}`);
  return r.stdout.trim().split("\n")[0]!;
}

export interface SshCredential {
  /** A token or machine key, typed as the password (or keyboard-interactive answer) by SSH_ASKPASS. */
  readonly token?: string;
  /** Which of the two methods to use for the token (default password). */
  readonly method?: "password" | "keyboard-interactive";
  /** A private key file (a machine identity's public key login). */
  readonly keyFile?: string;
}

export interface SshRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The ssh options and environment that log in to the gateway with `cred`. */
export function sshLogin(g: SshGateway, cred: SshCredential): { args: string[]; env: Record<string, string> } {
  const args = ["-p", String(g.port), "-o", `UserKnownHostsFile=${g.knownHosts}`, "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null", "-F", "/dev/null"];
  const env: Record<string, string> = {};
  if (cred.keyFile !== undefined) {
    args.push("-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey", "-i", cred.keyFile);
  } else if (cred.token !== undefined) {
    // SSH_ASKPASS_REQUIRE=force: ssh asks the program even without a display or with a terminal.
    const askpass = join(g.gw.dir, "askpass.sh");
    writeFileSync(askpass, `#!/bin/sh\nprintf '%s\\n' "$GATEHOUSE_TEST_TOKEN"\n`);
    chmodSync(askpass, 0o755);
    env.SSH_ASKPASS = askpass;
    env.SSH_ASKPASS_REQUIRE = "force";
    env.DISPLAY = ":0";
    env.GATEHOUSE_TEST_TOKEN = cred.token;
    args.push("-o", "BatchMode=no", "-o", `PreferredAuthentications=${cred.method ?? "password"}`, "-o", "NumberOfPasswordPrompts=1", "-o", "PubkeyAuthentication=no");
  }
  return { args, env };
}

/** Runs `ssh [extra] user@127.0.0.1 [command]` to completion; stdin from `input`. */
export async function runSsh(g: SshGateway, cred: SshCredential, extra: readonly string[], opts: { user?: string; command?: string; input?: string; /** Runs ssh through this command, e.g. ["ssh-agent"]. */ prefix?: readonly string[] } = {}): Promise<SshRun> {
  const { args, env } = sshLogin(g, cred);
  const argv = [...(opts.prefix ?? []), "ssh", ...args, ...extra, `${opts.user ?? "deploy"}@127.0.0.1`, ...(opts.command !== undefined ? [opts.command] : [])];
  const p = Bun.spawn(argv, {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root", ...env },
    stdin: opts.input !== undefined ? new TextEncoder().encode(opts.input) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

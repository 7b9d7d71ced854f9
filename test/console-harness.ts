// A gateway (in process: the same startGateway as `gatehouse serve`) with a PostgreSQL and an SSH
// target in front of real servers, and its web console on the admin listener (dev issuer
// login): what the console end-to-end tests drive with psql, ssh and chromium.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../src/core/logger.ts";
import { type RunningGateway, startGateway } from "../src/gate/gateway.ts";
import { loadOrCreateDevIssuer, mintDevToken } from "../src/identity/dev-issuer.ts";
import type { PostgresInstance } from "./helpers/postgres.ts";
import type { SshdInstance } from "./helpers/sshd.ts";

export interface ConsoleHarness {
  readonly gw: RunningGateway;
  readonly dir: string;
  readonly consoleUrl: string;
  readonly pgPort: number;
  readonly sshPort: number;
  readonly knownHosts: string;
  token(sub: string, groups: string[]): Promise<string>;
  /** Logs in to the console with the dev issuer's one-click form: the cookie header and the CSRF token. */
  login(subject: string, groups: string[]): Promise<{ cookie: string; csrf: string }>;
  stop(): Promise<void>;
}

export async function startConsoleHarness(pg: PostgresInstance, sshd: SshdInstance): Promise<ConsoleHarness> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-console-"));
  writeFileSync(join(dir, "upstream_key"), sshd.clientKey, { mode: 0o600 });
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
console:
  issuer: dev
  viewers: [auditors]
  session_enders: [operators]
targets:
  - name: sales-db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
  - name: web
    kind: ssh
    listen: 127.0.0.1:0
    upstream:
      host: 127.0.0.1
      port: ${sshd.port}
      user: ${sshd.user}
      private_key: "\${file:./upstream_key}"
      host_key: ${JSON.stringify(sshd.hostPublicKey)}
rules:
  - name: analysts-read
    groups: [analysts]
    targets: [sales-db]
    effect: allow
  - name: agents
    groups: [agents]
    targets: [web]
    ssh: { actions: [exec, shell] }
    effect: allow
`;
  writeFileSync(join(dir, "gatehouse.yaml"), yaml);
  const cwd = process.cwd();
  // The config's relative paths are read against the folder of the file; state_dir against it too.
  process.chdir(dir);
  let gw: RunningGateway;
  try {
    gw = await startGateway({ configPath: join(dir, "gatehouse.yaml"), clock: { now: () => Date.now() }, log: silentLogger });
  } finally {
    process.chdir(cwd);
  }
  const stateDir = gw.config().gateway.state_dir;
  const consoleUrl = `http://127.0.0.1:${gw.adminPort}`;
  const sshPort = gw.targets.get("web")!.port;
  const hostKey = (await Bun.file(join(stateDir, "ssh/web/ssh_host_ed25519_key.pub")).text()).trim().split(" ").slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${sshPort} ${hostKey}\n`);
  const issuer = await loadOrCreateDevIssuer(stateDir);
  return {
    gw,
    dir,
    consoleUrl,
    pgPort: gw.targets.get("sales-db")!.port,
    sshPort,
    knownHosts,
    async login(subject, groups) {
      const res = await fetch(`${consoleUrl}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ subject, groups: groups.join(","), return_to: "/sessions" }), redirect: "manual" });
      const cookie = (res.headers.get("set-cookie") ?? "").split(";")[0]!;
      if (!cookie.includes("=")) throw new Error(`console login failed: HTTP ${res.status}: ${await res.text()}`);
      const page = await (await fetch(`${consoleUrl}/approvals`, { headers: { cookie, accept: "text/html" } })).text();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
      if (csrf === undefined) throw new Error("no CSRF token on the console's page");
      return { cookie, csrf };
    },
    token: (sub, groups) => mintDevToken({ sub, groups, ttlMs: 30 * 60_000 }, issuer, { now: () => Date.now() }),
    async stop() {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

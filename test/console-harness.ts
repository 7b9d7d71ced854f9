// A gateway (in process: the same startGateway as `gatehouse serve`) with a PostgreSQL and an SSH
// target in front of real servers, and the console's session and audit pages mounted in a test
// app with a fixed viewer (standing in for the login middleware until it is merged): what the
// console end-to-end tests drive with psql, ssh and chromium.
import { Hono } from "hono";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createAuditPages } from "../src/console/audit/audit-pages.ts";
import { VerifyRunner } from "../src/console/audit/verify-runner.ts";
import type { ConsoleEnv, ConsoleRole, RenderPage } from "../src/console/console-env.ts";
import { createSessionPages } from "../src/console/sessions/session-pages.ts";
import { silentLogger } from "../src/core/logger.ts";
import { type RunningGateway, startGateway } from "../src/gate/gateway.ts";
import { loadOrCreateDevIssuer, mintDevToken } from "../src/identity/dev-issuer.ts";
import { recordingsDir } from "../src/recording/recording-ref.ts";
import type { PostgresInstance } from "./helpers/postgres.ts";
import type { SshdInstance } from "./helpers/sshd.ts";

export interface ConsoleHarness {
  readonly gw: RunningGateway;
  readonly dir: string;
  readonly consoleUrl: string;
  readonly pgPort: number;
  readonly sshPort: number;
  readonly knownHosts: string;
  readonly csrf: string;
  token(sub: string, groups: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** A plain layout with just enough style to read the screenshots (the real one is the login helper's). */
const render: RenderPage = (viewer, title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title.replace(/[<&]/g, "")} · Gatehouse</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222}header{background:#1d2733;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#cfe3ff}main{padding:12px 16px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f3f5f7}.effect{padding:1px 6px;border-radius:8px;font-size:12px}.effect-allow{background:#d7f5dc}.effect-deny{background:#ffd9d9}.effect-review{background:#fff1c2}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin-bottom:8px}.filters label{display:flex;flex-direction:column;font-size:12px}
.danger{background:#b3261e;color:#fff;border:0;padding:4px 10px;border-radius:4px}.error{color:#b3261e}.notice{background:#eef6ff;padding:6px}
.scroll{overflow-x:auto}code{white-space:pre-wrap;word-break:break-word}.integrity{background:#f7f7f7;padding:4px 10px;margin-bottom:8px}form.inline{display:inline}
.cast{max-width:820px;margin:0}
</style></head><body><header><strong>Gatehouse</strong><a href="/sessions">Sessions</a><a href="/audit">Audit</a><span style="margin-left:auto">${viewer.identity.subject}</span></header>
<main><h1>${title.replace(/[<&]/g, "")}</h1>${body}</main></body></html>`;

export async function startConsoleHarness(pg: PostgresInstance, sshd: SshdInstance, roles: ConsoleRole[]): Promise<ConsoleHarness> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-console-"));
  writeFileSync(join(dir, "upstream_key"), sshd.clientKey, { mode: 0o600 });
  const yaml = `
gateway: { state_dir: ./state }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
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
  const auditPath = () => gw.config().audit.path;
  const csrf = "csrf-" + Math.random().toString(36).slice(2);
  const app = new Hono<ConsoleEnv>();
  app.use("*", async (c, next) => {
    c.set("viewer", { identity: { method: "dev", subject: "olivia", issuer: "gatehouse-dev", groups: ["operators"], name: "Olivia Operator" }, roles: new Set(roles), csrf });
    await next();
  });
  const record = async (e: Parameters<RunningGateway["audit"]["append"]>[0]) => void (await gw.audit.append(e));
  app.route("/sessions", createSessionPages({ render, auditPath, live: gw.liveSessions, record, recordingsDir: () => recordingsDir(stateDir), clock: { now: () => Date.now() } }));
  app.route("/audit", createAuditPages({ render, auditPath, checkpoint: () => gw.audit.latestCheckpoint, verify: new VerifyRunner(auditPath, () => [], { now: () => Date.now() }), record }));
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: app.fetch });
  const sshPort = gw.targets.get("web")!.port;
  const hostKey = (await Bun.file(join(stateDir, "ssh/web/ssh_host_ed25519_key.pub")).text()).trim().split(" ").slice(0, 2).join(" ");
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${sshPort} ${hostKey}\n`);
  const issuer = await loadOrCreateDevIssuer(stateDir);
  return {
    gw,
    dir,
    consoleUrl: `http://127.0.0.1:${server.port}`,
    pgPort: gw.targets.get("sales-db")!.port,
    sshPort,
    knownHosts,
    csrf,
    token: (sub, groups) => mintDevToken({ sub, groups, ttlMs: 30 * 60_000 }, issuer, { now: () => Date.now() }),
    async stop() {
      server.stop(true);
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Starts the compiled gateway (dist/gatehouse) on a configuration written to a temp folder,
// the way a user runs it, and gives tests its ports, its log and ways to stop or kill it.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { readRecords } from "../../src/audit/reader.ts";
import type { AuditRecord } from "../../src/audit/record.ts";
import { freePort, waitForPort } from "./ports.ts";

export const BINARY = resolve(import.meta.dir, "../../dist/gatehouse");

/**
 * The records of the audit log at `path` once `ok` holds of them, polled. Completion and
 * session-end records are written with the next audit write after the client got its answer,
 * so a single read right after it can miss them. Throws, naming `what`, after `timeoutMs`.
 */
export async function auditRecordsWhen(path: string, ok: (all: AuditRecord[]) => boolean, what: string, timeoutMs = 10_000): Promise<AuditRecord[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all: AuditRecord[] = [];
    for await (const { record } of readRecords(path, { onTornTail: () => {} })) all.push(record);
    if (ok(all)) return all;
    if (Date.now() > deadline) throw new Error(`audit log never showed ${what}`);
    await Bun.sleep(20);
  }
}

export function requireBinary(): void {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run "bun build.ts" first (npm test does)`);
}

export interface GatewayProcess {
  readonly dir: string;
  readonly configPath: string;
  readonly auditPath: string;
  readonly adminUrl: string;
  proc: Subprocess<"ignore", "pipe", "pipe">;
  logs(): string;
  /** Waits until the log contains `text` (or the timeout passes). */
  waitForLog(text: string | RegExp, timeoutMs?: number): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<number>;
  kill9(): Promise<void>;
  cleanup(): void;
}

export function makeTempDir(prefix = "gatehouse-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs `dist/gatehouse ARGS` to completion. */
export async function runCli(args: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([BINARY, ...args], {
    cwd: opts.cwd ?? process.cwd(),
    env: { ...process.env, NO_COLOR: "1", ...opts.env },
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

/**
 * Writes `files` (name → YAML text) into a fresh folder and serves it. `ports` lists the ports
 * the config listens on, so this waits until each accepts connections.
 */
export async function startGatewayProcess(opts: {
  files: Record<string, string>;
  adminPort: number;
  ports: number[];
  env?: Record<string, string>;
  dir?: string;
  /** Runs the binary through this command, which must exec it (same pid), e.g. a shell that sets a signal disposition. */
  argvPrefix?: readonly string[];
}): Promise<GatewayProcess> {
  requireBinary();
  const dir = opts.dir ?? makeTempDir();
  for (const [name, text] of Object.entries(opts.files)) writeFileSync(join(dir, name), text);
  const configPath = Object.keys(opts.files).length === 1 ? join(dir, Object.keys(opts.files)[0]!) : dir;
  let output = "";
  const spawn = () => {
    const proc = Bun.spawn([...(opts.argvPrefix ?? []), BINARY, "serve", "--config", configPath], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    for (const stream of [proc.stdout, proc.stderr]) {
      void (async () => {
        const dec = new TextDecoder();
        for await (const chunk of stream) output += dec.decode(chunk);
      })();
    }
    return proc;
  };
  const started = async () => {
    try {
      await Promise.all([waitForPort(opts.adminPort), ...opts.ports.map((p) => waitForPort(p))]);
    } catch (e) {
      throw new Error(`gateway did not start: ${(e as Error).message}\n--- gateway log ---\n${output}`);
    }
  };
  const gw: GatewayProcess = {
    dir,
    configPath,
    auditPath: join(dir, "state/audit/audit.log"),
    adminUrl: `http://127.0.0.1:${opts.adminPort}`,
    proc: spawn(),
    logs: () => output,
    async waitForLog(text, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(typeof text === "string" ? output.includes(text) : text.test(output))) {
        if (Date.now() > deadline) throw new Error(`gateway log never showed ${String(text)}\n--- gateway log ---\n${output}`);
        await Bun.sleep(50);
      }
    },
    async restart() {
      gw.proc = spawn();
      await started();
    },
    async stop() {
      gw.proc.kill("SIGTERM");
      return await gw.proc.exited;
    },
    async kill9() {
      gw.proc.kill("SIGKILL");
      await gw.proc.exited;
    },
    cleanup() {
      try {
        gw.proc.kill("SIGKILL");
      } catch {}
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  await started();
  return gw;
}

/**
 * The YAML of a gateway with one HTTP target `api` in front of `upstream`, dev tokens on, audit
 * in ./state/audit/audit.log. `identity` is the inside of the identity flow map after
 * dev_issuer (e.g. "machine_keys: [...]"); `target` adds lines to the target (indented four
 * spaces, e.g. "timeout: 2s"); `rules` is the YAML of the rules list (items starting "  - ").
 */
export function httpGatewayYaml(opts: { adminPort: number; listen: string; upstream: string; rules: string; identity?: string; target?: string[] }): string {
  const extra = (opts.target ?? []).map((line) => `    ${line}\n`).join("");
  return `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${opts.adminPort}" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true${opts.identity ? `, ${opts.identity}` : ""} }
targets:
  - name: api
    kind: http
    listen: "${opts.listen}"
    upstream: ${opts.upstream}
${extra}rules:
${opts.rules.replace(/^\n+/, "")}`;
}

/**
 * Serves the compiled gateway with one `kind: postgres` target named sales-db in front of a
 * test PostgreSQL (see ./postgres.ts), dev tokens on, audit in ./state/audit/audit.log.
 * `target` adds lines to the target (indented four spaces, e.g. "record_parameters: true");
 * `rules` is the YAML of the rules list (each item starting "  - name: ").
 */
export async function startPostgresGateway(
  pg: { port: number; user: string; password: string },
  opts: { rules: string; target?: string[]; env?: Record<string, string>; /** More of the identity section, e.g. "end_sessions_at_expiry: false". */ identity?: string },
): Promise<{ gw: GatewayProcess; port: number }> {
  const port = await freePort();
  const admin = await freePort();
  const extra = (opts.target ?? []).map((line) => `    ${line}\n`).join("");
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${admin}" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true${opts.identity ? `, ${opts.identity}` : ""} }
targets:
  - name: sales-db
    kind: postgres
    listen: 127.0.0.1:${port}
${extra}    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
rules:
${opts.rules.replace(/^\n+/, "")}`;
  const gw = await startGatewayProcess({ adminPort: admin, ports: [port], files: { "gatehouse.yaml": yaml }, ...(opts.env ? { env: opts.env } : {}) });
  return { gw, port };
}

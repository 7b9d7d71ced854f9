// Starts the compiled gateway (dist/gatehouse) on a configuration written to a temp folder,
// the way a user runs it, and gives tests its ports, its log and ways to stop or kill it.
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { readRecords } from "../../src/audit/reader.ts";
import type { AuditRecord } from "../../src/audit/record.ts";
import { waitForPort } from "./ports.ts";
import { waitFor } from "./wait.ts";

export const BINARY = resolve(import.meta.dir, "../../dist/gatehouse");

/**
 * The records of the audit log at `path` once `ok` holds of them, polled. Completion and
 * session-end records are written with the next audit write after the client got its answer,
 * so a single read right after it can miss them. Throws, naming `what`, after `timeoutMs`.
 */
export async function auditRecordsWhen(path: string, ok: (all: AuditRecord[]) => boolean, what: string, timeoutMs = 20_000): Promise<AuditRecord[]> {
  return await waitFor(
    `the audit log to show ${what}`,
    async () => {
      const all = await auditRecords(path);
      return ok(all) ? all : null;
    },
    { timeoutMs },
  );
}

/** Every record of the audit log at `path` (a line being written is skipped). */
export async function auditRecords(path: string): Promise<AuditRecord[]> {
  const all: AuditRecord[] = [];
  for await (const { record } of readRecords(path, { onTornTail: () => {} })) all.push(record);
  return all;
}

export function requireBinary(): void {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run "bun build.ts" first (npm test does)`);
}

export interface GatewayProcess {
  readonly dir: string;
  readonly configPath: string;
  readonly auditPath: string;
  /** http://127.0.0.1:PORT of the admin API as bound by the running process. */
  readonly adminUrl: string;
  /** The admin API's port as bound by the running process (from its "serving" log line). */
  readonly adminPort: number;
  /** Each target's port as bound by the running process; after restart() these may be new. */
  readonly ports: Readonly<Record<string, number>>;
  /** The port of target `name` (default: the only target). */
  port(name?: string): number;
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

/** What the gateway's "serving" log line says it bound: each target's port and the admin API's. */
interface Bound {
  readonly targets: Record<string, number>;
  readonly admin: number | null;
}

function servingLine(output: string): Bound | null {
  // "… INFO  gatehouse 0.1.0 (commit) serving {"policy":…,"targets":{"api":41234},"admin":40111,…}"
  const m = /^.* serving (\{.*"targets".*\})\s*$/m.exec(output);
  if (!m) return null;
  const v = JSON.parse(m[1]!) as { targets?: Record<string, number>; admin?: number | null };
  return { targets: v.targets ?? {}, admin: v.admin ?? null };
}

/**
 * Writes `files` (name → YAML text) into a fresh folder and serves it, and waits until the
 * gateway logs that it is serving. Listen on port 0 (e.g. "127.0.0.1:0") and read the bound
 * ports from `ports`, `port()` and `adminUrl`: nothing can take a port between picking and
 * binding it. `adminPort`/`ports`, for a config with fixed ports, are also waited for.
 */
export async function startGatewayProcess(opts: {
  files: Record<string, string>;
  adminPort?: number;
  ports?: number[];
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
  // Where the current process's output starts, so a restart reads its own "serving" line.
  let outputStart = 0;
  let bound: Bound = { targets: {}, admin: null };
  const spawn = () => {
    outputStart = output.length;
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
  const fixedPorts = [...(opts.adminPort ? [opts.adminPort] : []), ...(opts.ports ?? [])];
  const accepts = async (port: number) => {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      return true;
    } catch {
      return false;
    }
  };
  const started = async () => {
    const proc = gw.proc;
    try {
      const seen = await waitFor("the gateway to log that it is serving", async () => {
        if (proc.exitCode !== null) return { exited: proc.exitCode };
        const line = servingLine(output.slice(outputStart));
        if (line) return line;
        // A config with fixed ports needs no serving line: its ports accepting is enough.
        if (fixedPorts.length > 0 && (await Promise.all(fixedPorts.map(accepts))).every(Boolean)) return { targets: {}, admin: opts.adminPort ?? null };
        return null;
      }, { timeoutMs: 30_000 });
      if ("exited" in seen) throw new Error(`the gateway exited with code ${seen.exited}`);
      bound = seen;
      await Promise.all(fixedPorts.map((p) => waitForPort(p)));
    } catch (e) {
      throw new Error(`gateway did not start: ${(e as Error).message}\n--- gateway log ---\n${output}`);
    }
  };
  const gw: GatewayProcess = {
    dir,
    configPath,
    auditPath: join(dir, "state/audit/audit.log"),
    get adminPort() {
      const port = bound.admin ?? opts.adminPort;
      if (port === undefined) throw new Error("the gateway has no admin API (or has not started)");
      return port;
    },
    get adminUrl() {
      return `http://127.0.0.1:${gw.adminPort}`;
    },
    get ports() {
      return bound.targets;
    },
    port(name) {
      const names = Object.keys(bound.targets);
      const key = name ?? (names.length === 1 ? names[0]! : undefined);
      const p = key === undefined ? undefined : bound.targets[key];
      if (p === undefined) throw new Error(`no port for target ${name ?? "(the only one)"}: the gateway serves ${JSON.stringify(bound.targets)}`);
      return p;
    },
    proc: spawn(),
    logs: () => output,
    async waitForLog(text, timeoutMs = 20_000) {
      try {
        await waitFor(`the gateway log to show ${String(text)}`, () => (typeof text === "string" ? output.includes(text) : text.test(output)), { timeoutMs });
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- gateway log ---\n${output}`);
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
  const extra = (opts.target ?? []).map((line) => `    ${line}\n`).join("");
  const yaml = `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true${opts.identity ? `, ${opts.identity}` : ""} }
targets:
  - name: sales-db
    kind: postgres
    listen: 127.0.0.1:0
${extra}    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
rules:
${opts.rules.replace(/^\n+/, "")}`;
  const gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml }, ...(opts.env ? { env: opts.env } : {}) });
  return { gw, port: gw.port("sales-db") };
}

// Starts a throwaway PostgreSQL server for tests: initdb in a temp dir, a random free port on
// 127.0.0.1 (PostgreSQL cannot listen on port 0 and report the port, so a port taken between
// probing and binding is retried), its unix socket inside the temp dir, and stop() that kills it
// and removes the dir.
// Missing server binaries are an error that says so, never a silent skip.
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type PostgresAuthMethod = "scram-sha-256" | "md5" | "trust";

export interface PostgresOptions {
  /** Password of the superuser; a random one by default. */
  readonly password?: string;
  /** How TCP clients authenticate (unix-socket clients are trusted). Default scram-sha-256. */
  readonly authMethod?: PostgresAuthMethod;
  /** Superuser name; default "gatehouse". */
  readonly user?: string;
  /** Extra server settings (postgres -c name=value). */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface PostgresInstance {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** "postgres", created by initdb. */
  readonly database: string;
  readonly dataDir: string;
  /** Directory of the unix socket (for psql -h). */
  readonly socketDir: string;
  readonly binDir: string;
  /** Runs an SQL script as the superuser over the unix socket with psql; returns its stdout. */
  psql(sql: string): Promise<string>;
  /** Stops the server (immediate mode) and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

const SEARCH_ROOT = "/usr/lib/postgresql";

/** The newest /usr/lib/postgresql/N/bin holding initdb, pg_ctl and postgres, or $GATEHOUSE_PG_BIN. */
export function findPostgresBinDir(env: Record<string, string | undefined> = process.env): string {
  const wanted = ["initdb", "pg_ctl", "postgres", "psql", "pg_isready"];
  const has = (dir: string) => wanted.every((b) => existsSync(join(dir, b)));
  const override = env["GATEHOUSE_PG_BIN"];
  if (override !== undefined && override !== "") {
    if (has(override)) return override;
    throw new Error(`PostgreSQL server binaries not found: GATEHOUSE_PG_BIN="${override}" lacks one of ${wanted.join(", ")}`);
  }
  const versions = existsSync(SEARCH_ROOT)
    ? readdirSync(SEARCH_ROOT)
        .filter((v) => /^[0-9]+$/.test(v) && has(join(SEARCH_ROOT, v, "bin")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      `PostgreSQL server binaries not found: no ${SEARCH_ROOT}/*/bin with ${wanted.join(", ")} ` +
        "(install Debian's postgresql package, or set GATEHOUSE_PG_BIN)",
    );
  }
  return join(SEARCH_ROOT, newest, "bin");
}

interface RunAs {
  readonly prefix: readonly string[];
  readonly uid: number;
  readonly gid: number;
}

/** PostgreSQL refuses to run as root: as root, run it as the "postgres" system user. */
async function runAsUser(): Promise<RunAs | null> {
  if (process.getuid?.() !== 0) return null;
  const [uid, gid] = await Promise.all([run(["id", "-u", "postgres"]), run(["id", "-g", "postgres"])]);
  if (uid.code !== 0 || gid.code !== 0) {
    throw new Error('cannot start PostgreSQL as root: there is no "postgres" user to run it as (install Debian\'s postgresql package)');
  }
  return { prefix: ["runuser", "-u", "postgres", "--"], uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // libpq variables from the caller's shell must not steer the test server or psql.
    if (v !== undefined && !k.startsWith("PG")) env[k] = v;
  }
  env["LC_ALL"] = "C";
  return env;
}

async function run(cmd: readonly string[], stdin?: string): Promise<RunResult> {
  const proc = Bun.spawn([...cmd], {
    stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
    stdout: "pipe",
    stderr: "pipe",
    env: cleanEnv(),
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** The server log says its port was taken (by another process since the probe). */
const PORT_TAKEN = /could not bind IPv4 address|Address already in use|could not create any TCP\/IP sockets/;

async function freePort(): Promise<number> {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function startPostgres(options: PostgresOptions = {}): Promise<PostgresInstance> {
  const binDir = findPostgresBinDir();
  const authMethod = options.authMethod ?? "scram-sha-256";
  const user = options.user ?? "gatehouse";
  const password = options.password ?? `pw-${crypto.randomUUID()}`;
  const runAs = await runAsUser();
  const as = (cmd: string[]) => [...(runAs?.prefix ?? []), ...cmd];

  const root = mkdtempSync(join(tmpdir(), "gatehouse-pg-"));
  const dataDir = join(root, "data");
  const socketDir = join(root, "sock");
  const logFile = join(root, "postgres.log");
  const pwFile = join(root, "pwfile");
  mkdirSync(socketDir, { mode: 0o700 });
  writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
  if (runAs !== null) {
    for (const p of [root, socketDir, pwFile]) chownSync(p, runAs.uid, runAs.gid);
  }

  let port = 0;
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    Bun.spawnSync(as([join(binDir, "pg_ctl"), "stop", "-D", dataDir, "-m", "immediate", "-w"]), { env: cleanEnv() });
    rmSync(root, { recursive: true, force: true });
  };
  // If a test dies without calling stop(), do not leave a server behind.
  process.once("exit", stopSync);

  try {
    const init = await run(
      as([
        join(binDir, "initdb"),
        "-D", dataDir,
        "-U", user,
        `--pwfile=${pwFile}`,
        "--auth-local=trust",
        `--auth-host=${authMethod}`,
        "-E", "UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions",
      ]),
    );
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}): ${init.stderr.trim() || init.stdout.trim()}`);

    const settings: Record<string, string> = {
      listen_addresses: "127.0.0.1",
      unix_socket_directories: socketDir,
      password_encryption: authMethod === "md5" ? "md5" : "scram-sha-256",
      fsync: "off",
      logging_collector: "off",
      ...options.settings,
    };
    // A free port can be taken between probing and binding: try again then, and only then.
    let lastError = "";
    for (let attempt = 0; attempt < 10; attempt++) {
      port = await freePort();
      const logStart = existsSync(logFile) ? readFileSync(logFile).length : 0;
      const serverOptions = [`-p ${port}`, ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`)].join(" ");
      const start = await run(
        as([join(binDir, "pg_ctl"), "start", "-D", dataDir, "-l", logFile, "-w", "-t", "60", "-o", serverOptions]),
      );
      if (start.code === 0) {
        lastError = "";
        break;
      }
      lastError = `pg_ctl start failed (exit ${start.code}): ${start.stderr.trim()}\n${tail(logFile)}`;
      const thisAttempt = existsSync(logFile) ? readFileSync(logFile).subarray(logStart).toString("utf8") : "";
      if (!PORT_TAKEN.test(thisAttempt)) break;
    }
    if (lastError !== "") throw new Error(lastError);

    const psql = async (sql: string): Promise<string> => {
      const r = await run(
        [join(binDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", socketDir, "-p", String(port), "-U", user, "-d", "postgres", "-At", "-f", "-"],
        sql,
      );
      if (r.code !== 0) throw new Error(`psql failed (exit ${r.code}): ${r.stderr.trim()}`);
      return r.stdout;
    };

    // initdb stored the password with the default (SCRAM); md5 needs it stored as an md5 hash.
    if (authMethod === "md5") {
      const quoted = `'${password.replace(/'/g, "''")}'`;
      await psql(`SET password_encryption = 'md5'; ALTER ROLE "${user.replace(/"/g, '""')}" PASSWORD ${quoted};`);
    }
    // pg_ctl -w waited for "ready"; also prove TCP accepts before handing the server out.
    const ready = await run([join(binDir, "pg_isready"), "-h", "127.0.0.1", "-p", String(port), "-t", "30"]);
    if (ready.code !== 0) throw new Error(`PostgreSQL on 127.0.0.1:${port} is not accepting connections: ${ready.stdout.trim()}\n${tail(logFile)}`);

    return {
      host: "127.0.0.1",
      port,
      user,
      password,
      database: "postgres",
      dataDir,
      socketDir,
      binDir,
      psql,
      async stop() {
        if (stopped) return;
        stopped = true;
        process.removeListener("exit", stopSync);
        await run(as([join(binDir, "pg_ctl"), "stop", "-D", dataDir, "-m", "immediate", "-w"]));
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (e) {
    process.removeListener("exit", stopSync);
    stopSync();
    throw e;
  }
}

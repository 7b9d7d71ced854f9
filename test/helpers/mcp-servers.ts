// Real MCP servers from npm for tests, started the way their READMEs start them:
// @modelcontextprotocol/server-everything (stdio, Streamable HTTP on $PORT at /mcp, legacy SSE at
// /sse), server-filesystem (stdio, over a temp folder with symlinks pointing out of it) and
// server-postgres (stdio, against a test PostgreSQL seeded with a sales schema and a secret
// table); plus the commands of the SDK-written adversary and the recording stdio wrapper. Every
// stdio command is absolute, because the gateway spawns stdio servers with an empty environment.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./ports.ts";
import { fixtureSql } from "./fixtures.ts";
import type { PostgresInstance } from "./postgres.ts";
import { waitFor } from "./wait.ts";

const NODE_MODULES = resolve(import.meta.dir, "../../node_modules");
const pkg = (name: string, file: string) => join(NODE_MODULES, name, file);

export const EVERYTHING_JS = pkg("@modelcontextprotocol/server-everything", "dist/index.js");
export const FILESYSTEM_JS = pkg("@modelcontextprotocol/server-filesystem", "dist/index.js");
export const POSTGRES_MCP_JS = pkg("@modelcontextprotocol/server-postgres", "dist/index.js");
/**
 * The inspector's `mcp-inspector-cli` (a launcher that runs build/index.js with `node` from PATH
 * in --cli mode). Version 1.0.3 reads its package.json as "../package.json" from the working
 * directory, so it must run with its build folder as the working directory.
 */
export const INSPECTOR_CLI_JS = pkg("@modelcontextprotocol/inspector-cli", "build/cli.js");
export const MCP_REMOTE_JS = pkg("mcp-remote", "dist/proxy.js");
/** Needs Node ≥ 22 (fs.globSync) or Bun: run it with BUN. */
export const CONFORMANCE_JS = pkg("@modelcontextprotocol/conformance", "dist/index.js");
export const ADVERSARY_STDIO_TS = resolve(import.meta.dir, "mcp-adversary-stdio.ts");
export const RECORDING_STDIO_TS = resolve(import.meta.dir, "mcp-recording-stdio.ts");

/** Absolute paths of node and bun: stdio servers get no PATH from the gateway. */
export const NODE = Bun.which("node") ?? "/usr/bin/node";
export const BUN = process.execPath;

export function everythingStdioCommand(): string[] {
  return [NODE, EVERYTHING_JS, "stdio"];
}

/** The adversary over stdio, logging what it receives to `logFile`. */
export function adversaryStdioCommand(logFile: string): string[] {
  return [BUN, ADVERSARY_STDIO_TS, logFile];
}

/** `command` wrapped so every message it exchanges is logged to `logFile` (see mcp-recording-stdio.ts). */
export function recordingCommand(logFile: string, command: readonly string[]): string[] {
  return [BUN, RECORDING_STDIO_TS, logFile, ...command];
}

/** The JSON lines of a log written by the adversary or the recording wrapper (none yet: []). */
export function readJsonLines<T = Record<string, unknown>>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

/** The tools/call requests in a recording wrapper's log ({"in": msg} lines) or the adversary's ({"received": msg}). */
export function loggedToolCalls(file: string, name?: string): { name: unknown; arguments: unknown }[] {
  const out: { name: unknown; arguments: unknown }[] = [];
  for (const line of readJsonLines<{ in?: Record<string, unknown>; received?: Record<string, unknown> }>(file)) {
    const m = line.in ?? line.received;
    if (!m || m["method"] !== "tools/call") continue;
    const p = (m["params"] ?? {}) as { name?: unknown; arguments?: unknown };
    if (name === undefined || p.name === name) out.push({ name: p.name, arguments: p.arguments });
  }
  return out;
}

export interface HttpServerProcess {
  /** Streamable HTTP: http://127.0.0.1:PORT/mcp; SSE: http://127.0.0.1:PORT/sse */
  readonly url: string;
  readonly port: number;
  readonly proc: Subprocess;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * server-everything over HTTP: `streamableHttp` (POST/GET/DELETE /mcp) or `sse` (GET /sse, POST
 * /message). It listens on $PORT and cannot report a port it picked, so a port taken between
 * probing and binding (it exits) is retried.
 */
export async function startEverythingHttp(mode: "streamableHttp" | "sse" = "streamableHttp"): Promise<HttpServerProcess> {
  let lastLog = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const proc = Bun.spawn([NODE, EVERYTHING_JS, mode], {
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", PORT: String(port) },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    let output = "";
    for (const stream of [proc.stdout, proc.stderr]) {
      void (async () => {
        const dec = new TextDecoder();
        for await (const chunk of stream) output += dec.decode(chunk);
      })();
    }
    const ready = mode === "sse" ? `Server is running on port ${port}` : `listening on port ${port}`;
    const outcome = await waitFor(`server-everything (${mode}) to listen on port ${port}`, () =>
      output.includes(ready) ? "up" : proc.exitCode !== null ? "exited" : null,
    );
    if (outcome === "up") {
      return {
        url: `http://127.0.0.1:${port}/${mode === "sse" ? "sse" : "mcp"}`,
        port,
        proc,
        logs: () => output,
        async stop() {
          proc.kill("SIGKILL");
          await proc.exited;
        },
      };
    }
    lastLog = output;
    if (!/EADDRINUSE|already in use/.test(output)) break;
  }
  throw new Error(`server-everything (${mode}) did not start:\n${lastLog}`);
}

export interface FilesystemFixture {
  /** The folder server-filesystem is allowed to serve. */
  readonly root: string;
  /** A folder beside it that nothing may read. */
  readonly outside: string;
  /** The text of outside/secret.txt, which must never come back. */
  readonly secretText: string;
  /** root/report.txt's text. */
  readonly reportText: string;
  /** [node, server-filesystem, root] */
  readonly command: string[];
  cleanup(): void;
}

/**
 * A temp folder for server-filesystem: root/report.txt, root/notes/a.txt, and two symlinks out of
 * it (root/link-out → outside/, root/link-secret → outside/secret.txt).
 */
export function filesystemFixture(): FilesystemFixture {
  const base = mkdtempSync(join(tmpdir(), "gatehouse-mcp-fs-"));
  const root = join(base, "data");
  const outside = join(base, "outside");
  mkdirSync(join(root, "notes"), { recursive: true });
  mkdirSync(outside);
  const reportText = "Quarterly report: revenue up 4%.";
  const secretText = `TOP-SECRET-${crypto.randomUUID()}`;
  writeFileSync(join(root, "report.txt"), reportText);
  writeFileSync(join(root, "notes", "a.txt"), "note a");
  writeFileSync(join(outside, "secret.txt"), secretText);
  symlinkSync(outside, join(root, "link-out"));
  symlinkSync(join(outside, "secret.txt"), join(root, "link-secret"));
  return {
    root,
    outside,
    secretText,
    reportText,
    command: [NODE, FILESYSTEM_JS, root],
    cleanup: () => rmSync(base, { recursive: true, force: true }),
  };
}

/** What seedMcpPostgres puts in the database: the secret a DROP-or-read-outside-sales attempt would reveal. */
export const PG_SECRET = "sk_live_51H8mcpSECRETxxxxxxxxxxxx";

/**
 * Seeds `pg` for server-postgres: sales.customers and sales.orders (readable by analysts),
 * secret.api_keys (never), and public.canary (a row that proves no write got through).
 */
export async function seedMcpPostgres(pg: PostgresInstance): Promise<void> {
  await pg.psql(`${fixtureSql("sales.sql")}${fixtureSql("sales-orders.sql")}
    CREATE SCHEMA secret;
    CREATE TABLE secret.api_keys (id int, key text);
    INSERT INTO secret.api_keys VALUES (1, '${PG_SECRET}');
    CREATE TABLE public.canary (id int);
    INSERT INTO public.canary VALUES (1);
  `);
}

/** [node, server-postgres, postgresql://…] for the test PostgreSQL's superuser. */
export function postgresMcpCommand(pg: PostgresInstance): string[] {
  const url = `postgresql://${encodeURIComponent(pg.user)}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/${pg.database}`;
  return [NODE, POSTGRES_MCP_JS, url];
}

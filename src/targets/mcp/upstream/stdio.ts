// A stdio upstream: a server process the gateway spawns for one agent session, speaking
// newline-delimited JSON-RPC on stdin/stdout. It gets only the environment the target declares
// (not even PATH), its own working directory, and its own process group, so that ending the
// session ends everything it started.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import { type JsonRpcMessage, readMessageText, salvageId, writeMessage } from "../json-rpc.ts";
import type { Upstream, UpstreamEvents } from "./upstream.ts";

export interface StdioUpstreamOptions {
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Its working directory; undefined: a fresh empty folder, removed when it ends. */
  readonly cwd?: string;
  readonly maxMessageBytes: number;
  readonly events: UpstreamEvents;
  /** stderr lines, for the gateway's log (never forwarded to the agent). */
  readonly onStderr?: (line: string) => void;
  /** How long a process has after SIGTERM before SIGKILL (default 2s). */
  readonly killGraceMs?: number;
}

/** The program's path: as given when it has a /, else found on the gateway's own PATH (the child has none). */
export function resolveProgram(name: string): string {
  if (name.includes("/")) return name;
  const found = Bun.which(name);
  if (found === null) throw new GatewayError("E_UPSTREAM", `cannot start the stdio server: "${name}" is not on the gateway's PATH`);
  return found;
}

export function stdioUpstream(o: StdioUpstreamOptions): Upstream {
  let child: ChildProcess | null = null;
  let program = "";
  let ownDir: string | null = null;
  let cwd = o.cwd;
  let exited = false;
  let closing = false;
  let exitWait: Promise<void> = Promise.resolve();

  function killGroup(signal: NodeJS.Signals, evenAfterExit = false): void {
    if (child?.pid === undefined || (exited && !evenAfterExit)) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }

  return {
    transport: "stdio",
    facts: () => ({ command: [program, ...o.command.slice(1)], cwd: cwd ?? null, env: Object.keys(o.env).sort(), ...(child?.pid !== undefined ? { pid: child.pid } : {}) }),
    setProtocolVersion() {
      // stdio has no version header.
    },
    async start() {
      program = resolveProgram(o.command[0]!);
      if (cwd === undefined) cwd = ownDir = mkdtempSync(join(tmpdir(), "gatehouse-mcp-"));
      else if (!isAbsolute(cwd)) throw new GatewayError("E_UPSTREAM", `the stdio server's cwd must be absolute: "${cwd}"`);
      const c = spawn(program, o.command.slice(1), {
        cwd,
        env: { ...o.env },
        stdio: ["pipe", "pipe", "pipe"],
        // Its own process group (setsid): the whole group is killed with the session.
        detached: true,
      });
      child = c;
      exitWait = new Promise<void>((resolve) => {
        c.once("exit", (code, signal) => {
          exited = true;
          if (ownDir !== null) rmSync(ownDir, { recursive: true, force: true });
          if (!closing) o.events.closed(`the stdio server exited (${signal ?? `status ${code}`})`);
          resolve();
        });
      });
      await new Promise<void>((resolve, reject) => {
        c.once("spawn", resolve);
        c.once("error", (e) => reject(new GatewayError("E_UPSTREAM", `cannot start the stdio server ${program}: ${errorMessage(e)}`)));
      });
      let pending = "";
      c.stdout!.setEncoding("utf8");
      c.stdout!.on("data", (chunk: string) => {
        pending += chunk;
        for (;;) {
          const nl = pending.indexOf("\n");
          if (nl < 0) break;
          const line = pending.slice(0, nl).replace(/\r$/, "");
          pending = pending.slice(nl + 1);
          if (line.trim() === "") continue;
          let m: JsonRpcMessage;
          try {
            m = readMessageText(line);
          } catch (e) {
            o.events.unreadable(errorMessage(e), salvageId(line));
            continue;
          }
          o.events.message(m);
        }
        if (pending.length > o.maxMessageBytes) {
          // A line that never ends: fail closed, end the server.
          pending = "";
          o.events.unreadable(`the stdio server wrote a line longer than ${o.maxMessageBytes} bytes; it is stopped`, null);
          killGroup("SIGKILL");
        }
      });
      let errLine = "";
      c.stderr!.setEncoding("utf8");
      c.stderr!.on("data", (chunk: string) => {
        errLine += chunk;
        const lines = errLine.split("\n");
        errLine = lines.pop()!.slice(-4096);
        for (const l of lines) if (l.trim() !== "") o.onStderr?.(l.slice(0, 1024));
      });
      c.stdin!.on("error", () => {});
    },
    send(m) {
      const c = child;
      if (c === null || exited || c.stdin === null || c.stdin.destroyed) return Promise.reject(new GatewayError("E_UPSTREAM", "the stdio server is not running"));
      return new Promise<void>((resolve, reject) => {
        c.stdin!.write(writeMessage(m) + "\n", (e) => (e ? reject(new GatewayError("E_UPSTREAM", `writing to the stdio server failed: ${e.message}`)) : resolve()));
      });
    },
    async close() {
      if (closing) return exitWait;
      closing = true;
      if (child === null) return;
      child.stdin?.end();
      killGroup("SIGTERM");
      const timer = setTimeout(() => killGroup("SIGKILL"), o.killGraceMs ?? 2000);
      await exitWait;
      clearTimeout(timer);
      // Whatever it left behind in its group goes too.
      killGroup("SIGKILL", true);
    },
  };
}

// A stdio wrapper that records what a real MCP server receives, for the gateway to spawn in its
// place:  bun test/helpers/mcp-recording-stdio.ts LOGFILE COMMAND ARGS...
// It runs COMMAND with its own environment and working directory (what the gateway gave the
// wrapper), relays stdin and stdout unchanged, and appends each newline-delimited JSON-RPC message
// it relays to LOGFILE as {"in": msg} (agent → server) or {"out": msg} (server → agent). The first
// line records the environment it got. Tests count upstream calls from this log.
import { appendFileSync } from "node:fs";
import { spawn } from "node:child_process";

const [logFile, command, ...args] = process.argv.slice(2);
if (!logFile || !command) {
  process.stderr.write("usage: mcp-recording-stdio.ts LOGFILE COMMAND ARGS...\n");
  process.exit(2);
}
const log = (entry: unknown) => appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
log({ started: { pid: process.pid, env: process.env, cwd: process.cwd() } });

const child = spawn(command, args, { stdio: ["pipe", "pipe", "inherit"] });

/** Splits a byte stream into lines, logging each as a message under `key`, and passes the bytes on untouched. */
function tap(key: "in" | "out") {
  let pending = "";
  return (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    for (let nl = pending.indexOf("\n"); nl >= 0; nl = pending.indexOf("\n")) {
      const line = pending.slice(0, nl).trim();
      pending = pending.slice(nl + 1);
      if (line === "") continue;
      try {
        log({ [key]: JSON.parse(line) });
      } catch {
        log({ [key]: null, raw: line });
      }
    }
  };
}
const tapIn = tap("in");
const tapOut = tap("out");
process.stdin.on("data", (chunk: Buffer) => {
  tapIn(chunk);
  child.stdin.write(chunk);
});
process.stdin.on("end", () => child.stdin.end());
child.stdout.on("data", (chunk: Buffer) => {
  tapOut(chunk);
  process.stdout.write(chunk);
});
child.on("exit", (code, signal) => {
  log({ exited: { code, signal } });
  process.exit(code ?? 1);
});
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));

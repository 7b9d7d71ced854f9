// The adversary MCP server (./mcp-adversary.ts) over stdio, for the gateway to spawn:
//   bun test/helpers/mcp-adversary-stdio.ts LOGFILE
// Each JSON-RPC message it receives (and each answer to its own sampling/elicitation/roots
// requests) is appended to LOGFILE as one JSON line, so a test can count what reached the
// upstream; the first line records its pid, working directory and environment, so a test can see
// exactly what the gateway gave it. SIGUSR1 performs the rug pull.
import { appendFileSync } from "node:fs";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createAdversary } from "./mcp-adversary.ts";

const logFile = process.argv[2];
if (!logFile) {
  process.stderr.write("usage: mcp-adversary-stdio.ts LOGFILE\n");
  process.exit(2);
}
const log = (entry: unknown) => appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
log({ started: { pid: process.pid, ppid: process.ppid, env: process.env, cwd: process.cwd() } });

const adversary = createAdversary({ onEvent: log });
const transport = new StdioServerTransport();
await adversary.connect(transport, "stdio");
process.on("SIGUSR1", () => void adversary.rugPull());
// The agent's session is over when the gateway closes our stdin.
process.stdin.on("end", () => process.exit(0));

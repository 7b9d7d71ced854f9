// Test fixture, run as a program: `sftp -D "bun sftp-proxy-fixture.ts"` makes OpenSSH's own sftp
// client talk, over this program's stdin/stdout, to a real sftp-server behind an SftpFilter.
// The server runs in SFTP_PROXY_HOME (else the current directory). Policy from the environment: SFTP_PROXY_LOCKED is a directory where only read and list are
// allowed; /etc is closed. Checks and finished records go to SFTP_PROXY_LOG as JSON lines.
import { appendFileSync } from "node:fs";
import type { SftpCheck } from "./sftp-classify.ts";
import type { SftpVerdict } from "./sftp-filter.ts";
import { findSftpServer, startSftpServerPipe } from "./sftp-server-pipe.ts";

const server = process.env.SFTP_PROXY_SERVER ?? findSftpServer();
const locked = process.env.SFTP_PROXY_LOCKED ?? "/nonexistent";
const log = process.env.SFTP_PROXY_LOG;
if (!server) throw new Error("sftp-server not found");

const note = (kind: string, value: unknown) => {
  if (log) appendFileSync(log, `${JSON.stringify({ event: kind, ...(value as object) })}\n`);
};

async function decide(c: SftpCheck): Promise<SftpVerdict> {
  await Promise.resolve();
  note("check", c);
  if (c.path === "/etc" || c.path.startsWith("/etc/")) return { allow: false, message: `rule no-etc: ${c.operation} on ${c.path} is not allowed` };
  if ((c.path === locked || c.path.startsWith(`${locked}/`)) && c.operation !== "read" && c.operation !== "list") {
    return { allow: false, message: `rule locked-read-only: ${c.operation} on ${c.path} is not allowed` };
  }
  return { allow: true };
}

const pipe = startSftpServerPipe({
  server,
  cwd: process.env.SFTP_PROXY_HOME ?? process.cwd(),
  decide,
  toClient: (b) => process.stdout.write(b),
  onError: (e) => {
    process.stderr.write(`sftp proxy: ${e.message}\n`);
    process.exit(3);
  },
});

for await (const chunk of Bun.stdin.stream()) pipe.filter.fromClient(chunk);
await pipe.stop();
for (const f of pipe.finished) note("finished", f);

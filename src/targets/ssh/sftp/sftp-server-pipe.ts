// Test helper: a real OpenSSH sftp-server (which speaks SFTP on stdin/stdout) behind an
// SftpFilter, as the SSH target puts one behind each `subsystem sftp` channel.
import { existsSync } from "node:fs";
import type { GatewayError } from "../../../core/errors.ts";
import type { SftpCheck } from "./sftp-classify.ts";
import { type SftpFinished, SftpFilter, type SftpVerdict } from "./sftp-filter.ts";

export const SFTP_SERVER_PATHS = ["/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server"];

export function findSftpServer(): string | null {
  return SFTP_SERVER_PATHS.find((p) => existsSync(p)) ?? null;
}

export interface SftpServerPipe {
  readonly filter: SftpFilter;
  readonly checks: SftpCheck[];
  readonly finished: SftpFinished[];
  readonly errors: GatewayError[];
  /** Resolves with sftp-server's exit code. */
  readonly exited: Promise<number>;
  stop(): Promise<void>;
}

export function startSftpServerPipe(opts: {
  server: string;
  /** The server's working directory (sshd starts it in the user's home). */
  cwd: string;
  decide: (c: SftpCheck) => SftpVerdict | Promise<SftpVerdict>;
  /** Bytes for the client. */
  toClient: (b: Uint8Array) => void;
  onError?: (e: GatewayError) => void;
}): SftpServerPipe {
  const proc = Bun.spawn([opts.server, "-e", "-l", "ERROR"], { cwd: opts.cwd, stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const checks: SftpCheck[] = [];
  const finished: SftpFinished[] = [];
  const errors: GatewayError[] = [];
  const filter = new SftpFilter({
    decide: (c) => {
      checks.push(c);
      return opts.decide(c);
    },
    forwardUp: (b) => {
      proc.stdin.write(b);
      proc.stdin.flush();
    },
    replyDown: opts.toClient,
    onError: (e) => {
      errors.push(e);
      opts.onError?.(e);
      proc.kill();
    },
    onFinished: (r) => finished.push(r),
  });
  const pumped = (async () => {
    for await (const chunk of proc.stdout) filter.fromUpstream(chunk);
  })();
  return {
    filter,
    checks,
    finished,
    errors,
    exited: proc.exited,
    async stop() {
      filter.close();
      proc.stdin.end();
      await proc.exited;
      await pumped;
    },
  };
}

// `gatehouse explain` for SSH requests: the facts from the flags (--ssh-user with one of --exec,
// --shell, --line, --sftp, --forward), what the gateway reads of a command line (its argv, the
// commands its wrappers run, or why it cannot be read), and what the client would be told.
import { GatewayError } from "../core/errors.ts";
import type { Decision, SftpOperation, SshRequestFacts } from "../core/types.ts";
import { SFTP_OPERATIONS } from "../policy/matchers/ssh.ts";
import { analyseCommand } from "../policy/matchers/ssh-wrappers.ts";

export const SSH_FLAGS = {
  "ssh-user": "string",
  exec: "string",
  shell: "boolean",
  line: "string",
  sftp: "string",
  "to-path": "string",
  forward: "string",
} as const;

/** Whether the flags ask about an SSH request. */
export function wantsSsh(flags: Record<string, unknown>): boolean {
  return ["ssh-user", "exec", "shell", "line", "sftp", "forward"].some((f) => flags[f] !== undefined);
}

const usageError = (m: string) => new GatewayError("E_USAGE", m);

/** The SshRequestFacts the SSH target would give policy for these flags. */
export function sshFacts(flags: Record<string, unknown>): SshRequestFacts {
  const user = flags["ssh-user"] as string | undefined;
  if (user === undefined || user === "") throw usageError("--ssh-user NAME is required for an SSH request (the upstream account the caller logs in as)");
  const given = (["exec", "shell", "line", "sftp", "forward"] as const).filter((f) => flags[f] !== undefined);
  const onlyShellAndLine = given.length === 2 && given.includes("shell") && given.includes("line");
  if (given.length !== 1 && !onlyShellAndLine) throw usageError("give one of --exec CMD, --shell, --line TEXT, --sftp OP:PATH or --forward HOST:PORT");
  if (flags["to-path"] !== undefined && flags["sftp"] === undefined) throw usageError("--to-path goes with --sftp rename:PATH");
  if (flags["exec"] !== undefined) return { kind: "ssh", user, action: "exec", command: flags["exec"] as string };
  if (flags["line"] !== undefined) return { kind: "ssh", user, action: "shell", line: flags["line"] as string };
  if (flags["shell"] !== undefined) return { kind: "ssh", user, action: "shell" };
  if (flags["forward"] !== undefined) return { kind: "ssh", user, action: "forward", destination: flags["forward"] as string };
  const text = flags["sftp"] as string;
  const colon = text.indexOf(":");
  const op = (colon < 0 ? text : text.slice(0, colon)) as SftpOperation;
  if (!SFTP_OPERATIONS.includes(op)) throw usageError(`--sftp: "${op}" is not an SFTP operation (expected one of ${SFTP_OPERATIONS.join(", ")}), e.g. --sftp read:/var/log/syslog`);
  if (colon < 0) throw usageError(`--sftp: give the path as ${op}:PATH`);
  const toPath = flags["to-path"] as string | undefined;
  if (toPath !== undefined && op !== "rename") throw usageError("--to-path is for --sftp rename:PATH only");
  return { kind: "ssh", user, action: "sftp", operation: op, path: text.slice(colon + 1), ...(toPath !== undefined ? { toPath } : {}) };
}

/** Lines under "seen": how the gateway reads the command line or shell line. */
export function sshSeenLines(f: SshRequestFacts): string[] {
  const text = f.action === "exec" ? f.command : f.action === "shell" ? f.line : undefined;
  if (text === undefined) return [];
  const a = analyseCommand(text);
  if (a.kind === "unsplittable") return [`  cannot be split safely: ${a.reason}`];
  const out = [`  argv: ${JSON.stringify(a.argv)}`];
  if (a.commands.length > 1) out.push(`  runs: ${a.commands.map((c) => c.join(" ")).join(" → ")}`);
  if (a.kind === "opaque") out.push(`  runs what the gateway cannot see: ${a.reason}`);
  return out;
}

/** What the SSH client would get, in the protocol's own terms; null when it goes through. */
export function sshAnswer(d: Decision, f: SshRequestFacts): string | null {
  if (d.effect === "allow") return null;
  const text = `${d.message}${d.detail ? `\n${d.detail}` : ""}`;
  if (d.effect === "review") {
    const what = f.action === "exec" || f.action === "shell" ? "on stderr: the approval id and the command an approver runs; the command waits" : "held";
    return `${what} (approvers: ${d.review?.approvers.join(", ") ?? ""}); refused if nobody approves in time`;
  }
  switch (f.action) {
    case "exec":
      return `on stderr: ${text}\nexit status 126; nothing runs upstream`;
    case "shell":
      return f.line === undefined ? `the message on stderr, then the channel closes: ${text}` : `the line is not sent upstream (best effort): ${text}`;
    case "sftp":
      return `SSH_FX_PERMISSION_DENIED: ${text}\nthe SFTP session goes on`;
    case "forward":
      return `channel open failure, administratively prohibited: ${text}`;
  }
}

/** The request part of a policy test case (test-file-schema.ts). */
export function sshTestRequest(f: SshRequestFacts): Record<string, unknown> {
  return {
    ssh: {
      user: f.user,
      action: f.action,
      ...(f.command !== undefined ? { command: f.command } : {}),
      ...(f.line !== undefined ? { line: f.line } : {}),
      ...(f.operation !== undefined ? { operation: f.operation } : {}),
      ...(f.path !== undefined ? { path: f.path } : {}),
      ...(f.toPath !== undefined ? { to_path: f.toPath } : {}),
      ...(f.destination !== undefined ? { destination: f.destination } : {}),
    },
  };
}

/** The flags that give this request back, for the `# from:` line of --as-test. */
export function sshFlagsText(f: SshRequestFacts, quote: (t: string) => string): string {
  const parts = [`--ssh-user ${quote(f.user)}`];
  if (f.action === "exec") parts.push(`--exec ${quote(f.command ?? "")}`);
  else if (f.action === "shell") parts.push(f.line !== undefined ? `--line ${quote(f.line)}` : "--shell");
  else if (f.action === "sftp") parts.push(`--sftp ${quote(`${f.operation}:${f.path ?? ""}`)}${f.toPath !== undefined ? ` --to-path ${quote(f.toPath)}` : ""}`);
  else parts.push(`--forward ${quote(f.destination ?? "")}`);
  return parts.join(" ");
}

// The `subsystem sftp` channel: the SFTP filter (./sftp/) between the caller's channel and the
// upstream's sftp-server, each file operation decided by the gate as an `sftp` action with its
// operation and normalised path; a refused one is answered SSH_FX_PERMISSION_DENIED with the
// rule's message and the session goes on. Each finished operation gets an `sftp` record (bytes
// read and written through a handle, or the server's status for a change).
import type { Channel, ClientChannel, ServerChannel } from "ssh2";
import { errorMessage } from "../../core/errors.ts";
import type { SshRequestFacts } from "../../core/types.ts";
import type { ChannelContext } from "./channel-context.ts";
import { type SftpFinished, type SftpVerdict } from "./sftp/sftp-filter.ts";
import { sftpRequestFacts } from "./sftp/sftp-facts.ts";
import { pipeSftp } from "./sftp/sftp-pipe.ts";

export interface SftpCounts {
  decided: number;
  denied: number;
}

/** The relay's `connect` for an SFTP channel; `counts` fills in as it runs. */
export function sftpConnector(ctx: ChannelContext, gone: AbortSignal, counts: SftpCounts) {
  return (caller: ServerChannel | Channel, upstream: ClientChannel | Channel) => {
    const pipe = pipeSftp(
      { callerIn: caller, callerOut: caller, upstreamIn: upstream, upstreamOut: upstream },
      {
        decide: async (check): Promise<SftpVerdict> => {
          counts.decided++;
          const verdict = await ctx.decide(sftpRequestFacts(ctx.account, check), { details: { request: check.request }, signal: gone });
          if (verdict.allowed) return { allow: true };
          counts.denied++;
          const detail = verdict.decision.detail !== undefined && !verdict.message.includes(verdict.decision.detail) ? ` (${verdict.decision.detail})` : "";
          return { allow: false, message: `gatehouse: ${verdict.message}${detail}` };
        },
        onError: (e) => {
          ctx.log.warn("sftp channel closed: the client's SFTP stream cannot be read", { target: ctx.targetName, session: ctx.session, error: errorMessage(e) });
          caller.close();
          upstream.close();
        },
        onFinished: (f) => ctx.record("sftp", finishedFacts(ctx.account, f), finishedDetails(f)),
      },
    );
    return pipe;
  };
}

function finishedFacts(user: string, f: SftpFinished): SshRequestFacts {
  return { kind: "ssh", action: "sftp", user, operation: f.operation, path: f.path, ...(f.type === "request" && f.toPath !== undefined ? { toPath: f.toPath } : {}) };
}

function finishedDetails(f: SftpFinished): Record<string, unknown> {
  if (f.type === "handle") {
    return { handle: f.kind, operations: f.operations, bytes_read: f.bytesRead, bytes_written: f.bytesWritten, bytes: f.bytesRead + f.bytesWritten, ...(f.closedBy === "session-end" ? { closed_by: "session end" } : {}) };
  }
  return { request: f.request, status: f.status, ...(f.message !== "" ? { message: f.message } : {}) };
}

// An SftpFilter between two Node duplex streams (ssh2's channels are such streams), with flow
// control both ways: the client is paused while its requests wait for decisions or the upstream
// is not drained, and the upstream is paused while the client is not drained. Ends, closes and
// exit statuses stay with the caller, who knows its channels; this only moves and checks bytes.
import type { Readable, Writable } from "node:stream";
import { SftpFilter, type SftpFilterOptions } from "./sftp-filter.ts";

export type SftpPipeOptions = Omit<SftpFilterOptions, "forwardUp" | "replyDown" | "onResume">;

export interface SftpPipe {
  readonly filter: SftpFilter;
  /** Stops reading both streams into the filter and reports open handles (filter.close()). */
  close(): void;
}

/** Each side is a readable and a writable stream: for an ssh2 channel, the channel twice. */
export interface SftpSides {
  readonly callerIn: Readable;
  readonly callerOut: Writable;
  readonly upstreamIn: Readable;
  readonly upstreamOut: Writable;
}

export function pipeSftp(sides: SftpSides, options: SftpPipeOptions): SftpPipe {
  const { callerIn, callerOut, upstreamIn, upstreamOut } = sides;
  // Why the client is paused; it reads again only when no reason is left.
  let queueFull = false;
  let upstreamFull = false;
  let clientFull = false;
  const callerFlow = (): void => {
    if (queueFull || upstreamFull) callerIn.pause();
    else callerIn.resume();
  };
  const filter = new SftpFilter({
    ...options,
    forwardUp: (b) => {
      if (!upstreamOut.write(b) && !upstreamFull) {
        upstreamFull = true;
        callerFlow();
        upstreamOut.once("drain", () => {
          upstreamFull = false;
          callerFlow();
        });
      }
    },
    replyDown: (b) => {
      if (!callerOut.write(b) && !clientFull) {
        clientFull = true;
        upstreamIn.pause();
        callerOut.once("drain", () => {
          clientFull = false;
          upstreamIn.resume();
        });
      }
    },
    onResume: () => {
      queueFull = false;
      callerFlow();
    },
  });
  const fromCaller = (chunk: Buffer): void => {
    if (!filter.fromClient(chunk)) {
      queueFull = !filter.closed;
      callerFlow();
    }
  };
  const fromUpstream = (chunk: Buffer): void => filter.fromUpstream(chunk);
  callerIn.on("data", fromCaller);
  upstreamIn.on("data", fromUpstream);
  return {
    filter,
    close() {
      callerIn.off("data", fromCaller);
      upstreamIn.off("data", fromUpstream);
      filter.close();
    },
  };
}

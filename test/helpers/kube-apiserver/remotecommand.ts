// pods/exec and pods/attach over WebSocket: the channel protocol of
// k8s.io/apimachinery/pkg/util/httpstream/wsstream as the kubelet speaks it. Every binary message
// starts with a stream id: 0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status once the command
// ends), 4 resize ({"Width","Height"}); v5.channel.k8s.io adds 255 + id to close a stream (how
// kubectl says stdin reached EOF). v4 has no close message, otherwise the same.
import type { WsConn } from "./websocket.ts";
import type { PodProcess, ProcessEnd } from "./pod-process.ts";

export const CHANNEL = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  error: 3,
  resize: 4,
  close: 255,
} as const;

export const REMOTECOMMAND_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"] as const;

export interface ChannelStreams {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

/** The status the error channel carries, as the kubelet's v4+ status writer marshals it. */
export function exitStatus(end: ProcessEnd, argv: readonly string[]): Record<string, unknown> {
  if ("error" in end) return { metadata: {}, status: "Failure", message: end.error, reason: "InternalError", details: { causes: [{ message: end.error }] }, code: 500 };
  if (end.code === 0) return { metadata: {}, status: "Success" };
  return {
    metadata: {},
    status: "Failure",
    message: `command terminated with non-zero exit code: error executing command [${argv.join(" ")}], exit code ${end.code}`,
    reason: "NonZeroExitCode",
    details: { causes: [{ reason: "ExitCode", message: String(end.code) }] },
  };
}

export interface ChannelSessionOptions {
  readonly process: PodProcess;
  readonly streams: ChannelStreams;
  readonly protocol: string;
  /** The argv named in a failure Status. */
  readonly argv: readonly string[];
  /** attach leaves the process running when the client goes; exec kills it. */
  readonly killOnClose: boolean;
}

/** One exec/attach connection: relays between the WebSocket and the process, then reports the end. */
export class ChannelSession {
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly ungate: () => void;

  constructor(
    private readonly ws: WsConn,
    private readonly opts: ChannelSessionOptions,
  ) {
    const { streams } = opts;
    this.unsubscribe = opts.process.onOutput((id, data) => {
      if (id === CHANNEL.stdout && !streams.stdout) return;
      if (id === CHANNEL.stderr && !streams.stderr) return;
      this.send(id, data);
    });
    this.ungate = opts.process.addGate(() => (this.closed ? undefined : ws.drained()));
    void opts.process.ended.then((end) => {
      this.send(CHANNEL.error, new TextEncoder().encode(JSON.stringify(exitStatus(end, opts.argv))));
      this.finish(1000, "");
    });
  }

  private send(id: number, data: Uint8Array): void {
    if (this.closed) return;
    const frame = new Uint8Array(data.length + 1);
    frame[0] = id;
    frame.set(data, 1);
    this.ws.sendBinary(frame);
  }

  private finish(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.ungate();
    this.ws.close(code, reason);
  }

  onMessage(message: string | Uint8Array): void {
    if (typeof message === "string") {
      // Only the base64 text protocols use text frames; v4/v5 are binary.
      this.finish(1003, "text frames are not part of the v4/v5 channel protocols");
      return;
    }
    if (message.length === 0) return;
    const id = message[0]!;
    const data = message.subarray(1);
    switch (id) {
      case CHANNEL.stdin:
        if (this.opts.streams.stdin) this.opts.process.write(data);
        break;
      case CHANNEL.resize: {
        try {
          const size = JSON.parse(new TextDecoder().decode(data)) as { Width?: number; Height?: number };
          this.opts.process.resize(Number(size.Width ?? 0), Number(size.Height ?? 0));
        } catch {
          /* a malformed resize is ignored, as the kubelet logs and drops it */
        }
        break;
      }
      case CHANNEL.close:
        if (this.opts.protocol === "v5.channel.k8s.io" && data[0] === CHANNEL.stdin) this.opts.process.closeStdin();
        break;
      default:
        break;
    }
  }

  onClose(): void {
    if (!this.closed) {
      this.closed = true;
      this.unsubscribe();
      this.ungate();
    }
    if (this.opts.killOnClose) this.opts.process.kill("SIGHUP");
  }
}

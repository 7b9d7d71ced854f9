// The channel protocol of exec and attach (v5.channel.k8s.io, v4.channel.k8s.io) as the relay
// sees it: each binary message starts with its channel, 0 stdin, 1 stdout, 2 stderr, 3 the
// status (a metav1.Status as JSON), 4 resize ({"Width","Height"}), and in v5 255 closes a
// stream. With a tty the session is recorded as asciicast v2 (output, input when the target
// says so, resizes); without one stdout and stderr are captured up to exec_output_limit with
// the hash of the whole. The rules' detectors mask stdout and stderr on their way to the caller
// (and so in what is recorded). The exit status comes from the status channel.
import { compileDetectors } from "../../masking/detectors.ts";
import { maskedOutput, type MaskedOutput } from "../../masking/stream-masker-idle.ts";
import { createStreamMasker, type StreamMasker } from "../../masking/stream-masker.ts";
import type { ExecCapture } from "../../recording/exec-capture.ts";
import type { TerminalRecording } from "../../recording/terminal-recording.ts";
import { OPCODE } from "../../gate/websocket-codec.ts";
import type { RelayEnd, RelaySession, WebSocketRelay } from "./websocket-relay.ts";

/** Channel numbers (k8s.io/apimachinery/pkg/util/remotecommand, v5 adds 255). */
export const CHANNEL = {
  stdin: 0,
  stdout: 1,
  stderr: 2,
  status: 3,
  resize: 4,
  close: 255,
} as const;

export interface ExecChannelsOptions {
  readonly recording: TerminalRecording | null;
  readonly capture: ExecCapture | null;
  /** The allow rules' detectors; none: output goes through as it is. */
  readonly detectors: readonly string[];
  readonly ended: (end: RelayEnd, summary: ExecSummary) => void;
}

export interface ExecSummary {
  readonly exitStatus?: number;
  /** The status channel's Failure message, when it was not a plain exit code. */
  readonly statusMessage?: string;
  /** stdin bytes from the caller, stdout and stderr bytes from the API server (before masking). */
  readonly stdinBytes: number;
  readonly stdoutBytes: number;
  readonly stderrBytes: number;
  readonly resizes: number;
  readonly masked?: number;
}

/** The exit status a status-channel message reports, or its message when it reports no code. */
export function readExitStatus(json: string): { exitStatus?: number; message?: string } {
  let s: unknown;
  try {
    s = JSON.parse(json);
  } catch {
    return { message: "the status channel held something other than JSON" };
  }
  if (typeof s !== "object" || s === null) return { message: "the status channel held no Status" };
  const status = s as { status?: unknown; reason?: unknown; message?: unknown; details?: { causes?: { reason?: unknown; message?: unknown }[] } };
  if (status.status === "Success") return { exitStatus: 0 };
  const cause = status.details?.causes?.find((c) => c.reason === "ExitCode");
  const code = cause !== undefined ? Number(cause.message) : NaN;
  if (status.reason === "NonZeroExitCode" && Number.isInteger(code)) return { exitStatus: code };
  return { message: typeof status.message === "string" ? status.message : "the command failed" };
}

function withChannel(channel: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(data.length + 1);
  out[0] = channel;
  out.set(data, 1);
  return out;
}

/** The relay session of one exec or attach. */
export function execChannels(opts: ExecChannelsOptions): RelaySession {
  let stdinBytes = 0;
  let stdoutBytes = 0;
  let stderrBytes = 0;
  let resizes = 0;
  let exit: { exitStatus?: number; message?: string } = {};
  const detector = opts.detectors.length > 0 ? compileDetectors(opts.detectors) : null;
  const maskers: StreamMasker[] = [];
  const outputs = new Map<number, MaskedOutput>();

  const keep = (channel: number, data: Uint8Array) => {
    if (data.length === 0) return;
    if (opts.recording !== null) opts.recording.output(data);
    else if (channel === CHANNEL.stdout) opts.capture?.stdout(data);
    else opts.capture?.stderr(data);
  };
  const outputOf = (channel: number, relay: WebSocketRelay): MaskedOutput | null => {
    if (detector === null) return null;
    let out = outputs.get(channel);
    if (out === undefined) {
      const masker = createStreamMasker(detector);
      maskers.push(masker);
      out = maskedOutput(masker, (bytes) => {
        keep(channel, bytes);
        return relay.toCaller(OPCODE.binary, withChannel(channel, bytes));
      });
      outputs.set(channel, out);
    }
    return out;
  };
  const flushOutputs = () => {
    for (const out of outputs.values()) out.end();
  };

  return {
    fromCaller(opcode, data, relay) {
      if (opcode === OPCODE.binary && data.length > 0) {
        const channel = data[0]!;
        const payload = data.subarray(1);
        if (channel === CHANNEL.stdin) {
          stdinBytes += payload.length;
          opts.recording?.input(payload);
        } else if (channel === CHANNEL.resize) {
          const size = readResize(payload);
          if (size !== null) {
            resizes++;
            opts.recording?.resize(size.width, size.height);
          }
        }
      }
      relay.toUpstream(opcode, data);
    },
    fromUpstream(opcode, data, relay) {
      if (opcode !== OPCODE.binary || data.length === 0) {
        relay.toCaller(opcode, data);
        return;
      }
      const channel = data[0]!;
      if (channel === CHANNEL.stdout || channel === CHANNEL.stderr) {
        const payload = data.subarray(1);
        if (channel === CHANNEL.stdout) stdoutBytes += payload.length;
        else stderrBytes += payload.length;
        const out = outputOf(channel, relay);
        if (out !== null) {
          out.write(payload);
          return;
        }
        keep(channel, payload);
        relay.toCaller(opcode, data);
        return;
      }
      if (channel === CHANNEL.status) {
        // What masking still holds goes out before the status, which ends the exec for kubectl.
        flushOutputs();
        exit = readExitStatus(new TextDecoder().decode(data.subarray(1)));
      }
      relay.toCaller(opcode, data);
    },
    ended(end) {
      flushOutputs();
      opts.ended(end, {
        ...(exit.exitStatus !== undefined ? { exitStatus: exit.exitStatus } : {}),
        ...(exit.message !== undefined ? { statusMessage: exit.message } : {}),
        stdinBytes,
        stdoutBytes,
        stderrBytes,
        resizes,
        ...(detector !== null ? { masked: maskers.reduce((n, m) => n + m.hits, 0) } : {}),
      });
    },
  };
}

/** A resize message's size ({"Width":80,"Height":24}), or null when it is not one. */
export function readResize(payload: Uint8Array): { width: number; height: number } | null {
  try {
    const v = JSON.parse(new TextDecoder().decode(payload)) as { Width?: unknown; Height?: unknown };
    const width = Number(v.Width);
    const height = Number(v.Height);
    return Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0 ? { width, height } : null;
  } catch {
    return null;
  }
}

// One `session` channel of a caller: the requests that prepare it (pty-req, env from the allow
// list, window-change, signal), then the one that starts it (shell, exec, subsystem sftp), which
// is decided by the gate before anything is opened upstream. Allowed: the same request goes to
// the upstream connection and the two channels are relayed. Denied: the rule's message on
// stderr and exit status 126. Held for review: the approval id and the approver's command on
// stderr while it waits. X11 and agent forwarding are refused, saying why.
import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel, Session } from "ssh2";
import { errorMessage } from "../../core/errors.ts";
import type { SshAction, SshRequestFacts } from "../../core/types.ts";
import { describeApproval } from "../../gate/gate.ts";
import type { ChannelContext } from "./channel-context.ts";
import type { ChannelRecorder } from "./channel-recorder.ts";
import { compileDetectors } from "../../masking/detectors.ts";
import { type StreamMasker, createStreamMasker } from "../../masking/stream-masker.ts";
import { maskedOutput } from "../../masking/stream-masker-idle.ts";
import { crlfEmitter } from "./relay-filters.ts";
import { type ChannelExit, type OutputFilter, relay, watchExit } from "./relay.ts";
import { ShellLineGate } from "./shell-lines.ts";
import { type SftpCounts, sftpConnector } from "./sftp-channel.ts";

/** What the caller sees for a command that was not run, as OpenSSH's ForceCommand-style refusals. */
export const EXIT_DENIED = 126;
/** The gateway could not open the channel upstream (as ssh's own failures: 255). */
export const EXIT_UPSTREAM_FAILED = 255;

/** Variables one channel may set (each is an SSH packet; this bounds what a channel holds). */
const MAX_ENV = 64;
const NO_EXEC_PTY = "no terminal upstream for a command on this target (exec_pty is off): it runs as with ssh -T";
const REFUSED_X11 = "X11 forwarding is refused: the gateway does not relay it (no policy can allow it yet)";
const REFUSED_AGENT = "agent forwarding is refused: the gateway does not relay it (no policy can allow it yet); the gateway holds the upstream credential";

export function handleSession(session: Session, ctx: ChannelContext): void {
  let pty: PseudoTtyInfo | null = null;
  const env: Record<string, string> = {};
  const refusedEnv: string[] = [];
  const notices: string[] = [];
  let upstream: ClientChannel | null = null;
  let resize: ((cols: number, rows: number) => void) | null = null;
  let started = false;
  const closed = new AbortController();
  session.once("close", () => closed.abort());
  // The channel closed, or the whole connection did.
  const aborted = { signal: AbortSignal.any([closed.signal, ctx.gone]) };

  session.on("pty", (accept, _reject, info) => {
    pty = info;
    accept?.();
  });
  session.on("window-change", (accept, _reject, info) => {
    if (pty !== null) pty = { ...pty, rows: info.rows, cols: info.cols, height: info.height, width: info.width };
    upstream?.setWindow(info.rows, info.cols, info.height, info.width);
    resize?.(info.cols, info.rows);
    accept?.();
  });
  session.on("env", (accept, reject, info) => {
    if (!started && ctx.envAllowed(info.key) && (info.key in env || Object.keys(env).length < MAX_ENV)) {
      env[info.key] = info.val;
      accept?.();
    } else {
      if (refusedEnv.length < 32) refusedEnv.push(info.key.slice(0, 64));
      reject?.();
    }
  });
  session.on("signal", (accept, _reject, info) => {
    upstream?.signal(info.name);
    accept?.();
  });
  session.on("x11", (_accept, reject) => {
    if (!notices.includes(REFUSED_X11)) notices.push(REFUSED_X11);
    reject?.();
  });
  session.on("auth-agent", (_accept, reject) => {
    if (!notices.includes(REFUSED_AGENT)) notices.push(REFUSED_AGENT);
    reject?.();
  });
  session.on("shell", (accept) => {
    started = true;
    void start(accept(), "shell");
  });
  session.on("exec", (accept, _reject, info) => {
    started = true;
    void start(accept(), "exec", info.command);
  });
  session.on("subsystem", (accept, reject, info) => {
    if (info.name !== "sftp") {
      ctx.log.debug("ssh subsystem refused", { target: ctx.targetName, session: ctx.session, subsystem: info.name });
      return reject();
    }
    started = true;
    void start(accept(), "sftp");
  });

  const eol = () => (pty !== null ? "\r\n" : "\n");

  function start(channel: ServerChannel | undefined, action: SshAction, command?: string): Promise<void> {
    return run(channel, action, command).catch((e: unknown) => {
      // A bug, not the caller's doing: say so on the channel and close it; the connection goes on.
      ctx.log.error("ssh session channel failed", { target: ctx.targetName, session: ctx.session, action, error: errorMessage(e) });
      try {
        channel?.stderr.write(`gatehouse: internal error, ${action} ended: ${errorMessage(e)}${eol()}`);
        channel?.close();
      } catch {}
    });
  }

  async function run(channel: ServerChannel | undefined, action: SshAction, command?: string): Promise<void> {
    if (channel === undefined) return;
    channel.on("error", () => {});
    // An exec gets a terminal upstream only when the target's exec_pty says so: under one, an
    // allowed program may start a pager or an editor (journalctl, systemctl status → less) whose
    // `!commands` policy never sees. The caller's own terminal stays as it asked (raw), so LF is
    // sent as CR LF, as the missing pty would have.
    const upstreamPty = action === "exec" && !ctx.execPty ? null : pty;
    const crlf = pty !== null && upstreamPty === null && action === "exec";
    if (crlf) notices.push(NO_EXEC_PTY);
    for (const n of [...ctx.takeNotices(), ...notices]) channel.stderr.write(`gatehouse: ${n}${eol()}`);
    const facts: SshRequestFacts = { kind: "ssh", action, user: ctx.account, ...(command !== undefined ? { command } : {}) };
    const details = {
      ...(pty !== null ? { pty: { term: pty.term, cols: pty.cols, rows: pty.rows, ...(crlf ? { upstream: false } : {}) } } : {}),
      ...(Object.keys(env).length > 0 ? { env: Object.keys(env) } : {}),
      ...(refusedEnv.length > 0 ? { env_refused: refusedEnv } : {}),
    };
    const began = performance.now();
    // SFTP is decided operation by operation (sftp-channel.ts), not as a whole.
    const verdict = action === "sftp" ? null : await ctx.decide(facts, {
      details,
      signal: aborted.signal,
      onHold: (p) => channel.stderr.write(`gatehouse: ${describeApproval(p)}; waiting${eol()}`),
    });
    if (aborted.signal.aborted) return;
    if (verdict !== null && !verdict.allowed) {
      const detail = verdict.decision.detail !== undefined && !verdict.message.includes(verdict.decision.detail) ? ` (${verdict.decision.detail})` : "";
      channel.stderr.write(`gatehouse: ${action} denied: ${verdict.message}${detail}${eol()}`);
      channel.exit(EXIT_DENIED);
      channel.end();
      return;
    }
    if (action === "shell" && pty === null && ctx.shellLines()) {
      // The line policy reads the lines a terminal submits; without one, stdin would reach the
      // shell with no line decided (a rule allowing some lines would allow every line).
      const message = "this target decides shell lines, which needs a terminal: use ssh -t (or ask for exec)";
      channel.stderr.write(`gatehouse: shell refused: ${message}${eol()}`);
      channel.exit(EXIT_DENIED);
      channel.end();
      ctx.ended(facts, { error: message });
      return;
    }
    let recorder: ChannelRecorder | null;
    try {
      recorder = await ctx.recorder(facts, upstreamPty);
    } catch (e) {
      // Fail closed: what the target says to record is recorded, or it does not run.
      channel.stderr.write(`gatehouse: ${action} refused: it cannot be recorded: ${errorMessage(e)}${eol()}`);
      channel.exit(EXIT_DENIED);
      channel.end();
      ctx.ended(facts, { error: `recording unavailable: ${errorMessage(e)}` });
      return;
    }
    let up: ClientChannel;
    let exitOf: () => ChannelExit | null;
    try {
      ({ channel: up, exit: exitOf } = await openUpstream(ctx.upstream, action, command, upstreamPty, env));
    } catch (e) {
      channel.stderr.write(`gatehouse: the upstream refused the ${action}: ${errorMessage(e)}${eol()}`);
      channel.exit(EXIT_UPSTREAM_FAILED);
      channel.end();
      const files = (await recorder?.close()) ?? {};
      ctx.ended(facts, { error: errorMessage(e), duration_ms: Math.round(performance.now() - began), ...files });
      return;
    }
    upstream = up;
    resize = recorder === null ? null : (cols, rows) => recorder.resize(cols, rows);
    const sftp: SftpCounts = { decided: 0, denied: 0 };
    const masking = verdict !== null ? outputMasking(verdict.masks.detectors) : null;
    const output = outputChain(masking, crlf);
    const result = await relay(channel, up, {
      gone: aborted.signal,
      relayed: ctx.relayed,
      exit: exitOf,
      ...(recorder !== null ? { taps: recorder.taps } : {}),
      ...(action === "sftp" ? { connect: sftpConnector(ctx, aborted.signal, sftp) } : {}),
      ...(output !== null ? { output } : {}),
      ...(action === "shell" && pty !== null && ctx.shellLines() ? { input: lineGate(ctx, channel, aborted.signal) } : {}),
    });
    const files = (await recorder?.close()) ?? {};
    ctx.ended(facts, {
      ...(action === "sftp" ? { operations_decided: sftp.decided, operations_denied: sftp.denied } : {}),
      ...(result.exit?.code !== undefined ? { exit_status: result.exit.code } : {}),
      // As the protocol names it (KILL), which replay prints as SIGKILL.
      ...(result.exit?.signal !== undefined ? { exit_signal: result.exit.signal.replace(/^SIG/, "") } : {}),
      bytes_in: result.bytesIn,
      bytes_out: result.bytesOut,
      duration_ms: Math.round(performance.now() - began),
      ...(result.closedBy === "caller" ? { closed_by: "caller" } : {}),
      ...(masking !== null ? { masked: masking.hits() } : {}),
      ...files,
    });
  }
}

/**
 * The allow rules' `mask: { detectors }` on the output of an exec or a shell: stdout and stderr
 * each through a stream masker (values cut across chunks and escape sequences are handled
 * there), flushed after a moment of quiet so a prompt still shows.
 */
function outputMasking(detectors: readonly string[]): { output: (stderr: boolean, emit: (b: Uint8Array) => boolean) => OutputFilter; hits(): number } | null {
  if (detectors.length === 0) return null;
  const detector = compileDetectors(detectors);
  const maskers: StreamMasker[] = [];
  return {
    output: (_stderr, emit) => {
      const masker = createStreamMasker(detector);
      maskers.push(masker);
      return maskedOutput(masker, emit);
    },
    hits: () => maskers.reduce((n, m) => n + m.hits, 0),
  };
}

/** What the upstream's output goes through on its way: the masker, then CR LF for a raw terminal. */
function outputChain(masking: ReturnType<typeof outputMasking>, crlf: boolean): ((stderr: boolean, emit: (b: Uint8Array) => boolean) => OutputFilter) | null {
  if (masking === null && !crlf) return null;
  return (stderr, emit) => {
    const out = crlf ? crlfEmitter(emit) : emit;
    return masking !== null ? masking.output(stderr, out) : { write: (chunk) => out(chunk), end: () => {} };
  };
}

/** The shell line policy on this shell's input (see shell-lines.ts). */
function lineGate(ctx: ChannelContext, channel: ServerChannel, signal: AbortSignal) {
  return (forward: (b: Buffer) => void, resume: () => void) =>
    new ShellLineGate({
      forward,
      resume,
      tell: (text) => channel.write(text),
      decide: async (line) => {
        const v = await ctx.decide({ kind: "ssh", action: "shell", user: ctx.account, line }, { signal, onHold: (p) => channel.write(`\r\ngatehouse: ${describeApproval(p)}; waiting\r\n`) });
        const detail = v.decision.detail !== undefined && !v.message.includes(v.decision.detail) ? ` (${v.decision.detail})` : "";
        return { allowed: v.allowed, message: `${v.message}${detail}` };
      },
    });
}

function openUpstream(client: Client, action: SshAction, command: string | undefined, pty: PseudoTtyInfo | null, env: Record<string, string>): Promise<{ channel: ClientChannel; exit: () => ChannelExit | null }> {
  const window = pty === null ? undefined : { rows: pty.rows, cols: pty.cols, height: pty.height, width: pty.width, term: pty.term, modes: pty.modes };
  const withEnv = Object.keys(env).length > 0 ? { env } : {};
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, ch: ClientChannel) => (err ? reject(err) : resolve({ channel: ch, exit: watchExit(ch) }));
    switch (action) {
      case "exec":
        client.exec(command ?? "", { ...withEnv, ...(window ? { pty: window } : {}) }, done);
        return;
      case "shell":
        client.shell(window ?? false, withEnv, done);
        return;
      default:
        client.subsys("sftp", done);
    }
  });
}

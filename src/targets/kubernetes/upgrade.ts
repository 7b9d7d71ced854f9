// Upgrades of exec, attach and port-forward, once decided and audited: the gateway opens its own
// WebSocket to the API server (its credential, the request's target, the subprotocols it can
// read that the caller offered), answers the caller 101 with the one the API server chose, and
// relays frames both ways (websocket-relay.ts): exec and attach through the channel protocol
// (exec-channels.ts: recording, output capture, masking, exit status), port-forward through
// the SPDY tunnel (portforward-spdy.ts: only the ports the request named, when it named any). The session ends when either
// side closes, when the caller's token expires (identity.end_sessions_at_expiry) or when a
// reload revokes its credential; its request record then says what happened.
import type { Duplex } from "node:stream";
import { errorMessage } from "../../core/errors.ts";
import type { Clock, KubernetesRequestFacts } from "../../core/types.ts";
import { type EndReason, SessionExpiry, endedDetails } from "../../gate/session-expiry.ts";
import type { EndedBy } from "../../gate/live-sessions.ts";
import { CLOSE, acceptKey, offeredProtocols } from "../../gate/websocket-codec.ts";
import { openExecCapture, type ExecCapture } from "../../recording/exec-capture.ts";
import { EXEC_OUTPUT_FIELD, RECORDING_FIELD, recordingFile } from "../../recording/recording-ref.ts";
import { openTerminalRecording, type TerminalRecording } from "../../recording/terminal-recording.ts";
import { execChannels } from "./exec-channels.ts";
import type { Connection } from "./https-server.ts";
import { PORTFORWARD_SPDY_PROTOCOL, portForwardSpdy } from "./portforward-spdy.ts";
import type { Completion } from "./response-forward.ts";
import { detailsOf, statusResponse } from "./status.ts";
import { openUpstreamWebSocket } from "./upstream-websocket.ts";
import type { Upstream } from "./upstream.ts";
import { WebSocketRelay, type RelayEnd } from "./websocket-relay.ts";

/** The subprotocols relayed, per subresource, in the gateway's order of preference. */
export const RELAYED_PROTOCOLS: Readonly<Record<string, readonly string[]>> = {
  exec: ["v5.channel.k8s.io", "v4.channel.k8s.io"],
  attach: ["v5.channel.k8s.io", "v4.channel.k8s.io"],
  portforward: [PORTFORWARD_SPDY_PROTOCOL],
};

/** 1008 policy violation: the close code when the token expired or a reload revoked the credential. */
export const CLOSE_TOKEN_EXPIRED = { code: CLOSE.policyViolation, reason: "gatehouse: session ended: token expired" } as const;
export const CLOSE_REVOKED = { code: CLOSE.policyViolation, reason: "gatehouse: session ended: credential revoked" } as const;
export const CLOSE_ENDED = { code: CLOSE.policyViolation, reason: "gatehouse: session ended by an operator" } as const;

/** exec_output_limit when the target does not set one. */
export const DEFAULT_EXEC_OUTPUT_LIMIT = 1024 * 1024;

export interface UpgradeContext {
  readonly req: Request;
  readonly conn: Connection;
  readonly facts: KubernetesRequestFacts;
  /** Request id: the session of its audit records, and the recording's file name. */
  readonly id: string;
  readonly upstream: Upstream;
  /** Impersonation headers the policy allowed, as received. */
  readonly impersonate: readonly (readonly [string, string])[];
  /** The allow rules' detectors (masks on exec output). */
  readonly detectors: readonly string[];
  readonly stateDir: string;
  readonly recordInput: boolean;
  readonly execOutputLimit: number;
  /** When the caller's token expires, when sessions end at expiry; undefined otherwise. */
  readonly expiresAt: number | undefined;
  readonly clock: Clock;
  /** Aborted when the caller leaves before the 101, or (reason "credential_revoked") by a reload. */
  readonly signal: AbortSignal;
  /** Who ended it from the console, once the signal's reason is "ended_by_operator". */
  readonly endedBy?: () => EndedBy | null;
  /** Ends the request with its record (called once: at once on a refusal, else when the session ends). */
  readonly complete: (c: Completion) => void;
}

/**
 * Answers an allowed WebSocket upgrade: a Response (a Status) when it is not relayed, or null
 * when the relay took the socket (it answered 101, or passed the API server's refusal on).
 */
export async function upgradeAnswer(ctx: UpgradeContext): Promise<Response | null> {
  const { facts, conn } = ctx;
  const refuse = (code: 400 | 401 | 500 | 502, message: string): Response => {
    ctx.complete({ status: code, bytesOut: 0, outcome: code === 400 ? "not_supported" : "upstream_error", error: message });
    return statusResponse(code, message, detailsOf(facts));
  };
  const up = conn.upgrade;
  if (up === undefined) return refuse(400, "request refused by the gateway: an Upgrade header without an upgradable connection");
  const key = ctx.req.headers.get("sec-websocket-key");
  if (key === null || ctx.req.headers.get("sec-websocket-version") !== "13") return refuse(400, "request refused by the gateway: a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13");
  const what = facts.subresource ?? facts.verb;
  const relayed = RELAYED_PROTOCOLS[facts.subresource ?? ""];
  const offered = offeredProtocols(ctx.req.headers.get("sec-websocket-protocol"));
  if (relayed === undefined) return refuse(400, `request refused by the gateway: ${what} over WebSocket is not relayed (exec, attach and port-forward are)`);
  const protocols = offered.filter((p) => relayed.includes(p));
  if (protocols.length === 0) {
    return refuse(400, `request refused by the gateway: none of the offered WebSocket subprotocols (${offered.join(", ") || "none"}) is relayed for ${what}; the gateway relays ${relayed.join(", ")} (kubectl 1.30+)`);
  }

  const expiry = new SessionExpiry(ctx.expiresAt, ctx.clock, () => undefined);
  expiry.start();
  if (expiry.reason !== null) return refuse(401, `Unauthorized: ${expiry.message()}`);

  // What the target says to record is recorded, or the session does not start.
  const tty = facts.subresource !== "portforward" && queryFlag(conn.target, "tty");
  let recording: TerminalRecording | null = null;
  let capture: ExecCapture | null = null;
  try {
    if (facts.subresource !== "portforward") {
      if (tty) {
        recording = await openTerminalRecording({
          file: recordingFile(ctx.stateDir, ctx.id, ".cast"),
          width: 80,
          height: 24,
          ...(facts.command !== undefined && facts.command.length > 0 ? { command: facts.command.join(" ") } : {}),
          title: `kubectl ${what} ${facts.namespace ?? ""}/${facts.name ?? ""}${facts.command?.length ? ` -- ${facts.command.join(" ")}` : ""}`,
          recordInput: ctx.recordInput,
          clock: ctx.clock,
        });
      } else {
        capture = openExecCapture({ prefix: recordingFile(ctx.stateDir, ctx.id, ""), limit: ctx.execOutputLimit });
      }
    }
  } catch (e) {
    expiry.cancel();
    return refuse(500, `request refused by the gateway: the ${what} cannot be recorded: ${errorMessage(e)}`);
  }
  const closeFiles = async (): Promise<Record<string, unknown>> => {
    if (recording !== null) return { [RECORDING_FIELD]: await recording.close() };
    if (capture !== null) return { [EXEC_OUTPUT_FIELD]: await capture.close() };
    return {};
  };

  const userAgent = ctx.req.headers.get("user-agent");
  let hs: Awaited<ReturnType<typeof openUpstreamWebSocket>>;
  try {
    hs = await openUpstreamWebSocket({
      upstream: ctx.upstream,
      target: conn.target,
      headers: [...ctx.impersonate, ...(userAgent !== null ? [["User-Agent", userAgent] as const] : [])],
      protocols,
      signal: ctx.signal,
    });
  } catch (e) {
    expiry.cancel();
    const files = await closeFiles();
    ctx.complete({ status: 502, bytesOut: 0, outcome: "upstream_error", error: errorMessage(e), details: files });
    return statusResponse(502, errorMessage(e), detailsOf(facts));
  }
  const socket = up.socket;
  if (socket.destroyed || !socket.writable) {
    hs.socket.destroy();
    expiry.cancel();
    ctx.complete({ status: 499, bytesOut: 0, outcome: "client_closed", details: await closeFiles() });
    return null;
  }
  up.taken = true;
  if (hs.status !== 101) {
    // The API server's own refusal (a missing pod, a container that is not running): passed on whole.
    await passRefusal(hs, socket);
    expiry.cancel();
    ctx.complete({ status: hs.status, bytesOut: 0, outcome: "upstream_error", details: await closeFiles() });
    return null;
  }
  socket.write(
    ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Accept: ${acceptKey(key)}`, `Sec-WebSocket-Protocol: ${hs.protocol}`, "", ""].join("\r\n"),
  );
  const started = performance.now();
  let ended: EndReason | null = null;
  const finish = async (end: RelayEnd, details: Record<string, unknown>) => {
    expiry.cancel();
    const files = await closeFiles();
    ctx.complete({
      status: 101,
      bytesOut: end.bytesOut,
      outcome: end.error !== undefined ? "client_error" : "ok",
      ...(end.error !== undefined ? { error: end.error } : {}),
      details: {
        websocket: hs.protocol,
        bytes_in: end.bytesIn,
        close_code: end.code,
        ...(end.reason !== "" ? { close_reason: end.reason } : {}),
        closed_by: end.by,
        ...endedDetails(ended !== null ? { reason: ended, endedBy: ended === "ended_by_operator" ? (ctx.endedBy?.() ?? null) : null } : null),
        session_ms: Math.round(performance.now() - started),
        ...details,
        ...files,
      },
    });
  };
  const session =
    facts.subresource === "portforward"
      ? portForwardSpdy({
          ports: queryPorts(conn.target).length > 0 ? new Set(queryPorts(conn.target)) : null,
          ended: (end, s) => void finish(end, { ports: s.ports, ...(Object.keys(s.refused).length > 0 ? { refused_ports: s.refused } : {}), ...(s.error !== undefined ? { portforward_error: s.error } : {}) }),
        })
      : execChannels({
          recording,
          capture,
          detectors: ctx.detectors,
          ended: (end, s) =>
            void finish(end, {
              tty,
              ...(s.exitStatus !== undefined ? { exit_status: s.exitStatus } : {}),
              ...(s.statusMessage !== undefined ? { status_message: s.statusMessage } : {}),
              stdin_bytes: s.stdinBytes,
              stdout_bytes: s.stdoutBytes,
              stderr_bytes: s.stderrBytes,
              ...(s.resizes > 0 ? { resizes: s.resizes } : {}),
              ...(s.masked !== undefined ? { masked: s.masked } : {}),
            }),
        });
  const relay = new WebSocketRelay(socket, hs.socket, session);
  const endSession = (reason: EndReason) => {
    ended = reason;
    const close = reason === "token_expired" ? CLOSE_TOKEN_EXPIRED : reason === "ended_by_operator" ? CLOSE_ENDED : CLOSE_REVOKED;
    relay.shutdown(close.code, close.reason);
  };
  // The expiry timer now ends the relay; a reload's revocation comes as the request's abort.
  const live = new SessionExpiry(ctx.expiresAt, ctx.clock, endSession);
  expiry.cancel();
  live.start();
  const onAbort = () => {
    if (ctx.signal.reason === "credential_revoked") live.end("credential_revoked");
    else if (ctx.signal.reason === "ended_by_operator") live.end("ended_by_operator");
  };
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  relay.start(up.head, hs.rest);
  return null;
}

async function passRefusal(hs: { socket: Duplex; head: Buffer; rest: Buffer; headers: ReadonlyMap<string, string> }, socket: Duplex): Promise<void> {
  socket.write(hs.head);
  const length = Number(hs.headers.get("content-length") ?? NaN);
  let left = Number.isInteger(length) ? length : Infinity;
  const send = (b: Buffer) => {
    const part = b.subarray(0, Math.min(b.length, left));
    left -= part.length;
    if (part.length > 0) socket.write(part);
  };
  send(hs.rest);
  if (left > 0) {
    await new Promise<void>((resolve) => {
      const s = hs.socket;
      s.on("data", (b: Buffer) => {
        send(b);
        if (left <= 0) resolve();
      });
      s.on("end", resolve);
      s.on("close", resolve);
      s.on("error", resolve);
      socket.on("close", resolve);
      s.resume();
    });
  }
  hs.socket.destroy();
  socket.end();
}

// strconv.ParseBool's true spellings: the API server's query decoder uses it.
const PARSE_BOOL_TRUE: ReadonlySet<string> = new Set(["1", "t", "T", "TRUE", "true", "True"]);

/** Whether a boolean query parameter (tty, stdin) is set to true, as the API server reads it. */
export function queryFlag(target: string, name: string): boolean {
  const q = target.indexOf("?");
  if (q < 0) return false;
  const v = new URLSearchParams(target.slice(q + 1)).getAll(name);
  return v.length > 0 && PARSE_BOOL_TRUE.has(v[0]!);
}

/** The ports= of a portforward request (repeated or comma-separated), as numbers. */
export function queryPorts(target: string): number[] {
  const q = target.indexOf("?");
  if (q < 0) return [];
  const out: number[] = [];
  for (const v of new URLSearchParams(target.slice(q + 1)).getAll("ports")) {
    for (const p of v.split(",")) {
      const n = Number(p.trim());
      if (Number.isInteger(n) && n > 0 && n < 65536) out.push(n);
    }
  }
  return out;
}

/** Why an SPDY upgrade (what kubectl falls back to when a WebSocket upgrade fails) is refused. */
export function spdyRefusal(upgrade: string): string {
  return `SPDY upgrades (${upgrade}) are not relayed: the gateway relays exec, attach and port-forward over WebSocket only, which kubectl 1.30+ uses by default (do not set KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false or KUBECTL_PORT_FORWARD_WEBSOCKETS=false; kubectl also falls back to SPDY when the WebSocket upgrade fails)`;
}

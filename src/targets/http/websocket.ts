// WebSocket pass-through for an allowed upgrade: the client's socket is bridged to a new
// upstream socket opened with the upstream credential; messages queue until it is open.
// With identity.end_sessions_at_expiry, the socket ends when the caller's token expires; it ends
// too when a configuration reload no longer trusts the caller's credential (src/gate/ keeps both).
import type { Http1WebSocket as ServerWebSocket, Http1WebSocketHandler as WebSocketHandler } from "../../gate/http1-websocket.ts";
import type { Metrics } from "../../admin/metrics.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/types.ts";
import type { AuditEvent, Gate } from "../../gate/gate.ts";
import type { RevocableSession, SessionRevocations } from "../../gate/revocation.ts";
import { type EndReason, SessionExpiry, endedDetails } from "../../gate/session-expiry.ts";

/** 1008 policy violation: the close code for a socket whose token has expired. */
export const CLOSE_TOKEN_EXPIRED = { code: 1008, reason: "token expired" } as const;
/** The same code when a configuration reload no longer trusts the socket's credential. */
export const CLOSE_REVOKED = { code: 1008, reason: "credential revoked" } as const;
/** An operator ended it from the console. */
export const CLOSE_ENDED = { code: 1008, reason: "ended by an operator" } as const;

export interface WsData {
  readonly upstreamUrl: string;
  readonly headers: Record<string, string>;
  readonly session: string;
  readonly identity: NonNullable<AuditEvent["identity"]>;
  readonly target: string;
  /** The upgraded request's path, as the console lists the socket. */
  readonly path?: string;
  readonly started: number;
  /** RevocationLog generation when the upgrade request arrived: reloads after it apply at open. */
  readonly revocationsSince: number;
  /** When the caller's token expires (ms since epoch); absent for machine keys. */
  readonly expiresAt?: number;
  upstream?: WebSocket;
  queue?: (string | Uint8Array)[];
  messages?: number;
  /** Ends the socket when its token expires or a reload revokes its credential. */
  expiry?: SessionExpiry;
  /** What a reload's revocation reaches while the socket is open. */
  live?: RevocableSession;
  /** Why the gateway ended the socket, when it was the gateway. */
  ended?: EndReason;
}

export interface WebSocketDeps {
  readonly gate: Gate;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** identity.end_sessions_at_expiry, read when a socket opens. */
  readonly endAtExpiry: () => boolean;
  /**
   * The target's reloads so far (one that came while an upgrade was decided applies at open) and
   * its live sessions: an open socket registers there, and a reload's revoke() closes it.
   */
  readonly revocations: SessionRevocations;
}

export interface WebSocketRelay {
  readonly handler: WebSocketHandler<WsData>;
}

export function relayWebSocket(deps: WebSocketDeps): WebSocketRelay {
  const { revocations } = deps;
  const finish = (ws: ServerWebSocket<WsData>, code: number, reason: string) => {
    deps.metrics.openSessions.inc({ target: ws.data.target }, -1);
    const ended = endedDetails(ws.data.ended ? { reason: ws.data.ended, endedBy: ws.data.expiry?.endedBy ?? null } : null);
    // A failed write is logged, counted and shown by /healthz (recordLater never rejects).
    void deps.gate.recordLater({
      type: "session.end",
      session: ws.data.session,
      identity: ws.data.identity,
      target: ws.data.target,
      details: { websocket: true, code, reason, ...ended, messages: ws.data.messages ?? 0, duration_ms: Math.round(performance.now() - ws.data.started) },
    });
  };
  const end = (ws: ServerWebSocket<WsData>, reason: EndReason) => {
    ws.data.ended = reason;
    const close = reason === "token_expired" ? CLOSE_TOKEN_EXPIRED : reason === "ended_by_operator" ? CLOSE_ENDED : CLOSE_REVOKED;
    ws.close(close.code, close.reason);
  };
  const handler: WebSocketHandler<WsData> = {
    open(ws) {
      const expiresAt = ws.data.expiresAt !== undefined && deps.endAtExpiry() ? ws.data.expiresAt : undefined;
      const expiry = new SessionExpiry(expiresAt, deps.clock, (reason) => end(ws, reason));
      ws.data.expiry = expiry;
      ws.data.live = {
        revokeIf(revoked) {
          if (revoked(ws.data.identity)) expiry.end("credential_revoked");
        },
        listed: {
          info: { id: ws.data.session, target: ws.data.target, kind: "http", identity: ws.data.identity, startedAt: deps.clock.now(), what: `WebSocket ${ws.data.path ?? ""}`.trim(), ...(ws.remoteAddress ? { remote: ws.remoteAddress } : {}) },
          end: (by) => expiry.endBy(by),
        },
      };
      revocations.add(ws.data.live);
      deps.metrics.openSessions.inc({ target: ws.data.target });
      ws.data.queue = [];
      ws.data.messages = 0;
      // A reload while the upgrade was decided (or held for approval) may have revoked it.
      if (revocations.revokedSince(ws.data.revocationsSince, ws.data.identity)) return expiry.end("credential_revoked");
      // Expired between the upgrade and now: start() ends it at once, before any upstream socket exists.
      expiry.start();
      if (expiry.reason !== null) return;
      const up = new WebSocket(ws.data.upstreamUrl, { headers: ws.data.headers } as unknown as string[]);
      up.binaryType = "arraybuffer";
      ws.data.upstream = up;
      up.onopen = () => {
        for (const m of ws.data.queue ?? []) up.send(m);
        ws.data.queue = undefined;
      };
      up.onmessage = (ev) => {
        ws.send(typeof ev.data === "string" ? ev.data : new Uint8Array(ev.data as ArrayBuffer));
      };
      up.onclose = (ev) => ws.close(ev.code === 1005 || ev.code === 1006 ? 1011 : ev.code, ev.reason);
      up.onerror = () => ws.close(1011, "upstream WebSocket failed");
    },
    message(ws, msg) {
      ws.data.messages = (ws.data.messages ?? 0) + 1;
      const m = typeof msg === "string" ? msg : new Uint8Array(msg);
      const up = ws.data.upstream;
      if (ws.data.queue) ws.data.queue.push(m);
      else if (up && up.readyState === WebSocket.OPEN) up.send(m);
    },
    close(ws, code, reason) {
      if (ws.data.live) revocations.delete(ws.data.live);
      ws.data.expiry?.cancel();
      const up = ws.data.upstream;
      if (up && (up.readyState === WebSocket.OPEN || up.readyState === WebSocket.CONNECTING)) up.close(code === 1005 ? 1000 : code, reason);
      finish(ws, code, reason);
    },
  };
  return { handler };
}

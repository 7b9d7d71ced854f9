// What the gateway hands every target it starts, and what a started target hands back: the shape
// the HTTP and PostgreSQL targets share, and the one the SSH and Kubernetes targets will take.
import type { Metrics } from "../admin/metrics.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock, Identity } from "../core/types.ts";
import type { Gate } from "./gate.ts";
import type { LiveSessionRegistry } from "./live-sessions.ts";
import type { RevokedCheck } from "./revocation.ts";

export interface TargetDeps {
  readonly gate: Gate;
  readonly authenticate: (credential: string) => Promise<Identity>;
  /** Short stable reason for a rejected credential, for audit and metrics. */
  readonly authFailureReason: (e: unknown) => string;
  /** identity.end_sessions_at_expiry, read when a session (a WebSocket, a PostgreSQL session) opens (default true). */
  readonly endAtExpiry?: () => boolean;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** What /healthz reports as degraded while it lasts: a credential file that cannot be used (null: usable again). */
  readonly degraded?: (key: string, reason: string | null) => void;
  /** The gateway's live sessions, which the console lists and may end (absent: none listed). */
  readonly liveSessions?: LiveSessionRegistry;
}

export interface RunningTarget {
  readonly name: string;
  readonly listen: string;
  readonly port: number;
  /** After a reload: live sessions whose identity `revoked` no longer trusts are ended (see SessionRevocations). */
  revokeSessions(revoked: RevokedCheck): void;
  stop(): Promise<void>;
}

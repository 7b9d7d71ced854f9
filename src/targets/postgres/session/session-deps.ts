// What a PostgreSQL client session needs from its target, and the records that frame it.
import { randomBytes } from "node:crypto";
import type { Metrics } from "../../../admin/metrics.ts";
import type { PostgresTarget } from "../../../config/schema.ts";
import type { Logger } from "../../../core/logger.ts";
import type { Action, Clock, Decision, Identity } from "../../../core/types.ts";
import { type Gate, auditIdentity } from "../../../gate/gate.ts";
import type { LiveSessions } from "../../../gate/revocation.ts";
import type { Detector } from "../../../masking/detectors.ts";
import type { CancelRegistry } from "./cancel.ts";
import type { Catalog } from "../catalog/catalog.ts";
import type { Analyzer } from "../relay/frontend-relay.ts";
import type { StartupOutcome } from "./startup.ts";

export interface SessionDeps {
  readonly cfg: PostgresTarget;
  readonly gate: Gate;
  readonly analyzer: Analyzer;
  readonly catalog: Catalog;
  readonly cancels: CancelRegistry;
  readonly adjust: (decision: Decision, action: Action) => Decision;
  readonly compileDetectors: (names: readonly string[]) => Detector;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly maxMessageSize: number;
  /** Counts bytes read either way (see gate/memory-pacer.ts). */
  readonly relayed: (bytes: number) => void;
  /** identity.end_sessions_at_expiry: end the session when its token expires (default true). */
  readonly endAtExpiry?: () => boolean;
  /** The target's live sessions, which a reload may revoke (see revokeSessions in postgres-target.ts). */
  readonly live?: LiveSessions;
  /** Whether a reload since this session's login revoked its identity (it was not live yet). */
  readonly revokedSince?: (identity: Identity) => boolean;
  /** How long a completion waits for the session's next decision record (gate/held-completions.ts). */
  readonly completionWaitMs?: number;
}

export type LoggedIn = StartupOutcome & { kind: "session" };

export function newSessionId(): string {
  return `pg_${randomBytes(8).toString("hex")}`;
}

/** The session.end record; a failed write is logged, counted and reported by /healthz (the session is over either way). */
export function recordEnd(deps: SessionDeps, session: string, identity: Identity, started: number, details: Record<string, unknown>): Promise<void> {
  return deps.gate.recordLater({
    type: "session.end",
    session,
    identity: auditIdentity(identity),
    target: deps.cfg.name,
    details: { duration_ms: Math.round(performance.now() - started), ...details },
  });
}

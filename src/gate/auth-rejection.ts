// The auth.rejected record every target writes when it refuses a credential (none given, one that
// does not verify, a token already expired at open, one a reload revoked while its request
// waited), with its count in gatehouse_auth_failures_total. The target answers in its own
// protocol once the record is written, or says the audit log is unavailable when it is not.
import type { Metrics } from "../admin/metrics.ts";
import type { Identity } from "../core/types.ts";
import { type Gate, auditIdentity } from "./gate.ts";

export interface AuthRejection {
  readonly target: string;
  /** Short stable reason (missing, expired, revoked, or one of authFailureReason's), for audit and metrics. */
  readonly reason: string;
  /** For people: what was wrong with the credential. */
  readonly message: string;
  readonly session?: string;
  /** The caller, when the credential verified but does not count (expired at open, revoked). */
  readonly identity?: Identity;
  /** What the caller asked for, as far as it was read (the record's `action`). */
  readonly action?: Record<string, unknown>;
  /** Protocol facts beside reason and message (remote address, user name, websocket). */
  readonly details?: Record<string, unknown>;
}

export interface AuthRejectionDeps {
  readonly gate: Pick<Gate, "record">;
  readonly metrics: Pick<Metrics, "authFailures">;
}

/**
 * Counts the rejection (unless `count` is false: a revocation while waiting is counted as a
 * denial by the target) and writes its record. Rejects when the audit log cannot take the record
 * (the gate has logged and counted that), so the target can tell the client.
 */
export function recordAuthRejected(deps: AuthRejectionDeps, r: AuthRejection, options: { count?: boolean } = {}): Promise<void> {
  if (options.count !== false) deps.metrics.authFailures.inc({ reason: r.reason });
  return deps.gate.record({
    type: "auth.rejected",
    ...(r.session !== undefined ? { session: r.session } : {}),
    ...(r.identity !== undefined ? { identity: auditIdentity(r.identity) } : {}),
    target: r.target,
    ...(r.action !== undefined ? { action: r.action } : {}),
    details: { reason: r.reason, message: r.message, ...r.details },
  });
}

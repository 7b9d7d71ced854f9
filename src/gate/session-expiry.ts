// When a session's credential stops counting, for every target whose sessions outlive their
// login (a PostgreSQL session, a WebSocket): its token expires (identity.end_sessions_at_expiry)
// or a configuration reload revokes it (a machine key removed or changed, an issuer removed).
// The session then ends at once (the target's onEnd); this object keeps the timer, the reason
// and the message. tokenExpiredAtOpen refuses a session whose token is already past its expiry.
import type { Clock, Identity } from "../core/types.ts";
import { timerAt } from "../core/timer-at.ts";
import type { EndedBy } from "./live-sessions.ts";

/** ended_by_operator: ended from the console (live-sessions.ts); session.end then names who. */
export type EndReason = "token_expired" | "credential_revoked" | "ended_by_operator";

/** session.end's `ended` (and `ended_by` when an operator ended it), or nothing while it was not the gateway. */
export function endedDetails(expiry: { readonly reason: EndReason | null; readonly endedBy: EndedBy | null } | null | undefined): Record<string, unknown> {
  if (expiry === null || expiry === undefined || expiry.reason === null) return {};
  return { ended: expiry.reason, ...(expiry.endedBy !== null ? { ended_by: endedByRecord(expiry.endedBy) } : {}) };
}

export function endedByRecord(by: EndedBy): Record<string, unknown> {
  return { subject: by.subject, issuer: by.issuer, ...(by.name !== undefined ? { name: by.name } : {}) };
}

/**
 * The verifier's clock skew lets a just-expired token through; a session opened with it would
 * end at once when sessions end at expiry, so the target refuses to open it instead.
 */
export function tokenExpiredAtOpen<I extends Pick<Identity, "expiresAt">>(identity: I, clock: Clock, endAtExpiry: () => boolean): identity is I & { readonly expiresAt: number } {
  return identity.expiresAt !== undefined && identity.expiresAt <= clock.now() && endAtExpiry();
}

export class SessionExpiry {
  /** Why the credential no longer counts (the token expired, or a reload revoked it); null while it does. */
  reason: EndReason | null = null;
  /** The session was ended because of it (session.end then says ended: <reason>, as a WebSocket's does). */
  ended = false;
  /** Who ended it from the console, when reason is ended_by_operator. */
  endedBy: EndedBy | null = null;
  private timer: { cancel(): void } | null = null;

  /** Calls onEnd when the clock reaches expiresAt (at once if it has; machine keys have none) or end() is called. */
  constructor(
    readonly expiresAt: number | undefined,
    private readonly clock: Clock,
    private readonly onEnd: (reason: EndReason) => void,
  ) {}

  start(): void {
    if (this.expiresAt === undefined || this.timer !== null) return;
    this.timer = timerAt(
      () => this.clock.now(),
      this.expiresAt,
      () => this.end("token_expired"),
    );
  }

  cancel(): void {
    this.timer?.cancel();
  }

  /** The credential stopped counting now (a reload revoked it, or the expiry timer fired). */
  end(reason: EndReason): void {
    if (this.reason !== null) return;
    this.reason = reason;
    this.cancel();
    this.onEnd(reason);
  }

  /** An operator ended the session from the console. */
  endBy(by: EndedBy): void {
    if (this.reason !== null) return;
    this.endedBy = by;
    this.end("ended_by_operator");
  }

  /** The FATAL text the client gets. */
  message(): string {
    if (this.reason === "ended_by_operator") return `session ended by ${this.endedBy?.name ?? this.endedBy?.subject ?? "an operator"} from the gatehouse console`;
    if (this.reason === "credential_revoked") {
      return "session ended: the gateway's configuration no longer trusts the credential it was opened with (machine key or issuer removed or changed); log in again";
    }
    const at = new Date(this.expiresAt ?? this.clock.now()).toISOString();
    return `session ended: the token it was opened with expired at ${at}; log in again with a new token`;
  }
}

// When a session's credential stops counting: its token expires (identity.end_sessions_at_expiry)
// or a configuration reload revokes it (a machine key removed or changed, an issuer removed).
// The session then ends at once (session.ts endForCredential); this object keeps the timer,
// the reason and the message.
import type { Clock } from "../../../core/types.ts";
import { timerAt } from "../../../core/timer-at.ts";

export type EndReason = "token_expired" | "credential_revoked";

export class SessionExpiry {
  /** Why the credential no longer counts (the token expired, or a reload revoked it); null while it does. */
  reason: EndReason | null = null;
  /** The session was ended because of it (session.end then says ended: <reason>, as a WebSocket's does). */
  ended = false;
  private timer: { cancel(): void } | null = null;

  /** Calls onExpire when the clock reaches expiresAt (at once if it has); machine keys have none. */
  constructor(
    readonly expiresAt: number | undefined,
    private readonly clock: Clock,
    private readonly onExpire: () => void,
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
    this.onExpire();
  }

  /** The FATAL text the client gets. */
  message(): string {
    if (this.reason === "credential_revoked") {
      return "session ended: the gateway's configuration no longer trusts the credential it was opened with (machine key or issuer removed or changed); log in again";
    }
    const at = new Date(this.expiresAt ?? this.clock.now()).toISOString();
    return `session ended: the token it was opened with expired at ${at}; log in again with a new token`;
  }
}

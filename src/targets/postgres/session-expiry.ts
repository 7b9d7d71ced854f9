// When a session's credential stops counting: its token expires (identity.end_sessions_at_expiry)
// or a configuration reload revokes it (a machine key removed or changed, an issuer removed).
// From then on nothing new runs with it, and the session ends at its next idle point. The
// session asks this object which client messages may still go through and tells it when it ends
// the session for this reason.
import type { Clock } from "../../core/types.ts";
import { timerAt } from "../../core/timer-at.ts";
import type { DecodedFrontendMessage } from "./protocol/frontend-message.ts";

export type EndReason = "token_expired" | "credential_revoked";

export class SessionExpiry {
  /** The credential no longer counts: the token expired, or a reload revoked it. */
  expired = false;
  /** Why, once it happened. */
  reason: EndReason | null = null;
  /** The session was ended because of it (session.end then says ended: <reason>, as a WebSocket's does). */
  ended = false;
  private syncAfterExpiry = false;
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
    if (this.expired) return;
    this.expired = true;
    this.reason = reason;
    this.cancel();
    this.onExpire();
  }

  /**
   * After expiry, a message may still go through when it completes what was already under way
   * (answers are still owed): the rest of an extended-protocol batch up to its Sync, or a COPY.
   * A new simple Query or FunctionCall, or anything after that Sync, waits for the end.
   */
  mayFinish(m: DecodedFrontendMessage, answersOwed: number): boolean {
    if (this.syncAfterExpiry || answersOwed === 0) return false;
    if (m.type === "Query" || m.type === "FunctionCall") return false;
    if (m.type === "Sync") this.syncAfterExpiry = true;
    return true;
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

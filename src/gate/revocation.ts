// Revocation on reload for a target's sessions: a session that authenticated once, at its start
// (a PostgreSQL session, a WebSocket; an SSH session next), ends when a configuration reload no
// longer trusts its credential, whether it was live at the reload or still being set up then.
import { RevocationLog, type RevokedCheck } from "../identity/revoked.ts";
import type { ListedSession, LiveSessionRegistry } from "./live-sessions.ts";

export type { RevokedCheck } from "../identity/revoked.ts";

/** A live session the target can end when a reload revokes its identity. */
export interface RevocableSession {
  /** Ends the session if `revoked` says its identity no longer counts. */
  revokeIf(revoked: RevokedCheck): void;
  /** What the console lists and may end (live-sessions.ts); absent: not listed (a plain request). */
  readonly listed?: ListedSession;
}

/** Where sessions register while they are live (a Set of them will do). */
export interface LiveSessions {
  add(session: RevocableSession): void;
  delete(session: RevocableSession): void;
}

/**
 * One per target: the reloads it has seen (for sessions and requests still being set up) and
 * its live sessions (ended at once by revoke()).
 */
export class SessionRevocations implements LiveSessions {
  private readonly log = new RevocationLog();
  private readonly live = new Set<RevocableSession>();

  /** `registry`: the gateway's live sessions, where sessions with `listed` are shown to the console. */
  constructor(private readonly registry?: LiveSessionRegistry) {}

  /** Take it before authenticating; pass it to revokedSince() when the session goes live. */
  get generation(): number {
    return this.log.generation;
  }

  /** Whether a reload after `since` revoked this identity (fail closed when too many reloads passed). */
  revokedSince(since: number, identity: Parameters<RevokedCheck>[0]): boolean {
    return this.log.revokedSince(since, identity);
  }

  add(session: RevocableSession): void {
    this.live.add(session);
    if (session.listed !== undefined) this.registry?.add(session.listed);
  }

  delete(session: RevocableSession): void {
    this.live.delete(session);
    if (session.listed !== undefined) this.registry?.delete(session.listed);
  }

  /** After a reload: remembered for sessions still being set up, and applied to every live one. */
  revoke(revoked: RevokedCheck): void {
    this.log.add(revoked);
    for (const s of [...this.live]) s.revokeIf(revoked);
  }
}

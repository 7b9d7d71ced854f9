// The gateway's live sessions, across every target (PostgreSQL sessions, SSH connections,
// Kubernetes exec/attach/port-forward WebSockets, HTTP WebSockets): what the console lists
// and ends. Targets register through their SessionRevocations (revocation.ts), so a session
// that a reload can revoke is also one an operator can end, with the same ending path.
import type { TargetKind } from "../core/types.ts";

/** Who ended a session from the console: recorded as session.end's `ended_by`. */
export interface EndedBy {
  readonly subject: string;
  readonly issuer: string;
  readonly name?: string;
}

export interface LiveSessionInfo {
  /** The session id its audit records carry. */
  readonly id: string;
  readonly target: string;
  readonly kind: TargetKind;
  readonly identity: { readonly method: string; readonly subject: string; readonly issuer: string; readonly groups: readonly string[]; readonly name?: string };
  /** The caller's address, host:port, when known. */
  readonly remote?: string;
  /** ms since epoch. */
  readonly startedAt: number;
  /** What the session is, for people: "kubectl exec default/web -- sh", "WebSocket /ws". */
  readonly what?: string;
}

export interface ListedSession {
  readonly info: LiveSessionInfo;
  /** Ends the session now, as an expiry would (the client is told why); session.end says by whom. */
  end(by: EndedBy): void;
}

export class LiveSessionRegistry {
  readonly #byId = new Map<string, ListedSession>();

  add(s: ListedSession): void {
    this.#byId.set(s.info.id, s);
  }

  delete(s: ListedSession): void {
    if (this.#byId.get(s.info.id) === s) this.#byId.delete(s.info.id);
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Newest first. */
  list(): LiveSessionInfo[] {
    return [...this.#byId.values()].map((s) => s.info).sort((a, b) => b.startedAt - a.startedAt);
  }

  get(id: string): LiveSessionInfo | undefined {
    return this.#byId.get(id)?.info;
  }

  /** Ends the live session `id`; false when there is none (it ended already). */
  end(id: string, by: EndedBy): boolean {
    const s = this.#byId.get(id);
    if (s === undefined) return false;
    this.#byId.delete(id);
    s.end(by);
    return true;
  }
}

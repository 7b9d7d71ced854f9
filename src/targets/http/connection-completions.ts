// One record per request (FORMAT.md, "HTTP"): an allowed request's completion (status, bytes,
// duration, outcome) is held on the client connection it came on, and the next decision record
// made for a request on that connection (keep-alive) carries it in `details.completed`, naming
// the seq of its own decision record and its session (an HTTP session is one request, so the
// carrier's session is another request's). A connection with no such decision record within the
// wait, one that ends, and stop() write what they hold as `request` records of their own
// (gate/held-completions.ts): each completion is in the log once, in one of the two forms.
import { ObjectTemplate, type CanonicalValue } from "../../audit/record-template.ts";
import { COMPLETION_WAIT_MS, HeldCompletions } from "../../gate/held-completions.ts";
import type { ClientConnection } from "../../gate/http1-server.ts";
import type { SessionRecords } from "../../gate/session-records.ts";
import type { HttpRequestFacts } from "../../core/types.ts";

/** What a `request` record's details hold. */
export interface RequestOutcome {
  readonly status: number;
  readonly bytes_out: number;
  readonly duration_ms: number;
  readonly outcome: string;
  readonly error: string | undefined;
  readonly masked: number | undefined;
}

/** A request's completion, with what its record of its own needs. */
export interface RequestCompletion {
  /** The request's id (its session). */
  readonly id: string;
  readonly action: HttpRequestFacts | CanonicalValue;
  readonly records: SessionRecords;
  readonly outcome: RequestOutcome;
  /** The seq of the request's decision record. */
  readonly decision: number;
}

/** Completions taken for a decision record: `completed` goes in its details; `items` are written on their own if that record is not. */
export interface Carried {
  readonly completed: CanonicalValue;
  readonly items: readonly RequestCompletion[];
}

/** A `request` record's details members plus decision and session: an entry of `details.completed`. */
const ENTRY = new ObjectTemplate({}, ["status", "bytes_out", "duration_ms", "outcome", "error", "masked", "decision", "session"]);
/** The details of a decision record that has none of its own but carries completions. */
const CARRIER = new ObjectTemplate({}, ["completed"]);

export class ConnectionCompletions {
  /** Connections holding completions now (stop() writes theirs). */
  readonly #live = new Set<HeldCompletions<RequestCompletion>>();
  /** While take() runs: the items it takes (HeldCompletions gives back only their entries). */
  #taking: RequestCompletion[] | null = null;

  /** `writeAlone`: a completion as a `request` record of its own (never throws: a lost record is reported there). */
  constructor(
    private readonly writeAlone: (c: RequestCompletion) => void,
    private readonly waitMs = COMPLETION_WAIT_MS,
  ) {}

  /** Holds `c` for the next decision record on `conn`; false: there will be none (no connection, or it ended): write it on its own. */
  hold(conn: ClientConnection | null, c: RequestCompletion): boolean {
    if (conn === null || conn.closed) return false;
    let held = conn.local as HeldCompletions<RequestCompletion> | null;
    if (held === null) {
      held = new HeldCompletions<RequestCompletion>(this.#entryOf, this.#writeEach, this.waitMs);
      conn.local = held;
      const live = this.#live;
      live.add(held);
      conn.onEnd = () => {
        live.delete(held!);
        held!.flush();
      };
    }
    held.hold(c);
    return true;
  }

  /** The completions held on `conn`, taken for the decision record being made now; undefined: none. */
  take(conn: ClientConnection | null): Carried | undefined {
    const held = conn?.local as HeldCompletions<RequestCompletion> | null | undefined;
    if (held === null || held === undefined || held.size === 0) return undefined;
    const items: RequestCompletion[] = (this.#taking = []);
    try {
      return { completed: held.take()!, items };
    } finally {
      this.#taking = null;
    }
  }

  /** Taken completions whose decision record was not written: records of their own (or counted lost). */
  giveBack(carried: Carried | undefined): void {
    if (carried !== undefined) for (const c of carried.items) this.writeAlone(c);
  }

  /** Writes everything held on every connection as records of their own (the target stops). */
  flushAll(): void {
    for (const held of this.#live) held.flush();
  }

  readonly #entryOf = (c: RequestCompletion): CanonicalValue => {
    this.#taking?.push(c);
    const o = c.outcome;
    return ENTRY.fill({ status: o.status, bytes_out: o.bytes_out, duration_ms: o.duration_ms, outcome: o.outcome, error: o.error, masked: o.masked, decision: c.decision, session: c.id });
  };

  readonly #writeEach = (items: readonly RequestCompletion[]): void => {
    for (const c of items) this.writeAlone(c);
  };
}

/** The details of a decision record with no details of its own that carries `carried` (undefined: none). */
export function carrierDetails(carried: Carried | undefined): CanonicalValue | undefined {
  return carried === undefined ? undefined : CARRIER.fill({ completed: carried.completed });
}

/** Details of a decision check() makes, with the completions it carries (plain values: check() serialises them). */
export function withCompleted(details: Record<string, unknown> | undefined, carried: Carried | undefined): Record<string, unknown> | undefined {
  if (carried === undefined) return details;
  return { ...details, completed: JSON.parse(carried.completed.json) as unknown };
}

// The HTTP target's fast path: a request the gate allowed a moment ago, from the same caller, to
// the same URL, under the same policy, is allowed again without an await, a URL parse or a
// decide(): its record comes from templates made when it was first decided (the action text
// serialised once), and it goes out with the other records of the event-loop turn.
// The key is everything the first decision read: the caller's record templates (one per
// identity: method, issuer, subject and groups in order, see RecordsByIdentity), the method as
// sent and the whole request URL (path and query exactly as received), and the policy hash.
// The time is the one other input, so nothing is kept while any rule has a time window
// (Gate.policyNow().reusable); a WebSocket upgrade never takes this path.
import type { CanonicalValue, RecordTemplate } from "../../audit/record-template.ts";
import { canonicalValue } from "../../audit/record-template.ts";
import type { Verdict } from "../../gate/gate.ts";
import type { SessionRecords } from "../../gate/session-records.ts";
import type { HttpRequestFacts } from "../../core/types.ts";

/** URLs longer than this are decided every time, not kept. */
const MAX_URL = 2_048;
/** Past this many routes for one identity, its map is cleared and filled again (a caller inventing URLs gains nothing). */
const MAX_ROUTES = 4_096;

export interface KnownRoute {
  readonly policyHash: string;
  /** The allow, as the gate gave it (masks included). */
  readonly verdict: Verdict;
  /** What every record of the request says it was (method, canonical path, redacted query). */
  readonly facts: HttpRequestFacts;
  /** The same as canonical JSON, made once. */
  readonly action: CanonicalValue;
  /** The decision record's template: this identity, this decision, this policy. */
  readonly decision: RecordTemplate;
  /** Where it is forwarded: the upstream, the canonical path and the query as received. */
  readonly upstreamUrl: string;
  /** The URL's scheme without the colon, for X-Forwarded-Proto. */
  readonly proto: string;
}

export class KnownRoutes {
  readonly #byIdentity = new WeakMap<SessionRecords, Map<string, KnownRoute>>();

  /** The route remembered for this caller, method and URL under this policy, or undefined. */
  get(records: SessionRecords, method: string, url: string, policyHash: string): KnownRoute | undefined {
    const routes = this.#byIdentity.get(records);
    if (routes === undefined) return undefined;
    const known = routes.get(method + " " + url);
    return known !== undefined && known.policyHash === policyHash ? known : undefined;
  }

  /**
   * Remembers an allow that check() gave, when it may be given again as it was: a plain allow
   * (no grant, no approval, no detail) under a policy without time windows, still in force.
   */
  remember(
    records: SessionRecords,
    method: string,
    url: string,
    verdict: Verdict,
    policyNow: { readonly hash: string; readonly reusable: boolean },
    facts: HttpRequestFacts,
    upstreamUrl: string,
    proto: string,
  ): void {
    const d = verdict.decision;
    if (!policyNow.reusable || policyNow.hash !== verdict.policyHash || !verdict.allowed || verdict.auditFailed || verdict.approvalId !== undefined) return;
    if (d.effect !== "allow" || d.detail !== undefined || url.length > MAX_URL) return;
    let routes = this.#byIdentity.get(records);
    if (routes === undefined) this.#byIdentity.set(records, (routes = new Map()));
    if (routes.size >= MAX_ROUTES) routes.clear();
    routes.set(method + " " + url, {
      policyHash: verdict.policyHash,
      verdict,
      facts,
      action: canonicalValue(facts),
      decision: records.template("decision", { effect: "allow", rule: d.rule, message: d.message }, verdict.policyHash),
      upstreamUrl,
      proto,
    });
  }
}

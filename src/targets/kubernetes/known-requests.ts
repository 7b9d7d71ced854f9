// The Kubernetes target's fast path: a GET the gate allowed a moment ago, from the same caller,
// with the same request-target, under the same policy, is allowed again without an await, a
// classification or a decide(): its decision record comes from a template made when it was
// first decided (the action's canonical JSON made once) and goes out with the other records of
// the event-loop turn (Gate.recordKnownSoon, one write(2)).
// The key is everything the first decision read: the caller's record templates (one per
// identity: method, issuer, subject, groups in order, name, claims, see RecordsByIdentity), the
// method as sent and the request-target exactly as received (path and query: the verb, a watch,
// dryRun, a field selector's name), and the policy hash. Headers that change a decision or what
// is forwarded keep a request off this path altogether (the target checks them before the
// lookup: an Impersonate-* or Content-Type or Upgrade line, a body). The time is the one other
// input, so nothing is kept while any rule has a time window (Gate.policyNow().reusable).
import type { CanonicalValue, RecordTemplate } from "../../audit/record-template.ts";
import { canonicalValue } from "../../audit/record-template.ts";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { auditAction, type Verdict } from "../../gate/gate.ts";
import type { SessionRecords } from "../../gate/session-records.ts";

/** Request-targets longer than this are decided every time, not kept. */
const MAX_TARGET = 2_048;
/**
 * Past this many requests for one identity, its map is cleared and filled again (a caller
 * inventing URLs gains nothing). An entry holds ~0.85 KB of heap (~1.6 KB resident; measured with
 * 20,000 pod gets), so with at most 1,024 identities kept (RecordsByIdentity) the whole stays
 * under ~0.4 GB resident in the worst case; an interactive kubectl user needs a few dozen.
 */
const MAX_REQUESTS = 256;

export interface KnownRequest {
  readonly policyHash: string;
  /** The allow, as the gate gave it (masks included). */
  readonly verdict: Verdict;
  /** What the classifier read from the request-target (the same target gives the same facts). */
  readonly facts: KubernetesRequestFacts;
  /** auditAction(facts) as canonical JSON, made once (the decision record's action). */
  readonly action: CanonicalValue;
  /** The facts as canonical JSON in record keys (the request record's action; its slow path's goes through the gate's inRecordKeys). */
  readonly requestAction: CanonicalValue;
  /** The decision record's details as check() was given them (dry_run), made once. */
  readonly details: CanonicalValue;
  /** The decision record's template: this identity, this decision, this policy. */
  readonly decision: RecordTemplate;
  /** Its answer is not masked and does not stream: the listener's fast lane may forward it (kubernetes-target.ts). */
  readonly lane: boolean;
}

export class KnownRequests {
  readonly #byIdentity = new WeakMap<SessionRecords, Map<string, KnownRequest>>();

  /** The request remembered for this caller, method and request-target under this policy, or undefined. */
  get(records: SessionRecords, method: string, target: string, policyHash: string): KnownRequest | undefined {
    const known = this.#byIdentity.get(records)?.get(method + " " + target);
    return known !== undefined && known.policyHash === policyHash ? known : undefined;
  }

  /**
   * Remembers an allow that check() gave, when it may be given again as it was: a plain allow
   * (no grant, no approval, no detail) under a policy without time windows, still in force.
   */
  remember(
    records: SessionRecords,
    method: string,
    target: string,
    verdict: Verdict,
    policyNow: { readonly hash: string; readonly reusable: boolean },
    facts: KubernetesRequestFacts,
    details: Record<string, unknown>,
    lane: boolean,
  ): void {
    const d = verdict.decision;
    if (!policyNow.reusable || policyNow.hash !== verdict.policyHash || !verdict.allowed || verdict.auditFailed || verdict.approvalId !== undefined) return;
    if (d.effect !== "allow" || d.detail !== undefined || target.length > MAX_TARGET) return;
    let known = this.#byIdentity.get(records);
    if (known === undefined) this.#byIdentity.set(records, (known = new Map()));
    if (known.size >= MAX_REQUESTS) known.clear();
    known.set(method + " " + target, {
      policyHash: verdict.policyHash,
      verdict,
      facts,
      action: canonicalValue(auditAction(facts)),
      requestAction: canonicalValue(auditAction(facts)),
      details: canonicalValue({ ...details }),
      decision: records.template("decision", { effect: "allow", rule: d.rule, message: d.message }, verdict.policyHash),
      lane,
    });
  }
}

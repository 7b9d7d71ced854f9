// The `answer` review mode: a request a rule sends to review is answered at once with a 403 that
// names its approval, and the approval is remembered by the request's fingerprint (who asked, as
// the policy sees them: issuer, subject, groups and the claims the rules name; the method, the
// exact path and query, the body's hash, the impersonation asked for). When the
// same caller sends the same request again: still pending → the same approval is named again
// (no second approval); approved → it passes, once; denied or expired → the caller is told, once,
// and the next retry asks anew. A grant (`approve --for`) needs none of this: the gate applies it
// to every request of the rule. Kept in memory: after a restart a retry asks anew.
import { createHash } from "node:crypto";
import type { PendingRequest, Resolution } from "../../approvals/approvals.ts";
import type { Identity } from "../../core/types.ts";

export type AnswerState =
  | { readonly state: "pending"; readonly approval: PendingRequest }
  | { readonly state: "approved"; readonly approval: PendingRequest; readonly approver: string }
  | { readonly state: "refused"; readonly approval: PendingRequest; readonly message: string };

export interface RequestFingerprintParts {
  readonly identity: Pick<Identity, "issuer" | "subject">;
  /**
   * The caller as the policy in force sees it (Gate.approvalKey): another token with the same
   * subject and other claims (a GitLab unprotected job of the same ref) has another fingerprint,
   * so it never finds the requester's approval. A policy naming other claims since: another
   * fingerprint too, and the retry asks anew.
   */
  readonly identityKey: string;
  readonly method: string;
  readonly target: string;
  readonly bodySha256: string;
  readonly impersonate: readonly (readonly [string, string])[];
}

export function requestFingerprint(p: RequestFingerprintParts): string {
  return createHash("sha256").update(JSON.stringify([p.identity.issuer, p.identity.subject, p.identityKey, p.method, p.target, p.bodySha256, p.impersonate])).digest("hex");
}

/** Approvals older than this are forgotten (a retry then asks anew). */
const KEEP_MS = 24 * 60 * 60 * 1000;
const MAX_ENTRIES = 10_000;

export class ReviewAnswers {
  private readonly byFingerprint = new Map<string, AnswerState & { readonly at: number }>();

  constructor(private readonly now: () => number) {}

  /** How many approvals are remembered (the fast path stays off while there are any). */
  get size(): number {
    return this.byFingerprint.size;
  }

  get(fingerprint: string): AnswerState | undefined {
    const e = this.byFingerprint.get(fingerprint);
    if (e === undefined) return undefined;
    if (this.now() - e.at > KEEP_MS) {
      this.byFingerprint.delete(fingerprint);
      return undefined;
    }
    return e;
  }

  /** A new approval was asked for this request: remember it, and follow how it ends. */
  track(fingerprint: string, approval: PendingRequest, settled: Promise<Resolution>): void {
    if (this.byFingerprint.size >= MAX_ENTRIES) this.byFingerprint.delete(this.byFingerprint.keys().next().value!);
    this.byFingerprint.set(fingerprint, { state: "pending", approval, at: this.now() });
    void settled.then((r) => {
      const e = this.byFingerprint.get(fingerprint);
      if (e === undefined || e.approval.id !== approval.id) return;
      const at = this.now();
      if (r.outcome === "approved") this.byFingerprint.set(fingerprint, { state: "approved", approval, approver: r.approver, at });
      else {
        const message =
          r.outcome === "denied"
            ? `approval ${approval.id} was denied by ${r.approver}: ${r.reason}`
            : r.outcome === "expired"
              ? `approval ${approval.id} timed out: nobody approved it in time`
              : `approval ${approval.id} was cancelled: ${r.reason}`;
        this.byFingerprint.set(fingerprint, { state: "refused", approval, message, at });
      }
    });
  }

  /** The approval was used (approved, the retry passed) or its refusal told: the next retry asks anew. */
  forget(fingerprint: string): void {
    this.byFingerprint.delete(fingerprint);
  }
}

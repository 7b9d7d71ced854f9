// Requests held for just-in-time approval, and the time-boxed grants that approvals create.
// The state is plain data that the audit log can rebuild (`applyRecord`) after a restart;
// the gate writes the records, this module only keeps the state and the waiters.
import { formatDuration } from "../core/duration.ts";
import { GatewayError } from "../core/errors.ts";
import type { Clock, Identity, RequestFacts } from "../core/types.ts";
import { bindingCovers, bindingFromRecord, bindingOf, type GrantBinding } from "./binding.ts";

export interface AuditIdentity {
  readonly method?: string;
  readonly subject: string;
  readonly issuer: string;
  readonly groups: readonly string[];
  /** The issuer's display_name for the caller (github:acme/deploy@refs/heads/main), when it has one. */
  readonly name?: string;
}

export interface PendingRequest {
  readonly id: string;
  readonly requestedAt: number;
  readonly expiresAt: number;
  readonly identity: AuditIdentity;
  readonly target: string;
  readonly request: RequestFacts | Record<string, unknown>;
  readonly rule: string;
  /** What the rule said when it held the request (its message). */
  readonly message?: string;
  /** The caller's address (host:port), when the target's session said it. */
  readonly remote?: string;
  readonly approvers: readonly string[];
  readonly maxGrantMs: number;
  readonly session?: string;
  /** Whom an approval covers (binding.ts); absent only when a record's binding could not be read (then nobody). */
  readonly binding?: GrantBinding;
  /** How many different approvers must approve (the rule's approvals_required); 1 when absent. */
  readonly approvalsRequired?: number;
  /** The approvals given so far, oldest first (fewer than approvalsRequired while it is pending). */
  readonly approvals?: readonly ApprovalGiven[];
}

/** One approver's approval of a request that needs several (approvals_required). */
export interface ApprovalGiven {
  readonly approver: string;
  readonly issuer: string;
  readonly at: number;
  /** The grant this approver agreed to (approve --for), ms; absent: this request only. */
  readonly forMs?: number;
}

/** How many more approvals request `p` needs before it goes on (0: none). */
export function approvalsMissing(p: PendingRequest): number {
  return Math.max(0, (p.approvalsRequired ?? 1) - (p.approvals?.length ?? 0));
}

/**
 * The grant that the approvals of a request make, ms, or undefined for "this request only":
 * each approver agreed to at most what they gave, so the shortest wins, and one approver who
 * released this request only means no grant at all.
 */
export function agreedGrantMs(approvals: readonly ApprovalGiven[]): number | undefined {
  let ms: number | undefined;
  for (const a of approvals) {
    if (a.forMs === undefined) return undefined;
    ms = ms === undefined ? a.forMs : Math.min(ms, a.forMs);
  }
  return ms;
}

export interface Grant {
  readonly approvalId: string;
  readonly subject: string;
  readonly issuer: string;
  readonly rule: string;
  readonly target: string;
  readonly until: number;
  readonly approver: string;
  /** The requester as the policy saw them: the grant covers only callers it cannot tell apart (binding.ts). */
  readonly binding?: GrantBinding;
}

export type Resolution =
  | { readonly outcome: "approved"; readonly approver: string; readonly grantUntil?: number }
  | { readonly outcome: "denied"; readonly approver: string; readonly reason: string }
  | { readonly outcome: "expired" }
  | { readonly outcome: "cancelled"; readonly reason: string };

/** The subset of an audit record that rebuilding needs. */
export interface ApprovalRecord {
  readonly type: string;
  readonly time: string;
  readonly session?: string;
  readonly identity?: AuditIdentity;
  readonly target?: string;
  readonly action?: unknown;
  readonly decision?: { readonly rule?: string | null; readonly message?: string };
  readonly details?: Record<string, unknown>;
}

export interface ApprovalsDeps {
  readonly clock: Clock;
  /** Called when a pending request passes its deadline; the gate audits it. */
  readonly onExpire?: (p: PendingRequest) => void;
  readonly newId?: () => string;
}

/** A time in a record: an ISO string (what is written now) or ms since epoch (older logs). */
function timeOf(value: unknown): number | undefined {
  const t = typeof value === "number" ? value : typeof value === "string" ? Date.parse(value) : Number.NaN;
  return Number.isFinite(t) ? t : undefined;
}

function defaultId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return `apr_${Buffer.from(bytes).toString("hex")}`;
}

/** What changed, for watchers such as the console's live list: a request is new or has an approval more, or it is settled. */
export type ApprovalChange = { readonly kind: "pending"; readonly request: PendingRequest } | { readonly kind: "settled"; readonly id: string; readonly resolution: Resolution };

export class Approvals {
  private readonly pendingById = new Map<string, PendingRequest>();
  private readonly watchers = new Set<(c: ApprovalChange) => void>();
  private readonly waiters = new Map<string, (r: Resolution) => void>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private grants: Grant[] = [];

  constructor(private readonly deps: ApprovalsDeps) {}

  /** Registers a held request; `wait` settles when it is approved, denied, expires or is cancelled. */
  request(p: Omit<PendingRequest, "id" | "requestedAt" | "binding"> & { binding: GrantBinding; id?: string; requestedAt?: number }): {
    pending: PendingRequest;
    wait: Promise<Resolution>;
  } {
    const pending: PendingRequest = Object.freeze({
      ...p,
      id: p.id ?? (this.deps.newId ?? defaultId)(),
      requestedAt: p.requestedAt ?? this.deps.clock.now(),
    });
    this.pendingById.set(pending.id, pending);
    const wait = new Promise<Resolution>((resolve) => this.waiters.set(pending.id, resolve));
    this.arm(pending);
    this.emit({ kind: "pending", request: pending });
    return { pending, wait };
  }

  /** Calls `watcher` on every change from now on; returns the function that stops it. */
  watch(watcher: (c: ApprovalChange) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  private emit(c: ApprovalChange): void {
    for (const w of this.watchers) {
      try {
        w(c);
      } catch {
        // A watcher (a browser's event stream) must never stop an approval.
      }
    }
  }

  pending(): PendingRequest[] {
    return [...this.pendingById.values()].sort((a, b) => a.requestedAt - b.requestedAt);
  }

  get(id: string): PendingRequest | undefined {
    return this.pendingById.get(id);
  }

  /**
   * Checks that `approver` may decide request `id` (throws E_APPROVAL with the reason):
   * it exists, the approver is in one of the rule's approver groups, and is not the requester.
   */
  authorize(id: string, approver: Identity, forMs?: number, approving = true): PendingRequest {
    const p = this.pendingById.get(id);
    if (!p) throw new GatewayError("E_APPROVAL", `no pending request "${id}" (already decided, expired, or never existed)`);
    if (approver.subject === p.identity.subject && approver.issuer === p.identity.issuer) {
      throw new GatewayError("E_APPROVAL", `"${approver.subject}" requested ${id} and cannot approve or deny it`);
    }
    if (!approver.groups.some((g) => p.approvers.includes(g))) {
      throw new GatewayError("E_APPROVAL", `"${approver.subject}" is not in an approver group of rule "${p.rule}" (${p.approvers.join(", ")})`);
    }
    // approvals_required asks for different people: one approver counts once.
    if (approving && (p.approvals ?? []).some((a) => a.approver === approver.subject && a.issuer === approver.issuer)) {
      throw new GatewayError("E_APPROVAL", `"${approver.subject}" has already approved ${id}; rule "${p.rule}" needs ${approvalsMissing(p)} more approval(s) from another approver`);
    }
    if (forMs !== undefined && forMs > p.maxGrantMs) {
      throw new GatewayError("E_APPROVAL", `a grant of ${formatDuration(forMs)} exceeds the limit of rule "${p.rule}" (grant_max ${formatDuration(p.maxGrantMs)})`);
    }
    return p;
  }

  /**
   * Adds one approval (after the gate audited it) to a request that needs several, and returns
   * the request as it now stands; the caller resolves it once none is missing.
   */
  addApproval(id: string, given: ApprovalGiven): PendingRequest | undefined {
    const p = this.pendingById.get(id);
    if (!p) return undefined;
    const next: PendingRequest = Object.freeze({ ...p, approvals: Object.freeze([...(p.approvals ?? []), Object.freeze({ ...given })]) });
    this.pendingById.set(id, next);
    this.emit({ kind: "pending", request: next });
    return next;
  }

  /** Applies a decided outcome (after the gate audited it) and releases the waiter. */
  resolve(id: string, r: Resolution): void {
    const p = this.pendingById.get(id);
    if (!p) return;
    this.pendingById.delete(id);
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
    if (r.outcome === "approved" && r.grantUntil !== undefined) {
      this.grants.push({
        approvalId: id,
        subject: p.identity.subject,
        issuer: p.identity.issuer,
        rule: p.rule,
        target: p.target,
        until: r.grantUntil,
        approver: r.approver,
        ...(p.binding ? { binding: p.binding } : {}),
      });
    }
    const w = this.waiters.get(id);
    this.waiters.delete(id);
    w?.(r);
    this.emit({ kind: "settled", id, resolution: r });
  }

  /**
   * A live grant of this rule and target that covers this caller under a policy naming
   * `claimPaths` (the policy in force): one whose requester the policy cannot tell from the
   * caller (binding.ts; subject and issuer are compared first only because it is cheap).
   */
  grantFor(identity: Pick<Identity, "subject" | "issuer" | "groups" | "claims">, rule: string, target: string, now: number, claimPaths: readonly string[]): Grant | undefined {
    if (this.grants.length === 0) return undefined;
    this.grants = this.grants.filter((g) => g.until > now);
    return this.grants.find((g) => g.subject === identity.subject && g.issuer === identity.issuer && g.rule === rule && g.target === target && bindingCovers(g.binding, identity, claimPaths));
  }

  liveGrants(now: number): Grant[] {
    return this.grants.filter((g) => g.until > now);
  }

  /**
   * Rebuilds state from one audit record; call for every record in log order at start-up.
   * Logs written before audit keys were snake_case (expiresAt, maxGrantMs, grantUntil as ms
   * numbers) still load: a restart must not forget a grant or a held request.
   */
  applyRecord(rec: ApprovalRecord): void {
    const d = rec.details ?? {};
    const id = typeof d.approval === "string" ? d.approval : undefined;
    if (!id) return;
    if (rec.type === "approval.requested" && rec.identity && rec.target) {
      const expiresAt = timeOf(d.expires_at ?? d.expiresAt);
      if (expiresAt === undefined) return;
      // A record written before approvals were bound has none: the identity it names is what
      // such a grant was keyed on, and with no claim paths it covers that caller only while the
      // policy names none (binding.ts). A binding that is not one covers nobody.
      const binding = d.binding === undefined ? bindingOf(rec.identity, []) : bindingFromRecord(d.binding);
      const p: PendingRequest = Object.freeze({
        id,
        requestedAt: Date.parse(rec.time),
        expiresAt,
        identity: rec.identity,
        target: rec.target,
        request: (rec.action ?? {}) as Record<string, unknown>,
        rule: String(rec.decision?.rule ?? d.rule ?? ""),
        ...(typeof rec.decision?.message === "string" ? { message: rec.decision.message } : {}),
        ...(typeof d.remote === "string" ? { remote: d.remote } : {}),
        approvers: Array.isArray(d.approvers) ? d.approvers.map(String) : [],
        maxGrantMs: Number(d.max_grant_ms ?? d.maxGrantMs ?? 0),
        ...(typeof d.approvals_required === "number" && d.approvals_required > 1 ? { approvalsRequired: d.approvals_required } : {}),
        ...(rec.session ? { session: rec.session } : {}),
        ...(binding ? { binding } : {}),
      });
      this.pendingById.set(id, p);
    } else if (rec.type === "approval.reviewed") {
      const forMs = typeof d.for_ms === "number" ? d.for_ms : undefined;
      this.addApproval(id, { approver: String(d.approver ?? ""), issuer: String(rec.identity?.issuer ?? ""), at: Date.parse(rec.time), ...(forMs !== undefined ? { forMs } : {}) });
    } else if (rec.type === "approval.granted") {
      const grantUntil = timeOf(d.grant_until ?? d.grantUntil);
      this.resolve(id, { outcome: "approved", approver: String(d.approver ?? ""), ...(grantUntil ? { grantUntil } : {}) });
    } else if (rec.type === "approval.denied" || rec.type === "approval.expired" || rec.type === "approval.cancelled") {
      this.resolve(id, { outcome: "cancelled", reason: rec.type });
    }
  }

  /** After rebuilding: arm expiry timers for requests still pending. */
  armAll(): void {
    for (const p of this.pendingById.values()) if (!this.timers.has(p.id)) this.arm(p);
  }

  /** Stops timers (shutdown); waiters are released as cancelled. */
  close(): void {
    for (const id of [...this.pendingById.keys()]) {
      const w = this.waiters.get(id);
      if (w) this.resolve(id, { outcome: "cancelled", reason: "gateway stopping" });
    }
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private arm(p: PendingRequest): void {
    const delay = Math.max(0, p.expiresAt - this.deps.clock.now());
    const t = setTimeout(() => {
      if (!this.pendingById.has(p.id)) return;
      this.deps.onExpire?.(p);
      this.resolve(p.id, { outcome: "expired" });
    }, delay);
    (t as { unref?: () => void }).unref?.();
    this.timers.set(p.id, t);
  }
}

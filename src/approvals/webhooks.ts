// Approval webhooks: when a request is held, decided, or expires, POST it to the configured URLs,
// as generic JSON signed with HMAC-SHA256 over "<timestamp>.<body>" (header
// `Gatehouse-Signature: t=<unix seconds>,v1=<hex>`, as Stripe signs), or as a Slack
// incoming-webhook message with a link to the approval page. The gate only enqueues (a bounded
// queue, no await): deliveries run apart, a few at once, each attempt with a timeout, retried
// with exponential backoff; every delivery and every failed attempt is an audit record. A
// receiver that is down or hangs costs a queue slot, never the gateway's time.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { errorMessage } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import type { Clock, RequestFacts } from "../core/types.ts";
import { snakeCaseFacts } from "../audit/action-keys.ts";
import { actionSummary } from "../audit/tail-format.ts";
import type { PendingRequest, Resolution } from "./approvals.ts";

export type ApprovalNoticeType = "approval.requested" | "approval.decided" | "approval.expired" | "approval.cancelled";

/** What the gate tells the webhooks (gate.ts calls GateDeps.onApproval). */
export interface ApprovalNotice {
  readonly type: ApprovalNoticeType;
  readonly pending: PendingRequest;
  /** For decided, expired and cancelled. */
  readonly resolution?: Resolution;
  /** ms since epoch. */
  readonly time: number;
}

export interface WebhookConfig {
  /** How records name it (the URL is not recorded: a Slack URL is itself a secret). */
  readonly name: string;
  readonly url: string;
  readonly format: "json" | "slack";
  /** HMAC key for format json (a secret reference in the config). */
  readonly secret?: string;
  /** Events to send (default: all). */
  readonly events?: readonly ("requested" | "decided" | "expired" | "cancelled")[];
  /** Per attempt (default 5 s). */
  readonly timeoutMs?: number;
}

/** The record a delivery or failed attempt leaves (type webhook.delivered / webhook.failed). */
export interface WebhookRecord {
  readonly type: "webhook.delivered" | "webhook.failed";
  readonly target?: string;
  readonly details: Record<string, unknown>;
}

export interface WebhookDeps {
  readonly hooks: () => readonly WebhookConfig[];
  /** The console's address as approvers reach it (https://gatehouse.example:9443): links in messages. */
  readonly consoleUrl?: () => string | undefined;
  /** Appends a record nothing waits for (Gate.recordLater: never rejects). */
  readonly record: (r: WebhookRecord) => void;
  readonly clock: Clock;
  readonly log: Logger;
  readonly fetch?: typeof fetch;
  /** Deliveries waiting at most (default 1000); past it a new one is dropped, and that is recorded. */
  readonly maxQueue?: number;
  /** Deliveries in flight at once (default 4). */
  readonly concurrency?: number;
  /** Attempts per delivery (default 5). */
  readonly attempts?: number;
  /** First retry after this (default 1 s), doubling each time. */
  readonly backoffMs?: number;
}

interface Delivery {
  readonly id: string;
  readonly hook: WebhookConfig;
  readonly notice: ApprovalNotice;
  readonly body: string;
  attempt: number;
}

export const SIGNATURE_HEADER = "gatehouse-signature";

/** The `Gatehouse-Signature` value for `body` sent at `unixSeconds`. */
export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${v1}`;
}

/**
 * What a receiver does: checks the header against the raw body, within `toleranceSeconds` of
 * now (a replayed old delivery fails). Exported for receivers written in TypeScript and for tests.
 */
export function verifyWebhookSignature(secret: string, header: string, body: string, nowSeconds: number, toleranceSeconds = 300): boolean {
  const parts = new Map(header.split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1") ?? "";
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(v1)) return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

export class ApprovalWebhooks {
  readonly #queue: Delivery[] = [];
  #inFlight = 0;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #running = new Set<Promise<void>>();
  #closed = false;
  /** Aborts attempts in flight at close(). */
  readonly #stop = new AbortController();

  constructor(private readonly deps: WebhookDeps) {}

  /** Deliveries waiting or in flight (for tests and metrics). */
  get pending(): number {
    return this.#queue.length + this.#inFlight + this.#timers.size;
  }

  /** Called by the gate: enqueues and returns at once; never throws. */
  notify(notice: ApprovalNotice): void {
    if (this.#closed) return;
    try {
      const short = notice.type.slice("approval.".length) as "requested";
      for (const hook of this.deps.hooks()) {
        if (hook.events !== undefined && !hook.events.includes(short)) continue;
        const id = `whd_${randomBytes(8).toString("hex")}`;
        if (this.#queue.length >= (this.deps.maxQueue ?? 1000)) {
          this.#failed({ id, hook, notice, body: "", attempt: 0 }, "queue full: the receivers are behind; this delivery is dropped", true);
          continue;
        }
        this.#queue.push({ id, hook, notice, body: this.#body(hook, notice, id), attempt: 0 });
      }
      this.#pump();
    } catch (e) {
      this.deps.log.error("approval webhook not queued", { error: errorMessage(e) });
    }
  }

  /** Stops retries and attempts in flight (each is recorded as failed, final). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#queue.length = 0;
    await Promise.all(this.#running);
  }

  #pump(): void {
    while (!this.#closed && this.#inFlight < (this.deps.concurrency ?? 4) && this.#queue.length > 0) {
      const d = this.#queue.shift()!;
      this.#inFlight++;
      const run = this.#attempt(d).finally(() => {
        this.#inFlight--;
        this.#running.delete(run);
        this.#pump();
      });
      this.#running.add(run);
    }
  }

  async #attempt(d: Delivery): Promise<void> {
    d.attempt++;
    const timeoutMs = d.hook.timeoutMs ?? 5000;
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "gatehouse-webhooks", "gatehouse-event": d.notice.type, "gatehouse-delivery": d.id };
    if (d.hook.format === "json" && d.hook.secret !== undefined) headers[SIGNATURE_HEADER] = signWebhook(d.hook.secret, d.body, Math.floor(this.deps.clock.now() / 1000));
    let problem: string;
    try {
      const res = await (this.deps.fetch ?? fetch)(d.hook.url, { method: "POST", headers, body: d.body, signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), this.#stop.signal]), redirect: "manual" });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        this.deps.record({ type: "webhook.delivered", target: d.notice.pending.target, details: { ...this.#about(d), status: res.status } });
        return;
      }
      problem = `HTTP ${res.status}`;
    } catch (e) {
      problem = (e as Error)?.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : this.#closed ? "the gateway stopped" : errorMessage(e);
    }
    const last = d.attempt >= (this.deps.attempts ?? 5) || this.#closed;
    this.#failed(d, problem, last);
    if (last) return;
    const delay = (this.deps.backoffMs ?? 1000) * 2 ** (d.attempt - 1);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed) return;
      this.#queue.push(d);
      this.#pump();
    }, delay);
    timer.unref?.();
    this.#timers.add(timer);
  }

  #failed(d: Delivery, problem: string, final: boolean): void {
    this.deps.record({ type: "webhook.failed", target: d.notice.pending.target, details: { ...this.#about(d), error: problem, final } });
    if (final) this.deps.log.warn("approval webhook not delivered", { webhook: d.hook.name, approval: d.notice.pending.id, error: problem });
  }

  #about(d: Delivery): Record<string, unknown> {
    return { webhook: d.hook.name, delivery: d.id, event: d.notice.type, approval: d.notice.pending.id, attempt: d.attempt };
  }

  #link(p: PendingRequest): string | undefined {
    const base = this.deps.consoleUrl?.();
    return base === undefined ? undefined : `${base.replace(/\/+$/, "")}/approvals?id=${encodeURIComponent(p.id)}`;
  }

  #body(hook: WebhookConfig, n: ApprovalNotice, id: string): string {
    return hook.format === "slack" ? JSON.stringify(slackMessage(n, this.#link(n.pending))) : JSON.stringify(jsonPayload(n, id, this.#link(n.pending)));
  }
}

export function jsonPayload(n: ApprovalNotice, id: string, link: string | undefined): Record<string, unknown> {
  const p = n.pending;
  const r = n.resolution;
  return {
    id,
    type: n.type,
    time: new Date(n.time).toISOString(),
    approval: {
      id: p.id,
      requester: { subject: p.identity.subject, issuer: p.identity.issuer, groups: p.identity.groups, ...((p.identity as { name?: string }).name !== undefined ? { name: (p.identity as { name?: string }).name } : {}) },
      target: p.target,
      // In the audit log's keys (api_group, to_path …), whether held now or rebuilt from the log.
      request: snakeCaseFacts(p.request),
      rule: p.rule,
      approvers: p.approvers,
      requested_at: new Date(p.requestedAt).toISOString(),
      expires_at: new Date(p.expiresAt).toISOString(),
      ...(p.session !== undefined ? { session: p.session } : {}),
      ...(link !== undefined ? { url: link } : {}),
    },
    ...(r !== undefined ? { outcome: r.outcome } : {}),
    ...(r !== undefined && "approver" in r ? { approver: r.approver } : {}),
    ...(r !== undefined && "reason" in r ? { reason: r.reason } : {}),
    ...(r?.outcome === "approved" && r.grantUntil !== undefined ? { grant_until: new Date(r.grantUntil).toISOString() } : {}),
  };
}

/** Slack's mrkdwn treats &, < and > as markup: a requester's text must not make links or mentions. */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export function slackMessage(n: ApprovalNotice, link: string | undefined): { text: string } {
  const p = n.pending;
  const who = slackEscape((p.identity as { name?: string }).name ?? p.identity.subject);
  const what = slackEscape(actionSummary(p.request as RequestFacts).replace(/`/g, "'"));
  const where = `*${slackEscape(p.target)}* (rule ${slackEscape(p.rule)})`;
  const open = link !== undefined ? ` <${link}|Open the approval>` : "";
  const r = n.resolution;
  let text: string;
  switch (n.type) {
    case "approval.requested":
      text = `:hourglass: ${who} asks to run \`${what}\` on ${where}; ${slackEscape(p.approvers.join(", "))} may approve until ${new Date(p.expiresAt).toISOString()}.${open}`;
      break;
    case "approval.decided":
      text =
        r?.outcome === "approved"
          ? `:white_check_mark: ${slackEscape(r.approver)} approved \`${what}\` by ${who} on ${where}${r.grantUntil !== undefined ? `, with a grant until ${new Date(r.grantUntil).toISOString()}` : ""}.${open}`
          : `:no_entry: ${slackEscape(r !== undefined && "approver" in r ? r.approver : "an approver")} denied \`${what}\` by ${who} on ${where}: ${slackEscape(r !== undefined && "reason" in r ? r.reason : "")}.${open}`;
      break;
    case "approval.expired":
      text = `:alarm_clock: Nobody approved \`${what}\` by ${who} on ${where} in time; it was refused.${open}`;
      break;
    case "approval.cancelled":
      text = `:heavy_multiplication_x: The request \`${what}\` by ${who} on ${where} was withdrawn (${slackEscape(r !== undefined && "reason" in r ? r.reason : "cancelled")}).${open}`;
      break;
  }
  return { text };
}

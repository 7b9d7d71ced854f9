// The approvals page: requests held for review, live (server-sent events carry each card as HTML
// the server escaped), with who asked, from where, for what exactly, under which rule, how long
// it has waited and until when it may; approve once, approve for a while, or deny with a reason.
// Deciding goes through the gate, as `gatehouse approve` does: same checks, same audit records.
import { Hono, type Context } from "hono";
import { streamSSE } from "hono/streaming";
import { approvalsMissing, type Approvals, type PendingRequest } from "../approvals/approvals.ts";
import type { RuleConfig } from "../config/schema.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { GatewayError, errorMessage, isGatewayError } from "../core/errors.ts";
import type { Clock, Identity } from "../core/types.ts";
import type { Gate } from "../gate/gate.ts";
import type { ConsoleEnv, ConsoleViewer } from "./console-env.ts";
import { h, type Html } from "./html.ts";
import { layout } from "./layout.ts";
import { requestText, ruleScope } from "./request-view.ts";

export interface ApprovalPagesDeps {
  readonly approvals: Approvals;
  readonly gate: Pick<Gate, "decideApproval">;
  readonly clock: Clock;
  /** The rules in force, for what a grant covers. */
  readonly rules: () => readonly RuleConfig[];
  /** The caller's address for a session id (the live sessions registry), when known. */
  readonly remoteOf?: (session: string) => string | undefined;
  /** How often the event stream sends a keep-alive comment. Default 15s. */
  readonly heartbeatMs?: number;
  /** Calls `end` when the login with this CSRF token logs out; returns how to stop listening. */
  readonly onLogout?: (csrf: string, end: () => void) => () => void;
}

const GRANT_CHOICES = [15 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000, 4 * 3_600_000, 8 * 3_600_000, 24 * 3_600_000];

/** A full Identity for the gate from the console's viewer (the cookie keeps no claims). */
export function viewerIdentity(v: ConsoleViewer): Identity {
  return v.identity;
}

function isRequester(p: PendingRequest, v: ConsoleViewer): boolean {
  return p.identity.subject === v.identity.subject && p.identity.issuer === v.identity.issuer;
}

function mayApprove(p: PendingRequest, v: ConsoleViewer): boolean {
  return !isRequester(p, v) && v.identity.groups.some((g) => p.approvers.includes(g));
}

/** Who sees a held request: its approvers and its requester, and every viewer (read only). */
export function visibleTo(p: PendingRequest, v: ConsoleViewer): boolean {
  return v.roles.has("view") || isRequester(p, v) || v.identity.groups.some((g) => p.approvers.includes(g));
}

export function cardId(p: { id: string }): string {
  return `req-${p.id}`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** One held request as a card, for this viewer. */
export function requestCard(p: PendingRequest, v: ConsoleViewer, deps: Pick<ApprovalPagesDeps, "rules" | "remoteOf">): Html {
  const r = requestText(p.request);
  const remote = p.remote ?? (p.session !== undefined ? deps.remoteOf?.(p.session) : undefined);
  const required = p.approvalsRequired ?? 1;
  const given = p.approvals ?? [];
  const mine = isRequester(p, v);
  const already = given.some((a) => a.approver === v.identity.subject && a.issuer === v.identity.issuer);
  const can = mayApprove(p, v);
  const rule = deps.rules().find((x) => x.name === p.rule);
  const choices = GRANT_CHOICES.filter((ms) => ms <= p.maxGrantMs);
  const who = p.identity.name ?? p.identity.subject;
  const csrf = h`<input type="hidden" name="_csrf" value="${v.csrf}">`;
  const decide = can
    ? h`<div class="actions">
  ${
    already
      ? h`<p class="muted">You approved this request; it waits for ${approvalsMissing(p)} more approver(s).</p>`
      : h`<form method="post" action="/approvals/${p.id}/approve">${csrf}<button type="submit" class="approve">Approve once</button></form>
  ${
    choices.length > 0
      ? h`<form method="post" action="/approvals/${p.id}/approve">${csrf}<label>Grant for<select name="for">${choices.map((ms) => h`<option value="${formatDuration(ms)}">${formatDuration(ms)}</option>`)}</select></label><button type="submit">Approve for a while</button></form>`
      : ""
  }`
  }
  <form method="post" action="/approvals/${p.id}/deny">${csrf}<label>Reason<input name="reason" required maxlength="500" placeholder="why not"></label><button type="submit" class="deny">Deny</button></form>
</div>
${
  choices.length > 0 && !already
    ? h`<p class="grant"><strong>Approve once</strong> runs this request only; the next one is held again. <strong>Approve for a while</strong> lets ${who} run, on target ${p.target}, anything rule ${p.rule} covers (${ruleScope(rule)}) until the grant ends${required > 1 ? ", and only if every approver agreed to a grant (the shortest one applies)" : ""}. The rule's masks still apply.</p>`
    : ""
}`
    : h`<p class="muted">${mine ? "Your own request: another approver must decide it." : `Approvers: ${p.approvers.join(", ")}.`}</p>`;
  return h`<article class="card" id="${cardId(p)}" aria-labelledby="${cardId(p)}-t">
<header><h2 id="${cardId(p)}-t">${who} <span class="muted">wants</span> ${r.kind} <span class="muted">on</span> ${p.target}</h2><span class="badge review">held · ${p.id}</span></header>
<pre class="request" aria-label="The exact request">${r.text}</pre>
<dl class="facts">
<dt>Requester</dt><dd>${p.identity.subject}${p.identity.name !== undefined ? h` <span class="muted">(${p.identity.name})</span>` : ""} <span class="muted">· ${p.identity.issuer}${p.identity.groups.length > 0 ? ` · groups ${p.identity.groups.join(", ")}` : ""}</span></dd>
<dt>From</dt><dd>${remote ?? h`<span class="muted">address not known${p.session ? ` (session ${p.session})` : ""}</span>`}</dd>
${r.facts.length > 0 ? h`<dt>Seen</dt><dd>${r.facts.join(" · ")}</dd>` : ""}
<dt>Rule</dt><dd><code>${p.rule}</code>${p.message ? h` — ${p.message}` : ""}</dd>
<dt>Waiting</dt><dd><span data-since="${p.requestedAt}">—</span> <span class="muted">(since ${iso(p.requestedAt)})</span></dd>
<dt>Expires</dt><dd><span data-until="${p.expiresAt}">${iso(p.expiresAt)}</span> <span class="muted">at ${iso(p.expiresAt)}; then the caller is refused</span></dd>
${required > 1 ? h`<dt>Approvals</dt><dd>${given.length} of ${required}${given.length > 0 ? h` <span class="muted">(${given.map((a) => `${a.approver} at ${iso(a.at)}`).join(", ")})</span>` : ""}</dd>` : ""}
</dl>
${decide}
</article>`;
}

function listOf(deps: ApprovalPagesDeps, v: ConsoleViewer): PendingRequest[] {
  return deps.approvals.pending().filter((p) => visibleTo(p, v));
}

const DONE = {
  approved: "Approved: the caller's request goes on now.",
  recorded: "Your approval is recorded; the request waits for another approver.",
  denied: "Denied: the caller is refused with your reason.",
} as const;

export function createApprovalPages(deps: ApprovalPagesDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();

  app.get("/", (c) => {
    const v = c.get("viewer");
    const list = listOf(deps, v);
    const done = c.req.query("done");
    const id = c.req.query("id") ?? "";
    // A link from a webhook (?id=apr_…): that request first and marked, or a word that it is gone.
    const linked = done === undefined && id !== "" ? list.find((p) => p.id === id) : undefined;
    if (linked) list.sort((a, b) => (a === linked ? -1 : b === linked ? 1 : 0));
    const notice =
      done !== undefined && Object.hasOwn(DONE, done)
        ? h`<p class="notice" role="status">${id ? `${id}: ` : ""}${DONE[done as keyof typeof DONE]}</p>`
        : id !== "" && linked === undefined
          ? h`<p class="notice" role="status">${id} is no longer waiting: it was decided, expired or cancelled (the audit log says which).</p>`
          : "";
    const body = h`${notice}
<p id="flash" role="status" aria-live="polite"></p>
<p id="live" class="live" aria-live="polite">Requests held for approval appear here as they arrive.</p>
<div id="pending" data-events="/approvals/events"${linked ? h` data-linked="${cardId(linked)}"` : ""}>${list.map((p) => requestCard(p, v, deps))}</div>
<p id="none" class="empty"${list.length > 0 ? " hidden" : ""}>No request is waiting for approval.</p>`;
    return c.html(layout(v, "Approvals", body, "/approvals"));
  });

  app.get("/events", (c) => {
    const v = c.get("viewer");
    return streamSSE(c, async (stream) => {
      let closed = false;
      const send = (event: string, data: unknown) => (closed ? Promise.resolve() : stream.writeSSE({ event, data: JSON.stringify(data) }).catch(() => {}));
      const shown = new Set<string>();
      const stop = deps.approvals.watch((change) => {
        if (change.kind === "pending") {
          if (!visibleTo(change.request, v)) return;
          shown.add(change.request.id);
          void send("upsert", { id: cardId(change.request), html: String(requestCard(change.request, v, deps)) });
        } else if (shown.delete(change.id)) {
          void send("remove", { id: cardId({ id: change.id }) });
        }
      });
      const list = listOf(deps, v);
      for (const p of list) shown.add(p.id);
      await send("snapshot", { ids: list.map(cardId), cards: list.map((p) => ({ id: cardId(p), html: String(requestCard(p, v, deps)) })) });
      const beat = setInterval(() => void stream.write(": keep-alive\n\n").catch(() => {}), deps.heartbeatMs ?? 15_000);
      let ends: ReturnType<typeof setTimeout> | undefined;
      let unlisten: (() => void) | undefined;
      await new Promise<void>((resolve) => {
        // The stream ends with the login: an expired session sees nothing more.
        const expires = v.identity.expiresAt;
        if (expires !== undefined) ends = setTimeout(resolve, Math.max(0, expires - deps.clock.now()));
        // ... and with a logout (in another tab, say): nothing more reaches a logged-out login.
        unlisten = deps.onLogout?.(v.csrf, () => {
          closed = true;
          resolve();
        });
        if (c.req.raw.signal.aborted) return resolve();
        c.req.raw.signal.addEventListener("abort", () => resolve(), { once: true });
        stream.onAbort(() => resolve());
      });
      clearInterval(beat);
      if (ends !== undefined) clearTimeout(ends);
      unlisten?.();
      stop();
    });
  });

  // The page's script posts the forms itself and asks for JSON, so the page stays where it is;
  // without the script the browser gets the page again (303) or an error page.
  const wantsJson = (c: { req: { header(name: string): string | undefined } }) => (c.req.header("accept") ?? "").startsWith("application/json");
  const decided = (c: Context<ConsoleEnv>, id: string, done: keyof typeof DONE) =>
    wantsJson(c) ? c.json({ id, done, message: `${id}: ${DONE[done]}` }) : c.redirect(`/approvals?done=${done}&id=${encodeURIComponent(id)}`, 303);
  const refuse = (c: Context<ConsoleEnv>, v: ConsoleViewer, status: 400 | 403 | 404 | 503, message: string) =>
    wantsJson(c) ? c.json({ error: status === 503 ? "unavailable" : status === 400 ? "bad_request" : status === 404 ? "not_found" : "forbidden", message }, status) : new Response(layout(v, "Approvals", h`<p class="notice error" role="alert">${message}</p><p><a href="/approvals">Back to the approvals</a></p>`, "/approvals"), {
      status,
      headers: { "content-type": "text/html; charset=utf-8" },
    });

  app.post("/:id/approve", async (c) => {
    const v = c.get("viewer");
    const id = c.req.param("id");
    const form = await c.req.parseBody();
    const forText = typeof form.for === "string" ? form.for.trim() : "";
    let forMs: number | undefined;
    try {
      forMs = forText === "" ? undefined : parseDuration(forText);
      if (forMs === 0) throw new GatewayError("E_USAGE", `a grant must last longer than 0, not "${forText}"`);
    } catch (e) {
      return refuse(c, v, 400, `invalid grant length: ${errorMessage(e)}`);
    }
    try {
      const p = await deps.gate.decideApproval(id, viewerIdentity(v), { approve: true, ...(forMs ? { forMs } : {}) }, "console");
      return decided(c, id, approvalsMissing(p) > 0 ? "recorded" : "approved");
    } catch (e) {
      return decisionFailed(c, v, e);
    }
  });

  app.post("/:id/deny", async (c) => {
    const v = c.get("viewer");
    const id = c.req.param("id");
    const form = await c.req.parseBody();
    const reason = typeof form.reason === "string" && form.reason.trim() !== "" ? form.reason.trim().slice(0, 500) : "no reason given";
    try {
      await deps.gate.decideApproval(id, viewerIdentity(v), { approve: false, reason }, "console");
      return decided(c, id, "denied");
    } catch (e) {
      return decisionFailed(c, v, e);
    }
  });

  function decisionFailed(c: Context<ConsoleEnv>, v: ConsoleViewer, e: unknown): Response {
    if (isGatewayError(e, "E_APPROVAL")) return refuse(c, v, e.message.startsWith("no pending") ? 404 : 403, e.message);
    return refuse(c, v, 503, `the decision could not be recorded, nothing changed: ${errorMessage(e)}`);
  }

  return app;
}

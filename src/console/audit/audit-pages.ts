// The console's audit search: the log newest first, filtered by time range, identity, target,
// effect, rule, record type and free text, a page at a time (backward-scan.ts: it stops at the
// page's end, so a 1 GB log costs what one page costs); the latest signed checkpoint; and
// `gatehouse verify` run on demand in the background, its last result shown. A search for
// statement or request records also shows completions folded into decision records (folded-search.ts).
import { Hono, type Context } from "hono";
import type { Checkpoint } from "../../audit/checkpoint.ts";
import type { ReadableRecord } from "../../audit/completions.ts";
import { errorMessage } from "../../core/errors.ts";
import type { AuditEvent } from "../../gate/gate.ts";
import type { ConsoleEnv, RenderPage } from "../console-env.ts";
import { csrfOk, effectBadge, forbidden, hasRole, html, identityLabel, queryString, requestText, shortTime, type Html } from "../sessions/page-helpers.ts";
import { auditScan, parseAuditQuery } from "./audit-query.ts";
import { formatCursor, logSize, parseCursor, scanBackward, type ScanCursor } from "./backward-scan.ts";
import { expandFolded, foldedScan, searchesFolded } from "./folded-search.ts";
import type { VerifyRunner } from "./verify-runner.ts";

export interface AuditPagesDeps {
  readonly render: RenderPage;
  readonly auditPath: () => string;
  /** The newest durable signed checkpoint (also served as JSON at /audit/checkpoint). */
  readonly checkpoint: () => Checkpoint | null;
  readonly verify: VerifyRunner;
  /** Records a console action; rejects when the log cannot take it. */
  readonly record?: (event: AuditEvent) => Promise<void>;
  /** Where the app is mounted (default /audit), and the session pages (default /sessions). */
  readonly base?: string;
  readonly sessionsBase?: string;
}

const PAGE_SIZES = [25, 50, 100, 200] as const;

export function createAuditPages(deps: AuditPagesDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const base = deps.base ?? "/audit";
  const sessions = deps.sessionsBase ?? "/sessions";
  const refuse = (c: Context<ConsoleEnv>, what: string) => forbidden(c, (b) => deps.render(c.get("viewer"), "Audit", b), what);

  app.get("/", async (c) => {
    if (!hasRole(c, "view")) return refuse(c, "the audit log needs the view role");
    const p = c.req.query();
    const { query, problems } = parseAuditQuery(p);
    const limit = PAGE_SIZES.find((n) => String(n) === p["limit"]) ?? 50;
    const keep = { since: p["since"], until: p["until"], identity: p["identity"], target: p["target"], effect: p["effect"], rule: p["rule"], type: p["type"], session: p["session"], text: p["text"], limit: p["limit"] };
    let rows: { record: ReadableRecord; at: ScanCursor }[] = [];
    let next: string | null = null;
    let partial = false;
    let error: string | null = null;
    let size = 0;
    const started = performance.now();
    try {
      const folded = searchesFolded(query);
      const scan = folded ? foldedScan(query, auditScan(query)) : auditScan(query);
      const r = await scanBackward(deps.auditPath(), { ...scan, limit, before: parseCursor(p["before"]) });
      rows = folded ? await expandFolded(deps.auditPath(), query, r.records) : r.records;
      next = r.next === null ? null : formatCursor(r.next);
      partial = r.partial;
      size = await logSize(deps.auditPath());
    } catch (e) {
      error = errorMessage(e);
    }
    const ms = performance.now() - started;
    const v = c.get("viewer");
    const body = html`
      ${integrityPanel(deps, base, v.csrf)}
      <form class="filters actions" method="get" action="${base}" role="search">
        <label>From <input name="since" type="datetime-local" step="1" value="${p["since"] ?? ""}"></label>
        <label>To <input name="until" type="datetime-local" step="1" value="${p["until"] ?? ""}"></label>
        <label>Identity <input name="identity" value="${p["identity"] ?? ""}" placeholder="subject or name"></label>
        <label>Target <input name="target" value="${p["target"] ?? ""}"></label>
        <label>Effect <select name="effect">${["", "allow", "deny", "review"].map((e) => html`<option value="${e}"${e === (p["effect"] ?? "") ? html` selected` : ""}>${e === "" ? "any" : e}</option>`)}</select></label>
        <label>Rule <input name="rule" value="${p["rule"] ?? ""}"></label>
        <label>Record <input name="type" value="${p["type"] ?? ""}" placeholder="decision, statement …" list="record-types"></label>
        <label>Session <input name="session" value="${p["session"] ?? ""}"></label>
        <label class="wide">Text <input name="text" type="search" value="${p["text"] ?? ""}" placeholder="anywhere in the record (case-sensitive)"></label>
        <label>Per page <select name="limit">${PAGE_SIZES.map((n) => html`<option${n === limit ? html` selected` : ""}>${n}</option>`)}</select></label>
        <button type="submit">Search</button> <span class="hint">times in UTC</span>
        <datalist id="record-types">${["decision", "statement", "request", "session.start", "session.end", "channel.end", "approval.requested", "approval.granted", "approval.denied", "approval.expired", "auth.rejected", "policy.loaded", "webhook.delivered", "webhook.failed"].map((t) => html`<option value="${t}">`)}</datalist>
      </form>
      ${problems.map((m) => html`<p class="notice error" role="alert">${m}</p>`)}
      ${error !== null ? html`<p class="notice error" role="alert">The audit log cannot be read: ${error}</p>` : ""}
      <p class="stats" role="status">${rows.length} record${rows.length === 1 ? "" : "s"}${partial ? " (the page stopped after reading its share of the log; go on for more)" : ""} · ${(size / 1048576).toFixed(1)} MiB of log · ${ms.toFixed(0)} ms</p>
      <div class="scroll"><table class="audit">
        <thead><tr><th>Seq</th><th>Time</th><th>Record</th><th>Who</th><th>Target</th><th>Decision</th><th>Request</th><th>Session</th></tr></thead>
        <tbody>${rows.map((r) => auditRow(r.record, formatCursor(r.at), sessions))}</tbody>
      </table></div>
      <p class="more">${p["before"] ? html`<a href="${base}${queryString(keep)}">← Newest</a> ` : ""}${next !== null ? html`<a rel="next" href="${base}${queryString({ ...keep, before: next })}">Older →</a>` : html`<span class="end">Start of the log${query.since ? " (or of the time range)" : ""}.</span>`}</p>`;
    return c.html(deps.render(v, "Audit", String(body)), problems.length > 0 ? 400 : 200);
  });

  app.get("/verify", (c) => {
    if (!hasRole(c, "view")) return refuse(c, "the audit log needs the view role");
    return c.html(deps.render(c.get("viewer"), "Audit verify", String(html`<p><a href="${base}">← Audit</a></p>${integrityPanel(deps, base, c.get("viewer").csrf)}`)));
  });

  app.post("/verify", async (c) => {
    if (!(await csrfOk(c))) return c.text("forbidden: missing or wrong CSRF token", 403);
    if (!hasRole(c, "view")) return refuse(c, "the audit log needs the view role");
    const me = c.get("viewer").identity;
    if (deps.record !== undefined) {
      try {
        await deps.record({ type: "console.audit_verify", identity: { method: me.method, subject: me.subject, issuer: me.issuer, groups: me.groups } });
      } catch (e) {
        return c.text(`not started: the audit log cannot take the record: ${errorMessage(e)}`, 503);
      }
    }
    void deps.verify.start();
    return c.redirect(`${base}/verify`, 303);
  });

  return app;
}

function integrityPanel(deps: AuditPagesDeps, base: string, csrf: string): Html {
  const cp = deps.checkpoint();
  const s = deps.verify.state;
  const r = s.report;
  const result =
    s.running
      ? html`<span class="running">running since ${shortTime(new Date(s.startedAt!).toISOString())}…</span> <a href="${base}/verify">refresh</a>`
      : s.error !== undefined
        ? html`<span class="badge deny">could not run</span> ${s.error}`
        : r === undefined
          ? html`not run since the gateway started`
          : r.ok
            ? html`<span class="badge allow">intact</span> ${r.records} records, ${r.checkpoints} checkpoints, signatures ${r.signatures}${r.not_checkpointed > 0 ? `, ${r.not_checkpointed} records after the last checkpoint` : ""} · checked ${shortTime(new Date(s.finishedAt!).toISOString())}`
            : html`<span class="badge deny">FAILED</span> ${r.file}:${r.line}${r.seq !== undefined ? ` (seq ${r.seq})` : ""}: ${r.problem} · checked ${shortTime(new Date(s.finishedAt!).toISOString())}`;
  return html`<section class="integrity card" aria-label="Integrity">
    <p><strong>Latest signed checkpoint:</strong> ${cp === null ? "none yet" : html`seq ${cp.seq} at ${shortTime(cp.time)}, key ${cp.key_id} · <a href="/audit/checkpoint">JSON</a>`}</p>
    <p><strong>Verify:</strong> <span id="verify-result">${result}</span>
      <form method="post" action="${base}/verify" class="inline"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit"${s.running ? html` disabled` : ""}>Run verify now</button></form></p>
  </section>`;
}

/** `at`: where the record is, so that its session's page reads the log from there. */
function auditRow(r: ReadableRecord, at: string, sessions: string): Html {
  return html`<tr>
    <td>${r.seq}</td>
    <td><time datetime="${r.time}">${shortTime(r.time)}</time></td>
    <td>${r.type}</td>
    <td>${identityLabel(r.identity as { subject: string; name?: string } | undefined)}</td>
    <td>${r.target ?? ""}</td>
    <td>${effectBadge(r.decision?.effect)} ${r.decision?.rule ?? ""}</td>
    <td class="request"><code>${r.action === undefined && "foldedIn" in r ? `(decision #${String((r.details as Record<string, unknown>)["decision"])})` : requestText(r)}</code>${r.decision?.message !== undefined && r.decision.effect !== "allow" ? html`<div class="why">${r.decision.message}</div>` : ""}</td>
    <td>${r.session !== undefined ? html`<a href="${sessions}/${encodeURIComponent(r.session)}?at=${at}">${r.session}</a>` : ""}</td>
  </tr>`;
}

// The console's sessions: live ones from the gateway's registry (every target registers there;
// gate/live-sessions.ts), past ones from the audit log read newest first; a session's page with
// its records in order (statements with decisions, rows and durations; requests; channels) and
// its terminal recordings in asciinema-player. A viewer with end_sessions may end a live
// session: the console's record names them first, then the session ends and its session.end
// says ended_by_operator and by whom. Only what the log and recordings hold is shown, so masked
// values stay masked. A completion folded into a later decision record (audit/completions.ts)
// shows as a statement/request row of its own, as a standalone record would.
import { Hono, type Context } from "hono";
import { resolve, sep } from "node:path";
import { carriesCompletionOf, CompletionExpander, UNBOUNDED, withFoldedCompletions, type ReadableRecord } from "../../audit/completions.ts";
import type { AuditRecord } from "../../audit/record.ts";
import { errorMessage } from "../../core/errors.ts";
import type { Clock } from "../../core/types.ts";
import type { AuditEvent } from "../../gate/gate.ts";
import type { LiveSessionInfo, LiveSessionRegistry } from "../../gate/live-sessions.ts";
import { parseAuditQuery } from "../audit/audit-query.ts";
import { formatCursor, memberNeedle, parseCursor, readRecordAt, scanBackward, type ScannedRecord } from "../audit/backward-scan.ts";
import type { ConsoleEnv, RenderPage } from "../console-env.ts";
import { isSessionEnd, pastSessionScan, sessionRow, type PastSession } from "./past-sessions.ts";
import { playerAssets } from "./player-assets.ts";
import { csrfOk, effectBadge, forbidden, hasRole, html, identityLabel, queryString, requestText, shortTime, type Html } from "./page-helpers.ts";

export interface SessionPagesDeps {
  readonly render: RenderPage;
  /** The audit log's path (its rotated files beside it). */
  readonly auditPath: () => string;
  readonly live: LiveSessionRegistry;
  /** Appends a record the action waits for; rejects when the log cannot take it (then nothing is done). */
  readonly record: (event: AuditEvent) => Promise<void>;
  /** Where recordings are written (<state_dir>/recordings): only files inside are served. */
  readonly recordingsDir: () => string;
  readonly clock: Clock;
  /** Where the app is mounted, for links (default /sessions). */
  readonly base?: string;
}

const PAGE = 50;
/** Records shown on one session's page at most (a long psql session: the newest). */
const SESSION_RECORDS = 5000;

export function createSessionPages(deps: SessionPagesDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  const base = deps.base ?? "/sessions";
  const page = (c: Context<ConsoleEnv>, title: string, body: Html | string, status: 200 | 400 | 404 | 503 = 200) => c.html(deps.render(c.get("viewer"), title, String(body)), status);
  const refuse = (c: Context<ConsoleEnv>, what: string) => forbidden(c, (b) => deps.render(c.get("viewer"), "Sessions", b), what);

  app.get("/assets/asciinema-player.js", async (c) => {
    const { js } = await playerAssets();
    return c.body(js.body, 200, { "content-type": js.type, "cache-control": "private, max-age=86400" });
  });
  app.get("/assets/asciinema-player.css", async (c) => {
    const { css } = await playerAssets();
    return c.body(css.body, 200, { "content-type": css.type, "cache-control": "private, max-age=86400" });
  });

  // A file, not inline: the console's CSP allows scripts from itself only.
  app.get("/assets/player-init.js", (c) => c.body(PLAYER_SCRIPT, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "private, max-age=300" }));

  app.get("/", async (c) => {
    if (!hasRole(c, "view")) return refuse(c, "viewing sessions needs the view role");
    const params = c.req.query();
    const { query, problems } = parseAuditQuery({ identity: params["identity"], target: params["target"], since: params["since"], until: params["until"] });
    const live = deps.live.list().filter((s) => liveMatches(s, query));
    const before = parseCursor(params["before"]);
    let past: { rows: PastSession[]; next: string | null; partial: boolean; error?: string } = { rows: [], next: null, partial: false };
    try {
      const r = await scanBackward(deps.auditPath(), { ...pastSessionScan(query), limit: PAGE, before });
      past = { rows: r.records.map(sessionRow), next: r.next === null ? null : formatCursor(r.next), partial: r.partial };
    } catch (e) {
      past.error = errorMessage(e);
    }
    const canEnd = hasRole(c, "end_sessions");
    const csrf = c.get("viewer").csrf;
    const keep = { identity: params["identity"], target: params["target"], since: params["since"], until: params["until"] };
    const body = html`
      <form class="filters actions" method="get" action="${base}" role="search">
        <label>Identity <input name="identity" value="${params["identity"] ?? ""}" placeholder="subject or name"></label>
        <label>Target <input name="target" value="${params["target"] ?? ""}"></label>
        <label>From <input name="since" type="datetime-local" step="1" value="${params["since"] ?? ""}"></label>
        <label>To <input name="until" type="datetime-local" step="1" value="${params["until"] ?? ""}"></label>
        <button type="submit">Filter</button> <span class="hint">times in UTC</span>
      </form>
      ${problems.map((p) => html`<p class="notice error" role="alert">${p}</p>`)}
      <h2>Live <span class="count">${live.length}</span></h2>
      ${live.length === 0
        ? html`<p class="empty">No live session${query.identity || query.target ? " matches" : ""}.</p>`
        : html`<div class="scroll"><table class="sessions live">
            <thead><tr><th>Session</th><th>Target</th><th>Who</th><th>From</th><th>What</th><th>Started</th><th></th></tr></thead>
            <tbody>${live.map(
              (s) => html`<tr data-session="${s.id}">
                <td><a href="${base}/${encodeURIComponent(s.id)}">${s.id}</a></td>
                <td>${s.target} <span class="kind">${s.kind}</span></td>
                <td>${identityLabel(s.identity)}</td>
                <td>${s.remote ?? ""}</td>
                <td>${s.what ?? ""}</td>
                <td><time datetime="${new Date(s.startedAt).toISOString()}">${shortTime(new Date(s.startedAt).toISOString())}</time></td>
                <td>${canEnd
                  ? html`<form method="post" action="${base}/${encodeURIComponent(s.id)}/end" class="end"><input type="hidden" name="_csrf" value="${csrf}"><button type="submit" class="deny" aria-label="End session ${s.id}">End</button></form>`
                  : ""}</td>
              </tr>`,
            )}</tbody></table></div>`}
      <h2>Past</h2>
      ${past.error !== undefined ? html`<p class="notice error" role="alert">The audit log cannot be read: ${past.error}</p>` : ""}
      ${past.rows.length === 0 && past.error === undefined ? html`<p class="empty">${past.partial ? "None in the part of the log read so far." : "No past session matches."}</p>` : ""}
      ${past.rows.length > 0
        ? html`<div class="scroll"><table class="sessions past">
            <thead><tr><th>Session</th><th>Target</th><th>Who</th><th>Started</th><th>Ended</th><th>Duration</th><th>Ended how</th><th>Recording</th></tr></thead>
            <tbody>${past.rows.map(
              (s) => html`<tr data-session="${s.id}">
                <td><a href="${base}/${encodeURIComponent(s.id)}${queryString({ at: s.at })}">${s.id}</a></td>
                <td>${s.target}</td>
                <td>${identityLabel(s.identity)}</td>
                <td>${s.started !== undefined ? shortTime(s.started) : ""}</td>
                <td>${shortTime(s.ended)}</td>
                <td>${s.durationMs !== undefined ? formatDuration(s.durationMs) : ""}</td>
                <td>${s.endedHow}</td>
                <td>${s.recorded ? "▶" : ""}</td>
              </tr>`,
            )}</tbody></table></div>`
        : ""}
      ${past.next !== null ? html`<p class="more"><a rel="next" href="${base}${queryString({ ...keep, before: past.next })}">${past.partial ? "Search older records" : "Older sessions"} →</a></p>` : ""}`;
    return page(c, "Sessions", body, problems.length > 0 ? 400 : 200);
  });

  /** The session's records, oldest first: from the hint `at` (the list's link), else from the end of the log. */
  async function sessionRecords(id: string, at: string | undefined): Promise<{ records: ScannedRecord[]; partial: boolean }> {
    const hint = parseCursor(at);
    const live = deps.live.get(id);
    // Where the session began bounds the scan (a Kubernetes exec has no session.start to stop at):
    // a live one from the registry, an ended one from its last record's time and duration.
    let since = live !== undefined ? new Date(live.startedAt - 60_000).toISOString() : undefined;
    // How far past the hint its session's later records may lie: none after its end; after a record
    // in the middle (a link from the audit search), the rest of the session.
    let after = 64 * 1024 * 1024;
    if (hint !== null) {
      const last = await readRecordAt(deps.auditPath(), hint);
      if (last !== null && last.session === id && isSessionEnd(last)) {
        after = 1024 * 1024;
        const d = (last.details ?? {}) as Record<string, unknown>;
        const ms = typeof d["duration_ms"] === "number" ? d["duration_ms"] : typeof d["session_ms"] === "number" ? d["session_ms"] : undefined;
        if (since === undefined && ms !== undefined) since = new Date(Date.parse(last.time) - ms - 60_000).toISOString();
      }
    }
    const r = await scanBackward(deps.auditPath(), {
      needles: [[memberNeedle("session", id)]],
      // And a decision record of another session that carries a completion of this one (an HTTP
      // request's rides on the decision record of its connection's next request): the member
      // needle finds it too, as the entry names the session.
      match: (rec) => rec.session === id || carriesCompletionOf(rec, id),
      before: hint !== null ? { rotation: hint.rotation, offset: hint.offset + after } : null,
      stop: (rec) => rec.type === "session.start",
      limit: SESSION_RECORDS,
      ...(since !== undefined ? { since } : {}),
    });
    return { records: r.records.reverse(), partial: r.partial || r.records.length >= SESSION_RECORDS };
  }

  app.get("/:id", async (c) => {
    if (!hasRole(c, "view")) return refuse(c, "viewing sessions needs the view role");
    const id = c.req.param("id");
    const at = c.req.query("at");
    let found: { records: ScannedRecord[]; partial: boolean };
    try {
      found = await sessionRecords(id, at);
    } catch (e) {
      return page(c, `Session ${id}`, html`<p class="notice error" role="alert">The audit log cannot be read: ${errorMessage(e)}</p>`, 503);
    }
    const live = deps.live.get(id);
    if (found.records.length === 0 && live === undefined) return page(c, `Session ${id}`, html`<p class="notice error" role="alert">No session ${id} in the audit log.</p>`, 404);
    const canEnd = live !== undefined && hasRole(c, "end_sessions");
    // The session's own records; the others only carry completions of it.
    const own = found.records.filter((r) => r.record.session === id);
    const first = own[0]?.record;
    const end = own.find((r) => r.record.type === "session.end")?.record;
    const casts = own.filter((r) => recordingOf(r.record) !== null);
    const outputs = own.filter((r) => outputOf(r.record, "stdout") !== null || outputOf(r.record, "stderr") !== null);
    const ended = c.req.query("ended") === "1";
    // The page holds the session's records anyway, so every decision they name is remembered.
    const events = [...withFoldedCompletions(found.records.map((r) => r.record), new CompletionExpander(UNBOUNDED))].filter((r) => r.session === id);
    const body = html`
      <p><a href="${base}">← Sessions</a></p>
      <dl class="facts">
        <dt>Session</dt><dd><code>${id}</code></dd>
        <dt>Target</dt><dd>${first?.target ?? live?.target ?? ""}</dd>
        <dt>Who</dt><dd>${identityLabel(first?.identity ?? live?.identity)}</dd>
        <dt>State</dt><dd>${live !== undefined ? html`<strong class="live">live</strong> since ${shortTime(new Date(live.startedAt).toISOString())}${live.what ? html` · ${live.what}` : ""}` : end !== undefined ? html`ended ${shortTime(end.time)}${endedHow(end) ? html` · ${endedHow(end)}` : ""}` : "ended"}</dd>
      </dl>
      ${ended && live !== undefined ? html`<p class="notice" role="status">Ending… reload to see its last records.</p>` : ""}
      ${ended && live === undefined ? html`<p class="notice" role="status">Session ended.</p>` : ""}
      ${canEnd
        ? html`<form method="post" action="${base}/${encodeURIComponent(id)}/end" class="end"><input type="hidden" name="_csrf" value="${c.get("viewer").csrf}"><button type="submit" class="deny">End this session</button></form>`
        : ""}
      ${casts.length > 0
        ? html`<h2>Recording${casts.length > 1 ? "s" : ""}</h2>
          <link rel="stylesheet" href="${base}/assets/asciinema-player.css">
          ${casts.map((r) => html`<figure class="cast"><div class="player" data-cast="${base}/${encodeURIComponent(id)}/cast/${r.record.seq}${queryString({ at })}"></div><figcaption>${requestText(r.record)} · <a href="${base}/${encodeURIComponent(id)}/cast/${r.record.seq}${queryString({ at })}" download>asciicast</a></figcaption></figure>`)}
          <script src="${base}/assets/asciinema-player.js"></script>
          <script src="${base}/assets/player-init.js"></script>`
        : ""}
      ${outputs.length > 0
        ? html`<h2>Command output</h2><ul class="outputs">${outputs.map(
            (o) => html`<li><code>${requestText(o.record)}</code>: ${(["stdout", "stderr"] as const).map((stream) => {
              const out = outputOf(o.record, stream);
              return out === null ? "" : html` <a href="${base}/${encodeURIComponent(id)}/output/${o.record.seq}/${stream}${queryString({ at })}">${stream}</a> (${out.bytes} bytes${out.truncated ? ", cut at the capture limit" : ""})`;
            })}</li>`,
          )}</ul>`
        : ""}
      <h2>Events <span class="count">${events.length}</span></h2>
      ${found.partial ? html`<p class="notice">Only the newest ${found.records.length} records of this session are shown.</p>` : ""}
      <div class="scroll"><table class="events">
        <thead><tr><th>Time</th><th>Record</th><th>Decision</th><th>Request</th><th>Rows</th><th>Duration</th><th>Outcome</th></tr></thead>
        <tbody>${events.map(eventRow)}</tbody>
      </table></div>`;
    return page(c, `Session ${id}`, body);
  });

  /** A file record `seq` of session `id` links (picked by `pick`), only from the recordings folder, whatever a record says. */
  async function linkedFile(c: Context<ConsoleEnv>, pick: (r: AuditRecord) => string | null, type: string): Promise<Response> {
    if (!hasRole(c, "view")) return c.text("viewing sessions needs the view role", 403);
    const id = c.req.param("id") ?? "";
    const seq = Number(c.req.param("seq"));
    const { records } = await sessionRecords(id, c.req.query("at"));
    const rec = records.find((r) => r.record.seq === seq)?.record;
    const linked = rec === undefined ? null : pick(rec);
    if (linked === null) return c.text(`no such file in record ${seq} of session ${id}`, 404);
    const file = resolve(linked);
    if (!file.startsWith(resolve(deps.recordingsDir()) + sep)) return c.text("the file is outside the recordings folder", 404);
    const f = Bun.file(file);
    if (!(await f.exists())) return c.text(`${file} is missing`, 404);
    return new Response(f.stream(), { headers: { "content-type": type, "cache-control": "private, no-store", "x-content-type-options": "nosniff" } });
  }

  app.get("/:id/cast/:seq", (c) => linkedFile(c, recordingOf, "application/x-asciicast"));
  // An exec's captured output (no terminal): as the gateway captured it (masked as its rule said), plain text.
  app.get("/:id/output/:seq/:stream{stdout|stderr}", (c) => linkedFile(c, (r) => outputOf(r, c.req.param("stream") as "stdout" | "stderr")?.file ?? null, "text/plain; charset=utf-8"));

  app.post("/:id/end", async (c) => {
    if (!(await csrfOk(c))) return c.text("forbidden: missing or wrong CSRF token", 403);
    if (!hasRole(c, "end_sessions")) return refuse(c, "ending sessions needs the end_sessions role");
    const id = c.req.param("id");
    const s = deps.live.get(id);
    if (s === undefined) return page(c, `Session ${id}`, html`<p class="notice error" role="alert">Session ${id} is not live (it ended already).</p><p><a href="${base}/${encodeURIComponent(id)}">Its records</a></p>`, 404);
    const me = c.get("viewer").identity;
    try {
      // The console's action is recorded before it is done, as every action is.
      await deps.record({
        type: "console.session_end",
        session: id,
        identity: { method: me.method, subject: me.subject, issuer: me.issuer, groups: me.groups },
        target: s.target,
        details: { ended_session: id, owner: s.identity.subject, kind: s.kind },
      });
    } catch (e) {
      return page(c, `Session ${id}`, html`<p class="notice error" role="alert">Not ended: the audit log cannot take the record: ${errorMessage(e)}</p>`, 503);
    }
    deps.live.end(id, { subject: me.subject, issuer: me.issuer, ...(me.name !== undefined ? { name: me.name } : {}) });
    return c.redirect(`${base}/${encodeURIComponent(id)}?ended=1`, 303);
  });

  return app;
}

function liveMatches(s: LiveSessionInfo, q: { identity?: string; target?: string; since?: string; until?: string }): boolean {
  if (q.identity !== undefined && s.identity.subject !== q.identity && s.identity.name !== q.identity) return false;
  if (q.target !== undefined && s.target !== q.target) return false;
  const started = new Date(s.startedAt).toISOString();
  if (q.until !== undefined && started > q.until) return false;
  return true; // a live session is still going at any `since`
}

/** The file of a terminal recording a record links (details.recording.file), or null. */
export function recordingOf(r: AuditRecord): string | null {
  const rec = (r.details as Record<string, unknown> | undefined)?.["recording"] as Record<string, unknown> | undefined;
  return rec !== undefined && typeof rec["file"] === "string" ? rec["file"] : null;
}

/** An exec's captured stream (details.output.stdout|stderr) when it has a file. */
export function outputOf(r: AuditRecord, stream: "stdout" | "stderr"): { file: string; bytes: number; truncated: boolean } | null {
  const out = ((r.details as Record<string, unknown> | undefined)?.["output"] as Record<string, unknown> | undefined)?.[stream] as Record<string, unknown> | undefined;
  return out !== undefined && typeof out["file"] === "string" ? { file: out["file"], bytes: typeof out["bytes"] === "number" ? out["bytes"] : 0, truncated: out["truncated"] === true } : null;
}

function endedHow(r: ReadableRecord): string {
  const d = (r.details ?? {}) as Record<string, unknown>;
  const by = d["ended_by"] as { subject?: string; name?: string } | undefined;
  if (d["ended"] === "ended_by_operator") return `ended by ${by?.name ?? by?.subject ?? "an operator"}`;
  if (typeof d["ended"] === "string") return `ended: ${d["ended"].replace(/_/g, " ")}`;
  if (typeof d["error"] === "string") return d["error"];
  return "";
}

function eventRow(r: ReadableRecord): Html {
  const d = (r.details ?? {}) as Record<string, unknown>;
  const num = (k: string) => (typeof d[k] === "number" ? String(d[k]) : "");
  const outcome = [typeof d["outcome"] === "string" ? d["outcome"] : "", typeof d["status"] === "number" ? `HTTP ${d["status"]}` : "", typeof d["exit_status"] === "number" ? `exit ${d["exit_status"]}` : "", typeof d["masked_cells"] === "number" && d["masked_cells"] > 0 ? `${d["masked_cells"]} cells masked` : "", typeof d["error"] === "string" ? d["error"] : "", r.type === "session.end" ? endedHow(r) : "", r.type.startsWith("console.") ? `by ${identityLabel(r.identity as { subject: string } | undefined)}` : "", typeof d["reason"] === "string" ? d["reason"] : ""]
    .filter((s) => s !== "")
    .filter((s, i, all) => all.indexOf(s) === i)
    .join(" · ");
  const duration = typeof d["duration_ms"] === "number" ? formatDuration(d["duration_ms"]) : "";
  return html`<tr class="rec-${r.type.replace(/[^a-z0-9]/gi, "-")}">
    <td><time datetime="${r.time}">${shortTime(r.time).slice(11)}</time></td>
    <td>${r.type}</td>
    <td>${effectBadge(r.decision?.effect)} ${r.decision?.rule ?? ""}</td>
    <td class="request"><code>${r.action === undefined && "foldedIn" in r ? `(decision #${String(d["decision"])})` : requestText(r)}</code>${r.decision?.message !== undefined && r.decision.effect !== "allow" ? html`<div class="why">${r.decision.message}</div>` : ""}</td>
    <td>${num("rows")}</td>
    <td>${duration}</td>
    <td>${outcome}</td>
  </tr>`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Starts a player in every `.player` element (the bundle defines window.AsciinemaPlayer). */
const PLAYER_SCRIPT = `for (const el of document.querySelectorAll(".player[data-cast]")) {
  AsciinemaPlayer.create(el.dataset.cast, el, { fit: "width", idleTimeLimit: 2, preload: true });
}`;

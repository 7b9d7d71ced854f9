// What the session and audit pages share: the CSRF check of a state-changing request, roles,
// and how a record's parts are shown (times, identities, the request it made). Every value
// goes through hono's `html` template, which escapes it.
import type { Context } from "hono";
import { html as honoHtml, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { timingSafeEqual } from "node:crypto";
import type { ReadableRecord } from "../../audit/completions.ts";
import { actionSummary, printable } from "../../audit/tail-format.ts";
import type { ConsoleEnv, ConsoleRole } from "../console-env.ts";

export type Html = HtmlEscapedString;

/** hono's `html` (every value escaped, nested `html` and `raw` kept), synchronous: no value here is a promise. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  return honoHtml(strings, ...values) as Html;
}

/**
 * The viewer's CSRF token from the form field `_csrf` or the header `x-csrf-token`, compared in
 * constant time. The login middleware checks it too; a page that changes state checks again, so
 * that a sub-app mounted without that middleware still refuses a forged request.
 */
export async function csrfOk(c: Context<ConsoleEnv>): Promise<boolean> {
  const expected = c.get("viewer").csrf;
  let given = c.req.header("x-csrf-token") ?? "";
  if (given === "") {
    const type = c.req.header("content-type") ?? "";
    if (type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data")) {
      const form = await c.req.parseBody();
      given = typeof form["_csrf"] === "string" ? form["_csrf"] : "";
    }
  }
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return expected !== "" && a.length === b.length && timingSafeEqual(a, b);
}

export function hasRole(c: Context<ConsoleEnv>, role: ConsoleRole): boolean {
  return c.get("viewer").roles.has(role);
}

/** A page for a viewer without the role it needs: 403, said in the layout. */
export function forbidden(c: Context<ConsoleEnv>, render: (body: string) => string, what: string): Response {
  return c.html(render(String(html`<p class="notice error" role="alert">Not allowed: ${what}.</p>`)), 403);
}

/** "2026-12-07 01:30:05.123" (UTC, as the records hold it). */
export function shortTime(iso: string): string {
  return iso.replace("T", " ").replace("Z", "");
}

export function identityLabel(i: { subject: string; name?: string } | undefined): string {
  if (i === undefined) return "";
  return i.name !== undefined && i.name !== i.subject ? `${i.name} (${i.subject})` : i.subject;
}

/** What the record asked for, whole for SQL (a statement is what an auditor reads), compact otherwise. */
export function requestText(r: ReadableRecord): string {
  const a = (r.action ?? {}) as Record<string, unknown>;
  if (a["kind"] === "postgres" && typeof a["sql"] === "string") return printable(a["sql"]);
  if (Object.keys(a).length === 0) return "";
  return actionSummary(a);
}

export function effectBadge(effect: string | undefined): Html {
  if (effect === undefined) return html``;
  return html`<span class="badge ${effect}">${effect}</span>`;
}

/** A query string from the non-empty values, for links that keep the filters. */
export function queryString(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s === "" ? "" : `?${s}`;
}

export { raw };

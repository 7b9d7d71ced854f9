// The policy page: the running policy's hash and rules (with file:line), the last reload and
// its errors (file:line:column, as `gatehouse check` prints them), and a form that runs
// `gatehouse explain` (the same code: src/cli/explain.ts) on a request as a given identity.
import { Hono } from "hono";
import type { Config, RuleConfig } from "../config/schema.ts";
import { errorMessage } from "../core/errors.ts";
import type { Policy } from "../policy/compile.ts";
import type { ConsoleEnv } from "./console-env.ts";
import { h, type Html } from "./html.ts";
import { layout } from "./layout.ts";

/** What the gateway knows of its policy loads (gateway.ts keeps it). */
export interface PolicyStatus {
  /** When the policy in force was loaded, ms since epoch. */
  readonly loadedAt: number;
  /** The last reload attempt, when there was one since start. */
  readonly lastReload?: { readonly at: number; readonly ok: boolean; readonly error?: string };
}

export interface PolicyPageDeps {
  readonly config: () => Config;
  readonly policy: () => Policy;
  readonly status: () => PolicyStatus;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function ruleConditions(r: RuleConfig): string {
  const parts: string[] = [];
  if (r.groups) parts.push(`groups ${r.groups.join(", ")}`);
  if (r.identities) parts.push(`identities ${r.identities.join(", ")}`);
  if (r.claims) parts.push(`claims ${Object.entries(r.claims).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("|") : String(v)}`).join(", ")}`);
  if (r.targets) parts.push(`targets ${r.targets.join(", ")}`);
  for (const kind of ["postgres", "http", "ssh", "kubernetes", "when"] as const) {
    const section = r[kind] as Record<string, unknown> | undefined;
    if (section !== undefined) parts.push(`${kind}: ${sectionText(section)}`);
  }
  if (r.effect === "review") parts.push(`approvers ${(r.approvers ?? []).join(", ")}${r.approvals_required && r.approvals_required > 1 ? ` (${r.approvals_required} needed)` : ""}`);
  return parts.join("; ") || "everything";
}

/** A rule's section as the YAML reads: "classes read; tables sales.*". */
function sectionText(section: Record<string, unknown>): string {
  const entries = Object.entries(section).map(([k, v]) => `${k} ${Array.isArray(v) ? v.map((x) => (x === "" ? '""' : String(x))).join(", ") : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`);
  return entries.length > 0 ? entries.join("; ") : "any";
}

interface ExplainJson {
  identity: { subject: string; groups: string[] };
  target: string;
  kind: string;
  at: string;
  requests: {
    text: string;
    seen?: string;
    rules?: { name: string; effect: string; origin: string | null; matches: boolean; near: boolean; failed: { why: string }[] }[];
    decision: { effect: string; rule: string | null; message: string; detail?: string };
    answer?: string;
    notes: string[];
  }[];
}

function explanationHtml(out: ExplainJson): Html {
  return h`<section aria-labelledby="explained"><h2 id="explained">Explained: ${out.identity.subject} on ${out.target} (${out.kind}) at ${out.at}</h2>
${out.requests.map(
  (r) => h`<div class="card">
<pre class="request">${r.text}</pre>
${r.seen ? h`<p><strong>Seen:</strong> ${r.seen}</p>` : ""}
<p><strong>Decision:</strong> <span class="badge ${r.decision.effect}">${r.decision.effect}</span> ${r.decision.rule ? h`by <code>${r.decision.rule}</code>: ` : ""}${r.decision.message}</p>
${r.decision.detail ? h`<p class="muted">${r.decision.detail}</p>` : ""}
${r.answer ? h`<p><strong>The client gets:</strong></p><pre class="request">${r.answer}</pre>` : ""}
${
  r.rules && r.rules.some((x) => x.matches || x.near)
    ? h`<div class="scroll"><table><thead><tr><th scope="col">Rule</th><th scope="col">Effect</th><th scope="col">Where</th><th scope="col">Result</th></tr></thead><tbody>${r.rules
        .filter((x) => x.matches || x.near)
        .map((x) => h`<tr><td><code>${x.name}</code></td><td>${x.effect}</td><td>${x.origin ?? ""}</td><td>${x.matches ? "✓ matches" : h`✗ ${x.failed.map((f) => f.why).join("; ")}`}</td></tr>`)}</tbody></table></div>`
    : h`<p class="muted">No rule matches or comes close.</p>`
}
${r.notes.map((n) => h`<p class="muted">Note: ${n}</p>`)}
</div>`,
)}</section>`;
}

export function createPolicyPage(deps: PolicyPageDeps): Hono<ConsoleEnv> {
  const app = new Hono<ConsoleEnv>();
  app.get("/", async (c) => {
    const v = c.get("viewer");
    const config = deps.config();
    const policy = deps.policy();
    const status = deps.status();
    const q = c.req.query();
    const asked = q.request !== undefined && q.request.trim() !== "";
    let explained: Html | string = "";
    if (asked) {
      try {
        const { explainAll, jsonOf } = await import("../cli/explain.ts");
        const flags: Record<string, unknown> = { as: q.as?.trim() || v.identity.subject, groups: [q.groups ?? ""], ...(q.target ? { target: q.target } : {}) };
        if (q.issuer?.trim()) flags.issuer = q.issuer.trim();
        if (q.kind === "ssh") Object.assign(flags, { "ssh-user": q.ssh_user ?? "", exec: q.request });
        if (q.kind === "kubernetes") flags.kube = q.request;
        const out = await explainAll(q.kind === "ssh" || q.kind === "kubernetes" ? "" : q.request!, flags, config, policy);
        explained = explanationHtml(jsonOf(out) as ExplainJson);
      } catch (e) {
        explained = h`<p class="notice error" role="alert">Cannot explain this request: ${errorMessage(e)}</p>`;
      }
    }
    const reload = status.lastReload;
    const targets = config.targets.map((t) => h`<option value="${t.name}"${q.target === t.name ? " selected" : ""}>${t.name} (${t.kind})</option>`);
    const kinds = [
      ["", "SQL or METHOD /path"],
      ["ssh", "SSH command"],
      ["kubernetes", "kubectl request: METHOD /api/..."],
    ].map(([k, label]) => h`<option value="${k}"${(q.kind ?? "") === k ? " selected" : ""}>${label}</option>`);
    const body = h`<dl class="facts">
<dt>Policy hash</dt><dd><code>${policy.hash}</code></dd>
<dt>Loaded</dt><dd>${iso(status.loadedAt)} <span class="muted">from ${config.files.join(", ")}</span></dd>
<dt>Last reload</dt><dd>${
      reload === undefined
        ? h`<span class="muted">none since start</span>`
        : reload.ok
          ? h`${iso(reload.at)}: <span class="badge allow">applied</span>`
          : h`${iso(reload.at)}: <span class="badge deny">rejected</span>, the policy above keeps serving`
    }</dd>
</dl>
${reload !== undefined && !reload.ok && reload.error ? h`<section aria-labelledby="errs"><h2 id="errs">Errors of the rejected reload</h2><pre class="request">${reload.error}</pre></section>` : ""}
<section aria-labelledby="explain"><h2 id="explain">Explain a request</h2>
<form method="get" action="/policy" class="actions">
<label>As subject<input name="as" value="${q.as ?? v.identity.subject}" required></label>
<label>Groups (comma separated)<input name="groups" value="${q.groups ?? v.identity.groups.join(",")}"></label>
<label>Target<select name="target"><option value="">(the only one of its kind)</option>${targets}</select></label>
<label>Kind<select name="kind">${kinds}</select></label>
<label>SSH user<input name="ssh_user" value="${q.ssh_user ?? ""}" size="10"></label>
<label style="flex:1 1 20rem">Request<textarea name="request" rows="2" required placeholder="SELECT * FROM sales.orders  or  GET /api/orders">${q.request ?? ""}</textarea></label>
<button type="submit">Explain</button>
</form>
${explained}
</section>
<section aria-labelledby="rules"><h2 id="rules">Rules (${config.rules.length}), in order</h2>
<div class="scroll"><table><thead><tr><th scope="col">Rule</th><th scope="col">Effect</th><th scope="col">Conditions</th><th scope="col">Where</th></tr></thead><tbody>
${config.rules.map((r) => h`<tr><td><code>${r.name}</code>${r.description ? h`<br><span class="muted">${r.description}</span>` : ""}</td><td><span class="badge ${r.effect}">${r.effect}</span></td><td>${ruleConditions(r)}${r.message ? h`<br><span class="muted">message: ${r.message}</span>` : ""}</td><td class="muted">${config.origins.get(`rule:${r.name}`) ?? ""}</td></tr>`)}
</tbody></table></div></section>`;
    return c.html(layout(v, "Policy", body, "/policy"));
  });
  return app;
}

// The admin API (hono): health, readiness, Prometheus metrics, and the approvals API that
// `gatehouse requests|approve|deny` talk to, authenticated with the approver's own token.
import { Hono } from "hono";
import { agreedGrantMs, approvalsMissing, type Approvals, type PendingRequest } from "../approvals/approvals.ts";
import type { Checkpoint } from "../audit/checkpoint.ts";
import { parseDuration } from "../core/duration.ts";
import { GatewayError, errorMessage, isGatewayError } from "../core/errors.ts";
import type { Clock, Identity, RequestFacts } from "../core/types.ts";
import { auditAction, type Gate } from "../gate/gate.ts";
import type { ConsoleEnv } from "../console/console-env.ts";
import type { Metrics } from "./metrics.ts";

export interface AdminDeps {
  readonly gate: Gate;
  readonly approvals: Approvals;
  readonly authenticate: (credential: string) => Promise<Identity>;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** null when ready, else what is missing. */
  readonly notReady: () => string | null;
  /** null when healthy, else why not (an audit write failed): /healthz answers 503. */
  readonly unhealthy?: () => string | null;
  /**
   * What is wrong but still serving (a secret reference that cannot be read): /healthz answers
   * 200 with status "degraded", since a restart would not help and would not start.
   */
  readonly degraded?: () => readonly string[];
  readonly refreshGauges?: () => void;
  /** The newest durable signed checkpoint of the audit log, for GET /audit/checkpoint. */
  readonly checkpoint?: () => Checkpoint | null;
  /** The web console (src/console/console-app.ts), served at / when configured. */
  readonly console?: Hono<ConsoleEnv>;
}

type Env = { Variables: { identity: Identity } };

function view(p: PendingRequest, viewer: Identity) {
  return {
    id: p.id,
    requester: p.identity.subject,
    ...(p.identity.name !== undefined ? { requester_name: p.identity.name } : {}),
    groups: p.identity.groups,
    target: p.target,
    ...(p.remote !== undefined ? { remote: p.remote } : {}),
    // As the audit record has it (snake_case), whether held now or rebuilt from the log.
    request: auditAction(p.request as RequestFacts),
    rule: p.rule,
    approvers: p.approvers,
    requested_at: new Date(p.requestedAt).toISOString(),
    expires_at: new Date(p.expiresAt).toISOString(),
    max_grant_ms: p.maxGrantMs,
    approvals_required: p.approvalsRequired ?? 1,
    approvals: (p.approvals ?? []).map((a) => ({ approver: a.approver, at: new Date(a.at).toISOString(), ...(a.forMs !== undefined ? { for_ms: a.forMs } : {}) })),
    can_decide: !(viewer.subject === p.identity.subject && viewer.issuer === p.identity.issuer) && viewer.groups.some((g) => p.approvers.includes(g)),
    already_approved: (p.approvals ?? []).some((a) => a.approver === viewer.subject && a.issuer === viewer.issuer),
  };
}

export function createAdminApp(deps: AdminDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/healthz", (c) => {
    const why = deps.unhealthy?.() ?? null;
    if (why !== null) return c.json({ status: "unhealthy", reason: why }, 503);
    const degraded = deps.degraded?.() ?? [];
    return degraded.length === 0 ? c.json({ status: "ok" }) : c.json({ status: "degraded", reasons: degraded });
  });
  app.get("/readyz", (c) => {
    const why = deps.notReady();
    return why === null ? c.json({ status: "ready" }) : c.json({ status: "not ready", reason: why }, 503);
  });
  app.get("/metrics", (c) => {
    deps.refreshGauges?.();
    return c.text(deps.metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });

  // No token needed: a signed head reveals nothing, and a cron job copying it off the host should need no secret.
  app.get("/audit/checkpoint", (c) => {
    const cp = deps.checkpoint?.() ?? null;
    return cp === null ? c.json({ error: "not_found", message: "no audit checkpoint written yet" }, 404) : c.json(cp);
  });

  app.use("/v1/*", async (c, next) => {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    if (!m) return c.json({ error: "unauthenticated", message: "send Authorization: Bearer <token>" }, 401);
    try {
      c.set("identity", await deps.authenticate(m[1]!));
    } catch (e) {
      return c.json({ error: "unauthenticated", message: errorMessage(e) }, 401);
    }
    await next();
    return undefined;
  });

  app.get("/v1/requests", (c) => {
    const me = c.get("identity");
    const visible = deps.approvals
      .pending()
      .filter((p) => (p.identity.subject === me.subject && p.identity.issuer === me.issuer) || me.groups.some((g) => p.approvers.includes(g)));
    return c.json({ requests: visible.map((p) => view(p, me)) });
  });

  const decide = (approve: boolean) => async (c: import("hono").Context<Env>) => {
    const me = c.get("identity");
    const id = c.req.param("id") ?? "";
    let body: Record<string, unknown> = {};
    try {
      const text = await c.req.text();
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      return c.json({ error: "bad_request", message: "body must be JSON" }, 400);
    }
    try {
      let p: PendingRequest;
      let forMs: number | undefined;
      if (approve) {
        // Without `for`, only this request is released; with it, the requester also gets the
        // whole rule on this target until grant_until.
        const forText = body.for;
        if (forText !== undefined && typeof forText !== "string") throw new GatewayError("E_USAGE", `"for" must be a duration such as "30m", not ${JSON.stringify(forText)}`);
        forMs = forText !== undefined && forText !== "" ? parseDuration(forText) : undefined;
        if (forMs === 0) throw new GatewayError("E_USAGE", `invalid duration: "${String(forText)}" (a grant must last longer than 0)`);
        p = await deps.gate.decideApproval(id, me, { approve: true, ...(forMs ? { forMs } : {}) });
      } else {
        const reason = typeof body.reason === "string" && body.reason.trim() ? body.reason.trim() : "no reason given";
        p = await deps.gate.decideApproval(id, me, { approve: false, reason });
      }
      const facts = { id: p.id, requester: p.identity.subject, rule: p.rule, target: p.target, request: auditAction(p.request as RequestFacts) };
      // approvals_required: this approval is recorded, and the request waits for the next approver.
      if (approve && approvalsMissing(p) > 0) {
        return c.json({ ...facts, outcome: "approval_recorded", approvals: (p.approvals ?? []).map((a) => a.approver), approvals_required: p.approvalsRequired ?? 1 });
      }
      const grantMs = (p.approvalsRequired ?? 1) > 1 ? agreedGrantMs(p.approvals ?? []) : forMs;
      const until = grantMs ? deps.approvals.liveGrants(deps.clock.now()).find((g) => g.approvalId === p.id)?.until : undefined;
      const grant = until !== undefined ? { grant_until: new Date(until).toISOString(), grant_ms: grantMs } : {};
      return c.json({ ...facts, outcome: approve ? "approved" : "denied", ...(approve && (p.approvalsRequired ?? 1) > 1 ? { approvals: (p.approvals ?? []).map((a) => a.approver) } : {}), ...grant });
    } catch (e) {
      if (isGatewayError(e, "E_APPROVAL")) return c.json({ error: "forbidden", message: e.message }, e.message.startsWith("no pending") ? 404 : 403);
      if (isGatewayError(e, "E_USAGE")) return c.json({ error: "bad_request", message: e.message }, 400);
      const msg = e instanceof GatewayError ? e.message : errorMessage(e);
      return c.json({ error: "unavailable", message: msg }, 503);
    }
  };
  app.post("/v1/requests/:id/approve", decide(true));
  app.post("/v1/requests/:id/deny", decide(false));
  app.get("/v1/grants", (c) => {
    const me = c.get("identity");
    const grants = deps.approvals.liveGrants(deps.clock.now()).filter((g) => (g.subject === me.subject && g.issuer === me.issuer) || g.approver === me.subject);
    // snake_case like the audit records and the rest of this API.
    return c.json({
      grants: grants.map((g) => ({ approval_id: g.approvalId, subject: g.subject, issuer: g.issuer, rule: g.rule, target: g.target, approver: g.approver, until: new Date(g.until).toISOString() })),
    });
  });
  // After the API's own routes, which keep answering as they did (bearer tokens, no cookies).
  if (deps.console !== undefined) app.route("/", deps.console as unknown as Hono<Env>);
  app.notFound((c) => c.json({ error: "not_found", message: `no admin route ${c.req.method} ${c.req.path}` }, 404));
  return app;
}

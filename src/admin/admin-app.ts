// The admin API (hono): health, readiness, Prometheus metrics, and the approvals API that
// `gatehouse requests|approve|deny` talk to, authenticated with the approver's own token.
import { Hono } from "hono";
import type { Approvals, PendingRequest } from "../approvals/approvals.ts";
import { parseDuration } from "../core/duration.ts";
import { GatewayError, errorMessage, isGatewayError } from "../core/errors.ts";
import type { Clock, Identity } from "../core/types.ts";
import type { Gate } from "../gate/gate.ts";
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
  readonly refreshGauges?: () => void;
}

type Env = { Variables: { identity: Identity } };

function view(p: PendingRequest, viewer: Identity) {
  return {
    id: p.id,
    requester: p.identity.subject,
    groups: p.identity.groups,
    target: p.target,
    request: p.request,
    rule: p.rule,
    approvers: p.approvers,
    requested_at: new Date(p.requestedAt).toISOString(),
    expires_at: new Date(p.expiresAt).toISOString(),
    max_grant_ms: p.maxGrantMs,
    can_decide: viewer.subject !== p.identity.subject && viewer.groups.some((g) => p.approvers.includes(g)),
  };
}

export function createAdminApp(deps: AdminDeps): Hono<Env> {
  const app = new Hono<Env>();

  app.get("/healthz", (c) => {
    const why = deps.unhealthy?.() ?? null;
    return why === null ? c.json({ status: "ok" }) : c.json({ status: "unhealthy", reason: why }, 503);
  });
  app.get("/readyz", (c) => {
    const why = deps.notReady();
    return why === null ? c.json({ status: "ready" }) : c.json({ status: "not ready", reason: why }, 503);
  });
  app.get("/metrics", (c) => {
    deps.refreshGauges?.();
    return c.text(deps.metrics.render(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
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
      .filter((p) => p.identity.subject === me.subject || me.groups.some((g) => p.approvers.includes(g)));
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
      if (approve) {
        const forText = body.for;
        const forMs = typeof forText === "string" && forText !== "" ? parseDuration(forText) : undefined;
        p = await deps.gate.decideApproval(id, me, { approve: true, ...(forMs ? { forMs } : {}) });
      } else {
        const reason = typeof body.reason === "string" && body.reason.trim() ? body.reason.trim() : "no reason given";
        p = await deps.gate.decideApproval(id, me, { approve: false, reason });
      }
      return c.json({ id: p.id, outcome: approve ? "approved" : "denied", requester: p.identity.subject });
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
    const grants = deps.approvals.liveGrants(deps.clock.now()).filter((g) => g.subject === me.subject || g.approver === me.subject);
    return c.json({ grants: grants.map((g) => ({ ...g, until: new Date(g.until).toISOString() })) });
  });
  app.notFound((c) => c.json({ error: "not_found", message: `no admin route ${c.req.method} ${c.req.path}` }, 404));
  return app;
}

// `gatehouse requests`, `approve ID`, `deny ID`: approvers talk to the gateway's admin API
// with their own token (never the requester's).
import { actionSummary, printable } from "../audit/tail-format.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { errorMessage, GatewayError, isGatewayError } from "../core/errors.ts";
import { systemClock, type Clock } from "../core/types.ts";
import { adminUrlFromConfig } from "./config-docs.ts";
import { paint, parseArgs, usageError, type Command, type FlagSpec, type Io, type ParsedArgs } from "./command.ts";

const DEFAULT_ADMIN = "http://127.0.0.1:9090";

const COMMON = { admin: "string", config: "string", token: "string", json: "boolean" } as const;
const COMMON_HELP = `  --config PATH   the gateway's configuration (a YAML file or a folder of them): the admin
                  API is at its gateway.admin.listen
  --admin URL     the admin API's base URL instead (default ${DEFAULT_ADMIN})
  --token TOKEN   your own token, as an approver (default: $GATEHOUSE_TOKEN)
  --json          print the admin API's JSON answer`;

export interface ApprovalDeps {
  readonly clock: Clock;
  readonly fetch: (url: string, init: RequestInit) => Promise<Response>;
}

interface Api {
  call(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }>;
}

/** Where and as whom to call the admin API; every problem here is the caller's to fix before any request. */
async function connect(flags: ParsedArgs["flags"], io: Io, deps: ApprovalDeps): Promise<Api> {
  const token = typeof flags.token === "string" ? flags.token : io.env.GATEHOUSE_TOKEN;
  if (!token) throw new GatewayError("E_USAGE", "missing token: pass --token TOKEN or set GATEHOUSE_TOKEN (your own token, as an approver)");
  if (flags.admin !== undefined && flags.config !== undefined) throw new GatewayError("E_USAGE", "--admin and --config exclude each other");
  const base = typeof flags.admin === "string" ? flags.admin.replace(/\/+$/, "") : typeof flags.config === "string" ? await adminUrlFromConfig(flags.config) : DEFAULT_ADMIN;
  return {
    async call(method, path, body) {
      const url = `${base}${path}`;
      let res: Response;
      try {
        res = await deps.fetch(url, {
          method,
          headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      } catch (e) {
        throw new GatewayError("E_UPSTREAM", `cannot reach the admin API at ${url}: ${errorMessage(e)}`, { cause: e });
      }
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      return { status: res.status, json };
    },
  };
}

/** What the admin API said was wrong, with a hint where the usual cause is on this side. */
function apiFailure(status: number, json: Record<string, unknown>): string {
  const message = String(json.message ?? `the admin API answered ${status}`);
  return status === 401 ? `${message} (the admin API did not accept your token)` : message;
}

/** "14m", "45s", "1h 5m", "2d 3h": how far away a moment is, to the unit that matters. */
export function relativeDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}

/** "14:05 UTC" today, "2026-12-07 14:05 UTC" on another day. */
export function clockTime(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  return `${sameDay ? "" : `${iso.slice(0, 10)} `}${iso.slice(11, 16)} UTC`;
}

/** One pending request as `requests` prints it: the id to act on, then what tail shows of it. */
export function formatPending(r: Record<string, unknown>, now: number, color: boolean): string {
  const c = paint({ color });
  const request = typeof r.request === "object" && r.request !== null ? r.request : {};
  const expires = Date.parse(String(r.expires_at));
  const when = Number.isNaN(expires) ? "" : expires > now ? `expires in ${relativeDuration(expires - now)}` : `expired ${relativeDuration(now - expires)} ago`;
  const parts = [c.bold(printable(String(r.id))), c.dim(printable(String(r.requested_at))), printable(String(r.requester_name ?? r.requester)), printable(String(r.target))];
  const summary = actionSummary(request);
  if (summary !== "") parts.push(summary);
  parts.push(`rule=${printable(String(r.rule))}`, when);
  if (typeof r.approvals_required === "number" && r.approvals_required > 1) {
    const by = Array.isArray(r.approvals) ? r.approvals.map((a) => printable(String((a as { approver?: unknown }).approver))) : [];
    parts.push(`approvals=${by.length}/${r.approvals_required}${by.length > 0 ? ` (${by.join(", ")})` : ""}`);
  }
  if (r.can_decide === false) parts.push(c.dim(`(your own request; approvers: ${Array.isArray(r.approvers) ? r.approvers.map(String).map(printable).join(", ") : "?"})`));
  return parts.filter((p) => p !== "").join(" ");
}

/** " POST /api/orders/1": what the decided request asked, as tail shows it, or nothing. */
function whatOf(json: Record<string, unknown>): string {
  const what = typeof json.request === "object" && json.request !== null ? actionSummary(json.request) : "";
  return what === "" ? "" : ` ${what}`;
}

/** Parses, connects and runs one command, turning usage problems into exit 2 and the rest into 1. */
function command(
  name: string,
  summary: string,
  usage: string,
  spec: FlagSpec,
  body: (args: ParsedArgs, io: Io, deps: ApprovalDeps) => Promise<number>,
  deps: ApprovalDeps,
): Command {
  return {
    name,
    summary,
    usage,
    async run(args, io) {
      try {
        return await body(parseArgs(args, spec), io, deps);
      } catch (e) {
        if (isGatewayError(e, "E_USAGE")) {
          io.stderr(usageError(name, e.message));
          return 2;
        }
        io.stderr(`gatehouse ${name}: ${errorMessage(e)}\n`);
        return 1;
      }
    },
  };
}

/** The one request id of approve and deny. */
function requestId(positional: readonly string[]): string {
  if (positional.length === 0) throw new GatewayError("E_USAGE", "missing request id");
  if (positional.length > 1) throw new GatewayError("E_USAGE", `unexpected argument "${positional[1]}"`);
  return positional[0]!;
}

export function createApprovalCommands(deps: ApprovalDeps): { requests: Command; approve: Command; deny: Command } {
  const requests = command(
    "requests",
    "list requests waiting for approval",
    `Usage: gatehouse requests [--config PATH | --admin URL] [--token TOKEN] [--json | --ids]

Lists the held requests you may decide, and your own: the request id (what approve and deny
take), when it was asked, who asked, the target, what was asked (as gatehouse tail shows it),
the rule that holds it, and how long it waits before it expires.

${COMMON_HELP}
  --ids           print only the request ids, one a line (for scripts)

Exit status: 0 ok, 1 the admin API refused or cannot be reached, 2 bad usage.`,
    { ...COMMON, ids: "boolean" },
    async ({ flags, positional }, io) => {
      if (positional.length > 0) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
      if (flags.json && flags.ids) throw new GatewayError("E_USAGE", "--json and --ids exclude each other");
      const api = await connect(flags, io, deps);
      const { status, json } = await api.call("GET", "/v1/requests");
      if (status !== 200) {
        io.stderr(`gatehouse requests: ${apiFailure(status, json)}\n`);
        return 1;
      }
      if (flags.json) {
        io.stdout(`${JSON.stringify(json)}\n`);
        return 0;
      }
      const list = Array.isArray(json.requests) ? (json.requests as Array<Record<string, unknown>>) : [];
      if (flags.ids) {
        for (const r of list) io.stdout(`${printable(String(r.id))}\n`);
        return 0;
      }
      if (list.length === 0) io.stdout("no pending requests\n");
      const now = deps.clock.now();
      for (const r of list) io.stdout(`${formatPending(r, now, io.color)}\n`);
      return 0;
    },
    deps,
  );

  const approve = command(
    "approve",
    "approve a held request",
    `Usage: gatehouse approve ID [--for DURATION] [options]

Without --for, releases this one request only: it runs once, and the next request like it is
held for approval again.

With --for (e.g. --for 30m), also grants the requester the whole rule that held it, on the
same target, for that long: anything that rule allows them there runs without asking again
until the grant ends. The rule's grant_max caps the duration.

  --for DURATION  grant the requester the rule for this long: 30s, 15m, 8h, 1d
${COMMON_HELP}

Exit status: 0 approved, 1 the admin API refused (not yours to decide, no such request …)
or cannot be reached, 2 bad usage.`,
    { ...COMMON, for: "string" },
    async ({ flags, positional }, io) => {
      const id = requestId(positional);
      let forText: string | undefined;
      if (flags.for !== undefined) {
        forText = String(flags.for);
        if (parseDuration(forText) === 0) throw new GatewayError("E_USAGE", `invalid --for "${forText}": a grant must last longer than 0`);
      }
      const api = await connect(flags, io, deps);
      const { status, json } = await api.call("POST", `/v1/requests/${encodeURIComponent(id)}/approve`, forText !== undefined ? { for: forText } : {});
      if (flags.json) io.stdout(`${JSON.stringify(json)}\n`);
      if (status !== 200) {
        io.stderr(`gatehouse approve: ${apiFailure(status, json)}\n`);
        return 1;
      }
      if (flags.json) return 0;
      const who = printable(String(json.requester));
      const target = printable(String(json.target));
      const until = Date.parse(String(json.grant_until));
      if (json.outcome === "approval_recorded") {
        const given = Array.isArray(json.approvals) ? json.approvals.length : 1;
        const required = typeof json.approvals_required === "number" ? json.approvals_required : 2;
        io.stdout(`approval recorded for ${id} (${given} of ${required}): ${who}'s request${whatOf(json)} on ${target} stays held until ${required - given} more approver(s) approve it\n`);
      } else if (forText !== undefined && !Number.isNaN(until)) {
        const length = typeof json.grant_ms === "number" ? formatDuration(json.grant_ms) : forText;
        io.stdout(`approved ${id}: ${who} may now run anything rule ${printable(String(json.rule))} allows on target ${target} for ${length}, until ${clockTime(until, deps.clock.now())}\n`);
      } else {
        io.stdout(`approved ${id}: ${who}'s request${whatOf(json)} on ${target} runs this once; the next one is held for approval again (approve with --for 30m to grant the rule for a while)\n`);
      }
      return 0;
    },
    deps,
  );

  const deny = command(
    "deny",
    "deny a held request",
    `Usage: gatehouse deny ID [--reason TEXT] [options]

Denies the held request; the caller gets the reason.

  --reason TEXT   why (shown to the caller and audited)
${COMMON_HELP}

Exit status: 0 denied, 1 the admin API refused or cannot be reached, 2 bad usage.`,
    { ...COMMON, reason: "string" },
    async ({ flags, positional }, io) => {
      const id = requestId(positional);
      const api = await connect(flags, io, deps);
      const { status, json } = await api.call("POST", `/v1/requests/${encodeURIComponent(id)}/deny`, { reason: flags.reason ?? "" });
      if (flags.json) io.stdout(`${JSON.stringify(json)}\n`);
      if (status !== 200) {
        io.stderr(`gatehouse deny: ${apiFailure(status, json)}\n`);
        return 1;
      }
      if (!flags.json) io.stdout(`denied ${id}: ${printable(String(json.requester))}'s request${whatOf(json)} on ${printable(String(json.target))} is refused\n`);
      return 0;
    },
    deps,
  );

  return { requests, approve, deny };
}

const commands = createApprovalCommands({ clock: systemClock, fetch: (url, init) => fetch(url, init) });
export const requestsCommand: Command = commands.requests;
export const approveCommand: Command = commands.approve;
export const denyCommand: Command = commands.deny;

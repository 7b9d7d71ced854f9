// `gatehouse requests`, `approve ID`, `deny ID`: approvers talk to the gateway's admin API
// with their own token (never the requester's).
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { GatewayError } from "../core/errors.ts";
import type { Command, Io } from "./command.ts";
import { paint, parseArgs } from "./command.ts";

const COMMON = { admin: "string", config: "string", token: "string", json: "boolean" } as const;
const COMMON_HELP = `  --admin URL     admin API base URL (default: gateway.admin.listen of --config, else http://127.0.0.1:9090)
  --config PATH   read the admin address from this configuration file
  --token TOKEN   your token (default: $GATEHOUSE_TOKEN)
  --json          print the API's JSON answer`;

function adminUrl(flags: Record<string, unknown>): string {
  if (typeof flags.admin === "string") return flags.admin.replace(/\/$/, "");
  if (typeof flags.config === "string") {
    let listen: unknown;
    try {
      const doc = parseYaml(readFileSync(flags.config, "utf8")) as { gateway?: { admin?: { listen?: unknown } } } | null;
      listen = doc?.gateway?.admin?.listen;
    } catch (e) {
      throw new GatewayError("E_CONFIG_READ", `cannot read ${flags.config}: ${(e as Error).message}`);
    }
    if (typeof listen === "string") return `http://${listen}`;
  }
  return "http://127.0.0.1:9090";
}

function token(flags: Record<string, unknown>, io: Io): string {
  const t = typeof flags.token === "string" ? flags.token : io.env.GATEHOUSE_TOKEN;
  if (!t) throw new GatewayError("E_USAGE", "no token: pass --token or set GATEHOUSE_TOKEN");
  return t;
}

async function call(io: Io, flags: Record<string, unknown>, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = `${adminUrl(flags)}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${token(flags, io)}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    throw new GatewayError("E_UPSTREAM", `cannot reach the admin API at ${url}: ${(e as Error).message}`);
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, json };
}

export const requestsCommand: Command = {
  name: "requests",
  summary: "list requests waiting for approval",
  usage: `Usage: gatehouse requests [options]\n\nLists the held requests you may decide (and your own).\n\n${COMMON_HELP}`,
  async run(args, io) {
    const { flags, positional } = parseArgs(args, COMMON);
    if (positional.length) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
    const { status, json } = await call(io, flags, "GET", "/v1/requests");
    if (status !== 200) {
      io.stderr(`gatehouse requests: ${String(json.message ?? `admin API answered ${status}`)}\n`);
      return 1;
    }
    if (flags.json) {
      io.stdout(`${JSON.stringify(json)}\n`);
      return 0;
    }
    const c = paint(io);
    const list = (json.requests as Array<Record<string, unknown>>) ?? [];
    if (list.length === 0) io.stdout("no pending requests\n");
    for (const r of list) {
      io.stdout(`${c.bold(String(r.id))}  ${String(r.requester)} → ${String(r.target)}  ${JSON.stringify(r.request)}  rule ${String(r.rule)}  expires ${String(r.expires_at)}${r.can_decide ? "" : c.dim("  (not yours to decide)")}\n`);
    }
    return 0;
  },
};

export const approveCommand: Command = {
  name: "approve",
  summary: "approve a held request",
  usage: `Usage: gatehouse approve ID [--for 30m] [options]\n\nReleases the held request. With --for, also grants the requester the same rule on the same target for that long (up to the rule's grant_max).\n\n  --for DURATION  grant length, e.g. 30m\n${COMMON_HELP}`,
  async run(args, io) {
    const { flags, positional } = parseArgs(args, { ...COMMON, for: "string" });
    if (positional.length !== 1) throw new GatewayError("E_USAGE", "give exactly one request ID");
    const { status, json } = await call(io, flags, "POST", `/v1/requests/${encodeURIComponent(positional[0]!)}/approve`, flags.for ? { for: flags.for } : {});
    if (flags.json) io.stdout(`${JSON.stringify(json)}\n`);
    if (status !== 200) {
      io.stderr(`gatehouse approve: ${String(json.message ?? `admin API answered ${status}`)}\n`);
      return 1;
    }
    if (!flags.json) io.stdout(`approved ${positional[0]} (requested by ${String(json.requester)})${flags.for ? `; grant for ${String(flags.for)}` : ""}\n`);
    return 0;
  },
};

export const denyCommand: Command = {
  name: "deny",
  summary: "deny a held request",
  usage: `Usage: gatehouse deny ID [--reason TEXT] [options]\n\nDenies the held request; the caller gets the reason.\n\n  --reason TEXT   why (shown to the caller and audited)\n${COMMON_HELP}`,
  async run(args, io) {
    const { flags, positional } = parseArgs(args, { ...COMMON, reason: "string" });
    if (positional.length !== 1) throw new GatewayError("E_USAGE", "give exactly one request ID");
    const { status, json } = await call(io, flags, "POST", `/v1/requests/${encodeURIComponent(positional[0]!)}/deny`, { reason: flags.reason ?? "" });
    if (flags.json) io.stdout(`${JSON.stringify(json)}\n`);
    if (status !== 200) {
      io.stderr(`gatehouse deny: ${String(json.message ?? `admin API answered ${status}`)}\n`);
      return 1;
    }
    if (!flags.json) io.stdout(`denied ${positional[0]}\n`);
    return 0;
  },
};

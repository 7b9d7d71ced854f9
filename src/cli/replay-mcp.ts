// `gatehouse replay` of an MCP session: a timeline of its calls. Each request the agent (or the
// server) made, with the decision (rule and message), the tool, prompt or resource and the
// arguments as recorded (masked, with their digest), then how the exchange ended (outcome,
// result size, time, masked values, pin, approval); the stdio spawn, approvals and the end.
import type { AuditRecord } from "../audit/record.ts";

type Details = Record<string, unknown>;

const isObject = (v: unknown): v is Details => v !== null && typeof v === "object" && !Array.isArray(v);

/** Whether these records are an MCP session's. */
export function isMcpSession(records: readonly AuditRecord[]): boolean {
  return records.some((r) => (isObject(r.action) && r.action["kind"] === "mcp") || (r.type === "session.start" && isObject(r.details) && r.details["kind"] === "mcp"));
}

function compact(v: unknown, max = 300): string {
  const s = JSON.stringify(v) ?? "";
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** What was asked: "tools/call echo {"message":"hi"}", "resources/read file:///…", "sampling/createMessage (server → agent)". */
export function mcpCallText(a: Details): string {
  const parts = [String(a["method"] ?? "?")];
  if (typeof a["tool"] === "string") parts.push(a["tool"]);
  if (typeof a["prompt"] === "string") parts.push(`prompt ${a["prompt"]}`);
  if (typeof a["resource"] === "string") parts.push(a["resource"]);
  if (a["arguments"] !== undefined) parts.push(compact(a["arguments"]));
  if (isObject(a["sql"]) && Array.isArray(a["sql"]["classes"])) parts.push(`[sql: ${(a["sql"]["classes"] as unknown[]).join(", ")}]`);
  if (a["direction"] === "server") parts.push("(server → agent)");
  return parts.join(" ");
}

function outcomeText(d: Details): string {
  const parts = [String(d["outcome"] ?? "done")];
  if (typeof d["result_bytes"] === "number") parts.push(`${d["result_bytes"]} bytes`);
  if (typeof d["duration_ms"] === "number") parts.push(`${d["duration_ms"]} ms`);
  if (typeof d["masked"] === "number" && d["masked"] > 0) parts.push(`${d["masked"]} values masked`);
  if (d["tool_error"] === true) parts.push("the tool reported an error");
  if (typeof d["approval"] === "string") parts.push(`approval ${d["approval"]}`);
  if (typeof d["pin"] === "string") parts.push(`pin ${d["pin"].slice(0, 12)}`);
  if (typeof d["error"] === "string") parts.push(`error: ${d["error"]}`);
  return parts.join(" · ");
}

function clock(iso: string, first: string): string {
  return iso.slice(0, 10) === first.slice(0, 10) ? iso.slice(11, 23) : iso;
}

/** The timeline of one MCP session's records (in log order). */
export function renderMcpTimeline(records: readonly AuditRecord[]): string {
  const first = records[0]!.time;
  const start = records.find((r) => r.type === "session.start");
  const who = (r: AuditRecord | undefined) => (r?.identity ? `${r.identity.name ?? r.identity.subject} (${r.identity.groups.join(", ") || "no groups"})` : "unknown identity");
  const out: string[] = [`MCP session ${records[0]!.session} on ${records[0]!.target ?? "?"} — ${who(start ?? records[0])}`];
  const t0 = Date.parse(first);
  let n = 0;
  // Which call number each JSON-RPC id got, so its outcome line can name it.
  const numbers = new Map<string, number>();
  for (const r of records) {
    const t = clock(r.time, first);
    const pad = " ".repeat(t.length);
    const d = isObject(r.details) ? r.details : {};
    const a = isObject(r.action) ? r.action : {};
    switch (r.type) {
      case "session.start":
        out.push(`${r.time}  START  ${String(d["server"] ?? "?")} over ${String(d["transport"] ?? "?")} (upstream ${String(d["upstream"] ?? "?")}), from ${String(d["remote"] ?? "?")}`);
        break;
      case "mcp.spawn": {
        const cmd = Array.isArray(d["command"]) ? (d["command"] as unknown[]).join(" ") : String(d["url"] ?? "?");
        const env = Array.isArray(d["env"]) ? (d["env"] as unknown[]).join(", ") || "none" : "?";
        out.push(`${t}  SPAWN  ${cmd} (pid ${String(d["pid"] ?? "?")}, cwd ${String(d["cwd"] ?? "?")}, environment: ${env})`);
        break;
      }
      case "decision": {
        n++;
        const key = `${String(a["direction"] ?? "client")}:${JSON.stringify(d["jsonrpc_id"])}`;
        numbers.set(key, n);
        const e = r.decision?.effect ?? "?";
        const why = e === "allow" ? "" : `: ${r.decision?.message ?? ""}`;
        const offset = `+${((Date.parse(r.time) - t0) / 1000).toFixed(3)}s`;
        out.push(`${t}  #${n} ${e.toUpperCase()} (${r.decision?.rule ?? "no rule"})${why}  ${offset}`);
        out.push(`${pad}     ${mcpCallText(a)}${typeof a["arguments_sha256"] === "string" ? `  args sha256 ${a["arguments_sha256"].slice(0, 12)}` : ""}`);
        break;
      }
      case "mcp.call": {
        const key = `${String(a["direction"] ?? "client")}:${JSON.stringify(d["jsonrpc_id"])}`;
        const num = numbers.get(key);
        out.push(`${t}  ${num !== undefined ? `#${num}` : "(call)"} → ${outcomeText(d)}${num === undefined ? `  ${mcpCallText(a)}` : ""}`);
        break;
      }
      case "request.refused":
        out.push(`${t}  REFUSED ${String(d["reason"] ?? "")}: ${String(d["message"] ?? "")}`);
        break;
      case "session.end": {
        const secs = typeof d["duration_ms"] === "number" ? `${(d["duration_ms"] / 1000).toFixed(1)} s` : "?";
        out.push(`${t}  END    after ${secs}: ${String(d["calls"] ?? 0)} requests forwarded (${String(d["ended"] ?? "?")})`);
        break;
      }
      default:
        if (r.type.startsWith("approval.")) {
          const by = d["approver"] ? ` by ${String(d["approver"])}` : "";
          const grant = d["grant_until"] ? ` (grant until ${String(d["grant_until"])})` : "";
          out.push(`${t}  ${r.type.toUpperCase()} ${String(d["approval"] ?? "")}${by}${grant}${d["reason"] ? `: ${String(d["reason"])}` : ""}`);
        } else out.push(`${t}  ${r.type}${Object.keys(a).length ? ` ${mcpCallText(a)}` : ""}`);
    }
  }
  return out.join("\n") + "\n";
}

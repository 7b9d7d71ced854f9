// `gatehouse replay SESSION`: one session from the audit log as a readable transcript: its
// start, each statement (or request) with the decision and, for what ran, its outcome, any
// approvals, and its end.
import type { AuditRecord } from "../audit/record.ts";
import { readRecords } from "../audit/reader.ts";
import { errorMessage, GatewayError, isGatewayError } from "../core/errors.ts";
import { parseArgs, usageError, wantsHelp, type Command } from "./command.ts";
import { auditPathFromConfig } from "./tail.ts";

const usage = `Usage: gatehouse replay SESSION [LOG] [--config PATH] [--json]

Prints one session from the audit log as a transcript: who connected, from where, each
statement with the policy's decision (rule and message), what happened when it ran (command
tag, rows, time, masked cells, error), approvals, and the session's end.

  SESSION        the session id, e.g. pg_1a2b3c4d5e6f7a8b (shown by gatehouse tail)
  LOG            the audit log; default: audit.path of the configuration given by --config
  --config PATH  the gateway configuration (a YAML file or a folder of them)
  --json         print the session's records as stored, one JSON object per line

Exit status: 0 ok, 1 no such session or the log cannot be read, 2 bad usage.`;

export const replayCommand: Command = {
  name: "replay",
  summary: "print a session from the audit log as a transcript",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(usage + "\n");
      return 0;
    }
    let session: string;
    let log: string;
    let json: boolean;
    try {
      const { flags, positional } = parseArgs(args, { config: "string", json: "boolean" });
      if (positional.length === 0) throw new GatewayError("E_USAGE", "give the session id");
      if (positional.length > 2) throw new GatewayError("E_USAGE", `unexpected argument "${positional[2]}"`);
      session = positional[0]!;
      json = flags.json === true;
      if (positional[1] !== undefined) log = positional[1];
      else if (flags.config !== undefined) log = await auditPathFromConfig(flags.config as string);
      else throw new GatewayError("E_USAGE", "give the audit log path, or --config to take audit.path from the configuration");
    } catch (e) {
      if (isGatewayError(e, "E_USAGE")) {
        io.stderr(usageError("replay", e.message));
        return 2;
      }
      io.stderr(`gatehouse replay: ${errorMessage(e)}\n`);
      return 1;
    }
    const records: AuditRecord[] = [];
    try {
      for await (const { record } of readRecords(log, { onTornTail: () => {} })) if (record.session === session) records.push(record);
    } catch (e) {
      io.stderr(`gatehouse replay: ${errorMessage(e)}\n`);
      return 1;
    }
    if (records.length === 0) {
      io.stderr(`gatehouse replay: no records of session ${session} in ${log}\n`);
      return 1;
    }
    io.stdout(json ? records.map((r) => JSON.stringify(r)).join("\n") + "\n" : renderTranscript(records));
    return 0;
  },
};

type Details = Record<string, unknown>;

function details(r: AuditRecord): Details {
  return (r.details ?? {}) as Details;
}

function actionText(r: AuditRecord): string {
  const a = (r.action ?? {}) as Details;
  if (typeof a["sql"] === "string") return oneLine(a["sql"]);
  if (a["kind"] === "http") return `${String(a["method"])} ${String(a["path"])}`;
  const parts = Object.entries(a).filter(([k]) => k !== "kind").map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : String(v)}`);
  return parts.join(" ");
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, " ").trim();
  return flat.length > 400 ? `${flat.slice(0, 400)}…` : flat;
}

function clock(iso: string, first: string): string {
  // The first line shows the full time; later ones only the time of day unless the date changes.
  return iso.slice(0, 10) === first.slice(0, 10) ? iso.slice(11, 23) : iso;
}

function outcomeText(d: Details): string {
  const parts: string[] = [];
  switch (d["outcome"]) {
    case "complete":
      parts.push(String(d["tag"] ?? "done"));
      break;
    case "error": {
      const err = (d["error"] ?? {}) as Details;
      parts.push(`ERROR ${String(err["code"] ?? "")}: ${String(err["message"] ?? "")}`);
      break;
    }
    case "not_run":
      parts.push(`not run: ${String(d["reason"] ?? "")}`);
      break;
    case "suspended":
      parts.push("portal suspended (more rows to fetch)");
      break;
    case "empty":
      parts.push("empty query");
      break;
    default:
      if (d["status"] !== undefined) parts.push(`status ${String(d["status"])}`);
      else parts.push(String(d["outcome"] ?? "done"));
  }
  if (typeof d["rows"] === "number") parts.push(`${d["rows"]} row${d["rows"] === 1 ? "" : "s"}`);
  if (typeof d["duration_ms"] === "number") parts.push(`${d["duration_ms"]} ms`);
  if (typeof d["masked_cells"] === "number") parts.push(`${d["masked_cells"]} cells masked`);
  if (typeof d["masked"] === "number" && d["masked"] > 0) parts.push(`${d["masked"]} values masked`);
  if (Array.isArray(d["parameters"])) parts.push(`parameters ${JSON.stringify(d["parameters"])}`);
  return parts.join(" · ");
}

/** The transcript of one session's records (in log order). */
export function renderTranscript(records: readonly AuditRecord[]): string {
  const first = records[0]!.time;
  const out: string[] = [];
  const start = records.find((r) => r.type === "session.start");
  const who = (r: AuditRecord) => (r.identity ? `${r.identity.subject} (${r.identity.groups.join(", ") || "no groups"})` : "unknown identity");
  out.push(`session ${records[0]!.session} on ${records[0]!.target ?? "?"} — ${start ? who(start) : who(records[0]!)}`);
  let n = 0;
  let lastSql: string | null = null;
  for (const r of records) {
    const t = clock(r.time, first);
    const d = details(r);
    switch (r.type) {
      case "session.start": {
        const params = (d["parameters"] ?? {}) as Details;
        const extra = Object.entries(params).map(([k, v]) => `${k}=${String(v)}`).join(" ");
        out.push(`${r.time}  START  from ${String(d["remote"] ?? "?")}, ${d["tls"] ? "TLS" : "no TLS"}, user ${String(d["user"] ?? "?")}${extra ? `, ${extra}` : ""}`);
        break;
      }
      case "decision": {
        n++;
        const e = r.decision?.effect ?? "?";
        const rule = r.decision?.rule ?? "no rule";
        const why = e === "allow" ? "" : `: ${r.decision?.message ?? ""}`;
        lastSql = actionText(r);
        out.push(`${t}  #${n} ${e.toUpperCase()} (${rule})${why}`);
        out.push(`${" ".repeat(t.length)}     ${lastSql}`);
        break;
      }
      case "statement":
      case "request": {
        const text = actionText(r);
        if (text !== lastSql) out.push(`${t}  (run) ${text}`);
        out.push(`${" ".repeat(t.length)}     → ${outcomeText(d)}`);
        break;
      }
      case "session.end": {
        const secs = typeof d["duration_ms"] === "number" ? `${(d["duration_ms"] / 1000).toFixed(1)} s` : "?";
        out.push(
          `${t}  END    after ${secs}: ${String(d["statements"] ?? 0)} statements, ${String(d["bytes_in"] ?? 0)} bytes in, ${String(d["bytes_out"] ?? 0)} bytes out${d["error"] ? ` (${String(d["error"])})` : ""}`,
        );
        break;
      }
      default:
        if (r.type.startsWith("approval.")) {
          const who2 = d["approver"] ? ` by ${String(d["approver"])}` : "";
          out.push(`${t}  ${r.type.toUpperCase()} ${String(d["approval"] ?? "")}${who2}${d["reason"] ? `: ${String(d["reason"])}` : ""}`);
        } else {
          out.push(`${t}  ${r.type} ${actionText(r)}`);
        }
    }
  }
  return out.join("\n") + "\n";
}

// `gatehouse replay SESSION`: one session from the audit log as a readable transcript: its
// start, each statement (or request, exec, SFTP operation) with the decision and, for what
// ran, its outcome, any approvals, and its end. A terminal session that was recorded is
// played instead, at its recorded pace (replay-cast.ts). A completion folded into a later
// decision record (audit/completions.ts) prints as a standalone one does, after its decision;
// an HTTP request's, carried by the decision record of its connection's next request (another
// session), is read from that record.
import { carriesCompletionOf, CompletionExpander, UNBOUNDED, withFoldedCompletions, type ReadableRecord } from "../audit/completions.ts";
import type { AuditRecord } from "../audit/record.ts";
import { readRecords } from "../audit/reader.ts";
import { errorMessage, GatewayError, isGatewayError } from "../core/errors.ts";
import { parseArgs, usageError, wantsHelp, type Command } from "./command.ts";
import { abortableSleep } from "./replay-cast.ts";
import { playRecordings } from "./replay-play.ts";
import { sshActionText, sshOutcomeText, sshStartText } from "./replay-ssh.ts";
import { isMcpSession, renderMcpTimeline } from "./replay-mcp.ts";
import { auditPathFromConfig } from "./tail.ts";

const usage = `Usage: gatehouse replay SESSION [LOG] [--config PATH] [--json | --transcript]
                       [--speed N] [--idle-limit SECONDS] [--no-wait] [--recordings DIR]

Prints one session from the audit log as a transcript: who connected, from where, each
statement, request, command or file operation with the policy's decision (rule and message),
what happened when it ran (command tag, rows, exit status, bytes, time, masked values, error),
approvals, and the session's end.

A terminal session (SSH with a pty) that was recorded is played in the terminal instead, at
the pace it was recorded, after its recording's sha-256 is checked against the audit record.

  SESSION             the session id, e.g. pg_1a2b3c4d5e6f7a8b, ssh_… or mcp_… (shown by gatehouse tail);
                      an MCP session prints as a timeline of its calls
  LOG                 the audit log; default: audit.path of the configuration given by --config
  --config PATH       the gateway configuration (a YAML file or a folder of them)
  --json              print the session's records as stored, one JSON object per line (for an
                      HTTP request, also the record of another request that carries its completion)
  --transcript        print the transcript even when the session has a terminal recording
  --speed N           play N times faster (0.5: half as fast); default 1
  --idle-limit SECS   shorten every pause longer than SECS to SECS
  --no-wait           print the recording's output at once, without its pauses
  --recordings DIR    look for the recording in DIR (by file name), e.g. a copied log's

Exit status: 0 ok, 1 no such session, the log or recording cannot be read, or the recording
does not match its audit record; 2 bad usage.`;

interface PlayFlags {
  readonly speed: number;
  readonly idleLimit: number | null;
  readonly noWait: boolean;
  readonly dir?: string;
}

export const replayCommand: Command = {
  name: "replay",
  summary: "print a session from the audit log as a transcript, or play its terminal recording",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(usage + "\n");
      return 0;
    }
    let session: string;
    let log: string;
    let json: boolean;
    let transcript: boolean;
    let play: PlayFlags;
    try {
      const { flags, positional } = parseArgs(args, {
        config: "string",
        json: "boolean",
        transcript: "boolean",
        speed: "string",
        "idle-limit": "string",
        "no-wait": "boolean",
        recordings: "string",
      });
      if (positional.length === 0) throw new GatewayError("E_USAGE", "give the session id");
      if (positional.length > 2) throw new GatewayError("E_USAGE", `unexpected argument "${positional[2]}"`);
      session = positional[0]!;
      json = flags.json === true;
      transcript = flags.transcript === true;
      play = {
        speed: positiveNumber(flags.speed, "--speed") ?? 1,
        idleLimit: positiveNumber(flags["idle-limit"], "--idle-limit") ?? null,
        noWait: flags["no-wait"] === true,
        ...(typeof flags.recordings === "string" ? { dir: flags.recordings } : {}),
      };
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
      for await (const { record } of readRecords(log, { onTornTail: () => {} })) if (record.session === session || carriesCompletionOf(record, session)) records.push(record);
    } catch (e) {
      io.stderr(`gatehouse replay: ${errorMessage(e)}\n`);
      return 1;
    }
    if (records.length === 0) {
      io.stderr(`gatehouse replay: no records of session ${session} in ${log}\n`);
      return 1;
    }
    if (!json && !transcript) {
      const played = await playRecordings(records, log, io, { ...play, sleep: abortableSleep(io.signal) });
      if (played !== null) return played;
    }
    io.stdout(json ? records.map((r) => JSON.stringify(r)).join("\n") + "\n" : isMcpSession(records) ? renderMcpTimeline(records) : renderTranscript(records));
    return 0;
  },
};

function positiveNumber(value: unknown, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new GatewayError("E_USAGE", `${flag} takes a number above 0, not "${String(value)}"`);
  return n;
}

type Details = Record<string, unknown>;

function details(r: ReadableRecord): Details {
  return (r.details ?? {}) as Details;
}

function actionText(r: ReadableRecord): string {
  const a = (r.action ?? {}) as Details;
  if (typeof a["sql"] === "string") return oneLine(a["sql"]);
  if (a["kind"] === "http") return `${String(a["method"])} ${String(a["path"])}`;
  if (a["kind"] === "ssh") return sshActionText(a);
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

/** The transcript of one session's records (in log order; records of other sessions give only the completions of this one they carry). */
export function renderTranscript(records: readonly AuditRecord[]): string {
  const session = records[0]!.session;
  const first = records[0]!.time;
  const out: string[] = [];
  const start = records.find((r) => r.type === "session.start");
  const who = (r: AuditRecord) => (r.identity ? `${r.identity.subject} (${r.identity.groups.join(", ") || "no groups"})` : "unknown identity");
  out.push(`session ${records[0]!.session} on ${records[0]!.target ?? "?"} — ${start ? who(start) : who(records[0]!)}`);
  let n = 0;
  let lastSql: string | null = null;
  // An SSH session: its decisions are about SSH actions (or it ended before any, with an SSH client's banner).
  const ssh = records.some((r) => (r.action as Details | undefined)?.["kind"] === "ssh" || (r.type === "session.start" && details(r)["client"] !== undefined));
  for (const r of withFoldedCompletions(records, new CompletionExpander(UNBOUNDED))) {
    if (r.session !== session) continue;
    const t = clock(r.time, first);
    const d = details(r);
    switch (r.type) {
      case "session.start": {
        if (ssh) {
          out.push(`${r.time}  START  ${sshStartText(d)}`);
          break;
        }
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
        // A folded completion whose decision record is not among these names its seq instead.
        const text = r.action === undefined && "foldedIn" in r ? `(decision #${String(d["decision"])})` : actionText(r);
        if (text !== lastSql) out.push(`${t}  (run) ${text}`);
        out.push(`${" ".repeat(t.length)}     → ${outcomeText(d)}`);
        break;
      }
      case "channel.end": {
        const text = actionText(r);
        if (text !== lastSql) out.push(`${t}  (end) ${text}`);
        out.push(`${" ".repeat(t.length)}     → ${sshOutcomeText(d)}`);
        break;
      }
      case "session.end": {
        const secs = typeof d["duration_ms"] === "number" ? `${(d["duration_ms"] / 1000).toFixed(1)} s` : "?";
        if (typeof d["channels"] === "number") {
          const why = [d["ended"], d["error"]].filter((x) => x !== undefined).map(String).join("; ");
          out.push(`${t}  END    after ${secs}: ${d["channels"]} channel${d["channels"] === 1 ? "" : "s"}${why ? ` (${why})` : ""}`);
          break;
        }
        out.push(
          `${t}  END    after ${secs}: ${String(d["statements"] ?? 0)} statements, ${String(d["bytes_in"] ?? 0)} bytes in, ${String(d["bytes_out"] ?? 0)} bytes out${d["error"] ? ` (${String(d["error"])})` : ""}`,
        );
        break;
      }
      default:
        if (r.type.startsWith("approval.")) {
          const who2 = d["approver"] ? ` by ${String(d["approver"])}` : "";
          out.push(`${t}  ${r.type.toUpperCase()} ${String(d["approval"] ?? "")}${who2}${d["reason"] ? `: ${String(d["reason"])}` : ""}`);
        } else if ((r.action as Details | undefined)?.["kind"] === "ssh") {
          // An SSH record of a kind this transcript does not know by name (an SFTP operation …).
          out.push(`${t}  ${r.type} ${actionText(r)}`);
          out.push(`${" ".repeat(t.length)}     → ${sshOutcomeText(d)}`);
        } else {
          out.push(`${t}  ${r.type} ${actionText(r)}`);
        }
    }
  }
  return out.join("\n") + "\n";
}

// How SSH records read in a `gatehouse replay` transcript: what was asked (a shell, a command,
// an SFTP operation, a forwarded port) and how each channel ended (exit status, bytes, time,
// its recording or captured output).
import { basename } from "node:path";

type Details = Record<string, unknown>;

const isObject = (v: unknown): v is Details => v !== null && typeof v === "object" && !Array.isArray(v);

/** The request of an SSH action (SshRequestFacts) in a few words. */
export function sshActionText(a: Details): string {
  const who = typeof a["user"] === "string" ? ` (as ${a["user"]})` : "";
  switch (a["action"]) {
    case "exec":
      return `exec: ${String(a["command"] ?? "")}${who}`;
    case "shell":
      return typeof a["line"] === "string" ? `shell line: ${a["line"]}${who}` : `shell${who}`;
    case "sftp": {
      // to_path; toPath in logs written before audit keys were all snake_case.
      const toPath = a["to_path"] ?? a["toPath"];
      const to = typeof toPath === "string" ? ` → ${toPath}` : "";
      return `sftp ${String(a["operation"] ?? "?")} ${String(a["path"] ?? "")}${to}${who}`;
    }
    case "forward":
      return `forward to ${String(a["destination"] ?? "?")}${who}`;
    default:
      return `ssh ${String(a["action"] ?? "?")}${who}`;
  }
}

/** The start of an SSH session: where from, which account, how the caller logged in. */
export function sshStartText(d: Details): string {
  const parts = [`from ${String(d["remote"] ?? "?")}`, `SSH user ${String(d["user"] ?? "?")}`];
  if (d["account"] !== undefined && d["account"] !== d["user"]) parts.push(`upstream account ${String(d["account"])}`);
  if (d["method"] !== undefined) parts.push(`login by ${String(d["method"])}`);
  if (d["client"] !== undefined) parts.push(`client ${String(d["client"])}`);
  return parts.join(", ");
}

/** How a channel (or one SFTP operation) ended. */
export function sshOutcomeText(d: Details): string {
  const parts: string[] = [];
  if (typeof d["error"] === "string") parts.push(`ERROR: ${d["error"]}`);
  if (d["exit_status"] !== undefined) parts.push(`exit ${String(d["exit_status"])}`);
  if (d["exit_signal"] !== undefined) parts.push(`killed by SIG${String(d["exit_signal"])}`);
  if (d["status"] !== undefined) parts.push(`status ${String(d["status"])}`);
  if (typeof d["bytes_in"] === "number") parts.push(`${d["bytes_in"]} bytes in`);
  if (typeof d["bytes_out"] === "number") parts.push(`${d["bytes_out"]} bytes out`);
  if (typeof d["bytes"] === "number") parts.push(`${d["bytes"]} bytes`);
  if (typeof d["duration_ms"] === "number") parts.push(`${(d["duration_ms"] / 1000).toFixed(1)} s`);
  if (d["closed_by"] === "caller") parts.push("closed by the caller");
  if (typeof d["masked"] === "number" && d["masked"] > 0) parts.push(`${d["masked"]} values masked`);
  const rec = d["recording"];
  if (isObject(rec) && typeof rec["file"] === "string") {
    parts.push(`recorded in ${basename(rec["file"])} (${String(rec["events"] ?? "?")} events${rec["truncated"] === true ? ", TRUNCATED" : ""})`);
  }
  const out = d["output"];
  if (isObject(out)) {
    for (const name of ["stdout", "stderr"] as const) {
      const s = out[name];
      if (!isObject(s) || typeof s["bytes"] !== "number" || s["bytes"] === 0) continue;
      const kept = s["truncated"] === true ? `, first ${String(s["captured_bytes"])} kept` : "";
      parts.push(`${name} ${s["bytes"]} bytes${kept}${typeof s["file"] === "string" ? ` in ${basename(s["file"])}` : ""}`);
    }
  }
  return parts.length > 0 ? parts.join(" · ") : "ended";
}

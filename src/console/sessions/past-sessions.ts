// Past sessions as the audit log holds them: a session.end record for a PostgreSQL session, an
// SSH connection or an HTTP WebSocket, and the request record of a Kubernetes exec, attach or
// port-forward WebSocket (details.session_ms). The list is read newest first from those alone.
import type { AuditRecord } from "../../audit/record.ts";
import { auditScan, type AuditQuery } from "../audit/audit-query.ts";
import { formatCursor, type ScanOptions, type ScannedRecord } from "../audit/backward-scan.ts";

export interface PastSession {
  readonly id: string;
  readonly target: string;
  readonly identity: AuditRecord["identity"];
  readonly started?: string;
  readonly ended: string;
  readonly durationMs?: number;
  readonly endedHow: string;
  readonly recorded: boolean;
  /** Where its last record is (a hint for the session page's scan). */
  readonly at: string;
}

export function isSessionEnd(r: AuditRecord): boolean {
  if (r.session === undefined) return false;
  if (r.type === "session.end") return true;
  return r.type === "request" && typeof (r.details as Record<string, unknown> | undefined)?.["session_ms"] === "number";
}

/** What the list scans for: the query's own filters, with the session-ending records first. */
export function pastSessionScan(q: AuditQuery): Pick<ScanOptions, "needles" | "match" | "since" | "until"> {
  const scan = auditScan(q);
  return {
    ...scan,
    // The query's own needles first when it has any (an identity is rarer than a session's end).
    needles: [...(scan.needles ?? []), ['"type":"session.end"', '"session_ms":']],
    match: (r) => isSessionEnd(r) && (scan.match?.(r) ?? true),
  };
}

export function sessionRow(s: ScannedRecord): PastSession {
  const r = s.record;
  const d = (r.details ?? {}) as Record<string, unknown>;
  const durationMs = typeof d["duration_ms"] === "number" ? d["duration_ms"] : typeof d["session_ms"] === "number" ? d["session_ms"] : undefined;
  const by = d["ended_by"] as { subject?: string; name?: string } | undefined;
  const endedHow =
    d["ended"] === "ended_by_operator"
      ? `ended by ${by?.name ?? by?.subject ?? "an operator"}`
      : typeof d["ended"] === "string"
        ? d["ended"].replace(/_/g, " ")
        : typeof d["error"] === "string"
          ? d["error"]
          : typeof d["closed_by"] === "string"
            ? `closed by ${d["closed_by"]}`
            : "";
  return {
    id: r.session!,
    target: r.target ?? "",
    identity: r.identity,
    ended: r.time,
    ...(durationMs !== undefined ? { durationMs, started: new Date(Date.parse(r.time) - durationMs).toISOString() } : {}),
    endedHow,
    recorded: typeof (d["recording"] as Record<string, unknown> | undefined)?.["file"] === "string" || (typeof d["channels"] === "number" && d["channels"] > 0 && r.target !== undefined && r.session!.startsWith("ssh_")),
    at: formatCursor(s.at),
  };
}

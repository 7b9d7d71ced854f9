// One readable line per audit record, for `gatehouse tail`. Everything from the record is made
// printable first: a subject or SQL text with escape codes must not drive the terminal.
// A completion folded into a decision record (completions.ts) is given here as a record shaped
// like a standalone statement/request one, so it prints as the same line.
import type { ReadableRecord } from "./completions.ts";

export interface FormatOptions {
  readonly color: boolean;
}

const ANSI = { red: "31", green: "32", yellow: "33", dim: "2", bold: "1" } as const;
const EFFECT_COLOR = { allow: ANSI.green, deny: ANSI.red, review: ANSI.yellow } as const;

export function formatRecord(record: ReadableRecord, opts: FormatOptions): string {
  const paint = (code: string, text: string) => (opts.color ? `\x1b[${code}m${text}\x1b[0m` : text);
  const parts: string[] = [paint(ANSI.dim, printable(record.time)), printable(record.type)];
  if (record.decision !== undefined) {
    const effect = record.decision.effect;
    parts.push(paint(EFFECT_COLOR[effect] ?? ANSI.bold, effect));
  }
  // A CI job's or workload's display name (identity.name) says more than its subject.
  if (record.identity !== undefined) parts.push(printable(record.identity.name ?? record.identity.subject));
  if (record.target !== undefined) parts.push(printable(record.target));
  if (record.action !== undefined) {
    const summary = actionSummary(record.action);
    if (summary !== "") parts.push(summary);
  }
  if (record.decision !== undefined) {
    parts.push(`rule=${record.decision.rule === null ? "(default deny)" : printable(record.decision.rule)}`);
    parts.push(...approvalParts(record));
    if (record.decision.effect === "deny" && record.decision.message) parts.push(JSON.stringify(printable(record.decision.message)));
    // A default deny's detail: what the gateway saw and why nothing allowed it.
    const denial = (record.details as { denial?: unknown } | undefined)?.denial;
    if (record.decision.effect === "deny" && typeof denial === "string") parts.push(`(${printable(denial)})`);
  } else if (record.details !== undefined) {
    parts.push(paint(ANSI.dim, clip(printable(JSON.stringify(record.details)), 120)));
  }
  return parts.join(" ");
}

/**
 * The approval a record belongs to, so that `tail --type 'approval.*'` shows which request was
 * held, approved or denied (the id `gatehouse approve` takes), and a decision let through by a
 * grant names the approval that granted it.
 */
function approvalParts(record: ReadableRecord): string[] {
  const d = (record.details ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if (record.type.startsWith("approval.") && typeof d.approval === "string") {
    parts.push(`approval=${printable(d.approval)}`);
    if (typeof d.requester === "string" && d.requester !== record.identity?.subject) parts.push(`requester=${printable(d.requester)}`);
    const until = d.grant_until ?? d.grantUntil;
    if (typeof until === "string" || typeof until === "number") parts.push(`grant_until=${printable(typeof until === "number" ? new Date(until).toISOString() : until)}`);
    if (typeof d.reason === "string" && d.reason !== "") parts.push(`reason=${JSON.stringify(printable(d.reason))}`);
  } else if (typeof d.grant === "string") {
    parts.push(`grant=${printable(d.grant)}`);
  }
  return parts;
}

/** A compact account of the protocol facts: "GET /path", the start of the SQL, "delete pods -n prod", the argv. */
export function actionSummary(action: object): string {
  const a = action as Record<string, unknown>;
  switch (a.kind) {
    case "http":
      return printable(`${str(a.method)} ${str(a.path)}`);
    case "postgres": {
      if (typeof a.sql === "string" && a.sql.trim() !== "") return clip(printable(a.sql.replace(/\s+/g, " ").trim()), 80);
      const classes = Array.isArray(a.classes) ? a.classes.map(str).join(",") : "";
      const relations = Array.isArray(a.relations) ? a.relations.map(str).join(",") : "";
      return clip(printable([classes, relations].filter((s) => s !== "").join(" ")), 80);
    }
    case "kubernetes": {
      let out = `${str(a.verb)} ${str(a.resource)}`;
      if (typeof a.subresource === "string" && a.subresource !== "") out += `/${a.subresource}`;
      if (typeof a.name === "string" && a.name !== "") out += ` ${a.name}`;
      if (typeof a.namespace === "string" && a.namespace !== "") out += ` -n ${a.namespace}`;
      return printable(out);
    }
    case "ssh": {
      // SshRequestFacts: the command as sent, a shell line, an SFTP operation, a destination.
      const as = typeof a.user === "string" ? ` as ${a.user}` : "";
      switch (a.action) {
        case "exec":
          return clip(printable(`exec: ${str(a.command)}`), 120) + as;
        case "shell":
          return clip(printable(typeof a.line === "string" ? `shell line: ${a.line}` : "shell"), 120) + as;
        case "sftp":
          return clip(printable(`sftp ${str(a.operation)} ${str(a.path)}${typeof (a.to_path ?? a.toPath) === "string" ? ` → ${String(a.to_path ?? a.toPath)}` : ""}`), 120) + as;
        case "forward":
          return printable(`forward to ${str(a.destination)}`) + as;
      }
      // Records written before SshRequestFacts (argv, channel).
      const argv = Array.isArray(a.argv) ? a.argv.map(str) : [];
      return clip(printable(argv.length > 0 ? argv.map(shellQuote).join(" ") : str(a.channel)), 120);
    }
    case "mcp": {
      // McpRequestFacts: an approver must see which tool and with what (masked) arguments, so
      // those come first and the clip falls on the arguments' tail.
      const named = str(a.tool ?? a.prompt ?? a.resource);
      const head = `${a.direction === "server" ? "server→agent " : ""}${str(a.method)} ${str(a.server)}${named !== "" ? `/${named}` : ""}`;
      const args = a.arguments !== undefined ? ` ${JSON.stringify(a.arguments)}` : "";
      return clip(printable(head + args), 160);
    }
    default:
      return Object.keys(a).length === 0 ? "" : clip(printable(JSON.stringify(a)), 80);
  }
}

function str(value: unknown): string {
  return typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function clip(text: string, max: number): string {
  return text.length > max ? text.slice(0, max) + "…" : text;
}

/** C0 and C1 control characters (escape sequences, newlines) shown as \xNN. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

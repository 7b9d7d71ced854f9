// `gatehouse tail`: prints audit events as readable lines (or raw JSON), filtered, and with -f
// keeps following the live log across rotation until interrupted.
import { stat } from "node:fs/promises";
import { CompletionExpander, type ReadableRecord } from "../audit/completions.ts";
import { followRecords, readRecords } from "../audit/reader.ts";
import { formatRecord } from "../audit/tail-format.ts";
import { parseDuration } from "../core/duration.ts";
import { errorMessage, GatewayError, isGatewayError } from "../core/errors.ts";
import { auditPathFromConfig } from "./config-docs.ts";
import { systemClock, type Clock } from "../core/types.ts";
import { parseArgs, usageError, wantsHelp, type Command, type Io } from "./command.ts";

const usage = `Usage: gatehouse tail [LOG] [-f|--follow] [--since 10m|ISO-TIME] [--identity SUBJECT]
                      [--target NAME] [--effect allow|deny|review] [--type TYPE] [--json]
                      [--config PATH]

Prints audit events, one readable line each: time, type, effect, identity, target, what was
asked, the deciding rule, and for a deny its message. Without -f it prints every matching
record of the log (rotated files first) and exits.

  LOG                 the audit log; default: audit.path of the configuration given by --config
  -f, --follow        keep printing new records as they are written, across rotation, until
                      interrupted; without --since, only records written from now on
  --since WHEN        only records at or after WHEN: a duration back from now (30s, 10m, 8h,
                      1d) or an ISO 8601 time (2026-11-28T09:00:00Z)
  --identity SUBJECT  only records of this identity subject
  --target NAME       only records for this target
  --effect EFFECT     only decisions with this effect: allow, deny or review
  --type TYPE         only records of this type (e.g. decision); a trailing * matches a
                      prefix (approval.*)
  --json              print the records as stored (one JSON object per line); a completion
                      the gateway folded into a later decision record stays in that record's
                      details.completed instead of printing as a statement or request line
  --config PATH       the gateway configuration (a YAML file or a folder of them)

Filters combine with AND. Exit status: 0 ok, 1 the log cannot be read or is damaged, 2 bad usage.`;

const FLAGS = {
  follow: "boolean",
  since: "string",
  identity: "string",
  target: "string",
  effect: "string",
  type: "string",
  json: "boolean",
  config: "string",
} as const;

export interface TailFilter {
  readonly since?: number;
  readonly identity?: string;
  readonly target?: string;
  readonly effect?: string;
  readonly type?: string;
}

/** True when `record` passes every filter given (AND). */
export function matchesFilter(record: ReadableRecord, f: TailFilter): boolean {
  if (f.since !== undefined && !(Date.parse(record.time) >= f.since)) return false;
  if (f.identity !== undefined && record.identity?.subject !== f.identity) return false;
  if (f.target !== undefined && record.target !== f.target) return false;
  if (f.effect !== undefined && record.decision?.effect !== f.effect) return false;
  if (f.type !== undefined) {
    if (f.type.endsWith("*") ? !record.type.startsWith(f.type.slice(0, -1)) : record.type !== f.type) return false;
  }
  return true;
}

/** "10m" back from now, or an ISO 8601 time; ms since epoch. */
export function parseSince(text: string, now: number): number {
  if (/^[0-9]+(ms|s|m|h|d)$/.test(text)) return now - parseDuration(text);
  const t = /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(t)) throw new GatewayError("E_USAGE", `invalid --since "${text}" (expected a duration such as 10m or an ISO time such as 2026-11-28T09:00:00Z)`);
  return t;
}

export { auditPathFromConfig } from "./config-docs.ts";

export function createTailCommand(deps: { clock: Clock }): Command {
  return {
    name: "tail",
    summary: "print audit events, optionally following",
    usage,
    async run(args, io) {
      if (wantsHelp(args)) {
        io.stdout(usage + "\n");
        return 0;
      }
      let opts: { log: string; follow: boolean; json: boolean; filter: TailFilter };
      try {
        opts = await parseTailArgs(args, deps.clock.now());
      } catch (e) {
        if (isGatewayError(e, "E_USAGE")) {
          io.stderr(usageError("tail", e.message));
          return 2;
        }
        io.stderr(`gatehouse tail: ${errorMessage(e)}\n`);
        return 1;
      }
      try {
        return await tail(opts, io);
      } catch (e) {
        io.stderr(`gatehouse tail: ${errorMessage(e)}\n`);
        return 1;
      }
    },
  };
}

export const tailCommand: Command = createTailCommand({ clock: systemClock });

async function parseTailArgs(args: readonly string[], now: number) {
  const { flags, positional } = parseArgs(args, FLAGS, { f: "follow" });
  if (positional.length > 1) throw new GatewayError("E_USAGE", `unexpected argument "${positional[1]}"`);
  const effect = flags.effect as string | undefined;
  if (effect !== undefined && !["allow", "deny", "review"].includes(effect)) {
    throw new GatewayError("E_USAGE", `invalid --effect "${effect}" (expected allow, deny or review)`);
  }
  const filter: TailFilter = {
    ...(flags.since !== undefined ? { since: parseSince(flags.since as string, now) } : {}),
    ...(flags.identity !== undefined ? { identity: flags.identity as string } : {}),
    ...(flags.target !== undefined ? { target: flags.target as string } : {}),
    ...(effect !== undefined ? { effect } : {}),
    ...(flags.type !== undefined ? { type: flags.type as string } : {}),
  };
  let log = positional[0];
  if (log === undefined) {
    if (flags.config === undefined) throw new GatewayError("E_USAGE", "give the audit log path, or --config to take audit.path from the configuration");
    log = await auditPathFromConfig(flags.config as string);
  }
  return { log, follow: flags.follow === true, json: flags.json === true, filter };
}

async function tail(opts: { log: string; follow: boolean; json: boolean; filter: TailFilter }, io: Io): Promise<number> {
  const show = (record: ReadableRecord) => {
    if (matchesFilter(record, opts.filter)) io.stdout((opts.json ? JSON.stringify(record) : formatRecord(record, { color: io.color })) + "\n");
  };
  // A statement's completion may be folded into the session's next decision record: it prints
  // as a statement line of its own just before that record, where a standalone one would be.
  const expander = new CompletionExpander();
  const print = (record: ReadableRecord) => {
    if (!opts.json) for (const c of expander.take(record)) show(c);
    show(record);
  };
  if (opts.follow) {
    // With --since the past matters, so read from the oldest file; otherwise only what comes next.
    const fromEnd = opts.filter.since === undefined;
    for await (const { record } of followRecords(opts.log, { signal: io.signal, fromEnd })) print(record);
    return 0;
  }
  let any = false;
  for await (const { record } of readRecords(opts.log, {
    onTornTail: (t) =>
      io.stderr(`gatehouse tail: warning: ${t.file}:${t.line}: last line has no newline yet (being written, or torn: run gatehouse verify)\n`),
  })) {
    any = true;
    print(record);
  }
  if (!any && !(await stat(opts.log).then(() => true, () => false))) {
    io.stderr(`gatehouse tail: no audit log at ${opts.log}\n`);
    return 1;
  }
  return 0;
}

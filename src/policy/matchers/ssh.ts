// Matches SSH requests (SshRequestFacts) against a rule's `ssh:` section:
//   actions       shell, exec, sftp, forward
//   users         globs over the upstream account
//   commands      exec: command patterns (ssh-patterns.ts) over every command the line runs
//                 (ssh-wrappers.ts)
//   operations    sftp: read, write, remove, rename, mkdir, list, setstat
//   paths         sftp: globs over the normalised absolute path ("/" separates segments)
//   destinations  forward: HOST:PORT globs (ssh-targets.ts)
//   lines         shell: best-effort patterns over each line the user submits (not a boundary)
// All stated conditions must hold. How each meets each action, and why:
// - commands, allow rule: an exec whose line is a simple command and every command it runs
//   (the line's own and each wrapper's inner one) is matched by a pattern. A line that cannot be
//   split safely, or that runs something the gateway cannot see (opaque), is allowed only by a
//   rule that allows any command: one without `commands`, or whose `commands` holds `**`.
//   Never a shell, sftp or forward.
// - commands, deny/review rule: an exec where some command the line runs matches a pattern from
//   some word on, or whose line is unsplittable or opaque (fail closed: `true; rm -rf /` cannot
//   dodge a deny of `rm **`). Also every shell: the gateway cannot see the commands typed in one.
//   State `actions: [exec]` to keep such a rule off shells.
// - operations and paths: sftp operations. A rename needs both of its paths within an allow rule's
//   paths, and either one within a deny rule's. A deny or review rule also holds a rename whose
//   path (or new path) is a folder above what its paths name: renaming /srv to /x would move
//   /srv/secret out from under a deny of /srv/secret/**. A path the target did not normalise is refused by
//   deny rules and never allowed. An allow rule also allows opening the SFTP subsystem (no
//   operation yet); a deny rule with operations or paths does not refuse it.
// - destinations: forwards. A destination that does not parse is refused by deny rules and never
//   allowed.
// - lines: shell lines, matched like commands (an unsplittable line matches deny rules). An allow
//   rule with lines also allows opening the shell; a deny rule with lines does not refuse it.
// Deny and review rules ignore case in users, commands and paths; allow rules match exactly.
import { GatewayError } from "../../core/errors.ts";
import type { SftpOperation, SshAction, SshRequestFacts } from "../../core/types.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlob, compileGlobs, type StringPredicate } from "../glob.ts";
import { compileCommandPatterns, type CommandPatterns } from "./ssh-patterns.ts";
import { analyseCommand, type CommandAnalysis } from "./ssh-wrappers.ts";
import { compileDestinations, normalisedSftpPath, parseDestination, type Destination, type DestinationPredicate } from "./ssh-targets.ts";

export type SshSection = NonNullable<RuleConfig["ssh"]>;

export const SSH_ACTIONS: readonly SshAction[] = ["shell", "exec", "sftp", "forward"];
export const SFTP_OPERATIONS: readonly SftpOperation[] = ["read", "write", "remove", "rename", "mkdir", "list", "setstat"];

/** What rules need of one SSH request, computed once per decision. */
export interface SshView {
  /** exec: the command line's analysis; shell with a line: the line's; otherwise null. */
  readonly analysis: CommandAnalysis | null;
  /** sftp: the path and rename target when normalised; null when given but not normalised. */
  readonly path: string | null | undefined;
  readonly toPath: string | null | undefined;
  /** forward: the destination in canonical form; null when given but unparsable. */
  readonly destination: Destination | null | undefined;
}

export function sshView(f: SshRequestFacts): SshView {
  const analysis = f.action === "exec" ? analyseCommand(f.command ?? "") : f.action === "shell" && f.line !== undefined ? analyseCommand(f.line) : null;
  return {
    analysis,
    path: f.path === undefined ? undefined : normalisedSftpPath(f.path),
    toPath: f.toPath === undefined ? undefined : normalisedSftpPath(f.toPath),
    destination: f.destination === undefined ? undefined : parseDestination(f.destination),
  };
}

/** One condition of the section: decide() uses `test`; explain adds the `why`. */
export interface SshCondition {
  readonly name: "actions" | "users" | "commands" | "operations" | "paths" | "destinations" | "lines";
  test(f: SshRequestFacts, v: SshView): boolean;
  why(f: SshRequestFacts, v: SshView, holds: boolean): string;
}

export type SshMatcher = (f: SshRequestFacts, v: SshView) => boolean;

const list = (xs: readonly string[]) => `[${xs.join(", ")}]`;
const quoted = (argv: readonly string[]) => JSON.stringify(argv.join(" "));

/** Why a line that is not simple meets only the rules that allow any command. */
export function notSimpleText(a: CommandAnalysis, what = "command line"): string {
  if (a.kind === "unsplittable") return `the ${what} could not be split safely (${a.reason}), so only rules that allow any command apply`;
  if (a.kind === "opaque") return `the ${what} runs what the gateway cannot see (${a.reason}), so only rules that allow any command apply`;
  return "";
}

/** The commands condition (or lines, for shell lines): see the file header. */
function commandCondition(name: "commands" | "lines", texts: readonly string[], restricting: boolean): SshCondition {
  const patterns: CommandPatterns = compileList(name, texts, (xs) => compileCommandPatterns(xs, restricting), (x) => compileCommandPatterns([x], restricting));
  const action: SshAction = name === "commands" ? "exec" : "shell";
  const theirs = `its ${name} ${list(texts)}`;
  const allowed = (a: CommandAnalysis): boolean => {
    if (patterns.any) return true;
    if (a.kind !== "simple") return false;
    return a.commands.every((c) => patterns.whole(c));
  };
  const refused = (a: CommandAnalysis): boolean => a.kind !== "simple" || a.commands.some((c) => patterns.within(c));
  return {
    name,
    test(f, v) {
      if (name === "commands" && f.action === "shell") return restricting;
      if (f.action !== action) return false;
      // An allow rule with lines allows the shell itself; a deny rule with lines does not refuse it.
      if (name === "lines" && v.analysis === null) return !restricting;
      const a = v.analysis;
      if (a === null) return false;
      return restricting ? refused(a) : allowed(a);
    },
    why(f, v, holds) {
      if (name === "commands" && f.action === "shell") return restricting ? `a shell: the gateway cannot see the commands typed in it, so ${theirs} cover it` : `a shell is not a command: ${theirs} allow exec only`;
      if (f.action !== action) return `${name} are about ${action === "exec" ? "exec" : "shell lines"}, and this is ${f.action}`;
      const a = v.analysis;
      if (a === null) return restricting ? `opening the shell: ${theirs} are checked line by line` : `opening the shell; ${theirs} are checked line by line`;
      const what = name === "commands" ? "command line" : "line";
      if (a.kind !== "simple") {
        if (restricting) return `the ${what} could not be checked (${a.kind === "unsplittable" ? `could not be split safely: ${a.reason}` : a.reason}), so ${theirs} treat it as any command`;
        return patterns.any ? `${theirs} allow any command` : notSimpleText(a, what);
      }
      if (restricting) {
        for (const c of a.commands) {
          const at = patterns.withinAt(c);
          if (at >= 0) return `${quoted(c.slice(at))} matches ${theirs}${c !== a.argv || at > 0 ? ` (in ${quoted(a.argv)})` : ""}`;
        }
        return `no command of ${quoted(a.argv)} matches ${theirs}`;
      }
      if (holds) return patterns.any ? `${theirs} allow any command` : `${a.commands.map(quoted).join(" and ")} ${a.commands.length === 1 ? "is" : "are"} in ${theirs}`;
      const miss = a.commands.find((c) => !patterns.whole(c))!;
      return miss === a.commands[0] ? `${quoted(miss)} is not in ${theirs}` : `${quoted(miss)}, which ${quoted(a.commands[0]!)} runs, is not in ${theirs}`;
    },
  };
}

/**
 * Runs `compile` over one list of the section; an error names the key path of the bad item
 * (details.path, e.g. ["ssh", "commands", 2]) so that the loader can place it at file:line:column.
 */
function compileList<T>(key: keyof SshSection, items: readonly string[], compile: (items: readonly string[]) => T, one?: (item: string) => unknown): T {
  const fail = (e: unknown, index: number | null): never => {
    if (!(e instanceof GatewayError)) throw e;
    throw new GatewayError(e.code, e.message, { cause: e, details: { ...e.details, path: index === null ? ["ssh", key] : ["ssh", key, index] } });
  };
  if (one !== undefined) {
    items.forEach((item, i) => {
      try {
        one(item);
      } catch (e) {
        fail(e, i);
      }
    });
  }
  try {
    return compile(items);
  } catch (e) {
    const index = e instanceof GatewayError && typeof e.details["index"] === "number" ? (e.details["index"] as number) : null;
    return fail(e, index);
  }
}

function knownSet<T extends string>(key: keyof SshSection, items: readonly string[], known: readonly T[], what: string): ReadonlySet<T> {
  return compileList(key, items, (xs) => new Set(xs.map((x) => x.toLowerCase() as T)), (raw) => {
    // Also checked by the schema; this guards configurations built in code. A misspelt action in
    // a deny rule would silently never match.
    if (!known.includes(raw.toLowerCase() as T)) throw new GatewayError("E_POLICY_INVALID", `unknown ssh ${what} "${raw}" (expected one of ${known.join(", ")})`);
  });
}

/** Actions each condition can match (for allow or for restricting rules). */
function actionsOf(key: keyof SshSection, restricting: boolean): readonly SshAction[] {
  switch (key) {
    case "commands":
      return restricting ? ["exec", "shell"] : ["exec"];
    case "lines":
      return ["shell"];
    case "operations":
    case "paths":
      return ["sftp"];
    case "destinations":
      return ["forward"];
    default:
      return SSH_ACTIONS;
  }
}

export function compileSshConditions(section: SshSection, restricting: boolean): SshCondition[] {
  const out: SshCondition[] = [];
  // A section whose conditions are about disjoint actions can never match: say so at load.
  let possible = new Set<SshAction>(SSH_ACTIONS);
  const keys = (Object.keys(section) as (keyof SshSection)[]).filter((k) => section[k] !== undefined);
  for (const k of keys) {
    const acts = k === "actions" ? [...knownSet("actions", section.actions!, SSH_ACTIONS, "action")] : actionsOf(k, restricting);
    possible = new Set([...possible].filter((a) => acts.includes(a)));
  }
  if (possible.size === 0) {
    throw new GatewayError("E_POLICY_INVALID", `its ssh section can never match: ${keys.filter((k) => k !== "users").map((k) => (k === "actions" ? `actions ${list(section.actions!)}` : `${k} (${actionsOf(k, restricting).join(" or ")} only)`)).join(" and ")} exclude each other`, { details: { path: ["ssh"] } });
  }

  if (section.actions) {
    const acts = knownSet("actions", section.actions, SSH_ACTIONS, "action");
    out.push({ name: "actions", test: (f) => acts.has(f.action), why: (f, _v, holds) => (holds ? `action ${f.action}` : `action ${f.action} is not in its actions ${list([...acts])}`) });
  }
  if (section.users) {
    const users: StringPredicate = compileList("users", section.users, (xs) => compileGlobs(xs, { ignoreCase: restricting }), (x) => compileGlob(x));
    out.push({ name: "users", test: (f) => users(f.user), why: (f, _v, holds) => (holds ? `user ${f.user}` : `user ${f.user} is not in its users ${list(section.users!)}`) });
  }
  if (section.commands) out.push(commandCondition("commands", section.commands, restricting));
  if (section.operations) {
    const ops = knownSet("operations", section.operations, SFTP_OPERATIONS, "sftp operation");
    out.push({
      name: "operations",
      test: (f) => (f.action !== "sftp" ? false : f.operation === undefined ? !restricting : ops.has(f.operation)),
      why: (f, _v, holds) =>
        f.action !== "sftp" ? `operations are about sftp, and this is ${f.action}` : f.operation === undefined ? "opening the SFTP subsystem; operations are checked one by one" : holds ? `operation ${f.operation}` : `operation ${f.operation} is not in its operations ${list([...ops])}`,
    });
  }
  if (section.paths) {
    const globs = compileList("paths", section.paths, (xs) => compileGlobs(xs, { separator: "/", ignoreCase: restricting }), (x) => {
      if (!x.startsWith("/") && !x.startsWith("*")) throw new GatewayError("E_POLICY_INVALID", `sftp path glob "${x}" must start with "/"`);
      compileGlob(x, { separator: "/" });
    });
    const theirs = `its paths ${list(section.paths)}`;
    const within = (p: string | null | undefined): boolean | null => (p === undefined ? null : p === null ? restricting : globs(p));
    const above = restricting ? folderAbove(section.paths) : () => false;
    out.push({
      name: "paths",
      test: (f, v) => {
        if (f.action !== "sftp") return false;
        if (f.operation === undefined && v.path === undefined) return !restricting;
        const a = within(v.path);
        const b = within(v.toPath);
        if (a === null) return restricting;
        if (restricting && f.operation === "rename" && (above(v.path) || above(v.toPath))) return true;
        return restricting ? a || b === true : a && b !== false;
      },
      why: (f, v, holds) => {
        if (f.action !== "sftp") return `paths are about sftp, and this is ${f.action}`;
        if (f.operation === undefined && v.path === undefined) return "opening the SFTP subsystem; paths are checked one by one";
        if (v.path === undefined) return "the request names no path";
        if (v.path === null || v.toPath === null) return `the path ${JSON.stringify(v.path === null ? f.path : f.toPath)} is not in normalised absolute form${restricting ? ", so it is refused" : ""}`;
        const both = v.toPath !== undefined ? `${v.path} → ${v.toPath}` : v.path;
        return holds ? `path ${both} within ${theirs}` : `path ${both} is not ${restricting ? "" : "wholly "}within ${theirs}`;
      },
    });
  }
  if (section.destinations) {
    const dest: DestinationPredicate = compileList("destinations", section.destinations, compileDestinations, (x) => compileDestinations([x]));
    const theirs = `its destinations ${list(section.destinations)}`;
    out.push({
      name: "destinations",
      test: (f, v) => (f.action !== "forward" ? false : v.destination === undefined || v.destination === null ? restricting : dest(v.destination)),
      why: (f, v, holds) => {
        if (f.action !== "forward") return `destinations are about forwards, and this is ${f.action}`;
        if (v.destination === undefined || v.destination === null) return `the destination ${JSON.stringify(f.destination ?? "")} is not HOST:PORT${restricting ? ", so it is refused" : ""}`;
        const d = `${v.destination.host}:${v.destination.port}`;
        return holds ? `destination ${d} in ${theirs}` : `destination ${d} is not in ${theirs}`;
      },
    });
  }
  if (section.lines) out.push(commandCondition("lines", section.lines, restricting));
  return out;
}

export function compileSshMatcher(section: SshSection, restricting: boolean): SshMatcher {
  const conditions = compileSshConditions(section, restricting);
  return (f, v) => {
    for (const c of conditions) if (!c.test(f, v)) return false;
    return true;
  };
}

/**
 * For deny and review rules: whether a normalised path is a folder above something the globs can
 * name (every one of its segments matches the glob's segment at that place, and the glob goes on
 * beyond it, or reaches a `**` first). Case is ignored, as deny rules ignore it. A glob that
 * starts with `**` is below every folder, so such a deny rule holds every rename.
 */
function folderAbove(patterns: readonly string[]): (path: string | null | undefined) => boolean {
  const segment = (seg: string) => (seg === "**" ? "**" : seg === "" ? (x: string) => x === "" : compileGlob(seg, { separator: "/", ignoreCase: true }));
  const compiled = patterns.map((p) => p.split("/").map(segment));
  return (path) => {
    if (path === null || path === undefined) return false;
    const parts = path === "/" ? [""] : path.split("/");
    return compiled.some((segs) => {
      for (let i = 0; i < parts.length; i++) {
        const seg = segs[i];
        if (seg === undefined) return false;
        if (seg === "**") return true;
        if (!seg(parts[i]!)) return false;
      }
      return segs.length > parts.length;
    });
  };
}

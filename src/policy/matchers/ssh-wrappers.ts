// What a command line runs: the command itself and every command a known wrapper in it runs
// (`sudo -u x systemctl status` runs `systemctl status`; `sh -c 'rm -rf /'` runs `rm -rf /`),
// or why the gateway cannot tell. Policy needs all of them: an allow rule must allow each one,
// a deny rule refuses the line when it matches any one (see ssh.ts).
//
// Three outcomes:
// - simple: the line splits (ssh-command.ts) and every wrapper's inner command is known;
// - unsplittable: the line, or a command string a wrapper hands to a shell (`sh -c`, `su -c`,
//   `script -c`, `env -S`, `eval`), is not a simple command;
// - opaque: the line splits, but something in it runs code or arguments the gateway cannot see:
//   an interpreter (python, perl, ruby, node, php, lua, awk, sed ...), a shell reading a script or
//   its input, xargs and parallel (arguments from their input), ssh (a command elsewhere), a
//   program with an option that runs another (tar --to-command, rsync -e, git -c ...), a pager or
//   editor (shell escapes), a wrapper option the gateway does not know, or wrappers nested deeper
//   than 8.
// Wrappers followed exactly: env, sudo, doas, nice, nohup, timeout, stdbuf, ionice, setsid,
// chroot, taskset, exec, command, builtin, time, busybox, eval, sh/bash/dash/zsh/ksh/fish/csh -c,
// su/runuser -c, script -c, find -exec/-execdir/-ok/-okdir. Programs are recognised by their
// file name, wherever they live (`/usr/bin/env` is env). The lists are not exhaustive: a program
// the gateway does not know can still run others, which is why allow lists are the boundary and
// deny rules also look for their pattern at every word of a command (ssh.ts).
import { MAX_WORDS, refusalText, splitCommandLine } from "./ssh-command.ts";

export type CommandAnalysis =
  | { readonly kind: "simple"; readonly argv: readonly string[]; readonly commands: readonly (readonly string[])[] }
  | { readonly kind: "unsplittable"; readonly reason: string }
  | { readonly kind: "opaque"; readonly argv: readonly string[]; readonly commands: readonly (readonly string[])[]; readonly reason: string };

const MAX_DEPTH = 8;

export function basename(word: string): string {
  const i = word.lastIndexOf("/");
  return i < 0 ? word : word.slice(i + 1);
}

/** Interpreters and other programs whose arguments are code or commands the gateway cannot read. */
const CODE_RUNNERS: readonly [RegExp, string][] = [
  [/^(python[0-9.]*|pypy[0-9.]*|perl[0-9.]*|ruby[0-9.]*|irb|node|nodejs|deno|bun|php[0-9.]*|lua[0-9.]*|luajit|tclsh[0-9.]*|wish|expect|rscript|r|julia|jshell|groovy|scala|osascript)$/i, "an interpreter runs code the gateway cannot read"],
  [/^(awk|gawk|mawk|nawk|sed|gsed|ed|ex|vi|vim|nvim|view|rvim|emacs|nano|pico|less|more|most|pg|man|pager|sensible-pager|editor|sensible-editor|sudoedit|visudo|crontab|at|batch|tmux|screen|dtach|make|gmake|npm|npx|yarn|pnpm|pip[0-9.]*|cargo|go|gradle|mvn|rake|bundle|composer)$/i, "it can run other commands (scripts with system(), shell escapes)"],
  [/^(xargs|parallel|watch|flock|nsenter|unshare|systemd-run|systemd-nspawn|machinectl|pkexec|strace|ltrace|gdb|lldb|valgrind|perf|chrt|cgexec|firejail|bwrap|proot|fakeroot|faketime|numactl|sg|newgrp|capsh|setpriv|prlimit|run-parts|start-stop-daemon|dbus-run-session|dbus-launch|xvfb-run|sshpass|ssh|rsh|slogin|mosh|socat|nc|ncat|netcat|docker|podman|kubectl|lxc-attach|source|\.|trap|enable|fc|hash)$/i, "it runs a command the gateway cannot follow"],
];

/** Programs that run others only through certain options: those options make the line opaque. */
const RUNNING_OPTIONS: Readonly<Record<string, RegExp>> = {
  tar: /^(-[A-Za-z]*[IF]|--to-command|--checkpoint-action|--use-compress-program|--rsh-command|--info-script|--new-volume-script|--rmt-command)/,
  zip: /^(-T*T|--unzip-command|-TT)/,
  rsync: /^(-[A-Za-z]*e|--rsh|--rsync-path)/,
  scp: /^(-[A-Za-z]*[SoJ]|--)/,
  sftp: /^(-[A-Za-z]*[SoDJ]|--)/,
  git: /^(-c|--config-env|--exec-path|--upload-pack|--receive-pack|-u|--ext-cmd)/,
  // -H/--host runs ssh to reach another machine (getopt_long also takes --ho, --mac).
  systemctl: /^(-[A-Za-z]*[HM]|--ho|--mac)/,
  find: /^(-fls|-fprint|-fprint0|-fprintf)$/,
  dpkg: /^(--pre-invoke|--post-invoke|--status-logger)/,
  tcpdump: /^(-[A-Za-z]*z|--relinquish-privileges)/,
  ip: /^exec$/,
  mail: /^(-[A-Za-z]*E|--exec)/,
  apt: /^(-o|--option)/,
  "apt-get": /^(-o|--option)/,
};

const SHELLS = /^(sh|bash|rbash|dash|ash|zsh|ksh|ksh93|mksh|pdksh|yash|posh|fish|csh|tcsh|busybox-sh)$/;

interface OptionSpec {
  /** Short options without an argument. */
  readonly flags?: string;
  /** Short options that take an argument (the rest of the cluster, or the next word). */
  readonly withArg?: string;
  /** Long options (without --) that take an argument (=value or the next word). */
  readonly longWithArg?: readonly string[];
  /** Long options without an argument; a name ending in "=" takes only an inline =value. */
  readonly longFlags?: readonly string[];
  /** Short options after which nothing runs (help, list, print). */
  readonly noCommand?: string;
  readonly longNoCommand?: readonly string[];
  /** A bare number option, e.g. `nice -10`. */
  readonly numeric?: boolean;
  /** Options the gateway does not follow although it knows them: the line becomes opaque. */
  readonly opaque?: string;
  readonly longOpaque?: readonly string[];
}

type OptionScan = { readonly next: number; readonly seen: ReadonlySet<string> } | { readonly opaque: string } | { readonly none: true };

/** Skips the options of a wrapper starting at argv[i]; stops at `--` or the first operand. */
function skipOptions(argv: readonly string[], start: number, spec: OptionSpec, name: string): OptionScan {
  const seen = new Set<string>();
  let i = start;
  while (i < argv.length) {
    const w = argv[i]!;
    if (w === "--") return { next: i + 1, seen };
    if (!w.startsWith("-") || w === "-") return { next: i, seen };
    if (w.startsWith("--")) {
      const eq = w.indexOf("=");
      const long = w.slice(2, eq < 0 ? undefined : eq);
      if (spec.longNoCommand?.includes(long)) return { none: true };
      if (spec.longOpaque?.includes(long)) return { opaque: `${name} ${w.slice(0, eq < 0 ? undefined : eq)} is not followed` };
      if (spec.longWithArg?.includes(long)) {
        i += eq < 0 ? 2 : 1;
        seen.add(`--${long}`);
        continue;
      }
      if (spec.longFlags?.includes(long) || (eq >= 0 && spec.longFlags?.includes(`${long}=`))) {
        i++;
        seen.add(`--${long}`);
        continue;
      }
      // getopt_long also takes unambiguous abbreviations; rather than guess, refuse.
      return { opaque: `${name} option "${w}" is not one the gateway follows` };
    }
    if (spec.numeric && /^-[0-9]+$/.test(w)) {
      i++;
      continue;
    }
    let j = 1;
    let consumedNext = false;
    for (; j < w.length; j++) {
      const c = w[j]!;
      if (spec.noCommand?.includes(c)) return { none: true };
      if (spec.opaque?.includes(c)) return { opaque: `${name} -${c} is not followed` };
      seen.add(`-${c}`);
      if (spec.flags?.includes(c)) continue;
      if (spec.withArg?.includes(c)) {
        if (j === w.length - 1) consumedNext = true;
        break;
      }
      return { opaque: `${name} option "-${c}" is not one the gateway follows` };
    }
    i += consumedNext ? 2 : 1;
  }
  return { next: i, seen };
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * Variables env and sudo may set without making the line opaque: they change how a program
 * prints, not what runs. Any other (PATH picks the program, PAGER and SYSTEMD_PAGER are commands,
 * LD_PRELOAD and BASH_ENV load code, ...) makes the line opaque.
 */
const HARMLESS_VARIABLE = /^(LANG|LANGUAGE|LC_[A-Z]+|TZ|TERM|COLUMNS|LINES|NO_COLOR|SYSTEMD_COLORS|SYSTEMD_URLIFY)=/;

/** Inner commands found in one command, or why they cannot be known. */
type Inner = { readonly inner: readonly (readonly string[])[] } | { readonly unsplittable: string } | { readonly opaque: string };

const NONE: Inner = { inner: [] };

function rest(argv: readonly string[], scan: OptionScan, skipAssignments = false): Inner {
  if ("opaque" in scan) return scan;
  if ("none" in scan) return NONE;
  let i = scan.next;
  if (skipAssignments) {
    for (; i < argv.length && ASSIGNMENT.test(argv[i]!); i++) {
      const w = argv[i]!;
      if (!HARMLESS_VARIABLE.test(w)) return { opaque: `${basename(argv[0]!)} sets ${w.slice(0, w.indexOf("="))}, which may change what runs` };
    }
  }
  return i < argv.length ? { inner: [argv.slice(i)] } : NONE;
}

/** A command string a wrapper hands to a shell, split like a command line. */
function shellString(text: string, via: string): Inner {
  const r = splitCommandLine(text);
  if (!r.ok) return { unsplittable: `${refusalText(r)} in the command ${via} runs` };
  return { inner: [r.argv] };
}

function innerOf(argv: readonly string[]): Inner {
  const name = basename(argv[0]!);
  const lower = name.toLowerCase();
  switch (lower) {
    case "env": {
      // `env -S 'cmd args'` splits its string with escapes of its own (`\_` is a space): not followed.
      const spec: OptionSpec = { flags: "i0v", withArg: "uCP", opaque: "S", longWithArg: ["unset", "chdir"], longOpaque: ["split-string"], longFlags: ["ignore-environment", "null", "debug", "block-signal=", "default-signal=", "ignore-signal=", "block-signal", "default-signal", "ignore-signal", "list-signal-handling"], longNoCommand: ["help", "version"] };
      const scan = skipOptions(argv, 1, spec, "env");
      return rest(argv, argv[1] === "-" ? { next: 2, seen: new Set() } : scan, true);
    }
    case "sudo": {
      const spec: OptionSpec = {
        flags: "AbBEHiknNPSsv",
        withArg: "CcDgprRtTUu",
        noCommand: "eKlV",
        longWithArg: ["close-from", "login-class", "chdir", "group", "host", "prompt", "chroot", "role", "type", "command-timeout", "other-user", "user"],
        longFlags: ["askpass", "bell", "background", "preserve-env", "preserve-env=", "set-home", "login", "remove-timestamp", "reset-timestamp", "no-update", "non-interactive", "preserve-groups", "stdin", "shell"],
        longNoCommand: ["edit", "help", "list", "version", "validate"],
      };
      const scan = skipOptions(argv, 1, spec, "sudo");
      const r = rest(argv, scan, true);
      if ("inner" in r && r.inner.length === 0 && "seen" in scan && (scan.seen.has("-s") || scan.seen.has("-i") || scan.seen.has("--shell") || scan.seen.has("--login"))) return { opaque: "sudo starts a shell" };
      return r;
    }
    case "doas": {
      const scan = skipOptions(argv, 1, { flags: "ns", withArg: "uC", noCommand: "L" }, "doas");
      const r = rest(argv, scan);
      if ("inner" in r && r.inner.length === 0 && "seen" in scan && scan.seen.has("-s")) return { opaque: "doas starts a shell" };
      return r;
    }
    case "nice":
      return rest(argv, skipOptions(argv, 1, { withArg: "n", longWithArg: ["adjustment"], numeric: true, longNoCommand: ["help", "version"] }, "nice"));
    case "nohup":
      return rest(argv, skipOptions(argv, 1, { longNoCommand: ["help", "version"] }, "nohup"));
    case "timeout": {
      const scan = skipOptions(argv, 1, { flags: "v", withArg: "ks", longWithArg: ["kill-after", "signal"], longFlags: ["preserve-status", "foreground", "verbose"], longNoCommand: ["help", "version"] }, "timeout");
      if (!("next" in scan)) return rest(argv, scan);
      return rest(argv, { next: scan.next + 1, seen: scan.seen }); // the duration
    }
    case "stdbuf":
      return rest(argv, skipOptions(argv, 1, { withArg: "ioe", longWithArg: ["input", "output", "error"], longNoCommand: ["help", "version"] }, "stdbuf"));
    case "ionice":
      return rest(argv, skipOptions(argv, 1, { flags: "t", withArg: "cn", noCommand: "pPu", longWithArg: ["class", "classdata"], longFlags: ["ignore"], longNoCommand: ["pid", "pgid", "uid", "help", "version"] }, "ionice"));
    case "setsid":
      return rest(argv, skipOptions(argv, 1, { flags: "cfw", longFlags: ["ctty", "fork", "wait"], longNoCommand: ["help", "version"] }, "setsid"));
    case "chroot": {
      const scan = skipOptions(argv, 1, { longWithArg: ["userspec", "groups"], longFlags: ["skip-chdir"], longNoCommand: ["help", "version"] }, "chroot");
      if (!("next" in scan)) return rest(argv, scan);
      // Without a command chroot starts `$SHELL -i`.
      if (scan.next + 1 >= argv.length) return { opaque: "chroot without a command starts a shell" };
      return { inner: [argv.slice(scan.next + 1)] };
    }
    case "taskset": {
      const scan = skipOptions(argv, 1, { flags: "ac", noCommand: "p", longFlags: ["all-tasks", "cpu-list"], longNoCommand: ["pid", "help", "version"] }, "taskset");
      if (!("next" in scan)) return rest(argv, scan);
      return rest(argv, { next: scan.next + 1, seen: scan.seen }); // the mask
    }
    case "exec":
      return rest(argv, skipOptions(argv, 1, { flags: "cl", withArg: "a" }, "exec"));
    case "command":
      return rest(argv, skipOptions(argv, 1, { flags: "p", noCommand: "vV" }, "command"));
    case "builtin":
    case "nocorrect":
      return argv.length > 1 ? { inner: [argv.slice(1)] } : NONE;
    case "time":
      return rest(argv, skipOptions(argv, 1, { flags: "apqv", withArg: "fo", longWithArg: ["format", "output"], longFlags: ["append", "portability", "quiet", "verbose"], longNoCommand: ["help", "version"] }, "time"));
    case "busybox":
      if (argv.length < 2) return NONE;
      if (argv[1]!.startsWith("-")) return { opaque: "busybox options are not followed" };
      return { inner: [argv.slice(1)] };
    case "eval":
      return argv.length > 1 ? shellString(argv.slice(1).join(" "), "eval") : NONE;
    case "su":
    case "runuser": {
      // su [options] [-] [user [args]]: a command only through -c/--command/--session-command;
      // otherwise a login shell, and args after the user go to that shell.
      for (let k = 1; k < argv.length; k++) {
        const w = argv[k]!;
        const m = /^--(command|session-command)(=(.*))?$/s.exec(w);
        if (m) return m[2] !== undefined ? shellString(m[3]!, lower) : k + 1 < argv.length ? shellString(argv[k + 1]!, lower) : { opaque: `${lower} --command without a command` };
        if (/^-[a-zA-Z]*c$/.test(w)) return k + 1 < argv.length ? shellString(argv[k + 1]!, lower) : { opaque: `${lower} -c without a command` };
        if (/^-[a-zA-Z]*c./.test(w)) return shellString(w.slice(w.indexOf("c") + 1), lower);
      }
      return { opaque: `${lower} starts a shell` };
    }
    case "script": {
      for (let k = 1; k < argv.length; k++) {
        const w = argv[k]!;
        const m = /^--command(=(.*))?$/s.exec(w);
        if (m) return m[1] !== undefined ? shellString(m[2]!, "script") : k + 1 < argv.length ? shellString(argv[k + 1]!, "script") : { opaque: "script --command without a command" };
        if (/^-[a-zA-Z]*c$/.test(w)) return k + 1 < argv.length ? shellString(argv[k + 1]!, "script") : { opaque: "script -c without a command" };
      }
      return { opaque: "script starts a shell" };
    }
    case "find":
      return findExec(argv);
  }
  if (SHELLS.test(lower)) return shellInner(argv, lower);
  for (const [re, why] of CODE_RUNNERS) if (re.test(lower)) return { opaque: `"${name}": ${why}` };
  const running = RUNNING_OPTIONS[lower];
  if (running !== undefined) {
    const w = argv.slice(1).find((a) => running.test(a));
    if (w !== undefined) return { opaque: `${name} option "${w}" runs another program` };
  }
  return NONE;
}

/** sh -c STRING [name args]: the string is a command line of its own; anything else reads a script. */
function shellInner(argv: readonly string[], name: string): Inner {
  for (let k = 1; k < argv.length; k++) {
    const w = argv[k]!;
    if (w === "--" || w === "-") break;
    if (/^--(command)(=(.*))?$/s.test(w)) {
      const m = /^--command(=(.*))?$/s.exec(w)!;
      return m[1] !== undefined ? shellString(m[2]!, name) : k + 1 < argv.length ? shellString(argv[k + 1]!, name) : { opaque: `${name} --command without a command` };
    }
    if (/^--(rcfile|init-file)$/.test(w)) return { opaque: `${name} ${w} runs a file` };
    if (w.startsWith("--")) continue;
    if (w === "-o" || w === "+o" || w === "-O" || w === "+O") {
      k++;
      continue;
    }
    if (/^[-+][A-Za-z]+$/.test(w)) {
      if (w.slice(1).includes("c")) {
        // The string is the first operand after the options.
        let s = k + 1;
        while (s < argv.length && /^[-+]/.test(argv[s]!) && argv[s] !== "-" && argv[s] !== "--") s++;
        if (argv[s] === "--") s++;
        return s < argv.length ? shellString(argv[s]!, `${name} -c`) : { opaque: `${name} -c without a command` };
      }
      continue;
    }
    break;
  }
  return { opaque: `"${name}" without -c runs a script or reads commands the gateway cannot see` };
}

/** find's -exec, -execdir, -ok and -okdir run the words up to ";" or "+". */
function findExec(argv: readonly string[]): Inner {
  const inner: string[][] = [];
  for (let k = 1; k < argv.length; k++) {
    if (!/^-(exec|execdir|ok|okdir)$/.test(argv[k]!)) continue;
    let end = k + 1;
    while (end < argv.length && argv[end] !== ";" && argv[end] !== "+") end++;
    if (end >= argv.length) return { opaque: `find ${argv[k]} without a closing ";" or "+"` };
    if (end === k + 1) return { opaque: `find ${argv[k]} without a command` };
    inner.push(argv.slice(k + 1, end));
    k = end;
  }
  const running = RUNNING_OPTIONS["find"]!;
  const w = argv.find((a) => running.test(a));
  if (w !== undefined) return { opaque: `find ${w} writes to a file` };
  return { inner };
}

/** Every command a command line runs, as far as the gateway can tell (see the file header). */
export function analyseCommand(line: string): CommandAnalysis {
  const split = splitCommandLine(line);
  if (!split.ok) return { kind: "unsplittable", reason: refusalText(split) };
  return analyseArgv(split.argv);
}

/**
 * Every command an argv runs, for an argv that no shell splits (Kubernetes exec's command=
 * parameters): the wrappers are followed as in analyseCommand, and a shell string they hand on
 * (`sh -c "…"`) is split as a command line.
 */
export function analyseArgv(argv: readonly string[]): CommandAnalysis {
  if (argv.length === 0) return { kind: "unsplittable", reason: "an empty command" };
  if (argv.length > MAX_WORDS) return { kind: "unsplittable", reason: `more than ${MAX_WORDS} words` };
  const split = { argv };
  const commands: (readonly string[])[] = [];
  let opaque: string | null = null;
  const visit = (argv: readonly string[], depth: number): string | null => {
    commands.push(argv);
    if (depth > MAX_DEPTH) {
      opaque ??= `wrappers nested deeper than ${MAX_DEPTH}`;
      return null;
    }
    const r = innerOf(argv);
    if ("unsplittable" in r) return r.unsplittable;
    if ("opaque" in r) {
      opaque ??= r.opaque;
      return null;
    }
    for (const inner of r.inner) {
      if (inner.length === 0) continue;
      const bad = visit(inner, depth + 1);
      if (bad !== null) return bad;
    }
    return null;
  };
  const bad = visit(split.argv, 0);
  if (bad !== null) return { kind: "unsplittable", reason: bad };
  if (opaque !== null) return { kind: "opaque", argv: split.argv, commands, reason: opaque };
  return { kind: "simple", argv: split.argv, commands };
}

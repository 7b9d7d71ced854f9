// What every CLI command looks like, and a small strict flag parser shared by all of them.
import { GatewayError } from "../core/errors.ts";

export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** True when stdout is a terminal and NO_COLOR is unset. */
  readonly color: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM, for long-running commands (serve, tail -f). */
  readonly signal: AbortSignal;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Full help text printed by `gatehouse <name> --help`. */
  readonly usage: string;
  /** Returns the exit code: 0 ok, 1 failure, 2 bad usage. */
  run(args: readonly string[], io: Io): Promise<number>;
}

export interface FlagSpec {
  /** Flags that take a value, e.g. { config: "string" }. Booleans take none. */
  readonly [flag: string]: "string" | "boolean" | "strings";
}

export interface ParsedArgs {
  readonly flags: Record<string, string | boolean | string[] | undefined>;
  readonly positional: string[];
}

/**
 * Parses `--flag value`, `--flag=value`, `-f` short aliases and positionals.
 * Unknown flags are a usage error (exit 2), never silently ignored.
 */
export function parseArgs(args: readonly string[], spec: FlagSpec, aliases: Record<string, string> = {}): ParsedArgs {
  const flags: Record<string, string | boolean | string[] | undefined> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg);
      continue;
    }
    let name = arg.startsWith("--") ? arg.slice(2) : (aliases[arg.slice(1)] ?? arg.slice(1));
    let value: string | undefined;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = spec[name];
    if (kind === undefined) throw new GatewayError("E_USAGE", `unknown option: "${arg}"`);
    if (kind === "boolean") {
      if (value !== undefined) throw new GatewayError("E_USAGE", `option --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    if (value === undefined) {
      value = args[++i];
      if (value === undefined) throw new GatewayError("E_USAGE", `option --${name} needs a value`);
    }
    if (kind === "strings") {
      const list = (flags[name] as string[] | undefined) ?? [];
      list.push(value);
      flags[name] = list;
    } else {
      flags[name] = value;
    }
  }
  return { flags, positional };
}

/**
 * The arguments of a command that takes exactly one path: its flags and the path, or, on bad
 * usage, 2 after printing what was wrong (`missing` says what the path is).
 */
export function parseOnePath(command: Pick<Command, "name" | "usage">, args: readonly string[], spec: FlagSpec, missing: string, io: Pick<Io, "stderr">): { flags: ParsedArgs["flags"]; path: string } | 2 {
  try {
    const { flags, positional } = parseArgs(args, spec);
    if (positional.length !== 1) throw new GatewayError("E_USAGE", positional.length === 0 ? missing : `unexpected argument "${positional[1]}"`);
    return { flags, path: positional[0]! };
  } catch (e) {
    if (!(e instanceof GatewayError) || e.code !== "E_USAGE") throw e;
    io.stderr(usageError(command.name, e.message));
    return 2;
  }
}

/**
 * What a usage error prints: the one thing that is wrong and where the help is. The whole help
 * would bury the line that matters under forty that do not.
 */
export function usageError(command: string, message: string): string {
  return `gatehouse ${command}: ${message}\nRun 'gatehouse ${command} --help' for usage.\n`;
}

export function wantsHelp(args: readonly string[]): boolean {
  return args.includes("--help") || args.includes("-h");
}

/** ANSI colour helpers that do nothing when colour is off. */
export function paint(io: Pick<Io, "color">) {
  const wrap = (code: string) => (s: string) => (io.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { red: wrap("31"), green: wrap("32"), yellow: wrap("33"), blue: wrap("34"), dim: wrap("2"), bold: wrap("1") };
}

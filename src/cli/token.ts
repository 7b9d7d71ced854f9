// `gatehouse token`: mint a short-lived dev-issuer token for trying the gateway, or create a
// machine key and the config lines that trust it.
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { GatewayError, errorMessage } from "../core/errors.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { systemClock, type Clock } from "../core/types.ts";
import { DEV_ISSUER_WARNING, loadOrCreateDevIssuer, mintDevToken } from "../identity/dev-issuer.ts";
import { newMachineKey } from "../identity/machine-keys.ts";
import type { Command, Io } from "./command.ts";
import { parseArgs } from "./command.ts";

const DEFAULT_TTL = "15m";
const DEFAULT_STATE_DIR = "state";
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const USAGE = `Usage: gatehouse token --sub NAME [--groups G1,G2] [--ttl ${DEFAULT_TTL}] [--state-dir DIR | --config PATH]
       gatehouse token --machine-key NAME [--groups G1,G2]

Development tokens: prints a token signed by the local dev issuer to stdout. A gateway trusts
it only with identity.dev_issuer: true and the same state folder. For development only: anyone
who can read the dev issuer's key can mint any identity.

Machine keys: prints a new random key to stdout, and to stderr the config lines that trust it
(only the key's SHA-256 goes into the config). The key is shown once; store it as a secret.

  --sub NAME          the token's subject (who the caller is)
  --groups LIST       comma-separated groups; may be repeated
  --ttl DURATION      token lifetime, e.g. 5m, 1h (default ${DEFAULT_TTL})
  --state-dir DIR     the folder holding the dev issuer's key
  --config PATH       take the state folder from gateway.state_dir of this file or folder
                      (default without either: ./${DEFAULT_STATE_DIR})
  --machine-key NAME  create a machine key named NAME instead of a token`;

function groupList(values: unknown): string[] {
  const raw = Array.isArray(values) ? (values as string[]) : [];
  return [...new Set(raw.flatMap((v) => v.split(",")).map((g) => g.trim()).filter((g) => g.length > 0))];
}

function yamlFiles(dir: string, names: string[]): string[] {
  return names.filter((n) => /\.ya?ml$/i.test(n)).sort().map((n) => join(dir, n));
}

interface ConfigFacts {
  readonly stateDir?: string;
  readonly devIssuer: boolean;
}

/** Reads just gateway.state_dir and identity.dev_issuer; the full validation belongs to `check`. */
async function readConfigFacts(path: string): Promise<ConfigFacts> {
  let files: string[];
  try {
    files = (await stat(path)).isDirectory() ? yamlFiles(path, await readdir(path)) : [path];
  } catch (e) {
    throw new GatewayError("E_CONFIG_READ", `cannot read config ${path}: ${errorMessage(e)}`, { cause: e });
  }
  let stateDir: string | undefined;
  let devIssuer = false;
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      throw new GatewayError("E_CONFIG_READ", `cannot read config ${file}: ${errorMessage(e)}`, { cause: e });
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (e) {
      throw new GatewayError("E_CONFIG_PARSE", `cannot parse config ${file}: ${errorMessage(e)}`, { cause: e });
    }
    const sections = (doc ?? {}) as { gateway?: { state_dir?: unknown }; identity?: { dev_issuer?: unknown } };
    const given = sections.gateway?.state_dir;
    if (given !== undefined) {
      if (typeof given !== "string" || given.length === 0) {
        throw new GatewayError("E_CONFIG_INVALID", `${file}: gateway.state_dir must be a folder path`);
      }
      // Relative to the file that says it, like every path in the config.
      stateDir ??= resolve(dirname(file), given);
    }
    if (sections.identity?.dev_issuer === true) devIssuer = true;
  }
  return { ...(stateDir !== undefined ? { stateDir } : {}), devIssuer };
}

async function machineKey(name: string, groups: string[], io: Io): Promise<number> {
  if (!NAME.test(name)) {
    throw new GatewayError("E_USAGE", `invalid machine key name "${name}": use letters, digits, _ . - (starting with a letter or digit)`);
  }
  const { key, sha256 } = newMachineKey();
  io.stdout(`${key}\n`);
  const snippet = stringifyYaml({ identity: { machine_keys: [{ name, sha256, groups }] } });
  io.stderr(
    `Machine key "${name}" created. The key (on stdout) is shown only once: store it as a secret.\n` +
      `Add this to your configuration; only the key's SHA-256 is stored there:\n\n${snippet}`,
  );
  return 0;
}

export async function runToken(args: readonly string[], io: Io, clock: Clock): Promise<number> {
  const { flags, positional } = parseArgs(args, {
    sub: "string",
    groups: "strings",
    ttl: "string",
    "state-dir": "string",
    config: "string",
    "machine-key": "string",
    help: "boolean",
  });
  if (flags.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  if (positional.length > 0) throw new GatewayError("E_USAGE", `unexpected argument "${positional[0]}"`);
  const groups = groupList(flags.groups);

  if (flags["machine-key"] !== undefined) {
    for (const other of ["sub", "ttl", "state-dir", "config"]) {
      if (flags[other] !== undefined) throw new GatewayError("E_USAGE", `--machine-key and --${other} exclude each other`);
    }
    return machineKey(flags["machine-key"] as string, groups, io);
  }

  const sub = flags.sub as string | undefined;
  if (sub === undefined || sub.length === 0) throw new GatewayError("E_USAGE", "--sub NAME is required (or --machine-key NAME)");
  const ttlMs = parseDuration((flags.ttl as string | undefined) ?? DEFAULT_TTL);
  if (ttlMs < 1000) throw new GatewayError("E_USAGE", "--ttl must be at least 1s");
  if (flags["state-dir"] !== undefined && flags.config !== undefined) {
    throw new GatewayError("E_USAGE", "--state-dir and --config exclude each other");
  }

  let stateDir = flags["state-dir"] as string | undefined;
  let notTrusted = false;
  if (flags.config !== undefined) {
    const facts = await readConfigFacts(flags.config as string);
    stateDir = facts.stateDir;
    notTrusted = !facts.devIssuer;
  }
  const dir = resolve(stateDir ?? DEFAULT_STATE_DIR);

  const issuer = await loadOrCreateDevIssuer(dir);
  const token = await mintDevToken({ sub, groups, ttlMs }, issuer, clock);
  io.stdout(`${token}\n`);
  const until = new Date(Math.floor((clock.now() + ttlMs) / 1000) * 1000).toISOString();
  io.stderr(
    `${DEV_ISSUER_WARNING}\n` +
      `Token for "${sub}" (groups: ${groups.length ? groups.join(", ") : "none"}), valid ${formatDuration(ttlMs)} until ${until}; ` +
      `dev issuer key ${issuer.keyPath}\n` +
      (notTrusted ? "Note: this configuration does not set identity.dev_issuer: true, so its gateway will refuse this token.\n" : ""),
  );
  return 0;
}

export const tokenCommand: Command = {
  name: "token",
  summary: "mint a development token or a machine key",
  usage: USAGE,
  run: (args, io) => runToken(args, io, systemClock),
};

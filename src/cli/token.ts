// `gatehouse token`: mint a short-lived dev-issuer token for trying the gateway, or create a
// machine key and the config lines that trust it.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { stringify as stringifyYaml } from "yaml";
import { loadConfig } from "../config/load.ts";
import { GatewayError } from "../core/errors.ts";
import { formatDuration, parseDuration } from "../core/duration.ts";
import { systemClock, type Clock } from "../core/types.ts";
import { DEV_ISSUER_WARNING, devIssuerKeyPath, loadOrCreateDevIssuer, mintDevToken } from "../identity/dev-issuer.ts";
import { newMachineKey } from "../identity/machine-keys.ts";
import type { Command, Io } from "./command.ts";
import { parseArgs } from "./command.ts";
import { DEMO_CONFIG } from "./serve.ts";

const DEFAULT_TTL = "15m";
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const USAGE = `Usage: gatehouse token --sub NAME [--groups G1,G2] [--ttl ${DEFAULT_TTL}] [--config PATH | --state-dir DIR]
       gatehouse token --machine-key NAME [--groups G1,G2]
       gatehouse token --exec-credential (--sub NAME [--groups ...] --config PATH | --from-env VAR)

Development tokens: prints a token signed by the local dev issuer to stdout. A gateway trusts
it only with identity.dev_issuer: true, and only if it is signed with that gateway's key, which
lives in its state folder. For development only: anyone who can read the dev issuer's key can
mint any identity.

Machine keys: prints a new random key to stdout, and to stderr the config lines that trust it
(only the key's SHA-256 goes into the config). The key is shown once; store it as a secret.

  --sub NAME          the token's subject (who the caller is)
  --groups LIST       comma-separated groups; may be repeated
  --ttl DURATION      token lifetime, e.g. 5m, 1h (default ${DEFAULT_TTL})
  --config PATH       the configuration the gateway serves (file or folder): its state folder
                      is found as \`gatehouse serve\` finds it
  --state-dir DIR     the state folder itself
                      Without either: ./${DEMO_CONFIG} (what \`gatehouse serve --demo\`
                      serves) if it exists; otherwise this is an error.
  --machine-key NAME  create a machine key named NAME instead of a token
  --exec-credential   print the token as a kubectl ExecCredential (client.authentication.k8s.io/v1)
                      and nothing on stderr: what \`gatehouse kubeconfig\` has kubectl run
  --from-env VAR      with --exec-credential: the token is the value of VAR (an OIDC token or
                      machine key), not one minted by the dev issuer`;

function groupList(values: unknown): string[] {
  const raw = Array.isArray(values) ? (values as string[]) : [];
  return [...new Set(raw.flatMap((v) => v.split(",")).map((g) => g.trim()).filter((g) => g.length > 0))];
}

interface ConfigFacts {
  readonly stateDir: string;
  readonly devIssuer: boolean;
}

/**
 * The state folder and dev_issuer setting of a configuration, read by the same loader as
 * `serve` (secrets left unresolved), so the token is signed with the key that gateway uses.
 */
async function readConfigFacts(path: string, io: Io): Promise<ConfigFacts> {
  const config = await loadConfig(path, { env: io.env, resolveSecrets: false });
  return { stateDir: config.gateway.state_dir, devIssuer: config.identity.dev_issuer };
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
    "exec-credential": "boolean",
    "from-env": "string",
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

  const execCredential = flags["exec-credential"] === true;
  if (flags["from-env"] !== undefined) {
    if (!execCredential) throw new GatewayError("E_USAGE", "--from-env goes with --exec-credential");
    const name = flags["from-env"] as string;
    const value = io.env[name];
    if (value === undefined || value.trim() === "") throw new GatewayError("E_USAGE", `the environment variable ${name} is not set: it should hold your token for the gateway`);
    io.stdout(`${JSON.stringify(execCredentialOf(value.trim()))}\n`);
    return 0;
  }
  const sub = flags.sub as string | undefined;
  if (sub === undefined || sub.length === 0) throw new GatewayError("E_USAGE", "--sub NAME is required (or --machine-key NAME)");
  const ttlMs = parseDuration((flags.ttl as string | undefined) ?? DEFAULT_TTL);
  if (ttlMs < 1000) throw new GatewayError("E_USAGE", "--ttl must be at least 1s");
  if (flags["state-dir"] !== undefined && flags.config !== undefined) {
    throw new GatewayError("E_USAGE", "--state-dir and --config exclude each other");
  }

  let dir: string;
  let notTrusted = false;
  let found = "";
  let configPath = flags.config as string | undefined;
  if (configPath === undefined && flags["state-dir"] === undefined) {
    // Never a key of our own: a token signed with a key no gateway uses is refused by all of them.
    if (!existsSync(DEMO_CONFIG)) {
      throw new GatewayError(
        "E_USAGE",
        "--config PATH is required: the configuration the gateway serves, so that the token is signed with its dev issuer key (or --state-dir DIR, the folder holding that key)",
      );
    }
    configPath = DEMO_CONFIG;
    found = `Using ${DEMO_CONFIG}, the configuration of \`gatehouse serve --demo\` (give --config for another).\n`;
  }
  if (configPath !== undefined) {
    const facts = await readConfigFacts(configPath, io);
    dir = facts.stateDir;
    notTrusted = !facts.devIssuer;
  } else {
    dir = resolve(flags["state-dir"] as string);
  }
  const created = !existsSync(devIssuerKeyPath(dir));

  const issuer = await loadOrCreateDevIssuer(dir);
  const token = await mintDevToken({ sub, groups, ttlMs }, issuer, clock);
  if (execCredential) {
    // kubectl shows the plugin's stderr to the user on every call: nothing there but errors.
    io.stdout(`${JSON.stringify(execCredentialOf(token, new Date(Math.floor((clock.now() + ttlMs) / 1000) * 1000)))}\n`);
    return 0;
  }
  io.stdout(`${token}\n`);
  const until = new Date(Math.floor((clock.now() + ttlMs) / 1000) * 1000).toISOString();
  io.stderr(
    `${DEV_ISSUER_WARNING}\n` +
      `Token for "${sub}" (groups: ${groups.length ? groups.join(", ") : "none"}), valid ${formatDuration(ttlMs)} until ${until}; ` +
      `dev issuer key ${issuer.keyPath}\n` +
      found +
      (created ? "Note: there was no dev issuer key in this state folder, so a new one was made; a gateway on this folder uses it from its next start or reload.\n" : "") +
      (notTrusted ? "Note: this configuration does not set identity.dev_issuer: true, so its gateway will refuse this token.\n" : ""),
  );
  return 0;
}

/** A client.authentication.k8s.io/v1 ExecCredential: what a kubectl exec credential plugin prints. */
export function execCredentialOf(token: string, expires?: Date): Record<string, unknown> {
  return {
    apiVersion: "client.authentication.k8s.io/v1",
    kind: "ExecCredential",
    status: { token, ...(expires !== undefined ? { expirationTimestamp: expires.toISOString().replace(/\.\d{3}Z$/, "Z") } : {}) },
  };
}

export const tokenCommand: Command = {
  name: "token",
  summary: "mint a development token or a machine key",
  usage: USAGE,
  run: (args, io) => runToken(args, io, systemClock),
};

// `gatehouse mcp pin TARGET`: connects to each server of a kind: mcp target as the gateway would
// (stdio spawned with only its declared environment; HTTP with the target's upstream credential),
// lists its tools and writes the target's pin file (pins:), the lock that a reviewed commit
// updates. Prints what changed, and flags tool names a reviewer should look at twice.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { GatewayError } from "../core/errors.ts";
import { loadConfig } from "../config/load.ts";
import type { McpTarget } from "../config/schema.ts";
import { foldName, unusualName } from "../policy/matchers/mcp-names.ts";
import { listTools, type ListToolsOptions, type McpServerSpec } from "../targets/mcp/list-tools.ts";
import { readPinFile, toolDigest, writePinFile, type PinFile } from "../targets/mcp/pins.ts";
import { paint, parseArgs, type Command, type Io } from "./command.ts";

const USAGE = `Usage: gatehouse mcp pin TARGET [--config PATH] [--server NAME]... [--check]

Connects to every server of the kind: mcp target TARGET (or only those named by --server) as the
gateway does (a stdio server spawned with only its declared environment, an HTTP one with the
target's upstream headers), lists its tools, and writes the SHA-256 of each tool's definition
(name, title, description, input and output schema, annotations) to the target's pin file (its
pins:, relative to the config file's folder). The gateway hides and refuses a tool that is new or
changed upstream until this file says otherwise: commit it after reviewing the tools.

Prints each tool that is new (+), changed (~) or gone (-), and warns of tool names that are not
plain ASCII or that differ from another only in case or Unicode form.

  --config PATH    the configuration the gateway serves (default ./gatehouse.yaml)
  --server NAME    pin only this server (repeatable); the others keep their pins
  --check          write nothing; exit 1 when the file differs from what the servers list

Exit status: 0 written (or up to date with --check), 1 failure or a difference, 2 bad usage.`;

export interface PinDeps {
  readonly list?: (spec: McpServerSpec, options?: ListToolsOptions) => Promise<unknown[]>;
}

interface ServerChange {
  readonly server: string;
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
  readonly unchanged: number;
  readonly warnings: string[];
}

/** The tools a server lists, pinned, with what differs from `before`. */
function compare(server: string, tools: readonly unknown[], before: Record<string, string> | undefined): { pins: Record<string, string>; change: ServerChange } {
  const pins: Record<string, string> = Object.create(null) as Record<string, string>;
  const warnings: string[] = [];
  const folded = new Map<string, string>();
  for (const t of tools) {
    const digest = toolDigest(t);
    const name = (t as { name: string }).name;
    if (Object.hasOwn(pins, name)) throw new GatewayError("E_UPSTREAM", `MCP server ${server} lists the tool ${JSON.stringify(name)} twice; refusing to pin either`);
    pins[name] = digest;
    if (unusualName(name)) warnings.push(`tool ${JSON.stringify(name)} has characters other than printable ASCII`);
    const f = foldName(name);
    const twin = folded.get(f);
    if (twin !== undefined) warnings.push(`tools ${JSON.stringify(twin)} and ${JSON.stringify(name)} differ only in case or Unicode form`);
    else folded.set(f, name);
  }
  const old = before ?? {};
  const names = Object.keys(pins).sort();
  return {
    pins,
    change: {
      server,
      added: names.filter((n) => !Object.hasOwn(old, n)),
      changed: names.filter((n) => Object.hasOwn(old, n) && old[n] !== pins[n]),
      removed: Object.keys(old)
        .filter((n) => !Object.hasOwn(pins, n))
        .sort(),
      unchanged: names.filter((n) => old[n] === pins[n]).length,
      warnings,
    },
  };
}

/** The spec listTools needs, from a server's config entry (secrets already resolved). */
function specOf(s: McpTarget["servers"][number]): McpServerSpec {
  return {
    name: s.name,
    ...(s.url !== undefined ? { url: s.url } : {}),
    ...(s.transport !== undefined ? { transport: s.transport } : {}),
    ...(s.headers !== undefined ? { headers: s.headers } : {}),
    ...(s.command !== undefined ? { command: s.command } : {}),
    ...(s.env !== undefined ? { env: s.env } : {}),
    ...(s.cwd !== undefined ? { cwd: s.cwd } : {}),
  };
}

/** Lists every chosen server's tools (all or nothing) and writes or checks the pin file. Returns the exit status. */
export async function pinTarget(target: McpTarget, pinPath: string, opts: { readonly servers?: readonly string[]; readonly check: boolean }, io: Pick<Io, "stdout" | "stderr" | "color">, deps: PinDeps = {}): Promise<number> {
  const list = deps.list ?? listTools;
  const p = paint(io);
  const wanted = opts.servers ?? target.servers.map((s) => s.name);
  for (const name of wanted) {
    if (!target.servers.some((s) => s.name === name)) throw new GatewayError("E_USAGE", `target ${target.name} has no server "${name}" (servers: ${target.servers.map((s) => s.name).join(", ")})`);
  }
  const before = readPinFile(pinPath);
  const servers: PinFile["servers"] = Object.create(null) as PinFile["servers"];
  // Servers still configured keep their pins unless listed now; servers no longer configured go.
  for (const s of target.servers) if (before !== null && Object.hasOwn(before.servers, s.name)) servers[s.name] = before.servers[s.name]!;
  const changes: ServerChange[] = [];
  for (const s of target.servers.filter((x) => wanted.includes(x.name))) {
    const spec = specOf(s);
    // A stdio server without its own folder gets a fresh empty one, as in a gateway session.
    const own = s.command !== undefined && s.cwd === undefined ? mkdtempSync(join(tmpdir(), "gatehouse-mcp-pin-")) : null;
    let tools: unknown[];
    try {
      tools = await list(own === null ? spec : { ...spec, cwd: own });
    } finally {
      if (own !== null) rmSync(own, { recursive: true, force: true });
    }
    const { pins, change } = compare(s.name, tools, before !== null && Object.hasOwn(before.servers, s.name) ? before.servers[s.name]!.tools : undefined);
    servers[s.name] = { tools: pins };
    changes.push(change);
  }
  const dropped = before === null ? [] : Object.keys(before.servers).filter((n) => !target.servers.some((s) => s.name === n));
  let differs = before === null || dropped.length > 0;
  for (const c of changes) {
    const total = c.added.length + c.changed.length + c.removed.length;
    if (total > 0) differs = true;
    io.stdout(`${p.bold(c.server)}: ${c.unchanged} unchanged${c.added.length ? `, ${c.added.length} new` : ""}${c.changed.length ? `, ${c.changed.length} changed` : ""}${c.removed.length ? `, ${c.removed.length} gone` : ""}\n`);
    for (const n of c.added) io.stdout(`  ${p.green("+")} ${n}\n`);
    for (const n of c.changed) io.stdout(`  ${p.yellow("~")} ${n}\n`);
    for (const n of c.removed) io.stdout(`  ${p.red("-")} ${n}\n`);
    for (const w of c.warnings) io.stderr(`${p.yellow("warning")}: ${c.server}: ${w}\n`);
  }
  for (const n of dropped) io.stdout(`${p.red("-")} server ${n} (no longer in the target)\n`);
  if (opts.check) {
    io.stdout(differs ? `${pinPath} differs from what the servers list\n` : `${pinPath} is up to date\n`);
    return differs ? 1 : 0;
  }
  writePinFile(pinPath, { servers });
  io.stdout(`wrote ${pinPath}: review and commit it\n`);
  return 0;
}

async function runPin(args: readonly string[], io: Io): Promise<number> {
  const { flags, positional } = parseArgs(args, { config: "string", server: "strings", check: "boolean" });
  if (positional[0] !== "pin") throw new GatewayError("E_USAGE", positional.length === 0 ? "expected a subcommand: pin" : `unknown subcommand "${positional[0]}" (expected pin)`);
  if (positional.length !== 2) throw new GatewayError("E_USAGE", positional.length < 2 ? "the target name is required" : `unexpected argument "${positional[2]}"`);
  const name = positional[1]!;
  const configPath = resolve((flags.config as string | undefined) ?? "gatehouse.yaml");
  const config = await loadConfig(configPath, { env: io.env, resolveSecrets: true });
  const target = config.targets.find((t) => t.name === name);
  if (target === undefined) throw new GatewayError("E_USAGE", `no target "${name}" in ${configPath} (targets: ${config.targets.map((t) => t.name).join(", ") || "none"})`);
  if (target.kind !== "mcp") throw new GatewayError("E_USAGE", `target "${name}" is of kind ${target.kind}, not mcp`);
  if (target.pins === undefined) throw new GatewayError("E_USAGE", `target "${name}" has no pins: file; add e.g. pins: ${name}-pins.json to it first`);
  // As the gateway reads it: relative to the folder of the file that defines the target.
  const origin = config.origins.get(`target:${name}`) ?? configPath;
  const pinPath = resolve(dirname(origin.replace(/:\d+(:\d+)?$/, "")), target.pins);
  const servers = flags.server as string[] | undefined;
  return pinTarget(target, pinPath, { ...(servers !== undefined ? { servers } : {}), check: flags.check === true }, io);
}

export const mcpCommand: Command = {
  name: "mcp",
  summary: "pin the tool definitions of an MCP target's servers (mcp pin TARGET)",
  usage: USAGE,
  run: (args, io) => runPin(args, io),
};

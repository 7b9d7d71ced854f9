// Serves the compiled gateway with one `kind: mcp` target named `tools` (see MCP-DESIGN.md: one
// endpoint per upstream server at /mcp/<server>, legacy SSE at /sse/<server>), dev tokens on,
// audit in ./state/audit/audit.log, and gives tests the URLs, tokens and the pin command.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { toolDigest, writePinFile } from "../../src/targets/mcp/pins.ts";
import { type GatewayProcess, makeTempDir, runCli, startGatewayProcess } from "./gateway.ts";
import { type ClientTarget, connectClient } from "./mcp-client.ts";

/** One upstream server of the target, as the config's servers[] entry (JSON is YAML). */
export type McpServerEntry = Readonly<Record<string, unknown>> & { readonly name: string };

export interface McpGateway {
  readonly gw: GatewayProcess;
  /** http://127.0.0.1:PORT of the MCP target. */
  readonly base: string;
  /** The Streamable HTTP endpoint of `server`: <base>/mcp/<server>. */
  url(server: string): string;
  /** The legacy SSE endpoint of `server`: <base>/sse/<server>. */
  sseUrl(server: string): string;
  /** A dev-issuer token for `sub` in `groups`. */
  token(sub: string, groups: readonly string[], ttl?: string): Promise<string>;
  /** `gatehouse mcp pin tools --config …`: writes the pin file from what the servers list now. */
  pin(): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export interface McpGatewayOptions {
  readonly servers: readonly McpServerEntry[];
  /** The YAML of the rules list (items starting "  - "). */
  readonly rules: string;
  /** The pin file's name in the config folder (default: no pins key). */
  readonly pins?: string;
  /** Files to write beside the config first (e.g. a pin file). */
  readonly files?: Readonly<Record<string, string>>;
  readonly limits?: Readonly<Record<string, unknown>>;
  /** More of the identity section after dev_issuer, e.g. "machine_keys: [...]". */
  readonly identity?: string;
  /** More lines of the target (YAML, indented 4 spaces by this helper). */
  readonly target?: readonly string[];
  readonly env?: Record<string, string>;
  /** The target's listen address (default 127.0.0.1:0). */
  readonly listen?: string;
  /**
   * Run `gatehouse mcp pin tools` before serving (needs `pins`), then let `editPins` change the
   * file it wrote (e.g. leave a tool out, to test a tool that was never pinned).
   */
  readonly pinFirst?: boolean;
  readonly editPins?: (pins: PinFileJson) => void;
}

/** The pin file as `gatehouse mcp pin` writes it (see src/targets/mcp/pins.ts). */
export interface PinFileJson {
  servers: Record<string, { tools: Record<string, string> }>;
}

/**
 * Whether pinFirst runs `gatehouse mcp pin` (h-mcp-b's CLI) or, until it lands, lists each
 * server's tools with the SDK client and writes the file with pins.ts (the same digests).
 */
const PIN_WITH_CLI = true;

/** Lists each server's tools over its own transport and writes the pin file with src/targets/mcp/pins.ts. */
async function pinWithLibrary(path: string, servers: readonly McpServerEntry[]): Promise<void> {
  const pinned: PinFileJson = { servers: {} };
  for (const s of servers) {
    const target: ClientTarget =
      typeof s["url"] === "string"
        ? { url: s["url"], transport: s["transport"] === "sse" ? "sse" : "streamable" }
        : { command: s["command"] as string[], env: (s["env"] as Record<string, string> | undefined) ?? {} };
    const c = await connectClient(target, "gatehouse-pin");
    try {
      const tools: Record<string, string> = {};
      for (const t of (await c.client.listTools()).tools) tools[t.name] = toolDigest(t);
      pinned.servers[s.name] = { tools };
    } finally {
      await c.close();
    }
  }
  writePinFile(path, pinned);
}

export function mcpGatewayYaml(opts: McpGatewayOptions): string {
  const extra = [
    ...(opts.pins ? [`pins: ${opts.pins}`] : []),
    ...(opts.limits ? [`limits: ${JSON.stringify(opts.limits)}`] : []),
    ...(opts.target ?? []),
  ]
    .map((l) => `    ${l}\n`)
    .join("");
  return `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true${opts.identity ? `, ${opts.identity}` : ""} }
targets:
  - name: tools
    kind: mcp
    listen: ${opts.listen ?? "127.0.0.1:0"}
${extra}    servers: ${JSON.stringify(opts.servers)}
rules:
${opts.rules.replace(/^\n+/, "")}`;
}

export async function startMcpGateway(opts: McpGatewayOptions): Promise<McpGateway> {
  const dir = makeTempDir("gatehouse-mcp-");
  const files = { "gatehouse.yaml": mcpGatewayYaml(opts), ...opts.files };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  if (opts.pinFirst) {
    if (!opts.pins) throw new Error("startMcpGateway: pinFirst needs pins");
    if (PIN_WITH_CLI) {
      const r = await runCli(["mcp", "pin", "tools", "--config", join(dir, "gatehouse.yaml")], { cwd: dir, ...(opts.env ? { env: opts.env } : {}) });
      if (r.code !== 0) throw new Error(`gatehouse mcp pin failed (${r.code}): ${r.stderr}${r.stdout}`);
    } else await pinWithLibrary(join(dir, opts.pins), opts.servers);
    if (opts.editPins) {
      const path = join(dir, opts.pins);
      const pins = JSON.parse(readFileSync(path, "utf8")) as PinFileJson;
      opts.editPins(pins);
      writeFileSync(path, JSON.stringify(pins, null, 2));
    }
  }
  const gw = await startGatewayProcess({ dir, files: {}, ...(opts.env ? { env: opts.env } : {}) }).catch((e) => {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const base = () => `http://127.0.0.1:${gw.port("tools")}`;
  return {
    gw,
    get base() {
      return base();
    },
    url: (server) => `${base()}/mcp/${server}`,
    sseUrl: (server) => `${base()}/sse/${server}`,
    async token(sub, groups, ttl = "30m") {
      const r = await runCli(["token", "--state-dir", join(gw.dir, "state"), "--sub", sub, "--groups", groups.join(","), "--ttl", ttl]);
      if (r.code !== 0) throw new Error(`gatehouse token failed (${r.code}): ${r.stderr}`);
      return r.stdout.trim();
    },
    pin: () => runCli(["mcp", "pin", "tools", "--config", gw.configPath], { cwd: gw.dir, ...(opts.env ? { env: opts.env } : {}) }),
    async stop() {
      await gw.stop();
      gw.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// `gatehouse explain` for MCP requests: the facts from the flags (--tool with --args, or
// --resource, --prompt, --method), the SQL a server's SQL tool would run as the classifier reads
// it, and what the agent would be told (the JSON-RPC error the target answers with).
import { GatewayError } from "../core/errors.ts";
import type { Action, Decision, McpRequestFacts } from "../core/types.ts";
import type { Config, McpTarget } from "../config/schema.ts";
import type { Policy } from "../policy/compile.ts";
import type { PolicyExplanation } from "../policy/explain.ts";
import { SERVER_REQUESTS } from "../targets/mcp/methods.ts";
import { parseStrictJson } from "../targets/mcp/strict-json.ts";

export const MCP_FLAGS = {
  tool: "string",
  args: "string",
  server: "string",
  method: "string",
  resource: "string",
  prompt: "string",
  "from-server": "boolean",
} as const;

/** Whether the flags ask about an MCP request. */
export function wantsMcp(flags: Record<string, unknown>): boolean {
  return ["tool", "args", "server", "method", "resource", "prompt", "from-server"].some((f) => flags[f] !== undefined);
}

const usageError = (m: string) => new GatewayError("E_USAGE", m);

/** The JSON-RPC error code the MCP target answers a refusal with (json-rpc.ts RPC_ERROR.DENIED). */
const DENIED = -32003;

function parseArguments(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    // The gateway's own reader: duplicate keys and lone surrogates are refused there too.
    value = parseStrictJson(text);
  } catch (e) {
    throw usageError(`--args: ${e instanceof Error ? e.message : String(e)} (expected a JSON object, e.g. '{"path": "/srv/data/a.txt"}')`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw usageError("--args must be a JSON object of argument names and values");
  return { ...(value as Record<string, unknown>) };
}

/** The McpRequestFacts the MCP target would give policy for these flags. */
export function mcpFacts(flags: Record<string, unknown>, target: McpTarget | undefined): McpRequestFacts {
  const tool = flags["tool"] as string | undefined;
  const resource = flags["resource"] as string | undefined;
  const prompt = flags["prompt"] as string | undefined;
  if ([tool, resource, prompt].filter((x) => x !== undefined).length > 1) throw usageError("give one of --tool, --resource and --prompt");
  const method = (flags["method"] as string | undefined) ?? (tool !== undefined ? "tools/call" : resource !== undefined ? "resources/read" : prompt !== undefined ? "prompts/get" : undefined);
  if (method === undefined) throw usageError("an MCP request needs --tool NAME (with --args), --resource URI, --prompt NAME or --method METHOD");
  const argsText = flags["args"] as string | undefined;
  if (argsText !== undefined && tool === undefined && prompt === undefined) throw usageError("--args goes with --tool or --prompt");
  let server = flags["server"] as string | undefined;
  const servers = target?.servers.map((s) => s.name) ?? [];
  if (server === undefined) {
    if (servers.length === 1) server = servers[0]!;
    else throw usageError(servers.length === 0 ? "--server NAME is required (the upstream server's name in the target)" : `several servers (${servers.join(", ")}); give --server NAME`);
  } else if (target !== undefined && !servers.includes(server)) throw usageError(`target ${target.name} has no server "${server}" (servers: ${servers.join(", ")})`);
  const fromServer = flags["from-server"] === true || (SERVER_REQUESTS.has(method) && method !== "ping");
  return {
    kind: "mcp",
    direction: fromServer ? "server" : "client",
    method,
    server,
    ...(tool !== undefined ? { tool } : {}),
    ...(prompt !== undefined ? { prompt } : {}),
    ...(resource !== undefined ? { resource } : {}),
    ...(argsText !== undefined ? { arguments: parseArguments(argsText) } : tool !== undefined || prompt !== undefined ? { arguments: {} } : {}),
  };
}

/** What the agent would get, in JSON-RPC terms; null when it goes through. */
export function mcpAnswer(d: Decision): string | null {
  if (d.effect === "allow") return null;
  if (d.effect === "review") return `held for approval (${d.review?.approvers.join(", ") ?? ""}), with progress notifications while it waits; JSON-RPC error ${DENIED} if nobody approves in time`;
  return `JSON-RPC error ${DENIED} ${JSON.stringify({ message: `denied by the gateway: ${d.message}`, data: { rule: d.rule, ...(d.detail ? { detail: d.detail } : {}) } })}`;
}

/** Lines under "seen". */
export function mcpSeenLines(f: McpRequestFacts): string[] {
  const out = [`  server:    ${f.server}`, `  method:    ${f.method}${f.direction === "server" ? " (a request from the server to the agent)" : ""}`];
  if (f.tool !== undefined) out.push(`  tool:      ${JSON.stringify(f.tool)}`);
  if (f.prompt !== undefined) out.push(`  prompt:    ${JSON.stringify(f.prompt)}`);
  if (f.resource !== undefined) out.push(`  resource:  ${f.resource}`);
  if (f.arguments !== undefined) out.push(`  arguments: ${JSON.stringify(f.arguments)}`);
  if (f.sql !== undefined) out.push(`  sql:       classes ${f.sql.classes.join(", ") || "(none)"}; tables ${f.sql.relations.join(", ") || "(none)"}; functions ${f.sql.functions.join(", ") || "(none)"}`);
  return out;
}

/**
 * Explains one MCP request. For a server's SQL tool (servers[].sql), the SQL argument goes
 * through the classifier and the postgres target's built-ins, as the runtime does; what cannot
 * be classified is refused before any rule is asked.
 */
export async function explainMcp(flags: Record<string, unknown>, config: Config, policy: Policy, at: Pick<Action, "identity" | "target" | "time">): Promise<{ facts: McpRequestFacts; explanation: PolicyExplanation | null; answer: string | null; notes: string[]; refused: string | null }> {
  const target = config.targets.find((t) => t.name === at.target && t.kind === "mcp") as McpTarget | undefined;
  let facts = mcpFacts(flags, target);
  const notes: string[] = [];
  if (target === undefined) notes.push(`no mcp target "${at.target}" in the configuration: rules are matched against the name as given`);
  if (facts.method === "tools/call") notes.push("the gateway also refuses a tool the server does not list, or whose definition is new or changed since it was pinned, and checks the arguments against the tool's pinned input schema; explain does not connect to the server, so it shows the rules only");
  const sqlTool = target?.servers.find((s) => s.name === facts.server)?.sql;
  let adjust: ((d: Decision, a: Action) => Decision) | undefined;
  if (sqlTool !== undefined && facts.method === "tools/call" && facts.tool === sqlTool.tool) {
    const { loadSqlParser } = await import("../targets/postgres/sql/sql-parser.ts");
    const { classifySqlCall, mcpSqlBuiltins } = await import("../targets/mcp/sql-argument.ts");
    const r = classifySqlCall(await loadSqlParser(), facts.arguments, sqlTool.argument);
    if (!r.ok) {
      const message = `the SQL argument of ${facts.tool} cannot be classified: ${r.reason}: denied`;
      return { facts, explanation: null, answer: mcpAnswer({ effect: "deny", rule: "builtin:mcp-sql-unreadable", message, masks: { json: [], columns: [], detectors: [] } }), notes, refused: r.reason };
    }
    facts = { ...facts, sql: r.sql };
    if (sqlTool.catalog !== undefined) notes.push("this server's SQL is also read with its database's catalog (views as their tables, parents as their children, user code as user functions); explain reads the SQL text only");
    adjust = mcpSqlBuiltins({ ruleSql: (name) => config.rules.find((x) => x.name === name)?.mcp?.sql });
  }
  const explanation = policy.explain({ ...at, request: facts }, adjust);
  return { facts, explanation, answer: mcpAnswer(explanation.decision), notes, refused: null };
}

/** The flags that give this request again, for the --as-test header. */
export function mcpFlagsText(f: McpRequestFacts, quote: (t: string) => string): string {
  const parts = [`--server ${quote(f.server)}`];
  if (f.tool !== undefined) parts.push(`--tool ${quote(f.tool)}`);
  else if (f.prompt !== undefined) parts.push(`--prompt ${quote(f.prompt)}`);
  else if (f.resource !== undefined) parts.push(`--resource ${quote(f.resource)}`);
  if (!(f.method === "tools/call" && f.tool !== undefined) && !(f.method === "prompts/get" && f.prompt !== undefined) && !(f.method === "resources/read" && f.resource !== undefined)) parts.push(`--method ${quote(f.method)}`);
  if (f.arguments !== undefined && Object.keys(f.arguments).length > 0) parts.push(`--args ${quote(JSON.stringify(f.arguments))}`);
  return parts.join(" ");
}

/** A policy test case's request for these facts (test-file-schema.ts `mcp:`). */
export function mcpTestRequest(f: McpRequestFacts): Record<string, unknown> {
  return {
    mcp: {
      server: f.server,
      method: f.method,
      ...(f.direction === "server" ? { direction: "server" } : {}),
      ...(f.tool !== undefined ? { tool: f.tool } : {}),
      ...(f.prompt !== undefined ? { prompt: f.prompt } : {}),
      ...(f.resource !== undefined ? { resource: f.resource } : {}),
      ...(f.arguments !== undefined ? { arguments: f.arguments } : {}),
      ...(f.sql !== undefined ? { sql: { classes: [...f.sql.classes], tables: [...f.sql.relations], ...(f.sql.functions.length > 0 ? { functions: [...f.sql.functions] } : {}) } } : {}),
    },
  };
}

// The MCP methods the gateway knows, by direction, from 2024-11-05 to 2025-11-25 and the
// stateless 2026-07-28 shape. A method not in these tables is denied, never passed through:
// an upstream may implement methods the policy author never heard of.

/** Protocol versions the gateway speaks with agents and upstreams (newest first). */
export const PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] as const;
/** The stateless revision: recognised (its _meta versions, server/discover, input_required), not relayed. */
export const STATELESS_VERSION = "2026-07-28";
/** Where a 2026-07-28 request declares its version. */
export const META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion";

/**
 * The protocol version a request declares in its _meta (the stateless revision's way), or null.
 * Any _meta key ending in protocolVersion counts, so a variant spelling is not a way around it.
 */
export function declaredVersion(params: Record<string, unknown> | undefined): string | null {
  const meta = params?.["_meta"];
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) return null;
  for (const [k, v] of Object.entries(meta as Record<string, unknown>)) if (/protocolversion$/i.test(k) && typeof v === "string") return v;
  return null;
}

/** Requests an agent sends to a server. */
export const CLIENT_REQUESTS = new Set([
  "initialize",
  "ping",
  "tools/list",
  "tools/call",
  "resources/list",
  "resources/templates/list",
  "resources/read",
  "resources/subscribe",
  "resources/unsubscribe",
  "prompts/list",
  "prompts/get",
  "completion/complete",
  "logging/setLevel",
  // 2025-11-25 tasks.
  "tasks/get",
  "tasks/result",
  "tasks/list",
  "tasks/cancel",
  // 2026-07-28: discovery without a session.
  "server/discover",
]);

/** Notifications an agent sends. */
export const CLIENT_NOTIFICATIONS = new Set(["notifications/initialized", "notifications/cancelled", "notifications/progress", "notifications/roots/list_changed"]);

/** Requests a server sends to the agent: each decided with direction "server". */
export const SERVER_REQUESTS = new Set(["ping", "sampling/createMessage", "elicitation/create", "roots/list"]);

/** Notifications a server sends. */
export const SERVER_NOTIFICATIONS = new Set([
  "notifications/cancelled",
  "notifications/progress",
  "notifications/message",
  "notifications/resources/updated",
  "notifications/resources/list_changed",
  "notifications/tools/list_changed",
  "notifications/prompts/list_changed",
  "notifications/elicitation/complete",
  "notifications/tasks/status",
]);

/**
 * What anyone who may use the target may send whatever the rules say of MCP methods: the
 * lifecycle, and the lists (filtered to what the caller may use, so they show nothing more).
 * "Policy reads as intent": an author who allows a tool means the agent can connect and find it.
 */
export const PLUMBING = new Set(["initialize", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list", "logging/setLevel", "server/discover"]);

/** Lists whose results are filtered to what decide() would allow, with the method each item is decided as. */
export const LISTS = {
  "tools/list": { key: "tools", as: "tools/call" },
  "prompts/list": { key: "prompts", as: "prompts/get" },
  "resources/list": { key: "resources", as: "resources/read" },
  "resources/templates/list": { key: "resourceTemplates", as: "resources/read" },
} as const;
export type ListMethod = keyof typeof LISTS;

export function isListMethod(m: string): m is ListMethod {
  return m in LISTS;
}

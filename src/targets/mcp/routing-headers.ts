// The routing headers of newer MCP revisions (Mcp-Method, Mcp-Name, Mcp-Param-*) let a proxy
// route without reading the body. The gateway decides on the body and never on them; a request
// whose headers say something else than its body is refused, since some other hop (a load
// balancer, the upstream's own router) might act on the headers.
import type { JsonRpcMessage } from "./json-rpc.ts";

/** The name a request's Mcp-Name header stands for: a tool, a prompt, or a resource URI. */
export function nameOf(m: JsonRpcMessage): string | undefined {
  if (m.kind === "response" || m.params === undefined) return undefined;
  const p = m.params;
  if (m.method === "tools/call" || m.method === "prompts/get") return typeof p["name"] === "string" ? p["name"] : undefined;
  if (m.method.startsWith("resources/") && typeof p["uri"] === "string") return p["uri"];
  return undefined;
}

function headerText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return null;
}

/**
 * Null when the routing headers agree with the body (or there are none); else why not. Header
 * names come lower-cased (Headers does that); an argument matches its Mcp-Param-* header
 * ignoring case, and two arguments that differ only in case make any such header a mismatch.
 */
export function routingHeaderMismatch(headers: Headers, m: JsonRpcMessage): string | null {
  const method = headers.get("mcp-method");
  if (method !== null) {
    if (m.kind === "response") return `Mcp-Method "${method}" on a response`;
    if (method !== m.method) return `Mcp-Method "${method}" but the body's method is "${m.method}"`;
  }
  const name = headers.get("mcp-name");
  if (name !== null) {
    const body = nameOf(m);
    if (body !== name) return `Mcp-Name "${name}" but the body names ${body === undefined ? "nothing" : `"${body}"`}`;
  }
  let args: Record<string, unknown> | undefined;
  let seenParam = false;
  for (const [key, value] of headers) {
    if (!key.startsWith("mcp-param-")) continue;
    seenParam = true;
    const want = key.slice("mcp-param-".length);
    if (args === undefined) {
      const a = m.kind === "response" ? undefined : m.params?.["arguments"];
      args = typeof a === "object" && a !== null && !Array.isArray(a) ? (a as Record<string, unknown>) : {};
    }
    const matching = Object.keys(args).filter((k) => k.toLowerCase() === want);
    if (matching.length !== 1) return `${key} names ${matching.length === 0 ? "no argument of the body" : "arguments that differ only in case"}`;
    const text = headerText(args[matching[0]!]);
    if (text === null || text !== value) return `${key} "${value.slice(0, 64)}" but the body's argument says otherwise`;
  }
  void seenParam;
  return null;
}

// The facts the policy decides an MCP request on, read from its parsed body (never from routing
// headers): the method, and per method the tool, prompt or resource it names and its arguments.
import { GatewayError } from "../../core/errors.ts";
import type { McpRequestFacts } from "../../core/types.ts";
import type { JsonRpcNotification, JsonRpcRequest } from "./json-rpc.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function invalid(message: string): never {
  throw new GatewayError("E_PROTOCOL", message);
}

function nameParam(m: JsonRpcRequest | JsonRpcNotification, what: string): string {
  const name = m.params?.["name"];
  if (typeof name !== "string" || name.length === 0) invalid(`${m.method} needs params.name: the ${what}'s name as a string`);
  return name;
}

function argumentsParam(m: JsonRpcRequest | JsonRpcNotification): Obj | undefined {
  const a = m.params?.["arguments"];
  if (a === undefined) return undefined;
  if (!isObj(a)) invalid(`the arguments of ${m.method} must be an object`);
  return a;
}

/** The facts of one request (client: an agent's; server: a server-initiated one). Throws E_PROTOCOL for params it cannot read. */
export function requestFacts(m: JsonRpcRequest | JsonRpcNotification, server: string, direction: "client" | "server"): McpRequestFacts {
  const base = { kind: "mcp" as const, direction, method: m.method, server };
  if (direction === "server") {
    // Server-initiated requests are decided on their whole params (a URL elicitation's url, a
    // sampling request's messages): rules' argument conditions read them.
    return { ...base, ...(m.params !== undefined ? { arguments: m.params } : {}) };
  }
  switch (m.method) {
    case "tools/call": {
      const args = argumentsParam(m);
      return { ...base, tool: nameParam(m, "tool"), ...(args !== undefined ? { arguments: args } : {}) };
    }
    case "prompts/get": {
      const args = argumentsParam(m);
      return { ...base, prompt: nameParam(m, "prompt"), ...(args !== undefined ? { arguments: args } : {}) };
    }
    case "resources/read":
    case "resources/subscribe":
    case "resources/unsubscribe": {
      const uri = m.params?.["uri"];
      if (typeof uri !== "string" || uri.length === 0) invalid(`${m.method} needs params.uri as a string`);
      return { ...base, resource: uri };
    }
    case "completion/complete": {
      // Completing a prompt's or a resource template's argument shows what it would accept: it
      // is decided as that prompt or resource.
      const ref = m.params?.["ref"];
      if (!isObj(ref)) invalid("completion/complete needs params.ref");
      if (ref["type"] === "ref/prompt" && typeof ref["name"] === "string") return { ...base, prompt: ref["name"] };
      if (ref["type"] === "ref/resource" && typeof ref["uri"] === "string") return { ...base, resource: ref["uri"] };
      invalid("completion/complete's ref must be a ref/prompt with a name or a ref/resource with a uri");
    }
    // falls through never: invalid() throws
    default:
      return base;
  }
}

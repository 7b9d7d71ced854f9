// "Listing follows use": the MCP runtime shows an agent, in tools/list, prompts/list,
// resources/list and resources/templates/list, only what decide() could let it use. One call per
// item, through the same decide(), with `listing: true` so that conditions on a call's arguments
// or SQL (not known when listing) neither hide an item an allow rule could allow nor show one no
// rule could (see matchers/mcp.ts). A shown item's calls are still decided one by one.
import type { Identity, McpRequestFacts } from "../core/types.ts";
import type { Policy } from "./compile.ts";

export type ListedItem =
  | { readonly tool: string }
  | { readonly prompt: string }
  | { readonly resource: string }
  /** A resource template (RFC 6570) is matched as written: `file:///srv/{path}` against the rules' URI globs. */
  | { readonly resourceTemplate: string };

export interface ListingContext {
  readonly identity: Identity;
  readonly target: string;
  readonly server: string;
  readonly time: number;
}

/** The facts decide() sees for "may this item be listed?". */
export function listingFacts(server: string, item: ListedItem): McpRequestFacts {
  const base = { kind: "mcp", direction: "client", server, listing: true } as const;
  if ("tool" in item) return { ...base, method: "tools/call", tool: item.tool };
  if ("prompt" in item) return { ...base, method: "prompts/get", prompt: item.prompt };
  if ("resource" in item) return { ...base, method: "resources/read", resource: item.resource };
  return { ...base, method: "resources/read", resource: item.resourceTemplate };
}

/** Whether the item may be shown: some call of it could be allowed (or held for review). */
export function mayList(policy: Policy, ctx: ListingContext, item: ListedItem): boolean {
  const d = policy.decide({ identity: ctx.identity, target: ctx.target, request: listingFacts(ctx.server, item), time: ctx.time });
  return d.effect !== "deny";
}

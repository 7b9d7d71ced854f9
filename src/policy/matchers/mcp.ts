// Matches MCP requests (McpRequestFacts) against a rule's `mcp:` section:
//   servers    globs over the upstream server's name in the target's config
//   methods    JSON-RPC method globs ("/" separates): tools/call, resources/*, sampling/createMessage
//   tools      tools/call: tool name globs
//   resources  resources/read, resources/subscribe, resources/unsubscribe: URI globs
//   prompts    prompts/get: prompt name globs
//   arguments  tools/call, prompts/get: conditions on argument values (mcp-arguments.ts)
//   sql        tools/call of a SQL tool: the statement's classes, tables, functions (postgres.ts);
//              an argument the tool's pinned input schema does not declare fails it closed, as
//              it does argument conditions
// All stated conditions must hold. Why each reads as it does:
// - Allow rules match names exactly as the server knows them; deny and review rules also match
//   other case and compatibility spellings (mcp-names.ts), so `Delete_File` cannot dodge a deny
//   of delete_file. The runtime calls only tools in the pin file under their exact names, so a
//   spelling the server does not list is refused there whatever the rules say.
// - A condition about one method (tools, resources, prompts, arguments, sql) never matches other
//   methods, for either kind of rule: a deny of tool X does not refuse tools/list. A value the
//   condition needs but cannot read (no tool name on a tools/call, a resource URI with dot
//   segments or escapes, an argument of the wrong type) makes deny and review rules match and
//   allow rules fail.
// - Server-initiated requests (sampling/createMessage, elicitation/create, roots/list) are
//   allowed only by a rule whose `methods` names them; an allow rule without `methods` covers
//   what agents send. Deny and review rules without `methods` cover both directions.
// - Listing (McpRequestFacts.listing, from mayList): argument and SQL conditions cannot be known
//   for "could some call be allowed?", so allow rules treat them as met and deny and review
//   rules with them do not hide the item (their calls are still decided one by one).
import { GatewayError } from "../../core/errors.ts";
import type { McpRequestFacts, PostgresRequestFacts } from "../../core/types.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlobs, type StringPredicate } from "../glob.ts";
import { compileNameGlobs } from "./mcp-names.ts";
import { compileArguments, schemaMisfit } from "./mcp-arguments.ts";
import { compilePostgresParts, type PostgresParts } from "./postgres.ts";

export type McpSection = NonNullable<RuleConfig["mcp"]>;

export type McpConditionName = "servers" | "methods" | "tools" | "resources" | "prompts" | "arguments" | "sql";

/** One condition of the section: decide() uses `test`; explain adds the `why`. */
export interface McpCondition {
  readonly name: McpConditionName;
  test(f: McpRequestFacts): boolean;
  why(f: McpRequestFacts, holds: boolean): string;
}

/** Methods that carry a resource URI. */
export const RESOURCE_METHODS: ReadonlySet<string> = new Set(["resources/read", "resources/subscribe", "resources/unsubscribe"]);
/**
 * Methods whose arguments a rule's `arguments:` reads: a call's or a prompt's arguments, and the
 * params of the server-initiated requests that carry values (an elicitation's `url`, `mode`,
 * `message`; a sampling request's), so "URL elicitation only to these hosts" can be written.
 */
const ARGUMENT_METHODS: ReadonlySet<string> = new Set(["tools/call", "prompts/get", "elicitation/create", "sampling/createMessage"]);

const list = (xs: readonly string[]) => `[${xs.join(", ")}]`;

function compileList<T>(key: keyof McpSection, compile: () => T): T {
  try {
    return compile();
  } catch (e) {
    if (!(e instanceof GatewayError)) throw e;
    const path = Array.isArray(e.details["path"]) ? e.details["path"] : ["mcp", key];
    throw new GatewayError(e.code, e.message, { cause: e, details: { ...e.details, path } });
  }
}

/**
 * A resource URI a rule can vouch for: no dot segments, no percent-escapes of ".", "/", "\" or
 * NUL, no backslash or control character (a server that resolves or decodes them would read
 * another resource than the glob saw). null when it cannot be read.
 */
export function readableResource(uri: string | undefined): string | null {
  if (uri === undefined || uri === "") return null;
  if (/[\u0000-\u001f\u007f\\]/.test(uri) || /%(2e|2f|5c|00)/i.test(uri)) return null;
  const path = uri.replace(/[?#].*$/s, "");
  if (/(^|\/)\.\.?(\/|$)/.test(path)) return null;
  return uri;
}

/** A named-item condition (tools, prompts): about one method, the name read from the facts. */
function nameCondition(name: "tools" | "prompts", patterns: readonly string[], restricting: boolean): McpCondition {
  const method = name === "tools" ? "tools/call" : "prompts/get";
  const field = name === "tools" ? "tool" : "prompt";
  const match = compileList(name, () => compileNameGlobs(patterns, restricting));
  const theirs = `its ${name} ${list(patterns)}`;
  return {
    name,
    test(f) {
      if (f.method !== method) return false;
      const n = f[field];
      return n === undefined || n === "" ? restricting : match(n);
    },
    why(f, holds) {
      if (f.method !== method) return `${name} are about ${method}, and this is ${f.method}`;
      const n = f[field];
      if (n === undefined || n === "") return `the request names no ${field}${restricting ? ", so the rule matches (fail closed)" : ""}`;
      return holds ? `${field} ${JSON.stringify(n)} in ${theirs}` : `${field} ${JSON.stringify(n)} is not in ${theirs}`;
    },
  };
}

function sqlCondition(section: NonNullable<McpSection["sql"]>, restricting: boolean): McpCondition {
  const parts: PostgresParts = compileList("sql", () => compilePostgresParts(section, restricting));
  const asPostgres = (f: McpRequestFacts): PostgresRequestFacts | null => (f.sql === undefined ? null : { kind: "postgres", classes: f.sql.classes, relations: f.sql.relations, functions: f.sql.functions });
  const pieces = [parts.classes, parts.tables, parts.functions];
  const misfit = (f: McpRequestFacts): string | null => (f.inputSchema === undefined ? null : schemaMisfit(f.arguments ?? {}, f.inputSchema));
  return {
    name: "sql",
    test(f) {
      if (f.method !== "tools/call") return false;
      const p = asPostgres(f);
      if (p === null) return f.listing === true && !restricting;
      // An argument beside the SQL that the tool's pinned schema does not declare: the server may act on it.
      if (misfit(f) !== null) return restricting;
      for (const part of pieces) if (part !== null && !part.holds(p)) return false;
      return true;
    },
    why(f, holds) {
      if (f.method !== "tools/call") return `sql is about tools/call, and this is ${f.method}`;
      const p = asPostgres(f);
      if (p === null) return f.listing === true ? "listing: the SQL of a call is not known yet" : "the call carries no classified SQL (not a SQL tool)";
      const m = misfit(f);
      if (m !== null) return `${m}, so the call cannot be read${restricting ? ": the rule matches (fail closed)" : ""}`;
      const seen = `${list(p.classes)} of ${list(p.relations)}${p.functions.length > 0 ? ` calling ${list(p.functions)}` : ""}`;
      if (holds) return `SQL ${seen} is within its sql ${JSON.stringify(section)}`;
      // Which list fails, and on what: for an allow rule the items it does not cover.
      const named: [string, typeof parts.classes, readonly string[], readonly string[] | undefined][] = [
        ["classes", parts.classes, p.classes, section.classes],
        ["tables", parts.tables, p.relations, section.tables],
        ["functions", parts.functions, p.functions, section.functions],
      ];
      const why: string[] = [];
      for (const [name, part, items, patterns] of named) {
        if (part === null || part.holds(p)) continue;
        const listed = part.listed(p);
        if (restricting) why.push(`none of its ${name} [${patterns?.join(", ") ?? ""}] is in the SQL's (${items.join(", ") || "none"})`);
        else if (items.length === 0) why.push(`the SQL names no table but acts on objects (${p.classes.join(", ")}) that its tables cannot vouch for`);
        else why.push(`${items.filter((x) => !listed.includes(x)).join(", ")} not in its ${name} [${patterns?.join(", ") ?? ""}]`);
      }
      return `SQL ${seen}: ${why.join("; ")}`;
    },
  };
}

export function compileMcpConditions(section: McpSection, restricting: boolean): McpCondition[] {
  const out: McpCondition[] = [];
  if (section.servers) {
    const servers: StringPredicate = compileList("servers", () => compileGlobs(section.servers!, { ignoreCase: restricting }));
    out.push({ name: "servers", test: (f) => servers(f.server), why: (f, holds) => (holds ? `server ${f.server}` : `server ${f.server} is not in its servers ${list(section.servers!)}`) });
  }
  if (section.methods) {
    const methods = compileList("methods", () => compileNameGlobs(section.methods!, restricting, "/"));
    out.push({ name: "methods", test: (f) => methods(f.method), why: (f, holds) => (holds ? `method ${f.method}` : `method ${f.method} is not in its methods ${list(section.methods!)}`) });
  } else if (!restricting) {
    out.push({
      name: "methods",
      test: (f) => f.direction === "client",
      why: (f, holds) => (holds ? "a request from the agent" : `${f.method} is a request from the server: only a rule whose methods name it allows it`),
    });
  }
  if (section.tools) out.push(nameCondition("tools", section.tools, restricting));
  if (section.resources) {
    const globs = compileList("resources", () => compileNameGlobs(section.resources!, restricting, "/"));
    const theirs = `its resources ${list(section.resources)}`;
    out.push({
      name: "resources",
      test(f) {
        if (!RESOURCE_METHODS.has(f.method)) return false;
        const uri = readableResource(f.resource);
        return uri === null ? restricting : globs(uri);
      },
      why(f, holds) {
        if (!RESOURCE_METHODS.has(f.method)) return `resources are about resources/read and subscriptions, and this is ${f.method}`;
        if (readableResource(f.resource) === null) return `the resource URI ${JSON.stringify(f.resource ?? "")} cannot be read safely (missing, dot segments, escapes or control characters)${restricting ? ", so the rule matches (fail closed)" : ""}`;
        return holds ? `resource ${f.resource} in ${theirs}` : `resource ${f.resource} is not in ${theirs}`;
      },
    });
  }
  if (section.prompts) out.push(nameCondition("prompts", section.prompts, restricting));
  if (section.arguments) {
    const args = compileList("arguments", () => compileArguments(section.arguments!, restricting));
    const outcome = (f: McpRequestFacts) => args(f.arguments, f.method === "tools/call" ? f.inputSchema : undefined);
    out.push({
      name: "arguments",
      test(f) {
        if (!ARGUMENT_METHODS.has(f.method)) return false;
        if (f.listing === true) return !restricting;
        return outcome(f).holds;
      },
      why(f) {
        if (!ARGUMENT_METHODS.has(f.method)) return `arguments are about ${[...ARGUMENT_METHODS].join(", ")}, and this is ${f.method}`;
        if (f.listing === true) return "listing: the arguments of a call are not known yet";
        return outcome(f).why;
      },
    });
  }
  if (section.sql) out.push(sqlCondition(section.sql, restricting));
  return out;
}

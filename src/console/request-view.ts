// How a held request reads on a page: the exact request (the whole SQL statement, the HTTP
// method and path, the SSH command, the kubectl verb and resource), and what a grant for a
// while would let the requester do (the rule's own conditions, in words).
import type { RuleConfig } from "../config/schema.ts";

/** The request as the caller sent it, whole (never clipped): what the approver approves. */
export function requestText(request: object): { kind: string; text: string; facts: string[] } {
  const a = request as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : JSON.stringify(v));
  const list = (v: unknown) => (Array.isArray(v) ? v.map(s).join(", ") : "");
  switch (a.kind) {
    case "postgres":
      return {
        kind: "SQL",
        text: typeof a.sql === "string" && a.sql !== "" ? a.sql : "(statement text not recorded)",
        facts: [`classes: ${list(a.classes) || "none"}`, ...(list(a.relations) ? [`tables: ${list(a.relations)}`] : []), ...(list(a.functions) ? [`functions: ${list(a.functions)}`] : [])],
      };
    case "http":
      return { kind: "HTTP", text: `${s(a.method)} ${s(a.path)}${typeof a.query === "string" && a.query !== "" ? `?${a.query}` : ""}`, facts: [] };
    case "ssh":
      switch (a.action) {
        case "exec":
          return { kind: "SSH command", text: s(a.command), facts: [`as ${s(a.user)}`] };
        case "shell":
          return { kind: "SSH shell", text: typeof a.line === "string" ? a.line : "interactive shell", facts: [`as ${s(a.user)}`] };
        case "sftp":
          return { kind: "SFTP", text: `${s(a.operation)} ${s(a.path)}${typeof (a.to_path ?? a.toPath) === "string" ? ` → ${String(a.to_path ?? a.toPath)}` : ""}`, facts: [`as ${s(a.user)}`] };
        case "forward":
          return { kind: "SSH forward", text: `to ${s(a.destination)}`, facts: [`as ${s(a.user)}`] };
        default:
          return { kind: "SSH", text: JSON.stringify(a), facts: [] };
      }
    case "kubernetes": {
      let text = `${s(a.verb)} ${s(a.resource)}${typeof a.subresource === "string" && a.subresource ? `/${a.subresource}` : ""}`;
      if (typeof a.name === "string" && a.name) text += ` ${a.name}`;
      if (typeof a.namespace === "string" && a.namespace) text += ` -n ${a.namespace}`;
      if (typeof a.path === "string" && a.path && !a.resource) text = `${s(a.verb)} ${a.path}`;
      if (Array.isArray(a.command) && a.command.length > 0) text += ` -- ${a.command.map(s).join(" ")}`;
      const group = typeof a.api_group === "string" ? a.api_group : typeof a.apiGroup === "string" ? a.apiGroup : "";
      return { kind: "kubectl", text, facts: group ? [`API group: ${group}`] : [] };
    }
    default:
      return { kind: String(a.kind ?? "request"), text: JSON.stringify(a), facts: [] };
  }
}

/** What rule `rule` allows, in words: what a grant of it for a while lets the requester do. */
export function ruleScope(rule: RuleConfig | undefined): string {
  if (rule === undefined) return "everything the rule allows (the rule is no longer in the policy)";
  const parts: string[] = [];
  if (rule.postgres) {
    const p = rule.postgres;
    parts.push(`SQL ${p.classes ? p.classes.join(", ") : "statements of any class"}${p.tables ? ` on ${p.tables.join(", ")}` : ""}${p.functions ? ` calling ${p.functions.join(", ")}` : ""}`);
  }
  if (rule.http) parts.push(`HTTP ${rule.http.methods ? rule.http.methods.join(", ") : "any method"} on ${rule.http.paths ? rule.http.paths.join(", ") : "any path"}`);
  if (rule.ssh) {
    const x = rule.ssh;
    const what = [x.actions ? x.actions.join(", ") : "any SSH action", x.commands ? `commands ${x.commands.join(", ")}` : "", x.paths ? `paths ${x.paths.join(", ")}` : "", x.destinations ? `to ${x.destinations.join(", ")}` : "", x.users ? `as ${x.users.join(", ")}` : ""];
    parts.push(what.filter((w) => w !== "").join(" "));
  }
  if (rule.kubernetes) {
    const k = rule.kubernetes;
    const what = [k.verbs ? k.verbs.join(", ") : "any verb", k.resources ? `of ${k.resources.join(", ")}` : "", k.namespaces ? `in ${k.namespaces.map((n) => (n === "" ? "(cluster)" : n)).join(", ")}` : "", k.names ? `named ${k.names.join(", ")}` : "", k.commands ? `commands ${k.commands.join(", ")}` : ""];
    parts.push(`Kubernetes ${what.filter((w) => w !== "").join(" ")}`);
  }
  if (parts.length === 0) parts.push("any request");
  return parts.join("; ");
}

// Why a request got its decision, in words: what the gateway saw, each rule's conditions one by
// one (rule-checks.ts), and, on the deny path, a detail for the caller when nothing allowed it.
// decide() itself never comes here; a default deny does, once, before it is audited.
import type { Action, Decision, Effect, Masks, RequestFacts } from "../core/types.ts";
import type { RequestView } from "./compile.ts";
import { requestView } from "./compile.ts";
import { DEFAULT_DENY, type RuleEntry } from "./decide.ts";
import { listText, type ConditionResult } from "./rule-checks.ts";
import { notSimpleText } from "./matchers/ssh.ts";

export interface RuleExplanation {
  readonly name: string;
  readonly effect: Effect;
  /** "file:line" of the rule, when known. */
  readonly origin: string | null;
  /** The rule's own test (the one decide() runs) holds for the request. */
  readonly matches: boolean;
  /** Every condition the rule states, in a fixed order. */
  readonly conditions: readonly ConditionResult[];
  /** Those of `conditions` that fail. */
  readonly failed: readonly ConditionResult[];
  /** False if the conditions one by one disagree with the rule's test: a bug in explain, shown rather than hidden. */
  readonly consistent: boolean;
  readonly masks: Masks;
}

export interface PolicyExplanation {
  /** What the gateway saw, e.g. "read of sales.orders" or "GET /api/orders". */
  readonly seen: string;
  /** HTTP: the canonical path rules are matched against; null when it has none (refused). */
  readonly canonicalPath?: string | null;
  /** Every rule, in config order. */
  readonly rules: readonly RuleExplanation[];
  /** decide()'s decision (after `adjust`, when given), with the denial detail the gateway adds. */
  readonly decision: Decision;
  /** decide()'s own decision, before `adjust` (what `gatehouse test` checks). */
  readonly ruled: Decision;
}

export type Adjust = (decision: Decision, action: Action) => Decision;

/** What the gateway saw of a request, in one line. */
export function seenText(request: RequestFacts, view: RequestView | null): string {
  switch (request.kind) {
    case "http":
      return view === null ? `${request.method.toUpperCase()} ${request.path} (a path that cannot be put in canonical form)` : `${view.method} ${view.path}`;
    case "postgres": {
      let out = request.classes.length > 0 ? listText(request.classes) : "a statement of no known class";
      if (request.relations.length > 0) out += ` of ${listText(request.relations)}`;
      if (request.functions.length > 0) out += ` calling ${listText(request.functions)}`;
      return out;
    }
    case "ssh":
      return `${sshSeen(request)} as ${request.user}`;
    case "kubernetes":
      return kubernetesSeen(request);
    case "mcp":
      return mcpSeen(request);
  }
}

/**
 * `tools/call of read_file on files with {"path":"/srv/data/a"}`, `resources/read of file:///x on
 * files`, `sampling/createMessage from server everything`; a SQL tool's call adds what its SQL is.
 */
export function mcpSeen(r: Extract<RequestFacts, { kind: "mcp" }>): string {
  const name = r.tool ?? r.prompt ?? r.resource;
  let out = r.direction === "server" ? `${r.method} from server ${r.server}` : `${r.method}${name !== undefined ? ` of ${JSON.stringify(name)}` : ""} on ${r.server}`;
  if (r.arguments !== undefined) {
    const text = JSON.stringify(r.arguments);
    out += ` with ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
  }
  if (r.sql !== undefined) {
    let sql = r.sql.classes.length > 0 ? listText(r.sql.classes) : "a statement of no known class";
    if (r.sql.relations.length > 0) sql += ` of ${listText(r.sql.relations)}`;
    if (r.sql.functions.length > 0) sql += ` calling ${listText(r.sql.functions)}`;
    out += ` (SQL: ${sql})`;
  }
  return out;
}

/**
 * `create of deployments.apps "web" in namespace production`, `list of pods in namespace staging`,
 * `delete of namespaces "production"`, `create of pods/exec "web" in namespace production running
 * ["sh","-c","ls"]`, `get of /metrics`.
 */
export function kubernetesSeen(r: Extract<RequestFacts, { kind: "kubernetes" }>): string {
  if (r.resource === "" && r.path !== undefined) return `${r.verb} of ${r.path}`;
  const verb = r.patchType !== undefined ? `${r.verb} (${r.patchType})` : r.verb;
  let out = `${verb} of ${r.resource}${r.apiGroup ? `.${r.apiGroup}` : ""}${r.subresource ? `/${r.subresource}` : ""}`;
  if (r.name !== undefined) out += ` ${JSON.stringify(r.name)}`;
  // A namespace's own path carries its name as the namespace too (RequestInfo): say it once.
  if (r.namespace && !(r.resource === "namespaces" && r.name === r.namespace)) out += ` in namespace ${r.namespace}`;
  if (r.command !== undefined) out += ` running ${JSON.stringify(r.command)}`;
  return out;
}

function sshSeen(r: Extract<RequestFacts, { kind: "ssh" }>): string {
  switch (r.action) {
    case "exec":
      return `exec of ${JSON.stringify(r.command ?? "")}`;
    case "shell":
      return r.line === undefined ? "a shell" : `the shell line ${JSON.stringify(r.line)}`;
    case "sftp":
      if (r.operation === undefined) return "an SFTP session";
      return `sftp ${r.operation} of ${r.path ?? "(no path)"}${r.toPath !== undefined ? ` to ${r.toPath}` : ""}`;
    case "forward":
      return `a forward to ${r.destination ?? "(no destination)"}`;
  }
}

/** An SSH exec or shell line that is not a simple command: why, in words; null otherwise. */
function notSimple(action: Action, view: RequestView): string | null {
  const a = view.ssh?.analysis;
  if (a === undefined || a === null || a.kind === "simple") return null;
  return notSimpleText(a, action.request.kind === "ssh" && action.request.action === "shell" ? "line" : "command line");
}

/** The rules that would have allowed (or held) the request but for their `when`, as sentences. */
function outsideHours(entries: readonly RuleEntry[], action: Action, view: RequestView): string[] {
  const out: string[] = [];
  const kind = action.request.kind;
  for (const e of entries) {
    const r = e.rule;
    if (r.effect === "deny" || !r.matchesTarget(action.target) || (r.kinds !== null && !r.kinds.includes(kind))) continue;
    const conditions = e.checks(action, view);
    const when = conditions.find((c) => c.condition === "when");
    if (when === undefined || when.holds || !conditions.every((c) => c === when || c.holds)) continue;
    out.push(`rule ${r.name} ${r.effect === "allow" ? "allows it" : "holds it for approval"} only ${when.window}`);
  }
  return out;
}

export function createExplainer(entries: readonly RuleEntry[], decide: (action: Action) => Decision) {
  function describeDenial(action: Action, decision: Decision): Decision {
    if (decision !== DEFAULT_DENY) return ruleDenialDetail(action, decision);
    const view = requestView(action);
    if (view === null) return decision;
    const hours = outsideHours(entries, action, view);
    const why = hours.length === 0 ? (notSimple(action, view) ?? "no rule allows it for you") : `${hours.slice(0, 3).join("; ")}${hours.length > 3 ? `; and ${hours.length - 3} more rules` : ""}`;
    return { ...decision, detail: `${seenText(action.request, view)}; ${why}` };
  }

  /**
   * A deny rule keeps its own message, built-ins theirs; but when a rule about commands refused an
   * SSH command line only because the gateway could not read it, the detail says so (the rule's
   * message, about `rm`, would puzzle someone who ran `ls | head`).
   */
  function ruleDenialDetail(action: Action, decision: Decision): Decision {
    if (action.request.kind !== "ssh" || decision.rule === null || decision.detail !== undefined) return decision;
    const view = requestView(action);
    if (view === null) return decision;
    const a = view.ssh?.analysis;
    if (a === undefined || a === null || a.kind === "simple") return decision;
    const e = entries.find((x) => x.rule.name === decision.rule);
    if (e === undefined || !e.checks(action, view).some((c) => (c.condition === "commands" || c.condition === "lines") && c.holds)) return decision;
    const what = action.request.action === "exec" ? "command line" : "line";
    const why = a.kind === "unsplittable" ? `could not be split safely (${a.reason})` : `runs what the gateway cannot see (${a.reason})`;
    return { ...decision, detail: `${seenText(action.request, view)}; the ${what} ${why}, so rules about commands treat it as any command` };
  }

  function explain(action: Action, adjust?: Adjust): PolicyExplanation {
    const view = requestView(action);
    const rules: RuleExplanation[] = entries.map((e) => {
      const matches = e.rule.matches(action);
      const conditions = view === null ? [] : e.checks(action, view);
      const failed = conditions.filter((c) => !c.holds);
      return {
        name: e.rule.name,
        effect: e.rule.effect,
        origin: e.rule.origin,
        matches,
        conditions,
        failed,
        consistent: view === null || matches === (failed.length === 0),
        masks: e.masks,
      };
    });
    const ruled = decide(action);
    let decision = adjust === undefined ? ruled : adjust(ruled, action);
    decision = describeDenial(action, decision);
    return {
      seen: seenText(action.request, view),
      ...(action.request.kind === "http" ? { canonicalPath: view?.path ?? null } : {}),
      rules,
      decision,
      ruled,
    };
  }

  return { describeDenial, explain };
}

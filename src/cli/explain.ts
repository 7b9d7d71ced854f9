// `gatehouse explain`: what the gateway sees of one SQL text, HTTP request or SSH request, every
// rule that matches or almost matches and why not, and the decision with its masks, computed by
// the gateway's own code (the SQL analysis, HTTP path canonicalisation, the SSH command splitter,
// decide() and the built-ins).
import { canonicalHttpPath, PathRefusal } from "../policy/http-path.ts";
import { stringify as yamlStringify } from "yaml";
import { claimFlagsText, claimsText, parseClaimFlags, type GivenClaims } from "./explain-claims.ts";
import { GatewayError } from "../core/errors.ts";
import type { Action, Decision, Identity, Masks, RequestFacts, TargetKind } from "../core/types.ts";
import { hasMasks } from "../core/types.ts";
import { loadPolicy } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { Policy } from "../policy/compile.ts";
import { DEFAULT_DENY } from "../policy/decide.ts";
import type { PolicyExplanation, RuleExplanation } from "../policy/explain.ts";
import { parseArgs, paint, wantsHelp, type Command, type Io } from "./command.ts";
import { SSH_FLAGS, sshAnswer, sshFacts, sshFlagsText, sshSeenLines, sshTestRequest, wantsSsh } from "./explain-ssh.ts";
import { KUBE_FLAGS, explainKubernetes, kubeFlagsText, kubeSeenLines, kubeTestRequest, wantsKube } from "./explain-kubernetes.ts";
import { MCP_FLAGS, explainMcp, mcpFlagsText, mcpSeenLines, mcpTestRequest, wantsMcp } from "./explain-mcp.ts";

const usage = `Usage: gatehouse explain --config PATH --as SUBJECT [--groups G1,G2] [--target NAME]
                         [--at TIME] [--search-path "S1, S2"] [--db-user NAME] [--issuer ISS]
                         [--all] [--json] [--as-test NAME] "SQL" | "METHOD PATH"
       gatehouse explain --config PATH --as SUBJECT [--groups G1,G2] [--target NAME] [--at TIME]
                         --ssh-user NAME (--exec "CMD" | --shell | --line "TEXT"
                         | --sftp OP:PATH [--to-path PATH] | --forward HOST:PORT)
       gatehouse explain --config PATH --as SUBJECT [--groups G1,G2] [--target NAME] [--at TIME]
                         (--kube "METHOD /path?query" [--content-type TYPE]
                         | --kube-verb VERB --kube-resource RESOURCE [--namespace NS] [--name NAME]
                           [--command ARG]...) [--impersonate-user USER]
       gatehouse explain --config PATH --as SUBJECT [--groups G1,G2] [--target NAME] [--at TIME]
                         [--server NAME] (--tool NAME [--args JSON] | --resource URI
                         | --prompt NAME [--args JSON] | --method METHOD [--from-server])

Shows what the gateway sees of a request and how the policy decides it, without running it:
for SQL the statement classes, tables and functions of each statement (the gateway's own SQL
analysis); for HTTP the method and the canonical path rules are matched against; for SSH the
argv of the command line, the commands its wrappers run (sudo, env, sh -c ...), or why the
line cannot be split safely; for Kubernetes the verb, group, resource, namespace and name the
API server's own rules give the request (or why the gateway refuses it). Then every
rule that matches or almost matches and why not (group, target, class, table, method, path,
outside its hours), and the decision with its masks and what the client would be told.

  --config PATH        the gateway configuration (a YAML file or a folder of them)
  --as SUBJECT         the caller's subject (JWT sub, or machine key name)
  --groups G1,G2       the caller's groups (repeat or separate with commas)
  --issuer ISS         the caller's issuer, for rules naming "issuer:subject" (default dev)
  --claim PATH=VALUE   a verified token claim, for rules' claims: sections (repeat it:
                       --claim repository=acme/deploy --claim ref=refs/heads/main); a claim
                       given twice is a list; none given: the caller has no claims
  --target NAME        the target; default: the only target of the request's kind
  --at TIME            when: an ISO 8601 time (no zone means UTC); default now
  --search-path LIST   PostgreSQL: the session's search_path for unqualified names; default
                       "$user", public (the server's default)
  --db-user NAME       PostgreSQL: the upstream user, when a schema of that name exists (so
                       that "$user" in the search_path names it); default: no such schema
  --ssh-user NAME      SSH: the upstream account the caller logs in as
  --exec "CMD"         SSH: an exec of this command line, exactly as the client sends it
  --shell              SSH: opening an interactive shell
  --line "TEXT"        SSH: a line submitted in a shell (the best-effort line policy)
  --sftp OP:PATH       SSH: an SFTP operation (read, write, remove, rename, mkdir, list, setstat)
                       on a normalised absolute path; --to-path PATH for a rename's target
  --forward HOST:PORT  SSH: a forwarded connection (ssh -L) to HOST:PORT
  --kube "METHOD PATH" Kubernetes: a request as kubectl sends it, e.g.
                       "DELETE /api/v1/namespaces/production" (kubectl -v=8 prints them)
  --content-type TYPE  Kubernetes: the Content-Type of a PATCH (application/merge-patch+json ...)
  --kube-verb VERB     Kubernetes, by its facts: the verb (get, list, create, delete ...)
  --kube-resource RES  Kubernetes: the resource in RBAC form (pods, pods/exec, deployments.apps)
  --namespace NS       Kubernetes: the namespace (none: cluster-scoped)
  --name NAME          Kubernetes: the object's name
  --command ARG        Kubernetes: pods/exec's command, one argument per --command
  --impersonate-user U Kubernetes: the request carries Impersonate-User: U
  --tool NAME          MCP: a tools/call of this tool, exactly as the server names it
  --args JSON          MCP: the call's arguments, a JSON object ('{"path": "/srv/data/a"}');
                       a server's SQL tool (servers[].sql) has its SQL classified as PostgreSQL
  --server NAME        MCP: the upstream server in the target (default: its only one)
  --resource URI       MCP: a resources/read of this URI
  --prompt NAME        MCP: a prompts/get of this prompt
  --method METHOD      MCP: any other JSON-RPC method (tools/list, sampling/createMessage ...);
                       server-to-agent requests (sampling, elicitation, roots/list) are decided
                       as coming from the server, as is any method with --from-server
  --all                list every rule, not only those that match or almost match
  --json               print the explanation as JSON, for scripts
  --as-test NAME       print the decision as policy test cases (for a *.test.yaml's cases)

The request is SQL (one or more statements, read as one simple Query, as psql -c sends it),
METHOD PATH (GET /api/orders?x=1), or an SSH request given by the --ssh-* flags above; an SSH
target not (yet) in the configuration may be named with --target to check rules before it exists. Exit status: 0 explained, 1 invalid configuration,
2 bad usage.`;

const FLAGS = {
  config: "string",
  as: "string",
  groups: "strings",
  issuer: "string",
  claim: "strings",
  target: "string",
  at: "string",
  "search-path": "string",
  "db-user": "string",
  all: "boolean",
  json: "boolean",
  "as-test": "string",
  ...SSH_FLAGS,
  ...KUBE_FLAGS,
  ...MCP_FLAGS,
} as const;

/** One request explained: an HTTP request, or one statement of the SQL (the console's policy page shows them too). */
interface Explained {
  readonly text: string;
  readonly kind: TargetKind;
  readonly request: RequestFacts | null;
  readonly explanation: PolicyExplanation | null;
  /** What the client is told when it is refused (or held). */
  readonly answer: string | null;
  readonly notes: readonly string[];
  /** HTTP: the path as given (before the URL parser and canonicalisation). */
  readonly given?: string;
  /** MCP: why the SQL of a server's SQL tool cannot be classified (refused before any rule). */
  readonly mcpRefused?: string;
  /** Kubernetes: the raw request as given (null: given by its facts), its Content-Type, and the classifier's refusal. */
  readonly kube?: { readonly raw: { readonly method: string; readonly target: string } | null; readonly contentType: string | undefined; readonly refused: string | null };
}

function usageError(message: string): GatewayError {
  return new GatewayError("E_USAGE", message);
}

/** ISO 8601 time; without a zone, UTC. */
export function parseAt(text: string | undefined, now: number): number {
  if (text === undefined || text === "now") return now;
  const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(text) ? text : `${text.replace(" ", "T")}Z`;
  const t = Date.parse(zoned);
  if (!Number.isFinite(t)) throw usageError(`--at: cannot read "${text}" as a time (expected e.g. 2026-03-02T10:00:00Z)`);
  return t;
}

/** "GET /api/x" → method and request target; null when the text is not METHOD PATH. */
export function parseHttpRequest(text: string): { method: string; target: string } | null {
  const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(text);
  if (!m || !(m[2]!.startsWith("/") || m[2]!.startsWith("\\"))) return null;
  return { method: m[1]!, target: m[2]! };
}

function pickTarget(config: Config, name: string | undefined, text: string, named: "ssh" | "kubernetes" | "mcp" | null = null): { name: string; kind: TargetKind } {
  if (named !== null) {
    const fit = config.targets.filter((t) => (t.kind as string) === named);
    if (name !== undefined) {
      const t = config.targets.find((x) => x.name === name);
      if (t && (t.kind as string) !== named) throw usageError(`target "${name}" is a ${t.kind} target, not an ${named} target`);
      return { name, kind: named };
    }
    if (fit.length === 1) return { name: fit[0]!.name, kind: named };
    throw usageError(fit.length === 0 ? `no ${named} target in the configuration; give --target NAME (the name rules will see)` : `several ${named} targets (${fit.map((t) => t.name).join(", ")}); give --target NAME`);
  }
  if (name !== undefined) {
    const t = config.targets.find((x) => x.name === name);
    if (!t) throw usageError(`no target "${name}" in the configuration (targets: ${config.targets.map((x) => x.name).join(", ") || "none"})`);
    return { name: t.name, kind: t.kind as TargetKind };
  }
  const kind: TargetKind = parseHttpRequest(text) !== null ? "http" : "postgres";
  const fit = config.targets.filter((t) => t.kind === kind);
  if (fit.length === 1) return { name: fit[0]!.name, kind };
  if (fit.length === 0) throw usageError(`no ${kind} target in the configuration; give --target NAME`);
  throw usageError(`several ${kind} targets (${fit.map((t) => t.name).join(", ")}); give --target NAME`);
}

/**
 * The path the HTTP target decides on: the runtime parses the request target into a URL and the
 * gateway takes its pathname (http-target.ts), which policy/http-path.ts puts in canonical form.
 */
function httpFacts(method: string, target: string): RequestFacts {
  let path: string;
  try {
    path = new URL(`http://gateway.invalid${target}`).pathname;
  } catch {
    throw usageError(`cannot read "${target}" as a request target`);
  }
  return { kind: "http", method: method.toUpperCase(), path };
}

/** The answer of the HTTP target (http-target.ts): a path with no canonical form is refused 400 before any decision. */
function httpAnswer(d: Decision, refused: PathRefusal | null): string | null {
  if (refused !== null) return `400 ${JSON.stringify({ error: "bad_request", message: `request path refused: ${refused.reason}`, reason: "bad_path" })}`;
  if (d.effect === "allow") return null;
  if (d.effect === "review") return `held for approval (${d.review?.approvers.join(", ") ?? ""}); 403 if nobody approves in time`;
  return `403 ${JSON.stringify({ error: "forbidden", message: d.message, rule: d.rule, ...(d.detail ? { detail: d.detail } : {}) })}`;
}

function pgAnswer(d: Decision): string | null {
  if (d.effect === "allow") return null;
  if (d.effect === "review") return `NOTICE: held for approval (${d.review?.approvers.join(", ") ?? ""}); ERROR 42501 if nobody approves in time`;
  const detail = d.detail ?? (d.rule ? `gatehouse rule: ${d.rule}` : undefined);
  return `ERROR 42501: ${d.message}${detail ? `\nDETAIL: ${detail}` : ""}`;
}

export async function explainAll(text: string, flags: Record<string, unknown>, config: Config, policy: Policy): Promise<{ text: string; target: { name: string; kind: TargetKind }; identity: Identity; time: number; searchPath: string[] | null; items: Explained[] }> {
  const ssh = wantsSsh(flags);
  const kube = wantsKube(flags);
  const mcp = wantsMcp(flags);
  if (ssh && kube) throw usageError("an SSH request and a Kubernetes request at once; give one");
  if (mcp && (ssh || kube)) throw usageError(`an MCP request and ${ssh ? "an SSH" : "a Kubernetes"} request at once; give one`);
  const target = pickTarget(config, flags["target"] as string | undefined, text, ssh ? "ssh" : kube ? "kubernetes" : mcp ? "mcp" : null);
  const groups = ((flags["groups"] as string[] | undefined) ?? []).flatMap((g) => g.split(",")).map((g) => g.trim()).filter((g) => g !== "");
  const claims = parseClaimFlags(flags["claim"] as string[] | undefined);
  const identity: Identity = { method: "dev", subject: flags["as"] as string, issuer: (flags["issuer"] as string | undefined) ?? "dev", groups, ...(claims !== undefined ? { claims } : {}) };
  const time = parseAt(flags["at"] as string | undefined, Date.now());
  if (ssh) {
    const facts = sshFacts(flags);
    const explanation = policy.explain({ identity, target: target.name, request: facts, time });
    const notes = config.targets.some((t) => t.name === target.name) ? [] : [`no target "${target.name}" in the configuration: rules are matched against the name as given`];
    return { text, target, identity, time, searchPath: null, items: [{ text: explanation.seen, kind: "ssh", request: facts, explanation, answer: sshAnswer(explanation.decision, facts), notes }] };
  }
  if (kube) return { text, target, identity, time, searchPath: null, items: [explainKubernetes(flags, config, policy, { identity, target: target.name, time })] };
  if (mcp) {
    const r = await explainMcp(flags, config, policy, { identity, target: target.name, time });
    const seen = r.explanation?.seen ?? `${r.facts.method} of ${JSON.stringify(r.facts.tool ?? r.facts.prompt ?? r.facts.resource ?? "")} on ${r.facts.server}`;
    return { text, target, identity, time, searchPath: null, items: [{ text: seen, kind: "mcp", request: r.facts, explanation: r.explanation, answer: r.answer, notes: r.notes, ...(r.refused !== null ? { mcpRefused: r.refused } : {}) }] };
  }
  if (target.kind === "http") {
    const req = parseHttpRequest(text);
    if (req === null) throw usageError(`target "${target.name}" is an http target: give the request as METHOD PATH, e.g. "GET /api/orders"`);
    const facts = httpFacts(req.method, req.target);
    const action: Action = { identity, target: target.name, request: facts, time };
    const explanation = policy.explain(action);
    const canonical = canonicalHttpPath(facts.kind === "http" ? facts.path : "");
    const refused = canonical instanceof PathRefusal ? canonical : null;
    const notes = refused !== null ? [`the gateway refuses this path before any rule: ${refused.reason}`] : [];
    return { text, target, identity, time, searchPath: null, items: [{ text: text.trim(), kind: "http", request: facts, explanation, answer: httpAnswer(explanation.decision, refused), notes, given: req.target.replace(/[?#].*$/s, "") }] };
  }
  const { explainSql } = await import("./explain-postgres.ts");
  const { parseSearchPath } = await import("../targets/postgres/sql/name-resolution.ts");
  const spText = flags["search-path"] as string | undefined;
  const searchPath = spText === undefined ? ["$user", "public"] : parseSearchPath(spText);
  if (searchPath === null) throw usageError(`--search-path: cannot read "${spText}" as a search_path (expected e.g. "sales, public")`);
  const dbUser = flags["db-user"] as string | undefined;
  const context = dbUser === undefined ? { searchPath } : { searchPath, user: dbUser };
  const r = await explainSql({ sql: text, identity, target: target.name, time, context }, config, policy);
  if (!r.ok) {
    const answer = `ERROR 42601: ${r.error}${r.position !== undefined ? ` (at character ${r.position})` : ""}`;
    return { text, target, identity, time, searchPath, items: [{ text, kind: "postgres", request: null, explanation: null, answer, notes: ["the gateway cannot parse this SQL, so it refuses it (builtin:parse-error) without asking the policy"] }] };
  }
  const items = r.statements.map((s) => ({ text: s.text, kind: "postgres" as const, request: s.facts, explanation: s.explanation, answer: pgAnswer(s.explanation.decision), notes: s.notes }));
  return { text, target, identity, time, searchPath, items };
}

function masksText(m: Masks): string {
  const parts: string[] = [];
  if (m.columns.length > 0) parts.push(`columns [${m.columns.join(", ")}]`);
  if (m.json.length > 0) parts.push(`json [${m.json.join(", ")}]`);
  if (m.detectors.length > 0) parts.push(`detectors [${m.detectors.join(", ")}]`);
  return parts.join(", ");
}

/** A near miss: the rule is about this kind of request and fails at most two conditions. */
function worthShowing(r: RuleExplanation): boolean {
  if (r.matches) return true;
  if (r.failed.some((c) => c.condition === "kind")) return false;
  return r.failed.length <= 2;
}

function decisionLine(d: Decision): string {
  const by = d.rule === null ? (d.message === DEFAULT_DENY.message ? ", no rule matched" : "") : ` by ${d.rule.startsWith("builtin:") ? "the built-in " : "rule "}${d.rule}`;
  return `${d.effect}${by}: ${d.message}`;
}

function printText(out: Awaited<ReturnType<typeof explainAll>>, all: boolean, io: Io): void {
  const p = paint(io);
  const groups = out.identity.groups.length > 0 ? `groups ${out.identity.groups.join(", ")}` : "no groups";
  const claims = out.identity.claims !== undefined ? `; ${claimsText(out.identity.claims)}` : "";
  io.stdout(`${p.bold(out.identity.subject)} (${groups}${claims}) on ${p.bold(out.target.name)} (${out.target.kind}) at ${new Date(out.time).toISOString()}\n`);
  if (out.searchPath !== null) {
    const sp = out.searchPath.map((s) => (s === "$user" ? '"$user"' : s)).join(", ");
    io.stdout(p.dim(`search_path: ${sp}; the gateway uses the session's own (read from the database at login and followed through SET), so give --search-path if it differs\n`));
  }
  out.items.forEach((item, i) => {
    io.stdout("\n");
    if (out.items.length > 1) io.stdout(`${p.bold(`statement ${i + 1}:`)} ${item.text}\n`);
    const e = item.explanation;
    const r = item.request;
    if (r !== null && e !== null) {
      io.stdout(`${p.bold("seen")}: ${e.seen}\n`);
      if (r.kind === "postgres") {
        io.stdout(`  classes:   ${r.classes.join(", ") || "(none)"}\n  tables:    ${r.relations.join(", ") || "(none)"}\n  functions: ${r.functions.join(", ") || "(none)"}\n`);
      } else if (r.kind === "ssh") {
        for (const l of sshSeenLines(r)) io.stdout(`${l}\n`);
      } else if (r.kind === "kubernetes") {
        for (const l of kubeSeenLines(r)) io.stdout(`${l}\n`);
      } else if (r.kind === "mcp") {
        for (const l of mcpSeenLines(r)) io.stdout(`${l}\n`);
      } else if (r.kind === "http") {
        const given = item.given ?? r.path;
        io.stdout(`  method: ${r.method}\n  path:   ${given}${e.canonicalPath === null ? " (cannot be put in canonical form)" : e.canonicalPath !== given ? ` (canonical: ${e.canonicalPath})` : " (canonical)"}\n`);
      }
      // A path with no canonical form is refused before any rule is asked.
      const shown = e.canonicalPath === null ? [] : e.rules.filter((x) => all || worthShowing(x));
      io.stdout(`${p.bold("rules")}:${e.canonicalPath === null ? " not asked" : shown.length === 0 ? " none matches or comes close" : ""}\n`);
      for (const x of shown) {
        const head = `${x.name} (${x.effect}${x.origin ? `, ${x.origin}` : ""})`;
        if (x.matches) io.stdout(`  ${p.green("✓")} ${head}: matches${hasMasks(x.masks) ? `; masks ${masksText(x.masks)}` : ""}\n`);
        else io.stdout(`  ${p.red("✗")} ${head}: ${x.failed.map((c) => c.why).join("; ")}\n`);
        if (!x.consistent) io.stdout(`    ${p.yellow("warning")}: explain's reading of this rule disagrees with the gateway's; trust the decision below, and please report this\n`);
      }
      const hidden = e.canonicalPath === null ? 0 : e.rules.length - shown.length;
      if (hidden > 0) io.stdout(p.dim(`  (${hidden} other rule${hidden === 1 ? "" : "s"} for other kinds of request or further off; --all lists them)\n`));
      const d = e.decision;
      const color = d.effect === "allow" ? p.green : d.effect === "deny" ? p.red : p.yellow;
      io.stdout(`${p.bold("decision")}: ${color(decisionLine(d))}\n`);
      if (d.detail) io.stdout(`  detail: ${d.detail}\n`);
      if (hasMasks(d.masks)) io.stdout(`  masks: ${masksText(d.masks)}${d.effect === "review" ? " (once approved)" : ""}\n`);
      if (d.review) io.stdout(`  approvers: ${d.review.approvers.join(", ")}\n`);
    } else if (item.kind === "kubernetes") {
      io.stdout(`${p.bold("seen")}: ${item.text}, which the gateway refuses: ${item.kube?.refused ?? ""}\n${p.bold("decision")}: ${p.red("deny by the built-in builtin:bad-request")}\n`);
    } else if (item.kind === "mcp") {
      io.stdout(`${p.bold("seen")}: ${item.text}, whose SQL the gateway cannot classify: ${item.mcpRefused ?? ""}\n${p.bold("decision")}: ${p.red("deny by the built-in builtin:mcp-sql-unreadable")}\n`);
    } else {
      io.stdout(`${p.bold("seen")}: SQL the gateway cannot parse\n${p.bold("decision")}: ${p.red("deny by the built-in builtin:parse-error")}\n`);
    }
    if (item.answer !== null) io.stdout(`${p.bold("the client gets")}: ${item.answer.replace(/\n/g, "\n  ")}\n`);
    for (const n of item.notes) io.stdout(`${p.yellow("note")}: ${n}\n`);
  });
}

export function jsonOf(out: Awaited<ReturnType<typeof explainAll>>): unknown {
  return {
    identity: out.identity,
    target: out.target.name,
    kind: out.target.kind,
    at: new Date(out.time).toISOString(),
    ...(out.searchPath !== null ? { search_path: out.searchPath } : {}),
    requests: out.items.map((i) => ({
      text: i.text,
      ...(i.explanation ? { seen: i.explanation.seen } : {}),
      ...(i.request ? { request: i.request } : {}),
      ...(i.explanation?.canonicalPath !== undefined ? { canonical_path: i.explanation.canonicalPath } : {}),
      ...(i.explanation
        ? {
            rules: i.explanation.rules.map((r) => ({
              name: r.name,
              effect: r.effect,
              origin: r.origin,
              matches: r.matches,
              near: worthShowing(r),
              failed: r.failed.map((c) => ({ condition: c.condition, why: c.why })),
              ...(r.consistent ? {} : { inconsistent: true }),
            })),
            decision: i.explanation.decision,
          }
        : { decision: { effect: "deny", rule: i.kind === "kubernetes" ? "builtin:bad-request" : i.kind === "mcp" ? "builtin:mcp-sql-unreadable" : "builtin:parse-error", message: i.answer } }),
      ...(i.answer !== null ? { answer: i.answer } : {}),
      notes: i.notes,
    })),
  };
}

/** The caller as a test case's identity. */
function testIdentity(i: Identity): Record<string, unknown> {
  return {
    sub: i.subject,
    ...(i.groups.length > 0 ? { groups: [...i.groups] } : {}),
    ...(i.issuer !== "dev" ? { issuer: i.issuer } : {}),
    ...(i.claims !== undefined ? { claims: { ...i.claims } } : {}),
  };
}

/** Policy test cases (test-file-schema.ts) that pin what explain found, for a *.test.yaml. */
function testCases(out: Awaited<ReturnType<typeof explainAll>>, name: string): string {
  const cases: unknown[] = [];
  const comments: string[] = [];
  out.items.forEach((item, i) => {
    const e = item.explanation;
    const r = item.request;
    if ((e === null || r === null) && item.kind === "kubernetes" && item.kube?.raw) {
      // gatehouse test classifies raw requests as the gateway does: the refusal is checked too.
      cases.push({
        name,
        identity: testIdentity(out.identity),
        target: out.target.name,
        at: new Date(out.time).toISOString(),
        request: { kubernetes: { request: `${item.kube.raw.method} ${item.kube.raw.target}`, ...(item.kube.contentType !== undefined ? { content_type: item.kube.contentType } : {}) } },
        expect: { effect: "deny", rule: "builtin:bad-request" },
      });
      return;
    }
    if (e === null || r === null) {
      comments.push(`# ${item.text}: the gateway cannot ${item.kind === "mcp" ? "classify its SQL" : "parse this SQL"}; gatehouse test checks policy rules only`);
      return;
    }
    // gatehouse test checks the policy's rules (decide()); a built-in's verdict is noted only.
    // Kubernetes cases are the exception: the runner applies the target's built-ins as the gate does.
    const d = r.kind === "kubernetes" || r.kind === "mcp" ? e.decision : e.ruled;
    if (e.decision.rule !== d.rule || e.decision.effect !== d.effect) {
      comments.push(`# ${out.items.length > 1 ? `statement ${i + 1}: ` : ""}the gateway's ${e.decision.rule ?? "built-ins"} then decides ${e.decision.effect}; the case checks the rules only`);
    }
    const request =
      r.kind === "postgres"
        ? { postgres: { classes: [...r.classes], tables: [...r.relations], ...(r.functions.length > 0 ? { functions: [...r.functions] } : {}) } }
        : r.kind === "http"
          ? { http: { method: r.method, path: r.path } }
          : r.kind === "ssh"
            ? sshTestRequest(r)
            : r.kind === "kubernetes"
              ? kubeTestRequest(r, item.kube?.raw ?? null, item.kube?.contentType)
              : r.kind === "mcp"
                ? mcpTestRequest(r)
                : {};
    const masks = hasMasks(d.masks) ? { masks: { ...(d.masks.json.length ? { json: [...d.masks.json] } : {}), ...(d.masks.columns.length ? { columns: [...d.masks.columns] } : {}), ...(d.masks.detectors.length ? { detectors: [...d.masks.detectors] } : {}) } } : {};
    cases.push({
      name: out.items.length > 1 ? `${name} (statement ${i + 1}: ${item.text.replace(/\s+/g, " ").slice(0, 60)})` : name,
      identity: testIdentity(out.identity),
      target: out.target.name,
      at: new Date(out.time).toISOString(),
      request,
      expect: { effect: d.effect, rule: d.rule, ...masks },
    });
  });
  const quote = (t: string) => `'${t.replace(/\s+/g, " ").replaceAll("'", "'\\''")}'`;
  const command = [
    "gatehouse explain",
    `--as ${quote(out.identity.subject)}`,
    ...(out.identity.groups.length > 0 ? [`--groups ${quote(out.identity.groups.join(","))}`] : []),
    ...claimFlagsText(out.identity.claims as GivenClaims | undefined, quote),
    `--target ${quote(out.target.name)}`,
    `--at ${new Date(out.time).toISOString()}`,
    ...(out.searchPath !== null && out.searchPath.join(",") !== "$user,public" ? [`--search-path ${quote(out.searchPath.join(", "))}`] : []),
    ...(out.items[0]?.request?.kind === "ssh"
      ? [sshFlagsText(out.items[0].request, quote)]
      : out.items[0]?.request?.kind === "mcp"
        ? [mcpFlagsText(out.items[0].request, quote)]
      : out.items[0]?.kind === "kubernetes"
        ? [out.items[0].request?.kind === "kubernetes" ? kubeFlagsText(out.items[0].request, out.items[0].kube?.raw ?? null, out.items[0].kube?.contentType, quote) : `--kube ${quote(out.items[0].text)}`]
        : [quote(out.text)]),
  ].join(" ");
  const header = `# from: ${command}\n`;
  return `${header}${comments.map((c) => `${c}\n`).join("")}${cases.length > 0 ? yamlStringify(cases) : ""}`;
}

export const explainCommand: Command = {
  name: "explain",
  summary: "show how the policy decides a request (SQL, HTTP, SSH, Kubernetes, MCP), and why",
  usage,
  async run(args, io) {
    if (wantsHelp(args)) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    const { flags, positional } = parseArgs(args, FLAGS);
    if (flags["config"] === undefined) throw usageError("--config is required");
    if (flags["as"] === undefined) throw usageError("--as SUBJECT is required");
    const text = positional.join(" ");
    if (wantsSsh(flags)) {
      if (text.trim() !== "") throw usageError(`an SSH request is given by its flags (--exec "CMD" ...), not by "${text}"`);
    } else if (wantsKube(flags)) {
      if (text.trim() !== "") throw usageError(`a Kubernetes request is given by its flags (--kube "METHOD /path" ...), not by "${text}"`);
    } else if (wantsMcp(flags)) {
      if (text.trim() !== "") throw usageError(`an MCP request is given by its flags (--tool NAME --args JSON ...), not by "${text}"`);
    } else if (text.trim() === "") throw usageError('the request is required: SQL, METHOD PATH such as "GET /api/orders", or an SSH request (--ssh-user NAME --exec "CMD")');
    let config: Config;
    let policy: Policy;
    try {
      ({ config, policy } = await loadPolicy(flags["config"] as string, { env: io.env, resolveSecrets: false }));
    } catch (e) {
      if (!(e instanceof GatewayError) || e.code === "E_USAGE") throw e;
      io.stderr(`gatehouse explain: invalid configuration (${e.code}):\n${e.message}\n`);
      return 1;
    }
    const out = await explainAll(text, flags, config, policy);
    if (flags["as-test"] !== undefined) io.stdout(testCases(out, flags["as-test"] as string));
    else if (flags["json"] === true) io.stdout(`${JSON.stringify(jsonOf(out))}\n`);
    else printText(out, flags["all"] === true, io);
    return 0;
  },
};

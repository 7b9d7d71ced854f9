// Runs policy test files: each `*.test.yaml` is checked against the configuration in its own
// folder (the other YAML files there, loaded without resolving secrets).
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { GatewayError, errorMessage } from "../core/errors.ts";
import type { Action, Decision, KubernetesRequestFacts, McpRequestFacts, McpSqlFacts, RequestFacts, SftpOperation, SshAction, SshRequestFacts, TargetKind } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import { issuesError, issuesOf, type ConfigIssue } from "../config/issue.ts";
import { loadPolicy } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { problems } from "../config/validate.ts";
import { issueAt, parseYaml, positionOf } from "../config/yaml-source.ts";
import type { Policy } from "./compile.ts";
import { PolicyTestFile, type TestCase } from "./test-file-schema.ts";
import { classifyRequest } from "../targets/kubernetes/request-info.ts";
import { createMayUseTarget } from "../gate/target-access.ts";
import { kubernetesBuiltins, refusalDecision } from "../targets/kubernetes/builtins.ts";
import { mcpSqlBuiltins } from "../targets/mcp/sql-builtins.ts";

/** What the SQL parser tells about a statement; injected so policy code needs no parser. */
export interface SqlFacts {
  readonly classes: readonly string[];
  readonly relations: readonly string[];
  readonly functions: readonly string[];
}
export type SqlAnalyzer = (sql: string) => SqlFacts | Promise<SqlFacts>;

/** The MCP target's classifier of a SQL tool's argument: its facts, or a throw saying why it is refused. */
export type McpSqlClassifier = (sql: string) => McpSqlFacts | Promise<McpSqlFacts>;

export interface PolicyTestOptions {
  readonly analyzeSql?: SqlAnalyzer;
  readonly classifyMcpSql?: McpSqlClassifier;
}

/** A Monday, noon UTC: the time of a case that names none. */
export const DEFAULT_TEST_TIME = "2026-03-02T12:00:00Z";

export interface CaseResult {
  readonly name: string;
  /** "file:line" of the case. */
  readonly where: string;
  readonly passed: boolean;
  /** Why it failed, e.g. "expected effect=deny rule=x, got effect=allow rule=y". */
  readonly failure?: string;
  readonly decision?: Decision;
}

export interface FileResult {
  readonly file: string;
  readonly cases: readonly CaseResult[];
  /** Set when the test file or its configuration cannot be used; no case ran. */
  readonly error?: { readonly code: string; readonly message: string; readonly issues: readonly ConfigIssue[] };
  readonly warnings: readonly string[];
}

export interface TestReport {
  readonly files: readonly FileResult[];
  readonly passed: number;
  readonly failed: number;
  /** Files that could not be run. */
  readonly invalid: number;
}

const TEST_FILE = /\.test\.ya?ml$/;
const SKIP_DIRS = new Set(["node_modules", ".git"]);

/** A test file itself, or every `*.test.yaml`/`*.test.yml` under a folder, sorted. */
export async function findTestFiles(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw new GatewayError("E_USAGE", `cannot read "${path}": ${(e as { code?: string }).code ?? String(e)}`, { cause: e });
  }
  if (!info.isDirectory()) return [path];
  const out: string[] = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) await walk(full);
      } else if (TEST_FILE.test(e.name)) out.push(full);
    }
  };
  await walk(path);
  return out;
}

/** "deployments.apps/scale" → resource deployments, API group apps, subresource scale. */
export function parseResource(text: string): { resource: string; apiGroup?: string; subresource?: string } {
  const slash = text.indexOf("/");
  const main = slash < 0 ? text : text.slice(0, slash);
  const subresource = slash < 0 ? undefined : text.slice(slash + 1);
  const dot = main.indexOf(".");
  const resource = dot < 0 ? main : main.slice(0, dot);
  const apiGroup = dot < 0 ? undefined : main.slice(dot + 1);
  return { resource, ...(apiGroup ? { apiGroup } : {}), ...(subresource ? { subresource } : {}) };
}

class CaseError extends Error {}

/** The facts the SSH target gives policy, from a case; what belongs to another action is a mistake in the case. */
function sshRequest(s: NonNullable<TestCase["request"]["ssh"]>): SshRequestFacts {
  const action = s.action as SshAction;
  const own: Record<SshAction, readonly string[]> = { exec: ["command"], shell: ["line"], sftp: ["operation", "path", "to_path"], forward: ["destination"] };
  const stray = (["command", "line", "operation", "path", "to_path", "destination"] as const).filter((k) => s[k] !== undefined && !own[action].includes(k));
  if (stray.length > 0) throw new CaseError(`request.ssh: ${stray.join(", ")} ${stray.length === 1 ? "does" : "do"} not belong to a ${action} request`);
  if (action === "exec" && s.command === undefined) throw new CaseError("request.ssh: an exec request needs command");
  if (action === "forward" && s.destination === undefined) throw new CaseError("request.ssh: a forward request needs destination (host:port)");
  if (action === "sftp" && s.operation !== undefined && s.path === undefined) throw new CaseError("request.ssh: an sftp operation needs path");
  if (s.to_path !== undefined && s.operation !== "rename") throw new CaseError("request.ssh: to_path is for rename only");
  return {
    kind: "ssh",
    user: s.user,
    action,
    ...(s.command !== undefined ? { command: s.command } : {}),
    ...(s.line !== undefined ? { line: s.line } : {}),
    ...(s.operation !== undefined ? { operation: s.operation as SftpOperation } : {}),
    ...(s.path !== undefined ? { path: s.path } : {}),
    ...(s.to_path !== undefined ? { toPath: s.to_path } : {}),
    ...(s.destination !== undefined ? { destination: s.destination } : {}),
  };
}

/**
 * The facts the Kubernetes target gives policy: a raw request through the gateway's own
 * classifier (a refusal is the gateway's builtin:bad-request deny), or the structured form.
 */
function kubernetesRequest(k: NonNullable<TestCase["request"]["kubernetes"]>): KubernetesRequestFacts | Decision {
  if (k.request !== undefined) {
    const stray = (["verb", "resource", "namespace", "name", "command"] as const).filter((x) => k[x] !== undefined);
    if (stray.length > 0) throw new CaseError(`request.kubernetes: give either request or ${stray.join(", ")}, not both`);
    const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(k.request);
    if (m === null) throw new CaseError(`request.kubernetes.request: expected "METHOD /path?query", got ${JSON.stringify(k.request)}`);
    const c = classifyRequest(m[1]!, m[2]!, k.content_type !== undefined ? { contentType: k.content_type } : {});
    return c.ok ? c.facts : refusalDecision(c.reason);
  }
  if (k.content_type !== undefined) throw new CaseError("request.kubernetes: content_type goes with request");
  if (k.verb === undefined || k.resource === undefined) throw new CaseError("request.kubernetes needs request (METHOD /path), or verb and resource");
  return {
    kind: "kubernetes",
    verb: k.verb,
    ...parseResource(k.resource),
    ...(k.namespace ? { namespace: k.namespace } : {}),
    ...(k.name ? { name: k.name } : {}),
    ...(k.command ? { command: k.command } : {}),
  };
}

/** Requests a server sends to the agent (decided with direction "server"). */
const SERVER_METHODS = new Set(["sampling/createMessage", "elicitation/create", "roots/list"]);

/** The facts the MCP target gives policy; a SQL text goes through the target's classifier (a refusal is its deny). */
async function mcpRequest(m: NonNullable<TestCase["request"]["mcp"]>, opts: PolicyTestOptions): Promise<McpRequestFacts | Decision> {
  const named = [m.tool, m.prompt, m.resource].filter((x) => x !== undefined).length;
  if (named > 1) throw new CaseError("request.mcp: give at most one of tool, prompt and resource");
  const method = m.method ?? (m.tool !== undefined ? "tools/call" : m.prompt !== undefined ? "prompts/get" : m.resource !== undefined ? "resources/read" : undefined);
  if (method === undefined) throw new CaseError("request.mcp needs method, or tool, prompt or resource");
  if (m.sql !== undefined && method !== "tools/call") throw new CaseError("request.mcp: sql is for tools/call");
  let sql: McpSqlFacts | undefined;
  if (typeof m.sql === "string") {
    if (!opts.classifyMcpSql) throw new CaseError("request.mcp.sql as text needs the SQL classifier, and none is available here; give classes and tables");
    try {
      sql = await opts.classifyMcpSql(m.sql);
    } catch (e) {
      return { effect: "deny", rule: "builtin:mcp-sql-unreadable", message: `the SQL argument cannot be classified: ${errorMessage(e)}`, masks: NO_MASKS };
    }
  } else if (m.sql !== undefined) sql = { classes: m.sql.classes, relations: m.sql.tables ?? [], functions: m.sql.functions ?? [] };
  return {
    kind: "mcp",
    direction: m.direction ?? (SERVER_METHODS.has(method) ? "server" : "client"),
    method,
    server: m.server,
    ...(m.tool !== undefined ? { tool: m.tool } : {}),
    ...(m.prompt !== undefined ? { prompt: m.prompt } : {}),
    ...(m.resource !== undefined ? { resource: m.resource } : {}),
    ...(m.arguments !== undefined ? { arguments: m.arguments } : {}),
    ...(m.input_schema !== undefined ? { inputSchema: m.input_schema } : {}),
    ...(sql !== undefined ? { sql } : {}),
  };
}

async function requestOf(c: TestCase, opts: PolicyTestOptions): Promise<RequestFacts | Decision> {
  const r = c.request;
  const kinds = (["http", "postgres", "ssh", "kubernetes", "mcp"] as const).filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) throw new CaseError(`request needs exactly one of http, postgres, ssh, kubernetes, mcp (found ${kinds.length})`);
  if (r.http) return { kind: "http", method: r.http.method, path: r.http.path };
  if (r.ssh) return sshRequest(r.ssh);
  if (r.kubernetes) return kubernetesRequest(r.kubernetes);
  if (r.mcp) return mcpRequest(r.mcp, opts);
  const pg = r.postgres!;
  if (pg.sql !== undefined) {
    if (pg.classes || pg.tables || pg.functions) throw new CaseError("request.postgres: give either sql or classes/tables/functions, not both");
    if (!opts.analyzeSql) throw new CaseError("request.postgres.sql needs an SQL analyzer, and none is available here; use classes and tables");
    let facts: SqlFacts;
    try {
      facts = await opts.analyzeSql(pg.sql);
    } catch (e) {
      // As in the gateway: SQL that cannot be read is denied.
      return { effect: "deny", rule: null, message: `SQL cannot be analysed: ${errorMessage(e)}`, masks: NO_MASKS };
    }
    // The Postgres analysis carries the gateway's own markers among its functions (each starts
    // with a NUL, see targets/postgres/sql/markers.ts); the policy never sees them.
    const functions = facts.functions.filter((f) => f.charCodeAt(0) !== 0);
    return { kind: "postgres", classes: facts.classes, relations: facts.relations, functions, sql: pg.sql };
  }
  if (!pg.classes) throw new CaseError("request.postgres needs classes (and usually tables), or sql");
  return { kind: "postgres", classes: pg.classes, relations: pg.tables ?? [], functions: pg.functions ?? [] };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  const y = new Set(b);
  return x.size === y.size && [...x].every((v) => y.has(v));
}

function masksText(m: { json?: readonly string[]; columns?: readonly string[]; detectors?: readonly string[] }): string {
  const parts: string[] = [];
  for (const k of ["json", "columns", "detectors"] as const) {
    const v = m[k] ?? [];
    if (v.length > 0) parts.push(`${k}: [${v.join(", ")}]`);
  }
  return `{${parts.join("; ")}}`;
}

function describe(d: { effect: string; rule?: string | null }): string {
  return `effect=${d.effect}${d.rule === undefined ? "" : ` rule=${d.rule ?? "(none)"}`}`;
}

function compare(c: TestCase, d: Decision): string | null {
  const e = c.expect;
  const problems: string[] = [];
  if (d.effect !== e.effect || (e.rule !== undefined && d.rule !== e.rule)) {
    problems.push(`expected ${describe(e)}, got effect=${d.effect} rule=${d.rule ?? "(none)"}`);
  }
  if (e.masks) {
    const want = { json: e.masks.json ?? [], columns: e.masks.columns ?? [], detectors: e.masks.detectors ?? [] };
    const ok = sameSet(want.json, d.masks.json) && sameSet(want.columns, d.masks.columns) && sameSet(want.detectors, d.masks.detectors);
    if (!ok) problems.push(`expected masks ${masksText(want)}, got masks ${masksText(d.masks)}`);
  }
  if (e.message !== undefined && d.message !== e.message) problems.push(`expected message ${JSON.stringify(e.message)}, got ${JSON.stringify(d.message)}`);
  if (e.approvers) {
    const got = d.review?.approvers ?? [];
    if (!sameSet(e.approvers, got)) problems.push(`expected approvers [${e.approvers.join(", ")}], got [${got.join(", ")}]`);
  }
  if (problems.length === 0) return null;
  // A default deny's message says why nothing matched; worth seeing when it was unexpected.
  if (d.effect !== e.effect && d.rule === null) problems.push(`(${d.message})`);
  return problems.join("; ");
}

async function runCase(c: TestCase, where: string, config: Config, policy: Policy, opts: PolicyTestOptions): Promise<CaseResult> {
  let request: RequestFacts | Decision;
  try {
    request = await requestOf(c, opts);
  } catch (e) {
    if (e instanceof CaseError) return { name: c.name, where, passed: false, failure: e.message };
    throw e;
  }
  let decision: Decision;
  if ("effect" in request) decision = request;
  else {
    const target = config.targets.find((t) => t.name === c.target);
    if (target && target.kind !== (request.kind as TargetKind)) {
      return { name: c.name, where, passed: false, failure: `target "${c.target}" is a ${target.kind} target, but the request is ${request.kind}` };
    }
    const action: Action = {
      identity: {
        method: c.identity.method ?? "dev",
        subject: c.identity.sub,
        issuer: c.identity.issuer ?? "test",
        groups: c.identity.groups ?? [],
        ...(c.identity.claims !== undefined ? { claims: c.identity.claims as Readonly<Record<string, unknown>> } : {}),
      },
      target: c.target,
      request,
      time: Date.parse(c.at ?? DEFAULT_TEST_TIME),
    };
    decision = policy.decide(action);
    // As the Kubernetes target does: its built-ins (builtin:discovery) after decide().
    if (request.kind === "kubernetes") {
      const adjust = kubernetesBuiltins({ mayUseTarget: createMayUseTarget(() => config.rules, (rule, t) => policy.rules.find((x) => x.name === rule)?.matchesTarget(t) ?? false) });
      decision = adjust(decision, action);
    }
    // As the MCP target does for a SQL tool: the postgres target's built-in denials.
    if (request.kind === "mcp" && request.sql !== undefined) {
      decision = mcpSqlBuiltins({ ruleSql: (name) => config.rules.find((x) => x.name === name)?.mcp?.sql })(decision, action);
    }
  }
  const failure = compare(c, decision);
  return failure === null ? { name: c.name, where, passed: true, decision } : { name: c.name, where, passed: false, failure, decision };
}

function fileError(file: string, e: unknown, warnings: readonly string[] = []): FileResult {
  const code = e instanceof GatewayError ? e.code : "E_INTERNAL";
  return { file, cases: [], warnings, error: { code, message: errorMessage(e), issues: issuesOf(e) } };
}

/** Runs one test file against the configuration in its folder. */
export async function runPolicyTestFile(
  file: string,
  opts: PolicyTestOptions = {},
  loaded?: Map<string, Promise<{ config: Config; policy: Policy }>>,
): Promise<FileResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    return fileError(file, new GatewayError("E_CONFIG_READ", `cannot read test file "${file}": ${(e as { code?: string }).code ?? String(e)}`));
  }
  const { source, issues } = parseYaml(file, text);
  if (!source) return fileError(file, issuesError("E_CONFIG_PARSE", issues));
  const found = problems(PolicyTestFile, source.value ?? {}).map((p) => issueAt(source, p.path, p.message));
  if (found.length > 0) return fileError(file, issuesError("E_CONFIG_INVALID", found));
  const tests = source.value as PolicyTestFile;

  const dir = dirname(file);
  const cache = loaded ?? new Map();
  let pending = cache.get(dir);
  if (!pending) {
    // The same load as check, serve and a reload, so a rule that does not compile is placed at file:line:column.
    pending = loadPolicy(dir, { resolveSecrets: false });
    cache.set(dir, pending);
  }
  let config: Config;
  let policy: Policy;
  try {
    ({ config, policy } = await pending);
  } catch (e) {
    return fileError(file, e);
  }
  const cases: CaseResult[] = [];
  for (let i = 0; i < tests.cases.length; i++) {
    const where = `${file}:${positionOf(source, ["cases", i]).line}`;
    cases.push(await runCase(tests.cases[i]!, where, config, policy, opts));
  }
  return { file, cases, warnings: config.warnings };
}

/** Runs a test file, or every test file under a folder. */
export async function runPolicyTests(path: string, opts: PolicyTestOptions = {}): Promise<TestReport> {
  const files = await findTestFiles(path);
  const loaded = new Map<string, Promise<{ config: Config; policy: Policy }>>();
  const results: FileResult[] = [];
  for (const f of files) results.push(await runPolicyTestFile(f, opts, loaded));
  let passed = 0;
  let failed = 0;
  let invalid = 0;
  for (const r of results) {
    if (r.error) invalid++;
    for (const c of r.cases) c.passed ? passed++ : failed++;
  }
  return { files: results, passed, failed, invalid };
}

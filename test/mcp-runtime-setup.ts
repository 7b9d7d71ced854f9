// For the MCP runtime's own e2e tests: the MCP target started in-process (startMcpTarget) with
// the real gate, audit log and approvals, in front of real MCP servers from npm, reached by the
// real SDK client. The policy is a small stand-in deciding McpRequestFacts (the YAML `mcp:`
// matcher is h-mcp-b's); everything between the agent and the server is the gateway's own code.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { Approvals } from "../src/approvals/approvals.ts";
import { createMetrics, type Metrics } from "../src/admin/metrics.ts";
import { openAuditLog, type AuditLog } from "../src/audit/log.ts";
import type { AuditRecord } from "../src/audit/record.ts";
import type { McpTarget } from "../src/config/schema.ts";
import { GatewayError } from "../src/core/errors.ts";
import { silentLogger } from "../src/core/logger.ts";
import { NO_MASKS, systemClock, type Action, type Decision, type Identity, type Masks } from "../src/core/types.ts";
import { Gate, type AuditSink } from "../src/gate/gate.ts";
import { compileJsonMasker } from "../src/masking/json-masker.ts";
import { startMcpTarget } from "../src/targets/mcp/mcp-target.ts";
import type { ToolPins } from "../src/targets/mcp/session.ts";
import type { RunningTarget } from "../src/gate/target.ts";
import { auditRecords } from "./helpers/gateway.ts";

export const EVERYTHING = resolve(import.meta.dir, "../node_modules/@modelcontextprotocol/server-everything/dist/index.js");
export const FILESYSTEM = resolve(import.meta.dir, "../node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");

/** A stand-in rule over McpRequestFacts: every named condition must hold. */
export interface TestRule {
  readonly name: string;
  readonly effect: "allow" | "deny" | "review";
  readonly subjects?: readonly string[];
  readonly direction?: "client" | "server";
  readonly methods?: readonly string[];
  readonly tools?: readonly string[];
  readonly resources?: readonly string[];
  readonly prompts?: readonly string[];
  readonly message?: string;
  readonly detectors?: readonly string[];
}

function matches(r: TestRule, a: Action): boolean {
  const f = a.request as unknown as Record<string, unknown>;
  if (f["kind"] !== "mcp") return false;
  if (r.subjects && !r.subjects.includes(a.identity.subject)) return false;
  if ((r.direction ?? "client") !== f["direction"]) return false;
  if (r.methods && !r.methods.includes(f["method"] as string)) return false;
  if (r.tools && !r.tools.includes(f["tool"] as string)) return false;
  if (r.resources && !r.resources.some((p) => typeof f["resource"] === "string" && (p.endsWith("*") ? (f["resource"] as string).startsWith(p.slice(0, -1)) : p === f["resource"]))) return false;
  if (r.prompts && !r.prompts.includes(f["prompt"] as string)) return false;
  return true;
}

export function testPolicy(rules: () => readonly TestRule[]) {
  return {
    hash: "test-policy",
    timeDependent: false,
    claimPaths: [],
    decide(a: Action): Decision {
      const rs = rules().filter((r) => matches(r, a));
      const masksOf = (list: readonly TestRule[]): Masks => {
        const d = [...new Set(list.flatMap((r) => r.detectors ?? []))];
        return d.length ? { json: [], columns: [], detectors: d } : NO_MASKS;
      };
      const deny = rs.find((r) => r.effect === "deny");
      if (deny) return { effect: "deny", rule: deny.name, message: deny.message ?? `denied by ${deny.name}`, masks: NO_MASKS };
      const review = rs.find((r) => r.effect === "review");
      const allows = rs.filter((r) => r.effect === "allow");
      if (review) return { effect: "review", rule: review.name, message: review.message ?? "needs approval", masks: masksOf(allows), review: { approvers: ["leads"], maxGrantMs: 3_600_000, timeoutMs: 600_000 } };
      if (allows.length) return { effect: "allow", rule: allows[0]!.name, message: "allowed", masks: masksOf(allows) };
      return { effect: "deny", rule: null, message: "no rule allows this", masks: NO_MASKS };
    },
  };
}

export const IDENTITIES: Record<string, Identity> = {
  "token-alice": { method: "machine-key", subject: "alice", issuer: "alice", groups: ["agents"] },
  "token-bob": { method: "machine-key", subject: "bob", issuer: "bob", groups: ["agents"] },
  "token-lead": { method: "machine-key", subject: "lead", issuer: "lead", groups: ["leads"] },
};

export interface McpRuntime {
  readonly url: string;
  readonly port: number;
  readonly audit: AuditLog;
  readonly auditPath: string;
  readonly gate: Gate;
  readonly metrics: Metrics;
  readonly approvals: Approvals;
  rules: TestRule[];
  records(): Promise<AuditRecord[]>;
  /** Every audit write fails from now on (true) or works again (false). */
  failAudit(on: boolean): void;
  /** As a configuration reload does: live sessions of identities `revoked` no longer trusts end. */
  revoke(revoked: (identity: { subject: string; issuer: string; method: string }) => boolean): void;
  /** An SDK client connected over Streamable HTTP (or the legacy SSE transport) as `token`. */
  client(server: string, opts?: { token?: string; sse?: boolean; capabilities?: Record<string, unknown> }): Promise<Client>;
  stop(): Promise<void>;
}

export async function startMcpRuntime(target: Omit<McpTarget, "name" | "kind" | "listen">, opts: { rules?: TestRule[]; pins?: ToolPins | null; toolsFreshMs?: number } = {}): Promise<McpRuntime> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-mcp-rt-"));
  const auditPath = join(dir, "audit.log");
  const audit = await openAuditLog({ path: auditPath, clock: systemClock });
  const metrics = createMetrics();
  const approvals = new Approvals({ clock: systemClock, onExpire: (p) => gate.expire(p) });
  let rules: TestRule[] = opts.rules ?? [];
  const policy = testPolicy(() => rules);
  // The real log, behind a switch that makes every write fail (as a full disk would).
  let auditFails = false;
  const failed = () => new GatewayError("E_AUDIT_WRITE", "audit log write failed: disk full (test)");
  const sink: AuditSink = {
    durability: "batch",
    append: (e, o) => (auditFails ? Promise.reject(failed()) : audit.append(e as Parameters<AuditLog["append"]>[0], o).then((r) => ({ seq: r.seq }))),
    appendSync: (t, v, o) => {
      if (auditFails) throw failed();
      return audit.appendSync(t, v, o);
    },
    flush: () => audit.flush(),
    flushSoon: () => audit.flushSoon(),
    sync: () => audit.sync(),
  };
  const gate = new Gate({ policy: () => policy, audit: sink, approvals, clock: systemClock, metrics, log: silentLogger });
  const cfg: McpTarget = { name: "tools", kind: "mcp", listen: "127.0.0.1:0", ...target };
  const maskers = new Map<string, ReturnType<typeof compileJsonMasker>>();
  const running: RunningTarget = startMcpTarget(cfg, {
    gate,
    authenticate: async (t) => {
      const id = IDENTITIES[t];
      if (id === undefined) throw new GatewayError("E_AUTH_UNKNOWN_KEY", "unknown machine key");
      return id;
    },
    authFailureReason: () => "unknown_key",
    decide: (a) => policy.decide(a),
    mayUseTarget: (identity) => rules.some((r) => r.effect !== "deny" && (!r.subjects || r.subjects.includes(identity.subject))),
    // Compiled once per masks, as the gateway's cachedMasker does.
    masker: (m) => {
      const key = JSON.stringify(m);
      if (!maskers.has(key)) maskers.set(key, compileJsonMasker(m));
      return maskers.get(key)!;
    },
    pins: opts.pins ?? null,
    ...(opts.toolsFreshMs !== undefined ? { toolsFreshMs: opts.toolsFreshMs } : {}),
    onBudgetRefused: (target, budget) => metrics.mcpBudgetRefusals.inc({ target, budget }),
    authorizationServers: () => ["https://issuer.example"],
    clock: systemClock,
    metrics,
    log: silentLogger,
  });
  const url = `http://127.0.0.1:${running.port}`;
  const clients: Client[] = [];
  return {
    url,
    port: running.port,
    audit,
    auditPath,
    gate,
    metrics,
    approvals,
    get rules() {
      return rules;
    },
    set rules(r: TestRule[]) {
      rules = r;
    },
    records: () => auditRecords(auditPath),
    failAudit: (on) => {
      auditFails = on;
    },
    revoke: (revoked) => running.revokeSessions(revoked),
    async client(server, o = {}) {
      const headers = { authorization: `Bearer ${o.token ?? "token-alice"}` };
      const client = new Client({ name: "e2e", version: "1.0.0" }, { capabilities: o.capabilities ?? {} });
      const transport = o.sse ? new SSEClientTransport(new URL(`${url}/sse/${server}`), { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } }) : new StreamableHTTPClientTransport(new URL(`${url}/mcp/${server}`), { requestInit: { headers } });
      await client.connect(transport);
      clients.push(client);
      return client;
    },
    async stop() {
      await Promise.all(clients.map((c) => c.close().catch(() => {})));
      await running.stop();
      approvals.close();
      await audit.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// `gatehouse explain` for Kubernetes requests: the facts from the flags (--kube "METHOD /path" as
// kubectl sends it, read by the gateway's own classifier; or --kube-verb and --kube-resource with
// --namespace, --name, --command), the built-ins the target applies (builtin:discovery), and what
// kubectl would be told.
import { GatewayError } from "../core/errors.ts";
import type { Action, Decision, KubernetesRequestFacts } from "../core/types.ts";
import type { Config } from "../config/schema.ts";
import type { Policy } from "../policy/compile.ts";
import type { PolicyExplanation } from "../policy/explain.ts";
import type { Identity } from "../core/types.ts";
import { parseResource } from "../policy/test-runner.ts";
import { classifyRequest } from "../targets/kubernetes/request-info.ts";
import { createMayUseTarget } from "../gate/target-access.ts";
import { kubernetesBuiltins } from "../targets/kubernetes/builtins.ts";
import { impersonationRequests } from "../targets/kubernetes/impersonation.ts";

export const KUBE_FLAGS = {
  kube: "string",
  "content-type": "string",
  "kube-verb": "string",
  "kube-resource": "string",
  namespace: "string",
  name: "string",
  command: "strings",
  "impersonate-user": "string",
} as const;

/** Whether the flags ask about a Kubernetes request. */
export function wantsKube(flags: Record<string, unknown>): boolean {
  return ["kube", "kube-verb", "kube-resource"].some((f) => flags[f] !== undefined);
}

const usageError = (m: string) => new GatewayError("E_USAGE", m);

/** The request as given: the facts, or the classifier's refusal (status and reason). */
export type KubeInput =
  | { readonly ok: true; readonly facts: KubernetesRequestFacts; readonly raw: { readonly method: string; readonly target: string } | null; readonly impersonations: readonly KubernetesRequestFacts[] }
  | { readonly ok: false; readonly status: number; readonly reason: string; readonly raw: { readonly method: string; readonly target: string } };

/** The KubernetesRequestFacts the Kubernetes target would give policy for these flags. */
export function kubeInput(flags: Record<string, unknown>): KubeInput {
  const raw = flags["kube"] as string | undefined;
  const structured = (["kube-verb", "kube-resource", "namespace", "name", "command"] as const).filter((f) => flags[f] !== undefined);
  let impersonations: readonly KubernetesRequestFacts[] = [];
  const user = flags["impersonate-user"] as string | undefined;
  if (user !== undefined) {
    const v = impersonationRequests([["Impersonate-User", user]]);
    if (!v.ok) throw usageError(`--impersonate-user: ${v.reason}`);
    impersonations = v.requests;
  }
  if (raw !== undefined) {
    if (structured.length > 0) throw usageError(`give the request either as --kube "METHOD /path" or by --kube-verb and --kube-resource, not both (also given: ${structured.map((f) => `--${f}`).join(", ")})`);
    const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(raw);
    if (m === null) throw usageError(`--kube: expected "METHOD /path?query" as kubectl sends it, e.g. "GET /api/v1/namespaces/prod/pods", got ${JSON.stringify(raw)}`);
    const ct = flags["content-type"] as string | undefined;
    const c = classifyRequest(m[1]!, m[2]!, ct !== undefined ? { contentType: ct } : {});
    const given = { method: m[1]!, target: m[2]! };
    return c.ok ? { ok: true, facts: c.facts, raw: given, impersonations } : { ok: false, status: c.status, reason: c.reason, raw: given };
  }
  if (flags["content-type"] !== undefined) throw usageError("--content-type goes with --kube");
  const verb = flags["kube-verb"] as string | undefined;
  const resource = flags["kube-resource"] as string | undefined;
  if (verb === undefined || resource === undefined) throw usageError("give --kube \"METHOD /path\", or both --kube-verb VERB and --kube-resource RESOURCE (pods, pods/exec, deployments.apps)");
  const ns = flags["namespace"] as string | undefined;
  const name = flags["name"] as string | undefined;
  const command = ((flags["command"] as string[] | undefined) ?? []).length > 0 ? (flags["command"] as string[]) : undefined;
  const facts: KubernetesRequestFacts = {
    kind: "kubernetes",
    verb: verb.toLowerCase(),
    ...parseResource(resource),
    ...(ns ? { namespace: ns } : {}),
    ...(name ? { name } : {}),
    ...(command ? { command } : {}),
  };
  return { ok: true, facts, raw: null, impersonations };
}

/** The built-ins the Kubernetes target applies after decide(), with the same facts about the rules. */
export function kubernetesAdjust(config: Config, policy: Policy): (decision: Decision, action: Action) => Decision {
  return kubernetesBuiltins({
    mayUseTarget: createMayUseTarget(
      () => config.rules,
      (rule, target) => policy.rules.find((r) => r.name === rule)?.matchesTarget(target) ?? false,
    ),
  });
}

/** Lines under "seen": what the classifier read. */
export function kubeSeenLines(f: KubernetesRequestFacts): string[] {
  if (f.resource === "" && f.path !== undefined) return [`  non-resource URL: ${f.path}`, `  verb:      ${f.verb}`];
  const out = [
    `  verb:      ${f.verb}${f.patchType ? ` (${f.patchType} patch)` : ""}`,
    `  group:     ${f.apiGroup ? f.apiGroup : "core"}${f.apiVersion ? `, version ${f.apiVersion}` : ""}`,
    `  resource:  ${f.resource}${f.subresource ? `/${f.subresource}` : ""}`,
    `  namespace: ${f.namespace ?? "(cluster-scoped)"}`,
    `  name:      ${f.name ?? "(none)"}`,
  ];
  if (f.command !== undefined) out.push(`  command:   ${JSON.stringify(f.command)}`);
  return out;
}

/** What kubectl would get; null when the request goes through. */
export function kubeAnswer(d: Decision): string | null {
  if (d.effect === "allow") return null;
  if (d.effect === "review") return `held for approval (approvers: ${d.review?.approvers.join(", ") ?? ""}); 403 Forbidden naming the approval if nobody approves in time`;
  return `403 Forbidden, a metav1.Status: Error from server (Forbidden): ${d.message}${d.detail ? ` (${d.detail})` : ""}`;
}

/** The request part of a policy test case: the raw request when one was given, else the structured form. */
export function kubeTestRequest(f: KubernetesRequestFacts, raw: { method: string; target: string } | null, contentType: string | undefined): Record<string, unknown> {
  if (raw !== null) return { kubernetes: { request: `${raw.method} ${raw.target}`, ...(contentType !== undefined ? { content_type: contentType } : {}) } };
  const resource = `${f.resource}${f.apiGroup ? `.${f.apiGroup}` : ""}${f.subresource ? `/${f.subresource}` : ""}`;
  return { kubernetes: { verb: f.verb, resource, ...(f.namespace ? { namespace: f.namespace } : {}), ...(f.name ? { name: f.name } : {}), ...(f.command ? { command: [...f.command] } : {}) } };
}

/** The flags that give this request back, for the `# from:` line of --as-test. */
export function kubeFlagsText(f: KubernetesRequestFacts, raw: { method: string; target: string } | null, contentType: string | undefined, quote: (t: string) => string): string {
  if (raw !== null) return `--kube ${quote(`${raw.method} ${raw.target}`)}${contentType !== undefined ? ` --content-type ${quote(contentType)}` : ""}`;
  const resource = `${f.resource}${f.apiGroup ? `.${f.apiGroup}` : ""}${f.subresource ? `/${f.subresource}` : ""}`;
  const parts = [`--kube-verb ${quote(f.verb)}`, `--kube-resource ${quote(resource)}`];
  if (f.namespace) parts.push(`--namespace ${quote(f.namespace)}`);
  if (f.name) parts.push(`--name ${quote(f.name)}`);
  for (const c of f.command ?? []) parts.push(`--command ${quote(c)}`);
  return parts.join(" ");
}

/** One Kubernetes request explained, in the shape explain.ts prints. */
export interface ExplainedKube {
  readonly text: string;
  readonly kind: "kubernetes";
  readonly request: KubernetesRequestFacts | null;
  readonly explanation: PolicyExplanation | null;
  readonly answer: string | null;
  readonly notes: string[];
  readonly kube: { readonly raw: { readonly method: string; readonly target: string } | null; readonly contentType: string | undefined; readonly refused: string | null };
}

/** Classifies the request of the flags, decides it (and each impersonation) as the target does, with its built-ins. */
export function explainKubernetes(flags: Record<string, unknown>, config: Config, policy: Policy, who: { identity: Identity; target: string; time: number }): ExplainedKube {
  const input = kubeInput(flags);
  const contentType = flags["content-type"] as string | undefined;
  const notes = config.targets.some((t) => t.name === who.target) ? [] : [`no target "${who.target}" in the configuration: rules are matched against the name as given`];
  if (!input.ok) {
    const answer = `${input.status} Bad Request, a metav1.Status: request refused: ${input.reason}`;
    notes.unshift(`the gateway refuses this request before any rule (builtin:bad-request): ${input.reason}`);
    return { text: `${input.raw.method} ${input.raw.target}`, kind: "kubernetes", request: null, explanation: null, answer, notes, kube: { raw: input.raw, contentType, refused: input.reason } };
  }
  const adjust = kubernetesAdjust(config, policy);
  const explanation = policy.explain({ identity: who.identity, target: who.target, request: input.facts, time: who.time }, adjust);
  let answer = kubeAnswer(explanation.decision);
  for (const imp of input.impersonations) {
    const action: Action = { identity: who.identity, target: who.target, request: imp, time: who.time };
    const d = policy.describeDenial(action, adjust(policy.decide(action), action));
    const whom = imp.resource === "serviceaccounts" ? `service account ${imp.namespace}/${imp.name}` : `user ${imp.name}`;
    notes.push(`impersonating ${whom}: ${d.effect}${d.rule ? ` by ${d.rule}` : ""}; the gateway strips Impersonate-* headers and forwards as itself only when every impersonation is allowed`);
    if (d.effect !== "allow") answer = kubeAnswer(d);
  }
  const shown = input.raw !== null ? `${input.raw.method} ${input.raw.target}` : explanation.seen;
  return { text: shown, kind: "kubernetes", request: input.facts, explanation, answer, notes, kube: { raw: input.raw, contentType, refused: null } };
}

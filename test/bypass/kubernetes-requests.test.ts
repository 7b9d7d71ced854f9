// The Kubernetes request bypass corpus at policy level: every attempt of kubernetes-requests.ts
// decided as the gateway decides it (classify the request, decide each impersonation, check the
// body's namespace, decide the request, apply the built-ins) through the compiled seed policy
// (policies/prod-approval, loaded as the gateway loads it) or the seed plus STRICT_RULES: none
// allowed, each answered as the corpus says; every legitimate request stays allowed by its rule.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Action, Decision, KubernetesRequestFacts } from "../../src/core/types.ts";
import { loadPolicyFromSources } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import type { Policy } from "../../src/policy/compile.ts";
import { readKubernetesRequest } from "../../src/targets/kubernetes/read-request.ts";
import { createMayUseTarget } from "../../src/gate/target-access.ts";
import { kubernetesBuiltins } from "../../src/targets/kubernetes/builtins.ts";
import { KUBE_BYPASS_ATTEMPTS, KUBE_BYPASS_CALLER, LEGITIMATE_KUBE_REQUESTS, STRICT_RULES, type KubeOutcome } from "./kubernetes-requests.ts";

const seedText = await Bun.file(join(import.meta.dir, "../../policies/prod-approval/gatehouse.yaml")).text();
async function load(extra: string | null): Promise<{ config: Config; policy: Policy }> {
  const sources = [{ file: "gatehouse.yaml", text: seedText }, ...(extra === null ? [] : [{ file: "strict.yaml", text: extra }])];
  return loadPolicyFromSources(sources, { baseDir: import.meta.dir, resolveSecrets: false });
}
const policies = { seed: await load(null), strict: await load(STRICT_RULES) };

interface Outcome {
  readonly outcome: KubeOutcome | "allow";
  readonly rule: string | null;
  readonly why: string;
}

/** What the gateway answers: readKubernetesRequest (classifier, impersonation, body), then policy and its built-ins for each impersonation and the request. */
function gatewayDecision(which: "seed" | "strict", req: { method: string; target: string; contentType?: string; headers?: readonly (readonly [string, string])[]; body?: string; groups?: readonly string[] }): Outcome {
  const { config, policy } = policies[which];
  const adjust = kubernetesBuiltins({ mayUseTarget: createMayUseTarget(() => config.rules, (rule, t) => policy.rules.find((r) => r.name === rule)?.matchesTarget(t) ?? false) });
  const identity = { method: "dev" as const, subject: KUBE_BYPASS_CALLER.subject, issuer: "dev", groups: [...(req.groups ?? KUBE_BYPASS_CALLER.groups)] };
  const decide = (request: KubernetesRequestFacts): Decision => {
    const action: Action = { identity, target: KUBE_BYPASS_CALLER.target, request, time: Date.parse("2026-03-02T12:00:00Z") };
    return policy.describeDenial(action, adjust(policy.decide(action), action));
  };
  const headers: [string, string][] = [...(req.headers ?? []).map(([n, v]) => [n, v] as [string, string]), ...(req.contentType !== undefined ? [["Content-Type", req.contentType] as [string, string]] : [])];
  const read = readKubernetesRequest({ method: req.method, target: req.target, headers, ...(req.body !== undefined ? { body: req.body } : {}) });
  if (!read.ok) return { outcome: "refused", rule: null, why: `${read.status} ${read.reason}` };
  for (const i of read.impersonations) {
    const d = decide(i);
    if (d.effect !== "allow") return { outcome: "deny", rule: d.rule, why: `impersonation: ${d.detail ?? d.message}` };
  }
  const d = decide(read.facts);
  return { outcome: d.effect, rule: d.rule, why: d.detail ?? d.message };
}

describe("the corpus itself", () => {
  test("at least 80 attempts with unique ids, across every theme, both policies", () => {
    expect(KUBE_BYPASS_ATTEMPTS.length).toBeGreaterThanOrEqual(80);
    expect(new Set(KUBE_BYPASS_ATTEMPTS.map((a) => a.id)).size).toBe(KUBE_BYPASS_ATTEMPTS.length);
    expect(new Set(KUBE_BYPASS_ATTEMPTS.map((a) => a.theme)).size).toBe(18);
    expect(KUBE_BYPASS_ATTEMPTS.filter((a) => a.policy === "strict").length).toBeGreaterThanOrEqual(20);
  });
});

describe("every attempt, decided as the gateway decides it", () => {
  for (const a of KUBE_BYPASS_ATTEMPTS) {
    test(`${a.id} (${a.policy}): ${a.note}`, () => {
      const got = gatewayDecision(a.policy, a);
      expect({ id: a.id, outcome: got.outcome }).toEqual({ id: a.id, outcome: a.expect });
    });
  }

  test("zero allowed, in one count", () => {
    const allowed = KUBE_BYPASS_ATTEMPTS.filter((a) => gatewayDecision(a.policy, a).outcome === "allow").map((a) => a.id);
    expect(allowed).toEqual([]);
  });

  test("refusals say why, in the caller's terms", () => {
    expect(gatewayDecision("seed", { method: "DELETE", target: "/api/v1/namespaces/production" })).toEqual({
      outcome: "deny",
      rule: "production-namespace-is-not-deleted",
      why: "the production namespace is not deleted through the gateway; the platform team decommissions it by its runbook",
    });
    expect(gatewayDecision("seed", { method: "POST", target: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" }).why).toBe('create of clusterrolebindings.rbac.authorization.k8s.io; no rule allows it for you');
    expect(gatewayDecision("seed", { method: "GET", target: "/api/v1/namespaces/kube-system/secrets/admin" }).why).toBe('get of secrets "admin" in namespace kube-system; no rule allows it for you');
    expect(gatewayDecision("seed", { method: "DELETE", target: "/api/v1/namespaces/prod%75ction" }).why).toContain("400 the name");
  });
});

describe("what kubectl sends stays allowed", () => {
  for (const r of LEGITIMATE_KUBE_REQUESTS) {
    test(`${r.note} (${r.policy}): ${r.method} ${r.target}`, () => {
      const got = gatewayDecision(r.policy, r);
      expect({ outcome: got.outcome, rule: got.rule }).toEqual({ outcome: "allow", rule: r.rule });
    });
  }
});

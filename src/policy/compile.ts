// Compiles the merged configuration into a frozen Policy: every glob, time window and list is
// turned into closures once, so decide() never sees YAML and never re-parses anything.
import { GatewayError } from "../core/errors.ts";
import { parseDuration } from "../core/duration.ts";
import type { Action, Decision, Effect, Masks, TargetKind } from "../core/types.ts";
import { NO_MASKS } from "../core/types.ts";
import type { Config, RuleConfig } from "../config/schema.ts";
import { compileGlobs, type StringPredicate } from "./glob.ts";
import { normalizeHttpPath } from "./http-path.ts";
import { compileHttpMatcher, compileHttpParts } from "./matchers/http.ts";
import { compilePostgresMatcher, compilePostgresOverlap, compilePostgresParts } from "./matchers/postgres.ts";
import { compileSshConditions, sshView, type SshView } from "./matchers/ssh.ts";
import { compileKubernetesConditions, kubeView, type KubeView } from "./matchers/kubernetes.ts";
import { compileWhen, createZoneClocks } from "./matchers/when.ts";
import { compileClaimConditions } from "./matchers/claims.ts";
import { compileMcpConditions } from "./matchers/mcp.ts";
import { createDecide, type RuleTest, type RuleEntry } from "./decide.ts";
import { cacheHttpDecisions, type DecisionCacheLimits } from "./decision-cache.ts";
import { createExplainer, type Adjust, type PolicyExplanation } from "./explain.ts";
import { compileRuleChecks } from "./rule-checks.ts";

export const KINDS: readonly TargetKind[] = ["http", "postgres", "ssh", "kubernetes", "mcp"];
export const DEFAULT_GRANT_MAX = "1h";
export const DEFAULT_REVIEW_TIMEOUT = "15m";

export interface CompiledRule {
  readonly name: string;
  /** Position in the configuration; first match among allow (or review) rules wins. */
  readonly index: number;
  readonly effect: Effect;
  /** "file:line" where the rule is defined, when known. */
  readonly origin: string | null;
  /** Kinds of request this rule can match; null when it states no kind section (every kind). */
  readonly kinds: readonly TargetKind[] | null;
  /** The decision when this rule decides (for allow: before masks of other rules are added). */
  readonly decision: Decision;
  /** Whether the rule's `targets` globs name this target (no globs: every target). */
  matchesTarget(target: string): boolean;
  /** Whether every condition of the rule holds for the action. */
  matches(action: Action): boolean;
}

export interface Policy {
  readonly hash: string;
  readonly rules: readonly CompiledRule[];
  decide(action: Action): Decision;
  /**
   * For a default deny (the decision decide() returned when no rule matched), the same decision
   * with a `detail` saying what the gateway saw and why nothing allowed it (a rule outside its
   * hours); any other decision as it is. Only for the deny path: it looks at every rule.
   */
  describeDenial(action: Action, decision: Decision): Decision;
  /**
   * What `gatehouse explain` prints: every rule's conditions for this action, and decide()'s
   * decision, put through `adjust` (a target's built-ins) as the gate does, and describeDenial.
   */
  explain(action: Action, adjust?: Adjust): PolicyExplanation;
  /** Some rule has a `when` window: the same request may be decided otherwise at another time. */
  readonly timeDependent: boolean;
  /** Every claim path a rule's `claims:` names, sorted, once: what of a token the policy can tell apart (identity-key.ts). */
  readonly claimPaths: readonly string[];
}

/** Per-request values that several rules need, computed once in decide(). */
export interface RequestView {
  /** HTTP: upper-case method and canonical path. */
  method: string;
  path: string;
  /** SSH: the command or line analysed, paths and destination in canonical form. */
  ssh: SshView | null;
  /** Kubernetes: resource names, effective verb and exec command analysis. */
  kube: KubeView | null;
}

/** The view of one request; null when an HTTP path cannot be normalised (which denies). */
export function requestView(action: Action): RequestView | null {
  const r = action.request;
  switch (r.kind) {
    case "http": {
      const path = normalizeHttpPath(r.path);
      if (path === null) return null;
      return { method: r.method.toUpperCase(), path, ssh: null, kube: null };
    }
    case "ssh":
      return { method: "", path: "", ssh: sshView(r), kube: null };
    case "kubernetes":
      return { method: "", path: "", ssh: null, kube: kubeView(r) };
    default:
      return { method: "", path: "", ssh: null, kube: null };
  }
}

function freezeMasks(m: RuleConfig["mask"]): Masks {
  if (!m) return NO_MASKS;
  return Object.freeze({
    json: Object.freeze([...new Set(m.json ?? [])]),
    columns: Object.freeze([...new Set(m.columns ?? [])]),
    detectors: Object.freeze([...new Set(m.detectors ?? [])]),
  });
}

function durationOf(text: string, key: string): number {
  try {
    return parseDuration(text);
  } catch {
    throw new GatewayError("E_POLICY_INVALID", `invalid ${key} "${text}"`);
  }
}

function ruleDecision(rule: RuleConfig, masks: Masks): Decision {
  switch (rule.effect) {
    case "deny":
      return Object.freeze({ effect: "deny", rule: rule.name, message: rule.message ?? `denied by rule ${rule.name}`, masks: NO_MASKS });
    case "review": {
      if (!rule.approvers || rule.approvers.length === 0) {
        throw new GatewayError("E_POLICY_INVALID", `a review rule needs "approvers"`);
      }
      const review = Object.freeze({
        approvers: Object.freeze([...rule.approvers]),
        maxGrantMs: durationOf(rule.grant_max ?? DEFAULT_GRANT_MAX, "grant_max"),
        timeoutMs: durationOf(rule.timeout ?? DEFAULT_REVIEW_TIMEOUT, "timeout"),
        ...(rule.approvals_required !== undefined && rule.approvals_required > 1 ? { approvalsRequired: rule.approvals_required } : {}),
      });
      const message = rule.message ?? `rule ${rule.name} requires approval by ${rule.approvers.join(", ")}`;
      // decide() adds the masks of the matching allow rules, which apply once it is approved.
      return Object.freeze({ effect: "review", rule: rule.name, message, masks: NO_MASKS, review });
    }
    case "allow":
      return Object.freeze({ effect: "allow", rule: rule.name, message: rule.message ?? `allowed by rule ${rule.name}`, masks });
  }
}

function compileRule(rule: RuleConfig, index: number, origin: string | null, clockFor: ReturnType<typeof createZoneClocks>): RuleEntry {
  // Deny and review rules restrict; they match broadly (any part, any case) so that nothing
  // slips past them. Allow rules match narrowly (every part, exact).
  const restricting = rule.effect !== "allow";
  if (rule.mask && rule.effect !== "allow") throw new GatewayError("E_POLICY_INVALID", `"mask" is only allowed on allow rules`);
  const masks = freezeMasks(rule.mask);
  const decision = ruleDecision(rule, masks);

  const groups = rule.groups ? [...rule.groups] : null;
  const identities = rule.identities ? new Set(rule.identities) : null;
  const targets: StringPredicate = rule.targets ? compileGlobs(rule.targets) : () => true;
  const http = rule.http ? compileHttpMatcher(rule.http, restricting) : null;
  // Where this allow rule's masks apply: its paths read loosely (any case, a trailing slash
  // or not), as an upstream may route them, so that another spelling of a masked route that a
  // broader rule allows still gets these masks.
  const httpMask = rule.http && rule.effect === "allow" && masks !== NO_MASKS ? looseHttp(compileHttpMatcher(rule.http, true)) : null;
  const postgres = rule.postgres ? compilePostgresMatcher(rule.postgres, restricting) : null;
  // Where this allow rule's masks apply: any statement that touches its tables, even one that
  // another rule allows as a whole.
  const postgresOverlap = rule.postgres && rule.effect === "allow" && masks !== NO_MASKS ? compilePostgresOverlap(rule.postgres) : null;
  const sshConditions = rule.ssh ? compileSshConditions(rule.ssh, restricting) : null;
  const kubernetes = rule.kubernetes ? compileKubernetesConditions(rule.kubernetes, restricting) : null;
  const mcp = rule.mcp ? compileMcpConditions(rule.mcp, restricting) : null;
  const claims = rule.claims ? compileClaimConditions(rule.claims, restricting) : null;
  const when = rule.when ? compileWhen(rule.when, clockFor) : null;
  const kinds = KINDS.filter((k) => rule[k] !== undefined);
  const anyKind = kinds.length === 0;
  // The same pieces again, one condition at a time, for explain and denial details (never decide()).
  const checks = compileRuleChecks({
    effect: rule.effect,
    targetGlobs: rule.targets ?? null,
    targets,
    kinds: anyKind ? null : kinds,
    groups,
    identities,
    claims,
    http: rule.http ? { section: rule.http, parts: compileHttpParts(rule.http, restricting) } : null,
    postgres: rule.postgres ? { section: rule.postgres, parts: compilePostgresParts(rule.postgres, restricting) } : null,
    ssh: sshConditions,
    kubernetes,
    mcp,
    whenConfig: rule.when ?? null,
    when,
  });

  // Everything but the target and kind, which the index in decide() has already settled.
  const check = (action: Action, view: RequestView, loose: boolean): boolean => {
    if (groups !== null) {
      const mine = action.identity.groups;
      let found = false;
      outer: for (const g of groups) {
        for (const h of mine) {
          if (g === h) {
            found = true;
            break outer;
          }
        }
      }
      if (!found) return false;
    }
    if (identities !== null) {
      const id = action.identity;
      if (!identities.has(id.subject) && !identities.has(`${id.issuer}:${id.subject}`)) return false;
    }
    if (claims !== null) {
      for (const c of claims) if (!c.test(action.identity)) return false;
    }
    const r = action.request;
    switch (r.kind) {
      case "http":
        if (loose && httpMask !== null) {
          if (!httpMask(view.method, view.path)) return false;
        } else if (http !== null && !http(view.method, view.path)) return false;
        break;
      case "postgres":
        if (loose && postgresOverlap !== null) {
          if (!postgresOverlap(r)) return false;
        } else if (postgres !== null && !postgres(r)) return false;
        break;
      case "ssh":
        if (sshConditions !== null) {
          const v = view.ssh ?? sshView(r);
          for (const c of sshConditions) if (!c.test(r, v)) return false;
        }
        break;
      case "kubernetes":
        if (kubernetes !== null) {
          const v = view.kube ?? kubeView(r);
          for (const c of kubernetes) if (!c.test(r, v)) return false;
        }
        break;
      case "mcp":
        if (mcp !== null) for (const c of mcp) if (!c.test(r)) return false;
        break;
    }
    return when === null || when(action.time);
  };
  const test: RuleTest = (action, view) => check(action, view, false);
  const maskTest: RuleTest = postgresOverlap === null && httpMask === null ? test : (action, view) => check(action, view, true);

  const compiled: CompiledRule = Object.freeze({
    name: rule.name,
    index,
    effect: rule.effect,
    origin,
    kinds: anyKind ? null : Object.freeze(kinds),
    decision,
    matchesTarget: (target: string) => targets(target),
    matches: (action: Action) => {
      if (!targets(action.target)) return false;
      if (!anyKind && !kinds.includes(action.request.kind)) return false;
      const view = requestView(action);
      return view !== null && test(action, view);
    },
  });
  return { rule: compiled, test, maskTest, checks, claimPaths: claims?.map((c) => c.path) ?? [], groups, hasMasks: masks !== NO_MASKS, masks, timed: when !== null };
}

/** One rule that did not compile: its index in config.rules and what is wrong. */
export interface PolicyFailure {
  readonly index: number;
  readonly message: string;
  /** Where in the rule, when known: e.g. ["ssh", "commands", 2]. */
  readonly path?: readonly (string | number)[];
}

/**
 * Compiles a configuration into a Policy. All problems of all rules are reported together in
 * one E_POLICY_INVALID error, each with the rule's name and file:line.
 */
export function compilePolicy(config: Config, opts: { readonly cacheDecisions?: boolean; readonly decisionCacheLimits?: DecisionCacheLimits } = {}): Policy {
  const clockFor = createZoneClocks();
  const entries: RuleEntry[] = [];
  const problems: string[] = [];
  // The same, by rule index, for the loader to place at file:line:column.
  const failures: PolicyFailure[] = [];
  config.rules.forEach((rule, index) => {
    const origin = config.origins.get(`rule:${rule.name}`) ?? null;
    try {
      entries.push(compileRule(rule, index, origin, clockFor));
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      problems.push(`${origin ?? `rules[${index}]`}: rule "${rule.name}": ${detail}`);
      const path = e instanceof GatewayError && Array.isArray(e.details["path"]) ? (e.details["path"] as (string | number)[]) : undefined;
      failures.push({ index, message: `rule "${rule.name}": ${detail}`, ...(path ? { path } : {}) });
    }
  });
  if (problems.length > 0) {
    throw new GatewayError("E_POLICY_INVALID", problems.join("\n"), { details: { problems, failures } });
  }
  const rules = Object.freeze(entries.map((e) => e.rule));
  // HTTP decisions are remembered per request shape (decision-cache.ts); off only for the test
  // that compares the two.
  const decide = opts.cacheDecisions === false ? createDecide(entries) : cacheHttpDecisions(createDecide(entries), entries, opts.decisionCacheLimits);
  const { describeDenial, explain } = createExplainer(entries, decide);
  const timeDependent = entries.some((e) => e.timed);
  const claimPaths = Object.freeze([...new Set(entries.flatMap((e) => e.claimPaths))].sort());
  return Object.freeze({ hash: config.hash, rules, decide, describeDenial, explain, timeDependent, claimPaths });
}

/** A path matcher that also tries the path without its trailing slash. */
function looseHttp(match: (method: string, path: string) => boolean): (method: string, path: string) => boolean {
  return (method, path) => match(method, path) || (path.length > 1 && path.endsWith("/") && match(method, path.slice(0, -1)));
}

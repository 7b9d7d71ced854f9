// The hot path. Rules are indexed once per target name: by request kind, then by group (a
// rule that names groups can only match callers in one of them). decide() scans only the
// lists for the caller's groups plus the rules without a group condition, taking deny rules
// first, then review rules, then allow rules; config order decides within each.
import type { Action, Decision, Masks, TargetKind } from "../core/types.ts";
import { NO_MASKS, hasMasks } from "../core/types.ts";
import type { CompiledRule, RequestView } from "./compile.ts";
import { requestView } from "./compile.ts";
import type { RuleChecks } from "./rule-checks.ts";

export type RuleTest = (action: Action, view: RequestView) => boolean;

export interface RuleEntry {
  readonly rule: CompiledRule;
  /** Every condition except target and kind (groups included, so an entry stands alone). */
  readonly test: RuleTest;
  /**
   * Whether the rule's masks apply to the request: `test` (the same function) for most rules;
   * for a Postgres rule with masks, looser: its tables (and classes) need only overlap the
   * statement's, so that data from its tables stays masked when another rule allows the
   * statement as a whole. Implies nothing about allowing.
   */
  readonly maskTest: RuleTest;
  /** The rule's conditions one by one, for explain and denial details; never used to decide. */
  readonly checks: RuleChecks;
  /** The claim paths of the rule's `claims:` section (decision caches key on their values). */
  readonly claimPaths: readonly string[];
  /** The rule's groups condition; null when it has none. */
  readonly groups: readonly string[] | null;
  readonly hasMasks: boolean;
  readonly masks: Masks;
  /** The rule has a `when` window: whether it matches depends on the time (see decision-cache.ts). */
  readonly timed: boolean;
}

/** Denies, then reviews, then allows, each in config order. */
interface Segmented {
  readonly entries: readonly RuleEntry[];
  readonly denyEnd: number;
  readonly reviewEnd: number;
}

interface Candidates {
  /** Rules without a groups condition. */
  readonly always: Segmented;
  readonly byGroup: ReadonlyMap<string, Segmented>;
}

export const DEFAULT_DENY: Decision = Object.freeze({
  effect: "deny",
  rule: null,
  message: "no rule allows this request",
  masks: NO_MASKS,
});

export const UNNORMALISABLE_PATH: Decision = Object.freeze({
  effect: "deny",
  rule: null,
  message: "request path cannot be normalised",
  masks: NO_MASKS,
});

// Targets are few and known; the cap only guards against a caller inventing names.
const INDEX_CAP = 10_000;

function segment(list: readonly RuleEntry[]): Segmented {
  const deny = list.filter((e) => e.rule.effect === "deny");
  const review = list.filter((e) => e.rule.effect === "review");
  const allow = list.filter((e) => e.rule.effect === "allow");
  return Object.freeze({ entries: Object.freeze([...deny, ...review, ...allow]), denyEnd: deny.length, reviewEnd: deny.length + review.length });
}

function union(a: readonly string[], b: readonly string[]): readonly string[] {
  if (b.length === 0 || a === b) return a;
  if (a.length === 0) return b;
  const out = [...a];
  for (const x of b) if (!out.includes(x)) out.push(x);
  return out;
}

/** The earliest (in config order) entry of [from, to) in any list whose test passes. */
function firstMatch(lists: readonly Segmented[], from: "deny" | "review", action: Action, view: RequestView): RuleEntry | null {
  let best: RuleEntry | null = null;
  for (const l of lists) {
    const start = from === "deny" ? 0 : l.denyEnd;
    const end = from === "deny" ? l.denyEnd : l.reviewEnd;
    for (let i = start; i < end; i++) {
      const e = l.entries[i]!;
      // Each list is in config order: its first match is its earliest.
      if (best !== null && e.rule.index >= best.rule.index) break;
      if (e.test(action, view)) {
        best = e;
        break;
      }
    }
  }
  return best;
}

interface AllowScan {
  /** The earliest (in config order) allow rule that allows the whole request. */
  first: RuleEntry | null;
  /** Allow rules with masks whose masks apply (see RuleEntry.maskTest); null: none. */
  masked: RuleEntry[] | null;
}

/** Finds the deciding allow rule and every allow rule whose masks apply. */
function scanAllows(lists: readonly Segmented[], action: Action, view: RequestView, out: AllowScan): void {
  for (const l of lists) {
    let matched = false;
    for (let i = l.reviewEnd; i < l.entries.length; i++) {
      const e = l.entries[i]!;
      // After this list's first match only rules with masks can change the answer.
      if (matched && !e.hasMasks) continue;
      if (e.maskTest !== e.test) {
        // A rule whose masks reach further than what it allows (Postgres: any of its tables).
        if (!e.maskTest(action, view)) continue;
        (out.masked ??= []).push(e);
        if (!matched && e.test(action, view)) {
          matched = true;
          if (out.first === null || e.rule.index < out.first.rule.index) out.first = e;
        }
        continue;
      }
      if (!e.test(action, view)) continue;
      if (!matched) {
        matched = true;
        if (out.first === null || e.rule.index < out.first.rule.index) out.first = e;
      }
      if (e.hasMasks) (out.masked ??= []).push(e);
    }
  }
}

/** The union of the masks of `first` (when any) and of every entry of `masked`. */
function combine(first: RuleEntry | null, masked: readonly RuleEntry[]): Masks {
  const start = first?.masks ?? NO_MASKS;
  let json: readonly string[] = start.json;
  let columns: readonly string[] = start.columns;
  let detectors: readonly string[] = start.detectors;
  for (const e of masked) {
    json = union(json, e.masks.json);
    columns = union(columns, e.masks.columns);
    detectors = union(detectors, e.masks.detectors);
  }
  return { json, columns, detectors };
}

export function createDecide(all: readonly RuleEntry[]): (action: Action) => Decision {
  const index = new Map<string, Record<TargetKind, Candidates>>();

  function build(target: string): Record<TargetKind, Candidates> {
    const forTarget = all.filter((e) => e.rule.matchesTarget(target));
    const byKind = (kind: TargetKind): Candidates => {
      const fit = forTarget.filter((e) => e.rule.kinds === null || e.rule.kinds.includes(kind));
      const groups = new Map<string, RuleEntry[]>();
      for (const e of fit) {
        for (const g of new Set(e.groups ?? [])) {
          let l = groups.get(g);
          if (!l) groups.set(g, (l = []));
          l.push(e);
        }
      }
      const byGroup = new Map<string, Segmented>();
      for (const [g, l] of groups) byGroup.set(g, segment(l));
      return { always: segment(fit.filter((e) => e.groups === null)), byGroup };
    };
    return { http: byKind("http"), postgres: byKind("postgres"), ssh: byKind("ssh"), kubernetes: byKind("kubernetes"), mcp: byKind("mcp") };
  }

  function candidatesFor(target: string): Record<TargetKind, Candidates> {
    let c = index.get(target);
    if (c === undefined) {
      c = build(target);
      if (index.size < INDEX_CAP) index.set(target, c);
    }
    return c;
  }

  return function decide(action: Action): Decision {
    const kind = action.request.kind;
    // An unknown kind (a bug upstream of us) has no rules: default deny, never a lookup on
    // whatever the string happens to name.
    if (kind !== "http" && kind !== "postgres" && kind !== "ssh" && kind !== "kubernetes" && kind !== "mcp") return DEFAULT_DENY;
    const c = candidatesFor(action.target)[kind];
    const view = requestView(action);
    if (view === null) return UNNORMALISABLE_PATH;

    const lists: Segmented[] = c.always.entries.length > 0 ? [c.always] : [];
    for (const g of action.identity.groups) {
      const l = c.byGroup.get(g);
      if (l !== undefined) lists.push(l);
    }
    if (lists.length === 0) return DEFAULT_DENY;

    // Any matching deny wins; else the first matching review.
    const deny = firstMatch(lists, "deny", action, view);
    if (deny !== null) return deny.rule.decision;
    const scan: AllowScan = { first: null, masked: null };
    const review = firstMatch(lists, "review", action, view);
    if (review !== null) {
      // A review holds, and once approved (or under a grant) the request runs with the masks
      // the allow rules would have put on it: the masks of the matching allow rules.
      scanAllows(lists, action, view, scan);
      const d = review.rule.decision;
      if (scan.masked === null) return d;
      const masks = combine(scan.first, scan.masked);
      return hasMasks(masks) ? { ...d, masks } : d;
    }

    // The first matching allow decides; masks of every matching allow rule add up.
    scanAllows(lists, action, view, scan);
    const first = scan.first;
    if (first === null) return DEFAULT_DENY;
    const masked = scan.masked;
    if (masked === null || masked.every((e) => e === first)) return first.rule.decision;
    const d = first.rule.decision;
    return { effect: "allow", rule: d.rule, message: d.message, masks: combine(first, masked) };
  };
}

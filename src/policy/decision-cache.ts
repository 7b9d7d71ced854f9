// HTTP decisions remembered per request shape, so the same caller asking for the same route
// again is decided by one map lookup. The key holds everything decide() reads for an HTTP
// request: the target, the method and path exactly as given (decide() normalises them itself),
// and the identity's subject, issuer, groups in order and verified claims. The one other input, the time, is
// read only by rules with a `when` window: a shape that such a rule could decide (its target,
// kind and groups fit) is never cached. A cache lives with its compiled policy, so a reload
// starts a new one. decision-cache.test.ts checks it against decide() on the HTTP bypass
// corpus and on generated requests: a key weaker than what decide() reads would be a bypass.
import type { Action, Decision } from "../core/types.ts";
import type { RuleEntry } from "./decide.ts";
import { claimValuesKey, identityKey } from "./identity-key.ts";

/** Past this many shapes or key characters, the map is cleared and filled again: a caller inventing paths gains nothing and costs at most a few MB. */
const MAX_SHAPES = 20_000;
const MAX_KEY_CHARS = 2_000_000;
/** Keys longer than this (very long paths or group lists) are decided every time, not kept. */
const MAX_KEY = 2_048;

export interface DecisionCacheLimits {
  readonly maxShapes?: number;
  /** The keys' total length in characters. */
  readonly maxKeyChars?: number;
}

export function cacheHttpDecisions(decide: (action: Action) => Decision, entries: readonly RuleEntry[], limits: DecisionCacheLimits = {}): (action: Action) => Decision {
  const maxShapes = limits.maxShapes ?? MAX_SHAPES;
  const maxKeyChars = limits.maxKeyChars ?? MAX_KEY_CHARS;
  const timed = entries.filter((e) => e.timed);
  // null: this shape may depend on the time; decide it every time.
  const shapes = new Map<string, Decision | null>();
  let keyChars = 0;
  // The claim paths any rule reads, and per claims object (one per token) their values' JSON.
  const claimPaths = [...new Set(entries.flatMap((e) => e.claimPaths))];
  const claimKeys = new WeakMap<object, string>();
  function claimValues(claims: Readonly<Record<string, unknown>> | undefined): string {
    if (claims === undefined) return "-";
    let k = claimKeys.get(claims);
    if (k === undefined) {
      k = claimValuesKey(claimPaths, claims);
      claimKeys.set(claims, k);
    }
    return k;
  }
  // Per target, what the rules with a time window need of a caller to take part in deciding
  // an HTTP request there: any caller (a rule without groups), or one of these groups.
  const timedByTarget = new Map<string, { readonly anyCaller: boolean; readonly groups: ReadonlySet<string> }>();

  /** Whether a rule with a time window could take part in deciding this shape. */
  function mayDependOnTime(action: Action): boolean {
    if (timed.length === 0) return false;
    let t = timedByTarget.get(action.target);
    if (t === undefined) {
      const here = timed.filter((e) => e.rule.matchesTarget(action.target) && (e.rule.kinds === null || e.rule.kinds.includes("http")));
      t = { anyCaller: here.some((e) => e.groups === null), groups: new Set(here.flatMap((e) => e.groups ?? [])) };
      if (timedByTarget.size < MAX_SHAPES) timedByTarget.set(action.target, t);
    }
    if (t.anyCaller) return true;
    for (const g of action.identity.groups) if (t.groups.has(g)) return true;
    return false;
  }

  return function decideCached(action: Action): Decision {
    const r = action.request;
    if (r.kind !== "http") return decide(action);
    const id = action.identity;
    // Each part prefixed by its length: no choice of characters in one part can imitate another.
    // The caller as identity-key.ts sees it, the same key approvals bind their grants to.
    const key = `${action.target.length}:${action.target}${r.method.length}:${r.method}${r.path.length}:${r.path}${identityKey(id, claimPaths, claimPaths.length > 0 ? claimValues(id.claims) : undefined)}`;
    if (key.length > MAX_KEY) return decide(action);
    const hit = shapes.get(key);
    if (hit !== undefined) return hit ?? decide(action);
    const decision = decide(action);
    if (shapes.size >= maxShapes || keyChars + key.length > maxKeyChars) {
      shapes.clear();
      keyChars = 0;
    }
    keyChars += key.length;
    shapes.set(key, mayDependOnTime(action) ? null : freezeDecision(decision));
    return decision;
  };
}

/** A decision handed out many times must not be changed by one of its holders. */
function freezeDecision(d: Decision): Decision {
  if (!Object.isFrozen(d.masks)) {
    Object.freeze(d.masks.json);
    Object.freeze(d.masks.columns);
    Object.freeze(d.masks.detectors);
    Object.freeze(d.masks);
  }
  return Object.isFrozen(d) ? d : Object.freeze(d);
}

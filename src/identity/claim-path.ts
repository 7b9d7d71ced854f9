// Claim paths: how rules, display names and record_claims address a value in a verified token.
// A path is claim names joined by dots; since claim names may hold dots themselves (the
// Kubernetes claim `kubernetes.io`), each step takes the run of the remaining segments that
// names a key of the object there, and the path addresses nothing when two runs would.

/** Why a path is not a path; null when it is one. */
export function claimPathProblem(path: string): string | null {
  if (path.length === 0) return "a claim path is empty";
  if (path.split(".").some((s) => s.length === 0)) return `claim path "${path}" has an empty segment (two dots, or a dot at an end)`;
  return null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** What a path finds: a value, nothing, or two keys that could each be meant (never read either way). */
export type ClaimLookup = { readonly found: "value"; readonly value: unknown } | { readonly found: "missing" } | { readonly found: "ambiguous" };

const MISSING: ClaimLookup = Object.freeze({ found: "missing" });
const AMBIGUOUS: ClaimLookup = Object.freeze({ found: "ambiguous" });

/**
 * What `path` addresses in `claims`. At each object, of the runs of the remaining segments
 * ("kubernetes.io.namespace", "kubernetes.io", "kubernetes"), exactly one may name an own key:
 * none is a missing claim, and two (a token with both a `kubernetes` and a `kubernetes.io`
 * claim) make the path ambiguous, so a rule can never be read two ways. Deny and review rules
 * treat an ambiguous claim as one they cannot read (they hold); allow rules as missing. Own keys
 * only: "constructor" finds nothing.
 */
export function lookupClaim(claims: Readonly<Record<string, unknown>> | undefined, path: string): ClaimLookup {
  if (claims === undefined) return MISSING;
  const segs = path.split(".");
  let here: unknown = claims;
  let i = 0;
  while (i < segs.length) {
    if (!isPlainObject(here)) return MISSING;
    let next = -1;
    for (let j = segs.length; j > i; j--) {
      if (Object.hasOwn(here, segs.slice(i, j).join("."))) {
        if (next !== -1) return AMBIGUOUS;
        next = j;
      }
    }
    if (next === -1) return MISSING;
    here = here[segs.slice(i, next).join(".")];
    i = next;
  }
  return { found: "value", value: here };
}

/** The value `path` addresses in `claims`, or undefined when it addresses none (missing or ambiguous: see lookupClaim). */
export function claimAt(claims: Readonly<Record<string, unknown>> | undefined, path: string): unknown {
  const r = lookupClaim(claims, path);
  return r.found === "value" ? r.value : undefined;
}

/** A claim value as the text rules compare: strings as they are, numbers and booleans as written; null for anything else. */
export function scalarText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : null;
  if (typeof v === "boolean") return v ? "true" : "false";
  return null;
}

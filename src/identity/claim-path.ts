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

/**
 * The value `path` addresses in `claims`, or undefined when it addresses none. At each object,
 * of the runs of the remaining segments ("kubernetes.io.namespace", "kubernetes.io",
 * "kubernetes"), exactly one may name an own key: none is a missing claim, and two (a token with
 * both a `kubernetes` and a `kubernetes.io` claim) make the path ambiguous, which also addresses
 * nothing, so a rule can never be read two ways. Own keys only: "constructor" finds nothing.
 */
export function claimAt(claims: Readonly<Record<string, unknown>> | undefined, path: string): unknown {
  if (claims === undefined) return undefined;
  const segs = path.split(".");
  let here: unknown = claims;
  let i = 0;
  while (i < segs.length) {
    if (!isPlainObject(here)) return undefined;
    let next = -1;
    for (let j = segs.length; j > i; j--) {
      if (Object.hasOwn(here, segs.slice(i, j).join("."))) {
        if (next !== -1) return undefined;
        next = j;
      }
    }
    if (next === -1) return undefined;
    here = here[segs.slice(i, next).join(".")];
    i = next;
  }
  return here;
}

/** A claim value as the text rules compare: strings as they are, numbers and booleans as written; null for anything else. */
export function scalarText(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : null;
  if (typeof v === "boolean") return v ? "true" : "false";
  return null;
}

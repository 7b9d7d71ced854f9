// `--claim PATH=VALUE` for explain: the verified token claims of the caller explain pretends to
// be, so that rules' `claims:` sections can be tried (--claim repository=acme/deploy).
import { GatewayError } from "../core/errors.ts";
import { claimPathProblem } from "../identity/claim-path.ts";

export type GivenClaims = Readonly<Record<string, string | readonly string[]>>;

/**
 * The claims given, keyed by their paths as written (a rule's path finds a key that is the
 * whole path, see claim-path.ts); a claim given twice becomes a list, as `aud` often is. Values
 * stay text: rules compare numbers and booleans as text too. Undefined when none is given.
 */
export function parseClaimFlags(values: readonly string[] | undefined): GivenClaims | undefined {
  if (values === undefined || values.length === 0) return undefined;
  const out: Record<string, string | string[]> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new GatewayError("E_USAGE", `--claim "${v}": give PATH=VALUE, e.g. --claim ref=refs/heads/main`);
    const path = v.slice(0, eq);
    const problem = claimPathProblem(path);
    if (problem !== null) throw new GatewayError("E_USAGE", `--claim "${v}": ${problem}`);
    const value = v.slice(eq + 1);
    const had = out[path];
    out[path] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return Object.freeze(out);
}

/** The same claims as --claim flags, for the command line a test case records. */
export function claimFlagsText(claims: GivenClaims | undefined, quote: (t: string) => string): string[] {
  if (claims === undefined) return [];
  return Object.entries(claims).flatMap(([k, v]) => (typeof v === "string" ? [v] : v).map((x) => `--claim ${quote(`${k}=${x}`)}`));
}

/** "claims repository=acme/deploy, ref=refs/heads/main" for explain's first line. */
export function claimsText(claims: Readonly<Record<string, unknown>> | undefined): string {
  if (claims === undefined) return "no token claims";
  return `claims ${Object.entries(claims)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("|") : typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ")}`;
}

// Per issuer, how a caller appears in audit records and the console (display_name, a template
// of claim paths) and which claims every record of its sessions carries (record_claims).
import { claimAt, claimPathProblem, scalarText } from "./claim-path.ts";

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Why a display_name template cannot be used; null when it can. */
export function displayNameProblem(template: string): string | null {
  const stripped = template.replace(PLACEHOLDER, "");
  if (/[{}]/.test(stripped)) return `display_name "${template}" has an unmatched brace`;
  for (const m of template.matchAll(PLACEHOLDER)) {
    const problem = claimPathProblem(m[1]!);
    if (problem !== null) return `display_name "${template}": ${problem}`;
  }
  return null;
}

/** The display name for these claims; a claim that is missing or not a scalar reads as "?". */
export function renderDisplayName(template: string, claims: Readonly<Record<string, unknown>>): string {
  return template.replace(PLACEHOLDER, (_m, path: string) => scalarText(claimAt(claims, path)) ?? "?");
}

/**
 * The record_claims of these claims, by path: scalars, and lists of scalars, as the token has
 * them; objects (and lists holding one) are left out, so a record never carries more than named.
 */
export function pickRecordClaims(paths: readonly string[], claims: Readonly<Record<string, unknown>>): Record<string, string | number | boolean | (string | number | boolean)[]> {
  const out: Record<string, string | number | boolean | (string | number | boolean)[]> = {};
  for (const path of paths) {
    const v = claimAt(claims, path);
    if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) out[path] = v;
    else if (Array.isArray(v) && v.every((x) => scalarText(x) !== null)) out[path] = [...(v as (string | number | boolean)[])];
  }
  return out;
}

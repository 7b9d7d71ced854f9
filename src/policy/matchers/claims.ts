// A rule's `claims:` section: conditions on the caller's verified token claims (repository,
// ref, kubernetes.io.namespace …), addressed by claim path (identity/claim-path.ts). Every
// claim the rule names must match; a list of patterns matches when any does.
import { GatewayError } from "../../core/errors.ts";
import type { Identity } from "../../core/types.ts";
import { claimAt, claimPathProblem, lookupClaim, scalarText } from "../../identity/claim-path.ts";
import { compileGlob, type StringPredicate } from "../glob.ts";

export type ClaimPattern = string | number | boolean;
export type ClaimsSection = Readonly<Record<string, ClaimPattern | readonly ClaimPattern[]>>;

export interface ClaimCondition {
  readonly path: string;
  /** The patterns as written, for explain. */
  readonly patterns: readonly string[];
  test(identity: Identity): boolean;
  why(identity: Identity, holds: boolean): string;
}

function invalid(message: string, path: readonly (string | number)[]): GatewayError {
  return new GatewayError("E_POLICY_INVALID", message, { details: { path: ["claims", ...path] } });
}

/**
 * One pattern: a string is a glob whose `*` stays within a "/" segment (refs/heads/*,
 * spiffe://acme.org/ns/ops/**), literal without * or ?; a number or boolean is its text, exact.
 * Deny and review rules compare without case, as their globs do everywhere.
 */
function compilePattern(p: unknown, at: readonly (string | number)[], restricting: boolean): { text: string; test: StringPredicate } {
  if (typeof p === "number" || typeof p === "boolean") {
    const text = scalarText(p);
    if (text === null) throw invalid(`claim pattern ${String(p)} is not a finite number`, at);
    return { text, test: restricting ? (s) => s.toLowerCase() === text.toLowerCase() : (s) => s === text };
  }
  if (typeof p !== "string") throw invalid(`claim pattern must be a string, a number or a boolean, got ${p === null ? "null" : Array.isArray(p) ? "a list" : typeof p === "object" ? "a map" : typeof p}`, at);
  try {
    return { text: p, test: compileGlob(p, { separator: "/", ignoreCase: restricting }) };
  } catch (e) {
    throw invalid(e instanceof Error ? e.message : String(e), at);
  }
}

/** The text of each scalar the claim holds: one for a scalar, the scalar elements of a list; null when missing or an object. */
function claimTexts(value: unknown): string[] | null {
  const one = scalarText(value);
  if (one !== null) return [one];
  if (!Array.isArray(value)) return null;
  const out: string[] = [];
  for (const x of value) {
    const t = scalarText(x);
    if (t !== null) out.push(t);
  }
  return out;
}

export function compileClaimConditions(section: ClaimsSection, restricting: boolean): ClaimCondition[] {
  const out: ClaimCondition[] = [];
  for (const [path, raw] of Object.entries(section)) {
    const problem = claimPathProblem(path);
    if (problem !== null) throw invalid(problem, [path]);
    const list: readonly unknown[] = Array.isArray(raw) ? raw : [raw];
    if (list.length === 0) throw invalid(`claim "${path}" lists no pattern`, [path]);
    const compiled = list.map((p, i) => compilePattern(p, Array.isArray(raw) ? [path, i] : [path], restricting));
    const patterns = compiled.map((c) => c.text);
    const anyOf = (s: string) => compiled.some((c) => c.test(s));
    const shown = patterns.length === 1 ? JSON.stringify(patterns[0]) : `[${patterns.map((p) => JSON.stringify(p)).join(", ")}]`;
    out.push(
      Object.freeze({
        path,
        patterns: Object.freeze(patterns),
        test(identity: Identity): boolean {
          const found = lookupClaim(identity.claims, path);
          // Two keys the path could mean (`env` {name} and `env.name`): read neither way, so a
          // deny or review rule holds (fail closed) and an allow rule does not.
          if (found.found === "ambiguous") return restricting;
          const value = found.found === "value" ? found.value : undefined;
          const texts = claimTexts(value);
          // A value there but not readable as text (an object, a list of objects): a deny or
          // review rule holds (fail closed); an allow rule does not. A missing claim matches neither.
          if (texts === null) return restricting && value !== undefined && value !== null;
          if (restricting && Array.isArray(value) && texts.length < value.length) return true;
          return texts.some(anyOf);
        },
        why(identity: Identity, holds: boolean): string {
          if (lookupClaim(identity.claims, path).found === "ambiguous") {
            return `claim ${path} is ambiguous in the token (two claims could be meant), so it is read as neither; ${holds ? "a deny or review rule holds" : "it must match"} ${shown}`;
          }
          const value = claimAt(identity.claims, path);
          if (holds) return `claim ${path} ${JSON.stringify(value)} matches ${shown}`;
          if (identity.claims === undefined) return `claim ${path}: the caller has no token claims (${identity.method})`;
          if (value === undefined) return `claim ${path} is missing in the token; it must match ${shown}`;
          if (claimTexts(value) === null) return `claim ${path} is not a string, number or boolean (nor a list of them); it must match ${shown}`;
          return `claim ${path} ${JSON.stringify(value)} does not match ${shown}`;
        },
      }),
    );
  }
  return out;
}

const compiledSections = new WeakMap<ClaimsSection, readonly ClaimCondition[]>();

/**
 * Whether an identity meets an allow or review rule's `claims:` (none: it does), for the checks
 * that read configured rules rather than the compiled policy ("may this caller use the target at
 * all?"). Compiled once per section object.
 */
export function identityMeetsClaims(section: ClaimsSection | undefined, identity: Identity): boolean {
  if (section === undefined) return true;
  let conditions = compiledSections.get(section);
  if (conditions === undefined) {
    conditions = compileClaimConditions(section, false);
    compiledSections.set(section, conditions);
  }
  return conditions.every((c) => c.test(identity));
}

// Reads a caller's groups out of a verified JWT payload by a configured claim path.
import { authError } from "./auth-failure.ts";

export const DEFAULT_GROUPS_CLAIM = "groups";

/**
 * The value at `path` in `payload`. A key that exists verbatim wins over the dotted reading,
 * because namespaced claims such as "https://example.com/groups" contain dots themselves.
 * Only own properties count: "constructor" must not find Object's.
 */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let here: unknown = payload;
  for (const key of path.split(".")) {
    if (here === null || typeof here !== "object" || Array.isArray(here) || !Object.hasOwn(here, key)) return undefined;
    here = (here as Record<string, unknown>)[key];
  }
  return here;
}

/**
 * The groups named by the claim at `path`: a list of strings, or one string as one group.
 * A missing or ill-typed claim is a refusal, not an empty list: fail closed, and say which.
 */
export function readGroups(payload: Readonly<Record<string, unknown>>, path: string = DEFAULT_GROUPS_CLAIM): string[] {
  const value = claimAt(payload, path);
  if (value === undefined || value === null) {
    throw authError("E_AUTH_CLAIMS", "no_groups", `token has no groups claim '${path}'`, { details: { claim: path } });
  }
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.every((g): g is string => typeof g === "string")) return [...value];
  throw authError("E_AUTH_CLAIMS", "claims", `token groups claim '${path}' is not a string or a list of strings`, {
    details: { claim: path },
  });
}

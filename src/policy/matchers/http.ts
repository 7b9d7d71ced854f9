// Matches HTTP requests: method and canonical path (see normalizeHttpPath).
import { GatewayError } from "../../core/errors.ts";
import type { RuleConfig } from "../../config/schema.ts";
import { compileGlobs } from "../glob.ts";

export type HttpSection = NonNullable<RuleConfig["http"]>;
/** method is upper-case and path already canonical when this is called. */
export type HttpMatcher = (method: string, path: string) => boolean;

/** The methods (null: any) and path globs (null: any path) of an http section, compiled. */
export interface HttpParts {
  readonly methods: ReadonlySet<string> | null;
  readonly paths: ((path: string) => boolean) | null;
}

export function compileHttpParts(section: HttpSection, restricting: boolean): HttpParts {
  const methods = section.methods?.map((m) => m.toUpperCase()) ?? ["*"];
  for (const p of section.paths ?? []) {
    if (!p.startsWith("/") && !p.startsWith("*")) {
      throw new GatewayError("E_POLICY_INVALID", `http path glob "${p}" must start with "/"`);
    }
  }
  // Deny and review paths ignore case: an upstream that treats /ADMIN as /admin must not
  // let the upper-case spelling slip past them. Allow paths stay exact.
  const paths = section.paths ? compileGlobs(section.paths, { separator: "/", ignoreCase: restricting }) : null;
  return { methods: methods.includes("*") ? null : new Set(methods), paths };
}

export function compileHttpMatcher(section: HttpSection, restricting: boolean): HttpMatcher {
  const { methods: methodSet, paths } = compileHttpParts(section, restricting);
  if (methodSet === null && paths === null) return () => true;
  if (methodSet === null) return (_m, path) => paths!(path);
  if (paths === null) return (method) => methodSet.has(method);
  return (method, path) => methodSet.has(method) && paths(path);
}

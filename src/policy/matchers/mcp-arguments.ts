// A rule's `mcp.arguments`: conditions on a call's argument values, by argument name.
// Each value check answers true, false, or null ("cannot be read": the wrong type, a path or URL
// that cannot be read safely, see mcp-values.ts). Allow rules need every stated argument present
// (unless `optional`) and every check true, for every element of a list; deny and review rules
// match when any element of a named argument meets every check, or when anything cannot be read
// (fail closed), as the claims matcher does with a claim it cannot read. An argument named in
// another case or Unicode form than the condition's (`Path` for `path`), and, given the tool's
// pinned input schema, an argument it does not declare or of another JSON type, cannot be read
// either: a server might take it for the one the rule is about.
import { GatewayError } from "../../core/errors.ts";
import type { McpArgumentCondition } from "../../config/mcp-rule-schema.ts";
import type { Static } from "@sinclair/typebox";
import { compileGlobs, type StringPredicate } from "../glob.ts";
import { foldName } from "./mcp-names.ts";
import { canonicalHostPattern, isUnder, normalisedPath, pathForms, urlHost } from "./mcp-values.ts";

export type ArgumentConditionConfig = Static<typeof McpArgumentCondition>;
export type ArgumentsSection = Readonly<Record<string, ArgumentConditionConfig>>;

type Check = (value: unknown) => boolean | null;

/** The outcome for one call: whether the section holds, and for explain why. */
export interface ArgumentsOutcome {
  readonly holds: boolean;
  readonly why: string;
}

export type ArgumentsTest = (args: Readonly<Record<string, unknown>> | undefined, schema: Readonly<Record<string, unknown>> | undefined) => ArgumentsOutcome;

function invalid(message: string, path: readonly (string | number)[]): GatewayError {
  return new GatewayError("E_POLICY_INVALID", message, { details: { path: ["mcp", "arguments", ...path] } });
}

const asList = (x: string | readonly string[]): readonly string[] => (typeof x === "string" ? [x] : x);

function compileChecks(name: string, c: ArgumentConditionConfig, restricting: boolean): { checks: [string, Check][]; optional: boolean } {
  const checks: [string, Check][] = [];
  // Deny and review rules compare strings in any case and compatibility form too.
  const texts = (v: string): string[] => (restricting ? [v, foldName(v)] : [v]);
  if (c.glob !== undefined) {
    let g: StringPredicate;
    try {
      g = compileGlobs(asList(c.glob), { separator: "/", ignoreCase: restricting });
    } catch (e) {
      throw invalid(e instanceof Error ? e.message : String(e), [name, "glob"]);
    }
    checks.push([`glob ${JSON.stringify(c.glob)}`, (v) => (typeof v !== "string" ? null : texts(v).some(g))]);
  }
  if (c.regex !== undefined) {
    const res = asList(c.regex).map((source, i) => {
      try {
        return new RegExp(`^(?:${source})$`, restricting ? "is" : "s");
      } catch (e) {
        throw invalid(`invalid regex ${JSON.stringify(source)}: ${e instanceof Error ? e.message : String(e)}`, typeof c.regex === "string" ? [name, "regex"] : [name, "regex", i]);
      }
    });
    checks.push([`regex ${JSON.stringify(c.regex)}`, (v) => (typeof v !== "string" ? null : texts(v).some((t) => res.some((re) => re.test(t))))]);
  }
  if (c.min !== undefined || c.max !== undefined) {
    const min = c.min ?? -Infinity;
    const max = c.max ?? Infinity;
    if (min > max) throw invalid(`min ${min} is above max ${max}`, [name]);
    const label = c.min !== undefined && c.max !== undefined ? `between ${min} and ${max}` : c.min !== undefined ? `at least ${min}` : `at most ${max}`;
    checks.push([label, (v) => (typeof v !== "number" || !Number.isFinite(v) ? null : v >= min && v <= max)]);
  }
  if (c.under !== undefined) {
    const roots = asList(c.under).map((r, i) => {
      const n = normalisedPath(r);
      if (n === null || n !== r.replace(/(.)\/+$/, "$1")) throw invalid(`"under" needs an absolute, normalised folder, got ${JSON.stringify(r)}`, typeof c.under === "string" ? [name, "under"] : [name, "under", i]);
      return n;
    });
    checks.push([
      `under ${JSON.stringify(c.under)}`,
      (v) => {
        const forms = pathForms(v);
        if (forms === null) return null;
        const within = (p: string) => roots.some((r) => isUnder(p, r, restricting));
        // Allow: every form a server might act on stays under; deny: any form is enough.
        return restricting ? forms.some(within) : forms.every(within);
      },
    ]);
  }
  if (c.hosts !== undefined) {
    const exact = new Set<string>();
    const suffixes: string[] = [];
    c.hosts.forEach((h, i) => {
      const p = canonicalHostPattern(h);
      if (p === null) throw invalid(`invalid host ${JSON.stringify(h)} (expected e.g. example.com, *.example.com, 10.0.0.5)`, [name, "hosts", i]);
      if (p.subdomains) suffixes.push(`.${p.host}`);
      else exact.add(p.host);
    });
    checks.push([
      `hosts ${JSON.stringify(c.hosts)}`,
      (v) => {
        const host = urlHost(v);
        if (host === null) return null;
        return exact.has(host) || suffixes.some((s) => host.endsWith(s));
      },
    ]);
  }
  if (c.one_of !== undefined) {
    const values = c.one_of;
    const folded = new Set(values.filter((x): x is string => typeof x === "string").map(foldName));
    checks.push([
      `one of ${JSON.stringify(values)}`,
      (v) => {
        if (v !== null && typeof v === "object") return null;
        if (values.some((x) => x === v)) return true;
        return restricting && typeof v === "string" && folded.has(foldName(v));
      },
    ]);
  }
  if (checks.length === 0) throw invalid(`the condition on argument "${name}" states nothing to check (glob, regex, min, max, under, hosts or one_of)`, [name]);
  return { checks, optional: c.optional === true };
}

/** Per scalar: true, false, or null (cannot be read) when all checks are combined. */
function scalarOutcome(checks: readonly [string, Check][], v: unknown): boolean | null {
  let all = true;
  for (const [, check] of checks) {
    const r = check(v);
    if (r === null) return null;
    if (!r) all = false;
  }
  return all;
}

const JSON_TYPE = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? "integer" : "number") : typeof v);

/** Whether a value is of a JSON Schema `type` (a name or a list of names); true when the schema states none. */
function typeFits(type: unknown, v: unknown): boolean {
  if (type === undefined) return true;
  const types = Array.isArray(type) ? type : [type];
  const t = JSON_TYPE(v);
  return types.some((x) => x === t || (x === "number" && t === "integer"));
}

/** Arguments the pinned input schema does not declare (or declares with another type), in words; null when all fit. */
export function schemaMisfit(args: Readonly<Record<string, unknown>>, schema: Readonly<Record<string, unknown>>): string | null {
  const props = schema["properties"];
  const declared = props !== null && typeof props === "object" && !Array.isArray(props) ? (props as Record<string, unknown>) : {};
  for (const key of Object.keys(args)) {
    if (!Object.hasOwn(declared, key)) return `argument ${JSON.stringify(key)} is not in the tool's pinned input schema`;
    const p = declared[key];
    const type = p !== null && typeof p === "object" ? (p as Record<string, unknown>)["type"] : undefined;
    if (!typeFits(type, args[key])) return `argument ${JSON.stringify(key)} is ${JSON_TYPE(args[key])}, not ${JSON.stringify(type)} as the tool's pinned input schema says`;
  }
  return null;
}

/** " (normalised: /etc/passwd)" when the path's normalised forms differ from it as written. */
function normalisedText(value: unknown): string {
  const forms = pathForms(value);
  if (forms === null || (forms.length === 1 && forms[0] === value)) return "";
  return ` (normalised: ${forms.join(" or ")})`;
}

export function compileArguments(section: ArgumentsSection, restricting: boolean): ArgumentsTest {
  const conditions = Object.entries(section).map(([name, c]) => ({ name, folded: foldName(name), under: c.under !== undefined, ...compileChecks(name, c, restricting) }));
  const unreadable = (why: string): ArgumentsOutcome => ({ holds: restricting, why: `${why}, so it cannot be read${restricting ? ": the rule matches (fail closed)" : ""}` });
  return (args, schema) => {
    const given = args ?? {};
    if (schema !== undefined) {
      const misfit = schemaMisfit(given, schema);
      if (misfit !== null) return unreadable(misfit);
    }
    const keys = Object.keys(given);
    const met: string[] = [];
    for (const c of conditions) {
      const twin = keys.find((k) => k !== c.name && foldName(k) === c.folded);
      if (twin !== undefined) return unreadable(`argument ${JSON.stringify(twin)} is another spelling of ${JSON.stringify(c.name)}`);
      const label = c.checks.map(([l]) => l).join(" and ");
      if (!Object.hasOwn(given, c.name)) {
        if (!restricting && c.optional) {
          met.push(`${c.name} absent (optional)`);
          continue;
        }
        return { holds: false, why: `argument ${c.name} is absent${restricting ? "" : `; it must be ${label}`}` };
      }
      const v = given[c.name];
      const items: readonly unknown[] = Array.isArray(v) ? v : [v];
      let any = false;
      for (const item of items) {
        const r = scalarOutcome(c.checks, item);
        if (r === null) return unreadable(`argument ${c.name} ${JSON.stringify(item)?.slice(0, 120) ?? "(undefined)"} is not what ${label} can read`);
        if (r) any = true;
        else if (!restricting) return { holds: false, why: `argument ${c.name} ${JSON.stringify(item).slice(0, 120)}${c.under ? normalisedText(item) : ""} is not ${label}` };
      }
      if (restricting && !any) return { holds: false, why: `argument ${c.name} ${JSON.stringify(v).slice(0, 120)}${c.under && !Array.isArray(v) ? normalisedText(v) : ""} is not ${label}` };
      met.push(`${c.name} ${label}`);
    }
    return { holds: true, why: `arguments ${met.join("; ")}` };
  };
}

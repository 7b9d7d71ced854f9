// labelSelector and fieldSelector query parameters, parsed with the grammar of
// k8s.io/apimachinery/pkg/labels and pkg/fields (equality, inequality, set-based, existence).
import { errors } from "./status.ts";
import type { KubeObject } from "./store.ts";

export type Matcher = (obj: KubeObject) => boolean;

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (cur.trim() !== "") out.push(cur);
  return out.map((x) => x.trim()).filter((x) => x !== "");
}

export function labelMatcher(selector: string | null): Matcher {
  if (!selector) return () => true;
  const reqs: Matcher[] = splitTopLevel(selector).map((req) => {
    let m = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
    if (m) {
      const [, key, op, vals] = m as unknown as [string, string, string, string];
      const set = new Set(vals.split(",").map((v) => v.trim()));
      return op === "in" ? (o) => set.has(o.metadata?.labels?.[key]) : (o) => !set.has(o.metadata?.labels?.[key]);
    }
    m = /^([^\s!=]+)\s*(==|!=|=)\s*(\S*)$/.exec(req);
    if (m) {
      const [, key, op, val] = m as unknown as [string, string, string, string];
      return op === "!=" ? (o) => o.metadata?.labels?.[key] !== val : (o) => o.metadata?.labels?.[key] === val;
    }
    m = /^(!?)([^\s!=(),]+)$/.exec(req);
    if (m) {
      const [, not, key] = m as unknown as [string, string, string];
      return not ? (o) => !(key in (o.metadata?.labels ?? {})) : (o) => key in (o.metadata?.labels ?? {});
    }
    throw errors.badRequest(`unable to parse requirement: found '${req}', expected: identifier`);
  });
  return (o) => reqs.every((r) => r(o));
}

function fieldValue(obj: KubeObject, path: string): string {
  let cur: unknown = obj;
  for (const p of path.split(".")) cur = typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>)[p] : undefined;
  return cur === undefined || cur === null ? "" : String(cur);
}

export function fieldMatcher(selector: string | null): Matcher {
  if (!selector) return () => true;
  const reqs: Matcher[] = splitTopLevel(selector).map((req) => {
    const m = /^([^!=]+)(==|!=|=)(.*)$/.exec(req);
    if (!m) throw errors.badRequest(`invalid selector: '${selector}'; can't understand '${req}'`);
    const [, path, op, val] = m as unknown as [string, string, string, string];
    return op === "!=" ? (o) => fieldValue(o, path.trim()) !== val : (o) => fieldValue(o, path.trim()) === val;
  });
  return (o) => reqs.every((r) => r(o));
}

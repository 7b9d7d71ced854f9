// Random request targets built from the pieces path tricks are made of: whenever the classifier
// accepts one, its facts must spell the request's path exactly (prefix, group, version, the
// /watch/ prefix, namespace, resource, name, subresource, then the proxied tail). Since every
// field it accepts is a plain name (no %, no dots alone, no empty segment), the API server splits
// the same string into the same segments: the facts are what the server acts on.
import { describe, expect, test } from "bun:test";
import type { KubernetesRequestFacts } from "../../core/types.ts";
import { classifyRequest } from "./request-info.ts";

const PIECES = [
  "api", "apis", "v1", "V1", "apps", "APPS", "watch", "proxy", "namespaces", "Namespaces", "production", "prod%75ction", "staging",
  "pods", "secrets", "deployments", "web", "web:80", "https:web:443", "exec", "attach", "status", "finalize", "log", "scale",
  "..", ".", "", "%2F", "%2f", "%2e%2e", "a%20b", "system:node", "db-0", "x.y", "\\", "~", "*", "%00", "namespaces%2Fproduction",
];
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const QUERIES = ["", "?watch=1", "?watch=false", "?fieldSelector=metadata.name%3Dweb", "?command=ls&command=-la", "?dryRun=All", "?a=1;b=2", "?x=%zz"];

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every path the facts could have come from (with or without the /watch/ prefix, the name in the path or the query). */
function spellings(f: KubernetesRequestFacts, tail: readonly string[]): string[] {
  const base = f.apiGroup ? `/apis/${f.apiGroup}/${f.apiVersion}` : `/api/${f.apiVersion}`;
  const out: string[] = [];
  for (const watch of ["", "/watch"]) {
    for (const withName of [true, false]) {
      const name = withName && f.name !== undefined ? `/${f.name}` : "";
      const sub = f.subresource !== undefined ? `/${f.subresource}` : "";
      let p: string;
      if (f.resource === "namespaces" && f.namespace !== undefined) p = `${base}${watch}/namespaces${name}${sub}`;
      else if (f.namespace !== undefined) p = `${base}${watch}/namespaces/${f.namespace}/${f.resource}${name}${sub}`;
      else p = `${base}${watch}/${f.resource}${name}${sub}`;
      out.push(tail.length > 0 ? `${p}/${tail.join("/")}` : p);
    }
  }
  return out;
}

describe("random targets: accepted facts spell the path exactly", () => {
  for (const seed of [1, 2, 3, 4]) {
    test(`seed ${seed}: 5000 targets`, () => {
      const r = rng(seed);
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
      let accepted = 0;
      for (let i = 0; i < 5000; i++) {
        const n = 1 + Math.floor(r() * 8);
        const segs = Array.from({ length: n }, () => pick(PIECES));
        // Bias towards real-looking starts so that many are accepted.
        if (r() < 0.7) segs.splice(0, 2, pick(["api", "apis"]), pick(["v1", "apps"]));
        if (segs[0] === "apis" && r() < 0.7) segs.splice(2, 0, "v1");
        const path = `/${segs.join("/")}`;
        const method = pick(METHODS);
        const target = `${path}${pick(QUERIES)}`;
        const c = classifyRequest(method, target, method === "PATCH" ? { contentType: "application/merge-patch+json" } : {});
        if (!c.ok) continue;
        accepted++;
        const f = c.facts;
        if (!c.resourceRequest) {
          expect({ target, path: f.path }).toEqual({ target, path });
          expect(path.includes("%") || path.includes("//") || /\/\.\.?(\/|$)/.test(path)).toBe(false);
          continue;
        }
        const candidates = spellings(f, c.tail);
        if (!candidates.includes(path)) throw new Error(`${method} ${target}: facts ${JSON.stringify(f)} tail ${JSON.stringify(c.tail)} do not spell the path (candidates ${JSON.stringify(candidates)})`);
        for (const v of [f.namespace, f.resource, f.subresource, f.apiGroup, f.apiVersion]) if (v !== undefined) expect(/[%/\\]|^\.\.?$/.test(v)).toBe(false);
      }
      // The test means something only if a fair share got through.
      expect(accepted).toBeGreaterThan(500);
    });
  }
});

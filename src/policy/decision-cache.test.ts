// The HTTP decision cache must never change a decision: every request here is decided by a
// policy with the cache and by the same policy without it, in one long sequence (so later
// requests meet shapes cached by earlier ones), and the two decisions must be equal. Requests
// come from the HTTP bypass corpus and from a generator that varies everything decide() reads
// (target, method, path, subject, issuer, groups and their order, the time), with parts chosen
// to collide if the key were a plain join.
import { describe, expect, test } from "bun:test";
import { loadConfigFromSources } from "../config/load.ts";
import type { Action, Identity } from "../core/types.ts";
import { HTTP_CORPUS } from "../../test/bypass/http-corpus.ts";
import { compilePolicy, type Policy } from "./compile.ts";
import { canonicalHttpPath } from "./http-path.ts";
import { HTTP_BYPASS_RULES } from "../../test/bypass/policy.ts";

async function both(yaml: string): Promise<{ cached: Policy; plain: Policy }> {
  const config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  return { cached: compilePolicy(config), plain: compilePolicy(config, { cacheDecisions: false }) };
}

// The bypass corpus's policy (test/bypass/policy.ts).
const CORPUS_POLICY = `rules:\n${HTTP_BYPASS_RULES}`;

// Everything decide() can read: identities by subject and issuer:subject, targets, groups,
// several masking rules that add up, review, and time windows on some targets and groups.
const WIDE_POLICY = `
rules:
  - { name: dev-read, groups: [developers], http: { methods: [GET, HEAD], paths: ["/api/**"] }, effect: allow }
  - { name: ops-all, groups: [ops], targets: ["api-*"], effect: allow }
  - { name: alice-only, identities: [alice, "https://other.example:mallory"], http: { paths: ["/private/**"] }, effect: allow }
  - { name: mask-a, groups: [developers], http: { paths: ["/api/customers/**"] }, effect: allow, mask: { detectors: [email] } }
  - { name: mask-b, groups: [analysts, developers], http: { methods: [GET], paths: ["/api/customers/*"] }, effect: allow, mask: { json: ["$.card"], detectors: [card] } }
  - { name: no-admin, http: { paths: ["/api/admin/**"] }, effect: deny }
  - { name: no-delete-api, targets: [api], http: { methods: [DELETE] }, effect: deny }
  - { name: orders-review, groups: [developers, "a:b"], http: { methods: [POST], paths: ["/api/orders/**"] }, effect: review, approvers: [leads] }
  - { name: office-hours, groups: [contractors], http: { paths: ["/api/**"] }, effect: allow, when: { timezone: UTC, days: [mon-fri], hours: "09:00-17:00" } }
  - { name: night-freeze, targets: [api-prod], http: { methods: [POST, PUT] }, effect: deny, when: { timezone: UTC, hours: "22:00-06:00" } }
  - { name: colon-group, groups: ["a:b", "4:x"], http: { paths: ["/colon/**"] }, effect: allow }
`;

const MONDAY_NOON = Date.parse("2026-03-02T12:00:00Z");
const MONDAY_NIGHT = Date.parse("2026-03-02T23:30:00Z");
const SUNDAY_NOON = Date.parse("2026-03-08T12:00:00Z");

function id(subject: string, groups: string[], issuer = "https://idp.example"): Identity {
  return { method: "oidc", subject, issuer, groups };
}

/** Decides every action with both policies, in order, and returns how many were compared. */
function compare(p: { cached: Policy; plain: Policy }, actions: readonly Action[]): number {
  for (const a of actions) {
    const want = p.plain.decide(a);
    const got = p.cached.decide(a);
    if (!Bun.deepEquals(got, want, true)) {
      // Show the request that differs, not just two decisions.
      expect({ action: a, decision: got }).toEqual({ action: a, decision: want });
    }
  }
  return actions.length;
}

/** The method and path (as the HTTP target takes them from the URL) of a corpus attempt; null when it has none. */
function corpusRequest(attempt: (typeof HTTP_CORPUS)[number]): { method: string; path: string } | null {
  let method: string;
  let target: string;
  if ("fetch" in attempt) {
    method = attempt.fetch.method ?? "GET";
    target = attempt.fetch.path;
  } else {
    const line = attempt.raw.split("\r\n")[0]!.split(" ");
    if (line.length < 2) return null;
    method = line[0]!;
    target = line[1]!;
  }
  try {
    return { method, path: new URL(target, "http://gateway.test").pathname };
  } catch {
    return null;
  }
}

describe("HTTP decision cache", () => {
  test("the bypass corpus: the same decisions with and without the cache, raw and canonical paths, several callers", async () => {
    const p = await both(CORPUS_POLICY);
    const callers = [id("dev", ["developers"]), id("approver", ["approvers"]), id("nobody", []), id("both", ["approvers", "developers"]), id("both", ["developers", "approvers"])];
    const actions: Action[] = [];
    for (let pass = 0; pass < 2; pass++) {
      for (const attempt of HTTP_CORPUS) {
        const r = corpusRequest(attempt);
        if (r === null) continue;
        const canonical = canonicalHttpPath(r.path);
        for (const identity of callers) {
          for (const method of [r.method, r.method.toLowerCase()]) {
            actions.push({ identity, target: "api", request: { kind: "http", method, path: r.path }, time: MONDAY_NOON });
            if (typeof canonical === "string") actions.push({ identity, target: "api", request: { kind: "http", method, path: canonical }, time: MONDAY_NOON });
          }
        }
      }
    }
    expect(compare(p, actions)).toBeGreaterThan(HTTP_CORPUS.length * 10);
  });

  test("generated requests: every input decide() reads varies, the time too, in one sequence", async () => {
    const p = await both(WIDE_POLICY);
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const targets = ["api", "api-prod", "api-", "apix", "db"];
    const methods = ["GET", "get", "HEAD", "POST", "post", "PUT", "DELETE", "Delete", "PATCH"];
    const segments = ["api", "admin", "customers", "orders", "private", "colon", "1", "..", "%2e%2e", "", "a:b"];
    // Subjects, issuers and groups whose plain concatenations collide with one another.
    const subjects = ["alice", "alic", "e", "mallory", "https://other.example:mallory", "bob", "1:a", ""];
    const issuers = ["https://idp.example", "https://other.example", "https://other.example:", "e"];
    const groupSets = [[], ["developers"], ["ops"], ["analysts"], ["contractors"], ["developers", "analysts"], ["analysts", "developers"], ["a:b"], ["a", "b"], ["4:x"], ["4", "x"], ["contractors", "ops"], ["ops", "contractors"], ["developers", "contractors"]];
    const times = [MONDAY_NOON, MONDAY_NIGHT, SUNDAY_NOON];
    const randomPath = () => {
      const depth = 1 + Math.floor(rand() * 3);
      let path = "";
      for (let d = 0; d < depth; d++) path += `/${pick(segments)}`;
      return rand() < 0.1 ? `${path}/` : path;
    };
    // Each base request comes with neighbours that differ from it in one input only, in a
    // random order: a key that left that input out would hand one of them the other's decision.
    const actions: Action[] = [];
    for (let i = 0; i < 4_000; i++) {
      const base: Action = { identity: id(pick(subjects), [...pick(groupSets)], pick(issuers)), target: pick(targets), request: { kind: "http", method: pick(methods), path: randomPath() }, time: pick(times) };
      const r = base.request as { kind: "http"; method: string; path: string };
      const group: Action[] = [
        base,
        { ...base, target: pick(targets) },
        { ...base, request: { ...r, method: pick(methods) } },
        { ...base, request: { ...r, path: randomPath() } },
        { ...base, request: { ...r, path: rand() < 0.5 ? r.path.toUpperCase() : `${r.path}/` } },
        { ...base, identity: id(pick(subjects), [...base.identity.groups], base.identity.issuer) },
        { ...base, identity: id(base.identity.subject, [...base.identity.groups], pick(issuers)) },
        { ...base, identity: id(base.identity.subject, [...pick(groupSets)], base.identity.issuer) },
        { ...base, identity: id(base.identity.subject, [...base.identity.groups].reverse(), base.identity.issuer) },
        { ...base, time: pick(times) },
      ];
      for (let j = group.length - 1; j > 0; j--) {
        const k = Math.floor(rand() * (j + 1));
        [group[j], group[k]] = [group[k]!, group[j]!];
      }
      actions.push(...group);
    }
    expect(compare(p, actions)).toBe(40_000);
  });

  test("inputs that a plain join (by '', ':', '|', NUL or '/') would run together get their own decisions", async () => {
    for (const sep of ["", ":", "|", "\u0000", "/"]) {
      const p = await both(`
rules:
  - { name: joined-group, groups: [${JSON.stringify(`a${sep}b`)}], http: { paths: ["/g/**"] }, effect: allow }
  - { name: alice, identities: [alice], http: { paths: ["/i/**"] }, effect: allow }
`);
      const get = (identity: Identity, path: string): Action => ({ identity, target: "api", request: { kind: "http", method: "GET", path }, time: MONDAY_NOON });
      const pairs: [Action, Action][] = [
        [get(id("u", [`a${sep}b`]), "/g/x"), get(id("u", ["a", "b"]), "/g/x")],
        [get(id("u", [`a${sep}b`, "c"]), "/g/x"), get(id("u", ["a", `b${sep}c`]), "/g/x")],
        [get(id("alice", [], `x${sep}y`), "/i/x"), get(id(`alice${sep}x`, [], "y"), "/i/x")],
      ];
      for (const [a, b] of pairs) {
        compare(p, [a, b, b, a]);
        // Each pair has one allowed and one denied request: the cache must not merge them.
        expect(p.cached.decide(a).effect).not.toBe(p.cached.decide(b).effect);
      }
    }
  });

  test("a shape that a rule with a time window could decide is decided anew at each time", async () => {
    const p = await both(WIDE_POLICY);
    const contractor = id("carol", ["contractors"]);
    const at = (time: number): Action => ({ identity: contractor, target: "api", request: { kind: "http", method: "GET", path: "/api/x" }, time });
    expect(p.cached.decide(at(MONDAY_NOON)).effect).toBe("allow");
    expect(p.cached.decide(at(SUNDAY_NOON)).effect).toBe("deny");
    expect(p.cached.decide(at(MONDAY_NOON)).effect).toBe("allow");
  });

  test("the cache holds at most its budget of key characters: long invented paths push the old shapes out", async () => {
    const config = await loadConfigFromSources([{ file: "p.yaml", text: WIDE_POLICY }], { baseDir: "/tmp", env: {} });
    const p = compilePolicy(config, { decisionCacheLimits: { maxKeyChars: 1_000 } });
    // Two masking rules: decide() builds a new decision for it each time, so the same object
    // back means a hit, and a new one that the shape was decided again.
    const a: Action = { identity: id("dev", ["developers", "analysts"]), target: "api", request: { kind: "http", method: "GET", path: "/api/customers/7" }, time: MONDAY_NOON };
    const first = p.decide(a);
    expect(p.decide(a)).toBe(first);
    for (let i = 0; i < 3; i++) p.decide({ ...a, request: { kind: "http", method: "GET", path: `/api/customers/${"x".repeat(400)}${i}` } });
    const again = p.decide(a);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  test("a decision handed out again cannot be changed by whoever holds it", async () => {
    const p = await both(WIDE_POLICY);
    const a: Action = { identity: id("dev", ["developers", "analysts"]), target: "api", request: { kind: "http", method: "GET", path: "/api/customers/7" }, time: MONDAY_NOON };
    const first = p.cached.decide(a);
    expect(first.masks.detectors).toEqual(["email", "card"]);
    expect(() => (first.masks.detectors as string[]).push("ssn")).toThrow();
    expect(p.cached.decide(a)).toEqual(p.plain.decide(a));
  });

  test("two identities that differ only in a claim a rule names are two shapes, and the cache agrees with decide() throughout", async () => {
    const p = await both(`rules:
  - { name: main-writes, effect: allow, claims: { repository_id: "4242", ref: refs/heads/main }, http: { methods: [POST] } }
  - { name: reads, effect: allow, claims: { repository_id: "4242" }, http: { methods: [GET] } }
  - { name: no-fork-env, effect: deny, claims: { kubernetes.io.namespace: sandbox } }
`);
    const ci = (claims: Record<string, unknown>): Identity => ({ method: "oidc", subject: "repo:acme/deploy", issuer: "https://ci.example", groups: [], claims: Object.freeze(claims) });
    const post = (identity: Identity): Action => ({ identity, target: "api", request: { kind: "http", method: "POST", path: "/deploy" }, time: MONDAY_NOON });
    const onMain = ci({ repository_id: "4242", ref: "refs/heads/main", run_id: 1 });
    const onBranch = ci({ repository_id: "4242", ref: "refs/heads/feature", run_id: 1 });
    const fork = ci({ repository_id: "9999", ref: "refs/heads/main", run_id: 1 });
    const sandbox = ci({ repository_id: "4242", ref: "refs/heads/main", "kubernetes.io": { namespace: "sandbox" } });
    // In this order, so that each later identity meets the shape an earlier one left.
    expect(p.cached.decide(post(onMain)).rule).toBe("main-writes");
    expect(p.cached.decide(post(onBranch)).rule).toBeNull();
    expect(p.cached.decide(post(fork)).rule).toBeNull();
    expect(p.cached.decide(post(sandbox)).rule).toBe("no-fork-env");
    expect(p.cached.decide(post(ci({ repository_id: "4242", ref: "refs/heads/main", run_id: 2 }))).rule).toBe("main-writes");
    expect(p.cached.decide(post(ci({})))).toEqual(p.plain.decide(post(ci({}))));
    expect(p.cached.decide(post({ method: "machine-key", subject: "repo:acme/deploy", issuer: "https://ci.example", groups: [] })).rule).toBeNull();
    compare(p, [onMain, onBranch, fork, sandbox, onMain].map(post));
  });
});

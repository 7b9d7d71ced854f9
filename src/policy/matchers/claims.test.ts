// Rules' `claims:` sections, through the loader and compilePolicy as a configuration is read.
import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../core/errors.ts";
import type { Action, Identity } from "../../core/types.ts";
import { loadConfigFromSources, loadPolicyFromSources } from "../../config/load.ts";
import { compilePolicy, type Policy } from "../compile.ts";

async function policyOf(yaml: string): Promise<Policy> {
  const config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  return compilePolicy(config);
}

async function loadError(yaml: string): Promise<string> {
  try {
    await loadPolicyFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  } catch (e) {
    if (e instanceof GatewayError) return e.message;
    throw e;
  }
  throw new Error("the configuration loaded");
}

function ci(claims: Record<string, unknown> | undefined, method: Identity["method"] = "oidc"): Identity {
  return { method, subject: "repo:acme/deploy:ref:refs/heads/main", issuer: "https://token.actions.example", groups: [], ...(claims ? { claims: Object.freeze(claims) } : {}) };
}
const get = (identity: Identity, target = "api"): Action => ({ identity, target, request: { kind: "http", method: "GET", path: "/x" }, time: 0 });
const main = { repository: "acme/deploy", repository_id: "4242", ref: "refs/heads/main", ref_protected: "true", aud: ["gatehouse"] };

describe("claims rules", () => {
  test("every named claim must match; exact by default", async () => {
    const p = await policyOf(`rules:
  - name: deploy
    effect: allow
    claims: { repository: acme/deploy, ref: refs/heads/main }
`);
    expect(p.decide(get(ci(main))).rule).toBe("deploy");
    expect(p.decide(get(ci({ ...main, ref: "refs/heads/feature" }))).rule).toBeNull();
    expect(p.decide(get(ci({ ...main, repository: "acme/deploy2" }))).rule).toBeNull();
    expect(p.decide(get(ci({ ...main, repository: "ACME/deploy" }))).rule).toBeNull();
  });

  test("globs: * within a / segment, ** across; a list of patterns is any of them", async () => {
    const p = await policyOf(`rules:
  - name: releases
    effect: allow
    claims: { ref: [refs/heads/main, "refs/heads/release/*"], sub: "spiffe://acme.test/ns/ops/**" }
`);
    const at = (ref: string, sub: string) => p.decide(get(ci({ ref, sub }))).rule;
    expect(at("refs/heads/release/1.2", "spiffe://acme.test/ns/ops/sa/agent")).toBe("releases");
    expect(at("refs/heads/main", "spiffe://acme.test/ns/ops/x")).toBe("releases");
    expect(at("refs/heads/release/1.2/x", "spiffe://acme.test/ns/ops/x")).toBeNull();
    expect(at("refs/heads/main", "spiffe://acme.test/ns/opsx/x")).toBeNull();
    expect(at("refs/heads/main", "spiffe://evil.test/ns/ops/x")).toBeNull();
  });

  test("a missing claim never matches, not even *; nor null, an object or a list of objects", async () => {
    const p = await policyOf(`rules:
  - { name: any-env, effect: allow, claims: { environment: "*" } }
`);
    expect(p.decide(get(ci({ environment: "production" }))).rule).toBe("any-env");
    expect(p.decide(get(ci({ environment: "" }))).rule).toBe("any-env");
    for (const environment of [undefined, null, { name: "production" }, [{ name: "production" }], []]) {
      expect(p.decide(get(ci(environment === undefined ? {} : { environment }))).rule).toBeNull();
    }
  });

  test("a list claim matches when any of its scalar elements does", async () => {
    const p = await policyOf(`rules:
  - { name: for-gatehouse, effect: allow, claims: { aud: gatehouse } }
`);
    expect(p.decide(get(ci({ aud: ["other", "gatehouse"] }))).rule).toBe("for-gatehouse");
    expect(p.decide(get(ci({ aud: "gatehouse" }))).rule).toBe("for-gatehouse");
    expect(p.decide(get(ci({ aud: ["other", { x: "gatehouse" }] }))).rule).toBeNull();
  });

  test("numbers and booleans compare as their text: ref_protected: true matches GitLab's string true, an id matches a string id", async () => {
    const p = await policyOf(`rules:
  - { name: protected, effect: allow, claims: { ref_protected: true, project_id: 42 } }
`);
    expect(p.decide(get(ci({ ref_protected: "true", project_id: "42" }))).rule).toBe("protected");
    expect(p.decide(get(ci({ ref_protected: true, project_id: 42 }))).rule).toBe("protected");
    expect(p.decide(get(ci({ ref_protected: "false", project_id: "42" }))).rule).toBeNull();
    expect(p.decide(get(ci({ ref_protected: "true", project_id: "420" }))).rule).toBeNull();
  });

  test("nested paths and the dotted kubernetes.io claim name", async () => {
    const p = await policyOf(`rules:
  - name: ops-agent
    effect: allow
    claims: { kubernetes.io.namespace: ops, kubernetes.io.serviceaccount.name: agent }
`);
    const sa = (namespace: string, name: string) => ({ "kubernetes.io": { namespace, serviceaccount: { name, uid: "u" } } });
    expect(p.decide(get(ci(sa("ops", "agent")))).rule).toBe("ops-agent");
    expect(p.decide(get(ci(sa("dev", "agent")))).rule).toBeNull();
    expect(p.decide(get(ci(sa("ops", "other")))).rule).toBeNull();
    // Two ways to read the path: it addresses nothing.
    expect(p.decide(get(ci({ ...sa("ops", "agent"), kubernetes: { io: { namespace: "ops" } } }))).rule).toBeNull();
  });

  test("machine keys and other callers without claims never match a claims rule", async () => {
    const p = await policyOf(`rules:
  - { name: any-repo, effect: allow, claims: { repository: "**" } }
`);
    expect(p.decide(get(ci(undefined, "machine-key"))).rule).toBeNull();
    expect(p.decide(get(ci({ repository: "x/y" }))).rule).toBe("any-repo");
  });

  test("deny and review rules compare without case, as their globs do everywhere", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow }
  - { name: no-forks, effect: deny, claims: { repository_owner: evil-org } }
`);
    expect(p.decide(get(ci({ repository_owner: "Evil-Org" }))).rule).toBe("no-forks");
    expect(p.decide(get(ci({ repository_owner: "acme" }))).rule).toBe("all");
  });

  test("a deny or review rule holds a claim it cannot read as text (an object, a list of objects); a missing one it does not", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow }
  - { name: no-production, effect: deny, claims: { environment: production } }
`);
    expect(p.decide(get(ci({ environment: { name: "production" } }))).rule).toBe("no-production");
    expect(p.decide(get(ci({ environment: [{ name: "production" }] }))).rule).toBe("no-production");
    expect(p.decide(get(ci({ environment: "staging" }))).rule).toBe("all");
    expect(p.decide(get(ci({}))).rule).toBe("all");
    expect(p.decide(get(ci({ environment: null }))).rule).toBe("all");
  });

  test("a claim path the token makes ambiguous holds for deny rules and never for allow rules", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow }
  - { name: no-production, effect: deny, claims: { env.name: production } }
`);
    // `env` {name} and `env.name` are both there: the path could mean either, so it means neither,
    // and a deny rule on it must not be dodged by adding the second spelling.
    const both = ci({ env: { name: "production" }, "env.name": "staging" });
    expect(p.decide(get(both)).rule).toBe("no-production");
    expect(p.decide(get(ci({ env: { name: "staging" } }))).rule).toBe("all");
    const allow = await policyOf(`rules:
  - { name: prod-only, effect: allow, claims: { env.name: production } }
`);
    expect(allow.decide(get(ci({ env: { name: "production" } }))).rule).toBe("prod-only");
    expect(allow.decide(get(ci({ env: { name: "production" }, "env.name": "production" }))).effect).toBe("deny");
    const why = p.explain(get(both)).rules.find((r) => r.name === "no-production")!.conditions.find((c) => c.condition === "claims")!;
    expect(why.why).toContain("ambiguous");
  });

  test("explain shows each claim condition and why it fails", async () => {
    const p = await policyOf(`rules:
  - { name: deploy, effect: allow, claims: { repository: acme/deploy, ref: refs/heads/main, environment: production } }
`);
    const e = p.explain(get(ci({ repository: "acme/deploy", ref: "refs/heads/dev" })));
    const rule = e.rules.find((r) => r.name === "deploy")!;
    expect(rule.consistent).toBe(true);
    const claims = rule.conditions.filter((c) => c.condition === "claims");
    expect(claims.map((c) => [c.holds, c.why])).toEqual([
      [true, 'claim repository "acme/deploy" matches "acme/deploy"'],
      [false, 'claim ref "refs/heads/dev" does not match "refs/heads/main"'],
      [false, 'claim environment is missing in the token; it must match "production"'],
    ]);
  });
});

describe("claims rules that do not load", () => {
  test("a pattern that is a map, or a list holding one, is refused at file:line:column", async () => {
    const m = await loadError(`rules:
  - name: bad
    effect: allow
    claims:
      repository: { owner: acme }
`);
    expect(m).toMatch(/p\.yaml:5:\d+/);
    expect(m).toContain("claims.repository");
    const l = await loadError(`rules:
  - name: bad
    effect: allow
    claims:
      ref: [refs/heads/main, [x]]
`);
    expect(l).toMatch(/p\.yaml:5:\d+/);
  });

  test("a bad claim path or glob is refused at file:line:column", async () => {
    const m = await loadError(`rules:
  - name: bad
    effect: allow
    claims:
      kubernetes..namespace: ops
`);
    expect(m).toMatch(/p\.yaml:5:\d+/);
    expect(m).toContain("empty segment");
    const g = await loadError(`rules:
  - name: bad
    effect: allow
    claims:
      ref: "refs/heads/[a-z]"
`);
    expect(g).toMatch(/p\.yaml:5:\d+/);
    expect(g).toContain("character classes");
  });

  test("an empty claims map is refused", async () => {
    const m = await loadError(`rules:
  - { name: bad, effect: allow, claims: {} }
`);
    expect(m).toMatch(/p\.yaml:2:\d+/);
  });
});

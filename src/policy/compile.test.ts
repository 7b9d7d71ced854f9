import { describe, expect, test } from "bun:test";
import { GatewayError } from "../core/errors.ts";
import type { Action, Identity, RequestFacts } from "../core/types.ts";
import { loadConfigFromSources } from "../config/load.ts";
import { compilePolicy, type Policy } from "./compile.ts";

async function policyOf(yaml: string): Promise<Policy> {
  const config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  return compilePolicy(config);
}

const MONDAY_NOON = Date.parse("2026-03-02T12:00:00Z");
function who(subject: string, groups: string[], issuer = "https://idp.example"): Identity {
  return { method: "oidc", subject, issuer, groups };
}
function act(identity: Identity, target: string, request: RequestFacts, time = MONDAY_NOON): Action {
  return { identity, target, request, time };
}
const get = (path: string): RequestFacts => ({ kind: "http", method: "GET", path });
const alice = who("alice", ["developers"]);

describe("decide", () => {
  test("default deny when nothing matches, with a message", async () => {
    const p = await policyOf("rules: []\n");
    expect(p.decide(act(alice, "api", get("/x")))).toEqual({
      effect: "deny",
      rule: null,
      message: "no rule allows this request",
      masks: { json: [], columns: [], detectors: [] },
    });
  });

  test("deny beats review beats allow, whatever the order of the rules", async () => {
    const p = await policyOf(`rules:
  - { name: allow-all, effect: allow }
  - { name: review-orders, effect: review, approvers: [leads], http: { paths: ["/orders/**"] } }
  - { name: deny-secret, effect: deny, http: { paths: ["/orders/secret"] } }
`);
    expect(p.decide(act(alice, "api", get("/other"))).rule).toBe("allow-all");
    const review = p.decide(act(alice, "api", get("/orders/1")));
    expect(review.effect).toBe("review");
    expect(review.rule).toBe("review-orders");
    expect(review.review).toEqual({ approvers: ["leads"], maxGrantMs: 3_600_000, timeoutMs: 900_000 });
    expect(review.message).toBe("rule review-orders requires approval by leads");
    const deny = p.decide(act(alice, "api", get("/orders/secret")));
    expect(deny).toMatchObject({ effect: "deny", rule: "deny-secret", message: "denied by rule deny-secret" });
  });

  test("the first matching allow decides, masks of all matching allows add up without duplicates", async () => {
    const p = await policyOf(`rules:
  - { name: a, effect: allow, groups: [developers], mask: { columns: [email], detectors: [email] } }
  - { name: b, effect: allow, mask: { columns: [email, phone], json: ["$.ssn"] } }
  - { name: c, effect: allow, groups: [nobody], mask: { columns: [never] } }
  - { name: d, effect: allow }
`);
    const d = p.decide(act(alice, "api", get("/x")));
    expect(d.rule).toBe("a");
    expect(d.message).toBe("allowed by rule a");
    expect(d.masks).toEqual({ json: ["$.ssn"], columns: ["email", "phone"], detectors: ["email"] });
    const other = p.decide(act(who("bob", []), "api", get("/x")));
    expect(other.rule).toBe("b");
    expect(other.masks).toEqual({ json: ["$.ssn"], columns: ["email", "phone"], detectors: [] });
  });

  test("config order decides across the caller's groups, whatever the order of the groups", async () => {
    const p = await policyOf(`rules:
  - { name: deny-x, effect: deny, groups: [x], http: { paths: ["/d"] } }
  - { name: deny-y, effect: deny, groups: [y], http: { paths: ["/d"] } }
  - { name: review-y, effect: review, approvers: [a], groups: [y], http: { paths: ["/r"] } }
  - { name: review-x, effect: review, approvers: [a], groups: [x], http: { paths: ["/r"] } }
  - { name: allow-x, effect: allow, groups: [x, y] }
  - { name: allow-y, effect: allow, groups: [y], mask: { columns: [c] } }
  - { name: allow-any, effect: allow, mask: { detectors: [email] } }
`);
    for (const groups of [["x", "y"], ["y", "x"]]) {
      const caller = who("c", groups);
      expect(p.decide(act(caller, "t", get("/d"))).rule).toBe("deny-x");
      expect(p.decide(act(caller, "t", get("/r"))).rule).toBe("review-y");
      const allow = p.decide(act(caller, "t", get("/a")));
      expect(allow.rule).toBe("allow-x");
      expect(allow.masks).toEqual({ json: [], columns: ["c"], detectors: ["email"] });
    }
    expect(p.decide(act(who("c", ["x"]), "t", get("/a"))).masks).toEqual({ json: [], columns: [], detectors: ["email"] });
  });

  test("groups, identities (bare or issuer:subject) and target globs", async () => {
    const p = await policyOf(`rules:
  - { name: by-group, effect: allow, groups: [ops, developers], targets: [api-*] }
  - { name: by-subject, effect: allow, identities: [carol], targets: [db] }
  - { name: by-issuer-subject, effect: allow, identities: ["https://idp.example:dave"], targets: [db] }
`);
    expect(p.decide(act(alice, "api-1", get("/"))).rule).toBe("by-group");
    expect(p.decide(act(alice, "db", get("/"))).rule).toBeNull();
    expect(p.decide(act(who("carol", []), "db", get("/"))).rule).toBe("by-subject");
    expect(p.decide(act(who("dave", []), "db", get("/"))).rule).toBe("by-issuer-subject");
    expect(p.decide(act(who("dave", [], "https://other.example"), "db", get("/"))).rule).toBeNull();
  });

  test("a rule with a section for another kind does not match; one without any section matches every kind", async () => {
    const p = await policyOf(`rules:
  - { name: pg-only, effect: allow, postgres: { classes: [read] } }
  - { name: http-only, effect: deny, http: { methods: [DELETE] } }
`);
    const pg: RequestFacts = { kind: "postgres", classes: ["read"], relations: ["a.b"], functions: [] };
    expect(p.decide(act(alice, "db", pg)).rule).toBe("pg-only");
    expect(p.decide(act(alice, "api", get("/"))).rule).toBeNull();
    const anyKind = await policyOf("rules:\n  - { name: all, effect: allow }\n");
    expect(anyKind.decide(act(alice, "k", { kind: "kubernetes", verb: "get", resource: "pods" })).effect).toBe("allow");
    expect(anyKind.decide(act(alice, "s", { kind: "ssh", user: "x", action: "shell" })).effect).toBe("allow");
  });

  test("a request of an unknown kind is denied", async () => {
    const p = await policyOf("rules:\n  - { name: all, effect: allow }\n");
    for (const kind of ["ftp", "__proto__", "toString"]) {
      const request = { kind, method: "GET", path: "/" } as unknown as RequestFacts;
      expect(p.decide(act(alice, "api", request))).toMatchObject({ effect: "deny", rule: null });
    }
  });

  test("an HTTP path that cannot be normalised is denied even where everything is allowed", async () => {
    const p = await policyOf("rules:\n  - { name: all, effect: allow }\n");
    for (const path of ["/a%2Fb", "/../x", "/bad%zz", "x"]) {
      expect(p.decide(act(alice, "api", get(path)))).toMatchObject({ effect: "deny", rule: null, message: "request path cannot be normalised" });
    }
  });

  test("path bypass attempts against allow and deny rules", async () => {
    const p = await policyOf(`rules:
  - { name: no-admin, effect: deny, http: { paths: ["/admin/**"] } }
  - { name: api, effect: allow, http: { methods: [GET], paths: ["/api/**"] } }
  - { name: public, effect: allow, http: { paths: ["/public/**"] } }
`);
    expect(p.decide(act(alice, "api", get("/api/../admin"))).rule).toBe("no-admin");
    expect(p.decide(act(alice, "api", get("/public/%2e%2e/admin/x"))).rule).toBe("no-admin");
    expect(p.decide(act(alice, "api", get("//admin"))).rule).toBe("no-admin");
    expect(p.decide(act(alice, "api", get("/ADMIN"))).rule).toBe("no-admin");
    expect(p.decide(act(alice, "api", get("/API/x"))).rule).toBeNull();
    expect(p.decide(act(alice, "api", get("/api/../secret"))).rule).toBeNull();
    expect(p.decide(act(alice, "api", get("/api/x/../y"))).rule).toBe("api");
  });

  test("time windows use the action's own time", async () => {
    const p = await policyOf(`rules:
  - { name: office, effect: allow, when: { timezone: Europe/Berlin, days: [mon-fri], hours: "09:00-17:00" } }
`);
    expect(p.decide(act(alice, "x", get("/"), Date.parse("2026-03-02T08:00:00Z"))).rule).toBe("office"); // 09:00 CET
    expect(p.decide(act(alice, "x", get("/"), Date.parse("2026-03-02T07:59:00Z"))).rule).toBeNull();
    expect(p.decide(act(alice, "x", get("/"), Date.parse("2026-03-07T10:00:00Z"))).rule).toBeNull(); // Saturday
  });

  test("review terms come from the rule", async () => {
    const p = await policyOf(`rules:
  - { name: r, effect: review, approvers: [sre, leads], grant_max: 4h, timeout: 2m, message: ask SRE }
`);
    expect(p.decide(act(alice, "x", get("/")))).toEqual({
      effect: "review",
      rule: "r",
      message: "ask SRE",
      masks: { json: [], columns: [], detectors: [] },
      review: { approvers: ["sre", "leads"], maxGrantMs: 4 * 3_600_000, timeoutMs: 120_000 },
    });
  });

  test("results are the same across targets and repeated calls (the index is a cache, not state)", async () => {
    const p = await policyOf(`rules:
  - { name: a, effect: allow, targets: [web-*] }
  - { name: b, effect: deny, targets: [web-2] }
`);
    const seq = ["web-1", "web-2", "db", "web-1", "web-2"].map((t) => p.decide(act(alice, t, get("/"))).rule);
    expect(seq).toEqual(["a", "b", null, "a", "b"]);
  });
});

describe("compiled policy", () => {
  test("is frozen and carries the config hash and rule origins", async () => {
    const config = await loadConfigFromSources([{ file: "p.yaml", text: "rules:\n  - { name: a, effect: allow }\n" }], { baseDir: "/", env: {} });
    const p = compilePolicy(config);
    expect(p.hash).toBe(config.hash);
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.rules)).toBe(true);
    expect(p.rules[0]).toMatchObject({ name: "a", index: 0, effect: "allow", origin: "p.yaml:2", kinds: null });
    expect(p.rules[0]!.matches(act(alice, "x", get("/")))).toBe(true);
  });

  test("invalid zones and globs are E_POLICY_INVALID naming the rule and file:line, all at once", async () => {
    const text = `rules:
  - { name: ok, effect: allow }
  - name: bad-zone
    effect: allow
    when: { timezone: Mars/Base }
  - name: bad-glob
    effect: deny
    http: { paths: ["/a/{b,c}"] }
`;
    const config = await loadConfigFromSources([{ file: "p.yaml", text }], { baseDir: "/", env: {} });
    let error: unknown;
    try {
      compilePolicy(config);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GatewayError);
    const e = error as GatewayError;
    expect(e.code).toBe("E_POLICY_INVALID");
    expect(e.message.split("\n")).toEqual([
      `p.yaml:3: rule "bad-zone": invalid timezone "Mars/Base" (expected an IANA name such as UTC or Europe/Berlin)`,
      `p.yaml:6: rule "bad-glob": invalid glob "/a/{b,c}": character classes and braces are not supported`,
    ]);
  });
});

describe("masks when a review rule decides", () => {
  const yaml = `rules:
  - { name: read-api, effect: allow, http: { methods: [GET], paths: ["/api/**"] }, mask: { detectors: [email] } }
  - { name: read-api-2, effect: allow, groups: [developers], http: { methods: [GET], paths: ["/api/**"] }, mask: { json: ["$.ssn"] } }
  - { name: other, effect: allow, http: { paths: ["/other/**"] }, mask: { detectors: [card] } }
  - { name: export, effect: review, approvers: [leads], http: { methods: [GET], paths: ["/api/export/**", "/unlisted/**"] } }
`;

  test("a review decision carries the combined masks of the matching allow rules", async () => {
    const p = await policyOf(yaml);
    const d = p.decide(act(alice, "api", get("/api/export/all")));
    expect(d.effect).toBe("review");
    expect(d.rule).toBe("export");
    expect(d.review).toEqual({ approvers: ["leads"], maxGrantMs: 3_600_000, timeoutMs: 900_000 });
    expect(d.masks).toEqual({ json: ["$.ssn"], columns: [], detectors: ["email"] });
    // Not in the developers group: only read-api's masks.
    expect(p.decide(act(who("bob", []), "api", get("/api/export/all"))).masks).toEqual({ json: [], columns: [], detectors: ["email"] });
  });

  test("with no matching allow rule a review decision has no masks", async () => {
    const p = await policyOf(yaml);
    const d = p.decide(act(alice, "api", get("/unlisted/x")));
    expect(d).toMatchObject({ effect: "review", rule: "export", masks: { json: [], columns: [], detectors: [] } });
  });

  test("a Postgres review decision carries the masks of allow rules on the statement's tables", async () => {
    const p = await policyOf(`rules:
  - { name: read-sales, effect: allow, postgres: { classes: [read], tables: ["sales.*"] }, mask: { columns: [email] } }
  - { name: review-customers, effect: review, approvers: [leads], postgres: { tables: ["sales.customers"] } }
`);
    const pg: RequestFacts = { kind: "postgres", classes: ["read"], relations: ["sales.customers"], functions: [] };
    expect(p.decide(act(alice, "db", pg))).toMatchObject({ effect: "review", rule: "review-customers", masks: { columns: ["email"] } });
  });
});

describe("Postgres masks follow the tables of their rule", () => {
  const yaml = `rules:
  - { name: a-sales-masked, effect: allow, groups: [analysts], postgres: { classes: [read], tables: ["sales.*"] }, mask: { columns: [email] } }
  - { name: b-sales-and-ref, effect: allow, groups: [analysts], postgres: { classes: [read], tables: ["sales.*", "ref.*"] } }
  - { name: c-other-group, effect: allow, groups: [others], postgres: { classes: [read], tables: ["sales.*"] }, mask: { columns: [phone] } }
  - { name: d-hr, effect: allow, groups: [analysts], postgres: { classes: [read], tables: ["hr.*"] }, mask: { columns: [salary] } }
  - { name: e-writes, effect: allow, groups: [analysts], postgres: { classes: [update], tables: ["sales.*"] }, mask: { columns: [note] } }
`;
  const analyst = who("ann", ["analysts"]);
  const pg = (relations: string[], classes = ["read"]): RequestFacts => ({ kind: "postgres", classes, relations, functions: [] });

  test("a statement allowed by a wider rule keeps the masks of a rule whose tables it reads", async () => {
    const p = await policyOf(yaml);
    const d = p.decide(act(analyst, "db", pg(["sales.customers", "ref.countries"])));
    expect(d).toMatchObject({ effect: "allow", rule: "b-sales-and-ref" });
    expect(d.masks).toEqual({ json: [], columns: ["email"], detectors: [] });
  });

  test("a statement the masking rule allows itself keeps its masks", async () => {
    const p = await policyOf(yaml);
    const d = p.decide(act(analyst, "db", pg(["sales.customers"])));
    expect(d).toMatchObject({ effect: "allow", rule: "a-sales-masked", masks: { columns: ["email"] } });
  });

  test("masks of rules for other tables, other groups or other classes do not apply", async () => {
    const p = await policyOf(yaml);
    expect(p.decide(act(analyst, "db", pg(["ref.countries"])))).toMatchObject({ rule: "b-sales-and-ref", masks: { columns: [] } });
    // c-other-group and d-hr never apply to this statement; e-writes lists no read.
    expect(p.decide(act(analyst, "db", pg(["sales.orders", "ref.countries"]))).masks.columns).toEqual(["email"]);
  });

  test("a statement that also writes keeps the masks of a read rule on the tables it reads", async () => {
    const p = await policyOf(`rules:
  - { name: read-masked, effect: allow, postgres: { classes: [read], tables: ["sales.*"] }, mask: { columns: [email] } }
  - { name: read-write, effect: allow, postgres: { classes: [read, delete], tables: ["sales.*"] } }
`);
    const d = p.decide(act(alice, "db", pg(["sales.customers"], ["read", "delete"])));
    expect(d).toMatchObject({ effect: "allow", rule: "read-write", masks: { columns: ["email"] } });
  });

  test("masks never make a rule allow: a statement only partly within the masking rule is still denied", async () => {
    const p = await policyOf(`rules:
  - { name: read-masked, effect: allow, postgres: { classes: [read], tables: ["sales.*"] }, mask: { columns: [email] } }
`);
    expect(p.decide(act(alice, "db", pg(["sales.customers", "hr.salaries"])))).toMatchObject({ effect: "deny", rule: null });
  });

  test("HTTP: masks of all matching allow rules, as before", async () => {
    const p = await policyOf(`rules:
  - { name: wide, effect: allow, http: { paths: ["/**"] } }
  - { name: narrow, effect: allow, http: { paths: ["/api/**"] }, mask: { detectors: [email] } }
`);
    expect(p.decide(act(alice, "api", get("/api/x")))).toMatchObject({ rule: "wide", masks: { detectors: ["email"] } });
    expect(p.decide(act(alice, "api", get("/x")))).toMatchObject({ rule: "wide", masks: { detectors: [] } });
  });
});

describe("Postgres statements that act on a whole schema or database", () => {
  test("a read+tables allow rule does not allow them; a tables deny rule catches them", async () => {
    const p = await policyOf(`rules:
  - { name: no-hr, effect: deny, postgres: { tables: ["hr.*"] } }
  - { name: anything-on-sales, effect: allow, postgres: { tables: ["sales.*"] } }
`);
    const schemaWide: RequestFacts = { kind: "postgres", classes: ["ddl.drop.schema"], relations: [], functions: [], sql: "DROP SCHEMA hr CASCADE" };
    expect(p.decide(act(alice, "db", schemaWide))).toMatchObject({ effect: "deny", rule: "no-hr" });
    const now: RequestFacts = { kind: "postgres", classes: ["read"], relations: [], functions: ["pg_catalog.now"], sql: "SELECT now()" };
    expect(p.decide(act(alice, "db", now))).toMatchObject({ effect: "allow", rule: "anything-on-sales" });
  });
});

describe("HTTP masks follow their route however it is spelled", () => {
  test("another case or a trailing slash of a masked route still gets the masks when a broader rule allows it", async () => {
    const p = await policyOf(`rules:
  - { name: api, groups: [developers], effect: allow, http: { methods: [GET], paths: ["/api/**"] } }
  - { name: customers-masked, groups: [developers], effect: allow, http: { methods: [GET], paths: ["/api/customers"] }, mask: { detectors: [email] } }
`);
    for (const path of ["/api/customers", "/api/customers/", "/api/Customers", "/api/CUSTOMERS/"]) {
      const d = p.decide(act(alice, "api", get(path)));
      expect(d.effect).toBe("allow");
      expect(d.masks.detectors).toEqual(["email"]);
    }
    expect(p.decide(act(alice, "api", get("/api/orders"))).masks.detectors).toEqual([]);
  });
});

describe("kubernetes rule sections at load", () => {
  test("a misspelt verb or API group is an error at its file:line:column, with a suggestion", async () => {
    const { loadPolicyFromSources } = await import("../config/load.ts");
    const load = (text: string) => loadPolicyFromSources([{ file: "k.yaml", text }], { baseDir: "/tmp", resolveSecrets: false });
    await expect(load("rules:\n  - name: r1\n    kubernetes:\n      verbs: [get, delet]\n    effect: deny\n")).rejects.toThrow(/k\.yaml:4:20: rules\[0\]\.kubernetes\.verbs\[1\]: rule "r1": unknown kubernetes verb "delet" \(did you mean "delete"\?\)/);
    await expect(load("rules:\n  - name: r1\n    kubernetes:\n      groups: [core, app]\n    effect: allow\n")).rejects.toThrow(/k\.yaml:4:\d+: rules\[0\]\.kubernetes\.groups\[1\]: rule "r1": unknown API group "app" \(did you mean "apps"\?\)/);
    await expect(load("rules:\n  - name: r1\n    kubernetes:\n      resources: [pods, Deployments]\n    effect: allow\n")).rejects.toThrow(/k\.yaml:4:\d+: rules\[0\]\.kubernetes\.resources\[1\]/);
  });
});

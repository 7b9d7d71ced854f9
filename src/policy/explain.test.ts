import { describe, expect, test } from "bun:test";
import type { Action, Identity, RequestFacts } from "../core/types.ts";
import { loadConfigFromSources } from "../config/load.ts";
import { compilePolicy, type Policy } from "./compile.ts";

async function policyOf(yaml: string): Promise<Policy> {
  const config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  return compilePolicy(config);
}

const MONDAY_NOON = Date.parse("2026-03-02T12:00:00Z");
const SATURDAY_NOON = Date.parse("2026-03-07T12:00:00Z");
const who = (subject: string, groups: string[]): Identity => ({ method: "dev", subject, issuer: "dev", groups });
const act = (identity: Identity, target: string, request: RequestFacts, time = MONDAY_NOON): Action => ({ identity, target, request, time });
const pg = (classes: string[], relations: string[], functions: string[] = []): RequestFacts => ({ kind: "postgres", classes, relations, functions });
const http = (method: string, path: string): RequestFacts => ({ kind: "http", method, path });
const alice = who("alice", ["analysts"]);

const POLICY = `
targets:
  - { name: db, kind: postgres, listen: "127.0.0.1:1", upstream: { host: 127.0.0.1, port: 5432, database: d, user: u } }
  - { name: api, kind: http, listen: "127.0.0.1:2", upstream: "http://127.0.0.1:3" }
rules:
  - name: no-drop
    postgres: { classes: [ddl.drop.database] }
    effect: deny
    message: DROP DATABASE is blocked
  - name: analysts-read
    groups: [analysts]
    targets: [db]
    postgres: { classes: [read], tables: ["sales.*"] }
    when: { days: [mon-fri], hours: "09:00-17:00" }
    effect: allow
    mask: { columns: [email] }
  - name: dbas
    groups: [dbas]
    targets: [db]
    effect: allow
  - name: api-read
    groups: [analysts]
    targets: [api]
    http: { methods: [GET], paths: ["/api/**"] }
    when: { timezone: Europe/Berlin, days: [mon-fri], hours: "08:00-18:00" }
    effect: allow
  - name: api-admin
    groups: [admins]
    http: { paths: ["/admin/**"] }
    effect: review
    approvers: [leads]
`;

describe("describeDenial: what the caller is told on a default deny", () => {
  test("names what the gateway saw and that no rule allows it", async () => {
    const p = await policyOf(POLICY);
    const a = act(alice, "db", pg(["read"], ["hr.salaries"]));
    const d = p.describeDenial(a, p.decide(a));
    expect(d).toMatchObject({ effect: "deny", rule: null, message: "no rule allows this request" });
    expect(d.detail).toBe("read of hr.salaries; no rule allows it for you");
  });

  test("names the rule and its window when only its hours stand in the way", async () => {
    const p = await policyOf(POLICY);
    const a = act(alice, "db", pg(["read"], ["sales.orders"]), SATURDAY_NOON);
    expect(p.describeDenial(a, p.decide(a)).detail).toBe("read of sales.orders; rule analysts-read allows it only mon-fri 09:00-17:00 UTC");
    const h = act(alice, "api", http("GET", "/api/x/../orders"), SATURDAY_NOON);
    expect(p.describeDenial(h, p.decide(h)).detail).toBe("GET /api/orders; rule api-read allows it only mon-fri 08:00-18:00 Europe/Berlin");
  });

  test("a review rule outside its hours says it would hold the request; several rules are all named", async () => {
    const p = await policyOf(`rules:
  - { name: night-ops, effect: review, approvers: [leads], http: { paths: ["/ops/**"] }, when: { hours: "22:00-06:00" } }
  - { name: weekend-ops, effect: allow, identities: [alice], http: { paths: ["/ops/**"] }, when: { days: [sat, sun] } }
`);
    const a = act(alice, "api", http("POST", "/ops/restart"));
    expect(p.describeDenial(a, p.decide(a)).detail).toBe(
      "POST /ops/restart; rule night-ops holds it for approval only 22:00-06:00 UTC; rule weekend-ops allows it only sat, sun UTC",
    );
    // Another subject: the identities condition fails, so only the review rule is named.
    const b = act(who("bob", []), "api", http("POST", "/ops/restart"));
    expect(p.describeDenial(b, p.decide(b)).detail).toBe("POST /ops/restart; rule night-ops holds it for approval only 22:00-06:00 UTC");
  });

  test("a rule outside its hours that would not have allowed it anyway is not named", async () => {
    const p = await policyOf(POLICY);
    // Wrong table and outside hours: the hours are not the reason.
    const a = act(alice, "db", pg(["read"], ["sales.orders", "hr.x"]), SATURDAY_NOON);
    expect(p.describeDenial(a, p.decide(a)).detail).toBe("read of sales.orders, hr.x; no rule allows it for you");
    // Another caller's rule (not in its groups): not named either.
    const b = act(who("bob", ["sales"]), "db", pg(["read"], ["sales.orders"]), SATURDAY_NOON);
    expect(p.describeDenial(b, p.decide(b)).detail).toBe("read of sales.orders; no rule allows it for you");
  });

  test("an explicit deny rule keeps its own message and gets no detail; allows are untouched", async () => {
    const p = await policyOf(POLICY);
    const a = act(alice, "db", pg(["ddl.drop.database"], []));
    const d = p.describeDenial(a, p.decide(a));
    expect(d).toMatchObject({ effect: "deny", rule: "no-drop", message: "DROP DATABASE is blocked" });
    expect(d.detail).toBeUndefined();
    const ok = act(alice, "db", pg(["read"], ["sales.orders"]));
    expect(p.describeDenial(ok, p.decide(ok))).toBe(p.decide(ok));
  });

  test("a path that cannot be normalised keeps its own message", async () => {
    const p = await policyOf(POLICY);
    const a = act(alice, "api", http("GET", "/api/%2fadmin"));
    const d = p.describeDenial(a, p.decide(a));
    expect(d.message).toBe("request path cannot be normalised");
    expect(d.detail).toBeUndefined();
  });

  test("long lists are cut", async () => {
    const p = await policyOf(POLICY);
    const tables = Array.from({ length: 12 }, (_, i) => `hr.t${i}`);
    const a = act(alice, "db", pg(["read"], tables));
    expect(p.describeDenial(a, p.decide(a)).detail).toBe("read of hr.t0, hr.t1, hr.t2, hr.t3, hr.t4, hr.t5, hr.t6, hr.t7 and 4 more; no rule allows it for you");
  });
});

describe("explain: every rule's conditions", () => {
  const failedOf = (p: Policy, a: Action, rule: string) => p.explain(a).rules.find((r) => r.name === rule)!.failed.map((c) => `${c.condition}: ${c.why}`);

  test("says which condition fails, for each kind of near miss", async () => {
    const p = await policyOf(POLICY);
    expect(failedOf(p, act(alice, "db", pg(["delete"], ["sales.orders"])), "analysts-read")).toEqual(["classes: class delete is not in its classes [read]"]);
    expect(failedOf(p, act(alice, "db", pg(["read"], ["sales.a", "hr.b", "hr.c"])), "analysts-read")).toEqual(["tables: tables hr.b, hr.c are not in its tables [sales.*]"]);
    expect(failedOf(p, act(alice, "db2", pg(["read"], ["sales.a"])), "analysts-read")).toEqual(["target: its targets [db] do not name db2"]);
    expect(failedOf(p, act(who("bob", ["x"]), "db", pg(["read"], ["sales.a"])), "analysts-read")).toEqual(["groups: you are in none of its groups [analysts]"]);
    expect(failedOf(p, act(alice, "db", pg(["read"], ["sales.a"]), SATURDAY_NOON), "analysts-read")).toEqual(["when: outside its hours: only mon-fri 09:00-17:00 UTC"]);
    expect(failedOf(p, act(alice, "api", http("POST", "/api/x")), "api-read")).toEqual(["methods: method POST is not in its methods [GET]"]);
    expect(failedOf(p, act(alice, "api", http("GET", "/other")), "api-read")).toEqual(["paths: path /other is not matched by its paths [/api/**]"]);
    expect(failedOf(p, act(alice, "api", http("GET", "/api/x")), "analysts-read")).toEqual([
      "target: its targets [db] do not name api",
      "kind: it has no http section (only postgres)",
    ]);
    // A statement that acts on objects but names no table is not within an allow rule's tables.
    expect(failedOf(p, act(alice, "db", pg(["read", "ddl.alter.schema"], [])), "analysts-read")).toEqual([
      "classes: class ddl.alter.schema is not in its classes [read]",
      "tables: the statement names no table but acts on objects (read, ddl.alter.schema) that its tables [sales.*] cannot vouch for",
    ]);
  });

  test("the matching rules, the decision with masks, and what was seen", async () => {
    const p = await policyOf(POLICY);
    const e = p.explain(act(alice, "db", pg(["read"], ["sales.orders"])));
    expect(e.seen).toBe("read of sales.orders");
    expect(e.rules.filter((r) => r.matches).map((r) => r.name)).toEqual(["analysts-read"]);
    expect(e.decision).toMatchObject({ effect: "allow", rule: "analysts-read", masks: { columns: ["email"] } });
    const h = p.explain(act(alice, "api", http("get", "/api/./a//b")));
    expect(h.seen).toBe("GET /api/a/b");
    expect(h.canonicalPath).toBe("/api/a/b");
  });

  test("the conditions one by one agree with the rule's own test, across many requests", async () => {
    const p = await policyOf(POLICY);
    const people = [alice, who("bob", ["dbas"]), who("carol", []), who("dan", ["admins", "analysts"])];
    const requests: [string, RequestFacts][] = [];
    for (const t of ["db", "api", "other"]) {
      for (const c of [["read"], ["read", "delete"], ["ddl.drop.database"], ["transaction"], ["ddl.alter.schema"], []]) {
        for (const r of [[], ["sales.a"], ["sales.a", "hr.b"], ["SALES.A"]]) requests.push([t, pg(c, r)]);
      }
      for (const m of ["GET", "POST", "delete"]) for (const path of ["/api/x", "/admin/a", "/ADMIN/a", "/", "/api/../admin/x"]) requests.push([t, http(m, path)]);
    }
    let checked = 0;
    for (const person of people) {
      for (const [t, r] of requests) {
        for (const time of [MONDAY_NOON, SATURDAY_NOON, Date.parse("2026-03-02T07:30:00Z")]) {
          for (const rule of p.explain(act(person, t, r, time)).rules) {
            expect({ rule: rule.name, consistent: rule.consistent }).toEqual({ rule: rule.name, consistent: true });
            checked++;
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});

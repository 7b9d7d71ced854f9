import { describe, expect, test } from "bun:test";
import { ZERO_HASH, type AuditRecord } from "./record.ts";
import { actionSummary, formatRecord } from "./tail-format.ts";

const base: AuditRecord = {
  seq: 1,
  time: "2026-11-28T09:00:00.000Z",
  type: "decision",
  prev: ZERO_HASH,
  hash: "a".repeat(64),
  identity: { method: "oidc", subject: "alice@example.com", issuer: "https://idp", groups: ["eng"] },
  target: "orders-db",
};

describe("formatRecord", () => {
  test("a deny: time, type, effect, subject, target, action, rule and message on one line", () => {
    const line = formatRecord(
      {
        ...base,
        action: { kind: "postgres", classes: ["ddl.drop"], relations: [], functions: [], sql: "DROP   TABLE\n  sales.orders" },
        decision: { effect: "deny", rule: "no-ddl", message: "DDL needs a change ticket" },
      },
      { color: false },
    );
    expect(line).toBe('2026-11-28T09:00:00.000Z decision deny alice@example.com orders-db DROP TABLE sales.orders rule=no-ddl "DDL needs a change ticket"');
  });

  test("a default deny shows its detail: what the gateway saw and why nothing allowed it", () => {
    const line = formatRecord(
      { ...base, decision: { effect: "deny", rule: null, message: "no rule allows this request" }, details: { denial: "read of hr.x; no rule allows it for you" } },
      { color: false },
    );
    expect(line).toEndWith('rule=(default deny) "no rule allows this request" (read of hr.x; no rule allows it for you)');
  });

  test("colours the effect only when asked: allow green, deny red, review yellow", () => {
    const rec = (effect: "allow" | "deny" | "review") => ({ ...base, decision: { effect, rule: "r", message: "m" } });
    expect(formatRecord(rec("allow"), { color: true })).toContain("\x1b[32mallow\x1b[0m");
    expect(formatRecord(rec("deny"), { color: true })).toContain("\x1b[31mdeny\x1b[0m");
    expect(formatRecord(rec("review"), { color: true })).toContain("\x1b[33mreview\x1b[0m");
    expect(formatRecord(rec("deny"), { color: false })).not.toContain("\x1b");
  });

  test("the default deny says so, and an allow does not print its message", () => {
    expect(formatRecord({ ...base, decision: { effect: "deny", rule: null, message: "no rule matched" } }, { color: false })).toEndWith(
      'rule=(default deny) "no rule matched"',
    );
    expect(formatRecord({ ...base, decision: { effect: "allow", rule: "read", message: "fine" } }, { color: false })).toEndWith("rule=read");
  });

  test("control characters from the record cannot reach the terminal", () => {
    const line = formatRecord(
      { ...base, identity: { ...base.identity!, subject: "evil\x1b[2J" }, decision: { effect: "deny", rule: "r", message: "a\nb" } },
      { color: false },
    );
    expect(line).not.toContain("\x1b");
    expect(line).not.toContain("\n");
    expect(line).toContain("evil\\x1b[2J");
  });

  test("records without a decision show their details", () => {
    const line = formatRecord({ ...base, type: "log.repaired", identity: undefined, target: undefined, details: { offset: 10, length: 5 } } as AuditRecord, {
      color: false,
    });
    expect(line).toBe('2026-11-28T09:00:00.000Z log.repaired {"offset":10,"length":5}');
  });
});

describe("actionSummary", () => {
  test("per protocol", () => {
    expect(actionSummary({ kind: "http", method: "GET", path: "/v1/users?x=1" })).toBe("GET /v1/users?x=1");
    expect(actionSummary({ kind: "kubernetes", verb: "delete", resource: "pods", namespace: "prod", name: "web-1" })).toBe("delete pods web-1 -n prod");
    expect(actionSummary({ kind: "kubernetes", verb: "get", resource: "pods", subresource: "log" })).toBe("get pods/log");
    expect(actionSummary({ kind: "ssh", channel: "exec", login: "root", argv: ["sh", "-c", "rm -rf /tmp/x"] })).toBe("sh -c 'rm -rf /tmp/x'");
    expect(actionSummary({ kind: "ssh", channel: "shell", login: "root", argv: [] })).toBe("shell");
    expect(actionSummary({ kind: "postgres", classes: ["read"], relations: ["sales.orders"], functions: [] })).toBe("read sales.orders");
  });

  test("postgres SQL shows its first 80 characters, whitespace collapsed", () => {
    const sql = "SELECT\n  " + "a, ".repeat(60) + "b FROM t";
    const out = actionSummary({ kind: "postgres", sql });
    expect(out).toBe(("SELECT " + "a, ".repeat(60)).slice(0, 80) + "…");
  });
});

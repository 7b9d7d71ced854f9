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

  test("a caller with a display name (identity.name, from the issuer's display_name) is shown by it", () => {
    const line = formatRecord(
      { ...base, identity: { ...base.identity!, subject: "repo:acme/deploy:ref:refs/heads/main", name: "github:acme/deploy@refs/heads/main", claims: { run_id: "7" } }, decision: { effect: "allow", rule: "deploy" } },
      { color: false },
    );
    expect(line).toBe("2026-11-28T09:00:00.000Z decision allow github:acme/deploy@refs/heads/main orders-db rule=deploy");
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

  test("approval records show the approval id (what `gatehouse approve` takes), whose request it was, the grant and the reason", () => {
    const http = { kind: "http", method: "POST", path: "/api/orders/new" };
    const bob = { ...base.identity!, subject: "bob" };
    const requested = formatRecord(
      { ...base, type: "approval.requested", target: "api", action: http, decision: { effect: "review", rule: "order-writes", message: "needs approval" }, details: { approval: "apr_0a1b", approvers: ["approvers"], expires_at: "2026-11-28T09:15:00.000Z", max_grant_ms: 3_600_000 } },
      { color: false },
    );
    expect(requested).toBe("2026-11-28T09:00:00.000Z approval.requested review alice@example.com api POST /api/orders/new rule=order-writes approval=apr_0a1b");
    const granted = formatRecord(
      { ...base, type: "approval.granted", identity: bob, target: "api", decision: { effect: "allow", rule: "order-writes" }, details: { approval: "apr_0a1b", approver: "bob", requester: "alice@example.com", grant_until: "2026-11-28T09:30:00.000Z" } },
      { color: false },
    );
    expect(granted).toBe("2026-11-28T09:00:00.000Z approval.granted allow bob api rule=order-writes approval=apr_0a1b requester=alice@example.com grant_until=2026-11-28T09:30:00.000Z");
    const denied = formatRecord(
      { ...base, type: "approval.denied", identity: bob, target: "api", decision: { effect: "deny", rule: "order-writes" }, details: { approval: "apr_0a1b", approver: "bob", requester: "alice@example.com", reason: "not today" } },
      { color: false },
    );
    expect(denied).toBe('2026-11-28T09:00:00.000Z approval.denied deny bob api rule=order-writes approval=apr_0a1b requester=alice@example.com reason="not today"');
    // An old log's grant end (ms, camelCase) reads the same.
    const old = formatRecord({ ...base, type: "approval.granted", identity: bob, decision: { effect: "allow", rule: "w" }, details: { approval: "apr_1", requester: "alice@example.com", grantUntil: Date.parse("2026-11-28T09:30:00.000Z") } }, { color: false });
    expect(old).toEndWith("approval=apr_1 requester=alice@example.com grant_until=2026-11-28T09:30:00.000Z");
  });

  test("a decision let through by a grant names the approval that granted it", () => {
    const line = formatRecord({ ...base, decision: { effect: "allow", rule: "order-writes", message: "m" }, details: { grant: "apr_0a1b" } }, { color: false });
    expect(line).toEndWith("rule=order-writes grant=apr_0a1b");
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
    expect(actionSummary({ kind: "ssh", action: "exec", user: "ops", command: "journalctl -u nginx\n" })).toBe("exec: journalctl -u nginx\\x0a as ops");
    expect(actionSummary({ kind: "ssh", action: "shell", user: "ops" })).toBe("shell as ops");
    expect(actionSummary({ kind: "ssh", action: "shell", user: "ops", line: "ls" })).toBe("shell line: ls as ops");
    expect(actionSummary({ kind: "ssh", action: "sftp", user: "ops", operation: "rename", path: "/a", to_path: "/b" })).toBe("sftp rename /a → /b as ops");
    // As logs written before audit keys were all snake_case have it.
    expect(actionSummary({ kind: "ssh", action: "sftp", user: "ops", operation: "rename", path: "/a", toPath: "/b" })).toBe("sftp rename /a → /b as ops");
    expect(actionSummary({ kind: "ssh", action: "forward", user: "ops", destination: "db:5432" })).toBe("forward to db:5432 as ops");
    expect(actionSummary({ kind: "postgres", classes: ["read"], relations: ["sales.orders"], functions: [] })).toBe("read sales.orders");
  });

  test("mcp: the method, the server and what it names, then the (masked) arguments, before any clipping", () => {
    expect(actionSummary({ kind: "mcp", direction: "client", method: "tools/call", server: "crm", tool: "delete_record", arguments: { id: 7 } })).toBe('tools/call crm/delete_record {"id":7}');
    expect(actionSummary({ kind: "mcp", direction: "client", method: "resources/read", server: "files", resource: "file:///srv/data/a.txt" })).toBe("resources/read files/file:///srv/data/a.txt");
    expect(actionSummary({ kind: "mcp", direction: "server", method: "sampling/createMessage", server: "crm" })).toBe("server→agent sampling/createMessage crm");
    expect(actionSummary({ kind: "mcp", direction: "client", method: "tools/call", server: "db", tool: "query", arguments: { sql: "x".repeat(300) } })).toMatch(/^tools\/call db\/query \{"sql":"x+…$/);
  });

  test("postgres SQL shows its first 80 characters, whitespace collapsed", () => {
    const sql = "SELECT\n  " + "a, ".repeat(60) + "b FROM t";
    const out = actionSummary({ kind: "postgres", sql });
    expect(out).toBe(("SELECT " + "a, ".repeat(60)).slice(0, 80) + "…");
  });
});

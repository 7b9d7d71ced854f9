import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findTestFiles, parseResource, runPolicyTests } from "./test-runner.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-ptest-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const CONFIG = `targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:6432
    upstream: { host: h, database: d, user: u, password: "\${env:NOT_SET_IN_TESTS}" }
rules:
  - name: no-drop
    targets: [db]
    postgres: { classes: [ddl.drop.*] }
    effect: deny
    message: no dropping
  - name: read-sales
    groups: [analysts]
    targets: [db]
    postgres: { classes: [read], tables: ["sales.*"] }
    when: { hours: "09:00-17:00" }
    effect: allow
    mask: { columns: [email] }
`;

const CASE = (name: string, body: string) => `  - name: ${name}\n    identity: { sub: alice, groups: [analysts] }\n    target: db\n${body}`;

async function write(dir: string, files: Record<string, string>) {
  for (const [f, t] of Object.entries(files)) await Bun.write(join(root, dir, f), t);
  return join(root, dir);
}

describe("runPolicyTests", () => {
  test("an identity's claims: map (nested as in the token, or by path) meets rules' claims: sections; without it the caller has none", async () => {
    const dir = await write("claims", {
      "config.yaml": `targets:
  - { name: api, kind: http, listen: "127.0.0.1:8081", upstream: "http://127.0.0.1:3" }
rules:
  - name: ops-agent
    claims: { kubernetes.io.namespace: ops, kubernetes.io.serviceaccount.name: agent }
    http: { methods: [GET] }
    effect: allow
`,
      "k.test.yaml": `cases:
  - name: the ops agent, claims as the token nests them
    identity: { sub: "system:serviceaccount:ops:agent", claims: { kubernetes.io: { namespace: ops, serviceaccount: { name: agent } } } }
    target: api
    request: { http: { method: GET, path: /x } }
    expect: { effect: allow, rule: ops-agent }
  - name: the same by path
    identity: { sub: "system:serviceaccount:ops:agent", claims: { kubernetes.io.namespace: ops, kubernetes.io.serviceaccount.name: agent } }
    target: api
    request: { http: { method: GET, path: /x } }
    expect: { effect: allow, rule: ops-agent }
  - name: another namespace
    identity: { sub: "system:serviceaccount:dev:agent", claims: { kubernetes.io: { namespace: dev, serviceaccount: { name: agent } } } }
    target: api
    request: { http: { method: GET, path: /x } }
    expect: { effect: deny }
  - name: no claims at all
    identity: { sub: "system:serviceaccount:ops:agent" }
    target: api
    request: { http: { method: GET, path: /x } }
    expect: { effect: deny }
`,
    });
    const report = await runPolicyTests(dir);
    expect(report.files[0]?.error).toBeUndefined();
    expect(report.files[0]!.cases.map((c) => [c.name, c.passed])).toEqual([
      ["the ops agent, claims as the token nests them", true],
      ["the same by path", true],
      ["another namespace", true],
      ["no claims at all", true],
    ]);
  });

  test("passing and failing cases, with what was expected and what came", async () => {
    const dir = await write("mixed", {
      "config.yaml": CONFIG,
      "a.test.yaml": `cases:
${CASE("reads sales", "    request: { postgres: { classes: [read], tables: [sales.orders] } }\n    expect: { effect: allow, rule: read-sales, masks: { columns: [email] } }\n")}
${CASE("wrongly expects allow at night", '    at: "2026-03-02T20:00:00Z"\n    request: { postgres: { classes: [read], tables: [sales.orders] } }\n    expect: { effect: allow, rule: read-sales }\n')}
${CASE("wrong masks", "    request: { postgres: { classes: [read], tables: [sales.orders] } }\n    expect: { effect: allow, masks: { columns: [phone] } }\n")}
${CASE("drop is denied", "    request: { postgres: { classes: [ddl.drop.table], tables: [sales.orders] } }\n    expect: { effect: deny, rule: no-drop, message: no dropping }\n")}
`,
    });
    const report = await runPolicyTests(dir);
    expect(report.passed).toBe(2);
    expect(report.failed).toBe(2);
    expect(report.invalid).toBe(0);
    const cases = report.files[0]!.cases;
    expect(cases.map((c) => c.passed)).toEqual([true, false, false, true]);
    expect(cases[1]!.failure).toBe("expected effect=allow rule=read-sales, got effect=deny rule=(none); (no rule allows this request)");
    expect(cases[1]!.where).toBe(`${join(dir, "a.test.yaml")}:8`); // line 7 is blank
    expect(cases[2]!.failure).toBe("expected masks {columns: [phone]}, got masks {columns: [email]}");
  });

  test("an invalid test file is reported with file:line and no case runs", async () => {
    const dir = await write("invalid", {
      "config.yaml": CONFIG,
      "bad.test.yaml": `cases:\n${CASE("x", "    request: { postgres: { classes: [read] } }\n    expect: { effect: permit }\n")}`,
    });
    const report = await runPolicyTests(dir);
    expect(report.invalid).toBe(1);
    const f = report.files[0]!;
    expect(f.cases).toEqual([]);
    expect(f.error?.code).toBe("E_CONFIG_INVALID");
    expect(f.error?.message).toBe(`${join(dir, "bad.test.yaml")}:6:15: cases[0].expect.effect: expected one of "allow", "deny", "review", got "permit"`);
  });

  test("an invalid configuration beside the tests makes the file invalid", async () => {
    const dir = await write("badconfig", {
      "config.yaml": "rules:\n  - name: r\n    effect: allow\n    when: { timezone: Not/AZone }\n",
      "t.test.yaml": `cases:\n${CASE("x", "    request: { http: { method: GET, path: / } }\n    expect: { effect: allow }\n")}`,
    });
    const report = await runPolicyTests(dir);
    expect(report.files[0]!.error?.code).toBe("E_POLICY_INVALID");
    // Placed at the rule, as check and serve place it (the one validation of loadPolicy).
    expect(report.files[0]!.error?.message).toMatch(/config\.yaml:2:\d+/);
    expect(report.files[0]!.error?.message).toContain('invalid timezone "Not/AZone"');
  });

  test("exactly one request kind, and a target's kind must fit the request", async () => {
    const dir = await write("kinds", {
      "config.yaml": CONFIG,
      "k.test.yaml": `cases:
${CASE("two kinds", "    request: { http: { method: GET, path: / }, postgres: { classes: [read] } }\n    expect: { effect: deny }\n")}
${CASE("http to a postgres target", "    request: { http: { method: GET, path: / } }\n    expect: { effect: deny }\n")}
`,
    });
    const report = await runPolicyTests(dir);
    const [a, b] = report.files[0]!.cases;
    expect(a!.failure).toBe("request needs exactly one of http, postgres, ssh, kubernetes, mcp (found 2)");
    expect(b!.failure).toBe(`target "db" is a postgres target, but the request is http`);
  });

  test("sql requests need an injected analyzer; SQL it cannot read is denied", async () => {
    const dir = await write("sql", {
      "config.yaml": CONFIG,
      "s.test.yaml": `cases:
${CASE("select", '    request: { postgres: { sql: "SELECT email FROM sales.customers" } }\n    expect: { effect: allow, rule: read-sales }\n')}
${CASE("garbage", '    request: { postgres: { sql: "SELEC nonsense" } }\n    expect: { effect: deny, rule: null }\n')}
`,
    });
    const without = await runPolicyTests(dir);
    expect(without.failed).toBe(2);
    expect(without.files[0]!.cases[0]!.failure).toContain("request.postgres.sql needs an SQL analyzer");

    const analyzeSql = (sql: string) => {
      if (!sql.startsWith("SELECT ")) throw new Error("syntax error at or near \"SELEC\"");
      return { classes: ["read"], relations: ["sales.customers"], functions: [] };
    };
    const withAnalyzer = await runPolicyTests(dir, { analyzeSql });
    expect(withAnalyzer.failed).toBe(0);
    expect(withAnalyzer.files[0]!.cases[1]!.decision?.message).toBe(`SQL cannot be analysed: syntax error at or near "SELEC"`);
  });

  test("folders are searched recursively for *.test.yaml and *.test.yml", async () => {
    await write("tree/a", { "x.test.yaml": "cases: []\n" });
    await write("tree/b/c", { "y.test.yml": "cases: []\n", "z.yaml": "rules: []\n" });
    const files = await findTestFiles(join(root, "tree"));
    expect(files).toEqual([join(root, "tree/a/x.test.yaml"), join(root, "tree/b/c/y.test.yml")]);
  });
});

describe("request helpers", () => {
  test("parseResource reads RBAC names", () => {
    expect(parseResource("deployments.apps/scale")).toEqual({ resource: "deployments", apiGroup: "apps", subresource: "scale" });
    expect(parseResource("ingresses.networking.k8s.io")).toEqual({ resource: "ingresses", apiGroup: "networking.k8s.io" });
    expect(parseResource("pods")).toEqual({ resource: "pods" });
  });
});

describe("kubernetes cases", () => {
  const K8S = `rules:
  - name: read
    groups: [dev]
    kubernetes: { verbs: [read], namespaces: [staging] }
    effect: allow
`;
  const KCASE = (name: string, body: string) => `  - name: ${name}\n    identity: { sub: alice, groups: [dev] }\n    target: k8s\n${body}`;
  test("raw METHOD /path requests are classified as the gateway classifies them; built-ins apply", async () => {
    const dir = await write("k8s", {
      "config.yaml": K8S,
      "k.test.yaml": `cases:
${KCASE("list", '    request: { kubernetes: { request: "GET /api/v1/namespaces/staging/pods?watch=1" } }\n    expect: { effect: allow, rule: read }\n')}
${KCASE("exec is no read", '    request: { kubernetes: { request: "GET /api/v1/namespaces/staging/pods/x/exec?command=sh" } }\n    expect: { effect: deny, rule: null }\n')}
${KCASE("discovery", '    request: { kubernetes: { request: "GET /apis" } }\n    expect: { effect: allow, rule: "builtin:discovery" }\n')}
${KCASE("refused path", '    request: { kubernetes: { request: "GET /api/v1/namespaces/staging/../prod/pods" } }\n    expect: { effect: deny, rule: "builtin:bad-request" }\n')}
${KCASE("patch needs its type", '    request: { kubernetes: { request: "PATCH /api/v1/namespaces/staging/pods/x", content_type: application/json } }\n    expect: { effect: deny, rule: "builtin:bad-request" }\n')}
${KCASE("both forms", '    request: { kubernetes: { request: "GET /api", verb: get } }\n    expect: { effect: deny }\n')}
${KCASE("not a request", '    request: { kubernetes: { request: "/api" } }\n    expect: { effect: deny }\n')}
`,
    });
    const report = await runPolicyTests(dir);
    const cases = report.files[0]!.cases;
    expect(cases.slice(0, 5).map((c) => [c.name, c.passed])).toEqual([["list", true], ["exec is no read", true], ["discovery", true], ["refused path", true], ["patch needs its type", true]]);
    expect(cases[3]!.decision?.message).toContain('".."');
    expect(cases[5]!.failure).toBe("request.kubernetes: give either request or verb, not both");
    expect(cases[6]!.failure).toContain('expected "METHOD /path?query"');
  });
});

describe("runPolicyTests: MCP requests", () => {
  const MCP_CONFIG = `targets:
  - name: tools
    kind: mcp
    listen: 127.0.0.1:0
    servers:
      - { name: files, command: [node, fs.js] }
      - { name: db, command: [node, pg.js], sql: { tool: query, argument: sql } }
rules:
  - name: read-files
    groups: [agents]
    mcp: { servers: [files], tools: [read_file], arguments: { path: { under: /srv/data } } }
    effect: allow
  - name: sql-read
    groups: [agents]
    mcp: { servers: [db], tools: [query], sql: { classes: [read], tables: ["sales.*"] } }
    effect: allow
  - name: sampling
    groups: [agents]
    mcp: { servers: [files], methods: [sampling/createMessage] }
    effect: allow
`;
  const AGENT = (name: string, body: string) => `  - name: ${name}\n    identity: { sub: bot, groups: [agents] }\n    target: tools\n${body}`;

  test("tool calls with arguments, the pinned input schema, SQL facts or text, server-initiated requests", async () => {
    const dir = await write("mcp", {
      "config.yaml": MCP_CONFIG,
      "mcp.test.yaml": `cases:
${AGENT("read under", "    request: { mcp: { server: files, tool: read_file, arguments: { path: /srv/data/a } } }\n    expect: { effect: allow, rule: read-files }")}
${AGENT("read escape", "    request: { mcp: { server: files, tool: read_file, arguments: { path: /srv/data/../etc/passwd } } }\n    expect: { effect: deny, rule: null }")}
${AGENT("undeclared argument", "    request: { mcp: { server: files, tool: read_file, arguments: { path: /srv/data/a, follow: true }, input_schema: { type: object, properties: { path: { type: string } } } } }\n    expect: { effect: deny }")}
${AGENT("sql facts", "    request: { mcp: { server: db, tool: query, sql: { classes: [read], tables: [sales.orders] } } }\n    expect: { effect: allow, rule: sql-read }")}
${AGENT("sql text", '    request: { mcp: { server: db, tool: query, arguments: { sql: "select 1 from sales.orders" }, sql: "select 1 from sales.orders" } }\n    expect: { effect: allow, rule: sql-read }')}
${AGENT("sql smuggled", '    request: { mcp: { server: db, tool: query, sql: "COMMIT; DROP TABLE sales.orders" } }\n    expect: { effect: deny }')}
${AGENT("sql unparsable", '    request: { mcp: { server: db, tool: query, sql: "SELEC 1" } }\n    expect: { effect: deny, rule: builtin:mcp-sql-unreadable }')}
${AGENT("sql dangerous", "    request: { mcp: { server: db, tool: query, sql: { classes: [read], tables: [], functions: [pg_catalog.pg_read_file] } } }\n    expect: { effect: deny, rule: builtin:dangerous-function }")}
${AGENT("sampling", "    request: { mcp: { server: files, method: sampling/createMessage } }\n    expect: { effect: allow, rule: sampling }")}
${AGENT("roots", "    request: { mcp: { server: files, method: roots/list } }\n    expect: { effect: deny }")}
`,
    });
    const { classifySqlArgument } = await import("../targets/mcp/sql-argument.ts");
    const { loadSqlParser } = await import("../targets/postgres/sql/sql-parser.ts");
    const parser = await loadSqlParser();
    const report = await runPolicyTests(dir, {
      classifyMcpSql: (sql) => {
        const r = classifySqlArgument(parser, sql);
        if (!r.ok) throw new Error(r.reason);
        return r.sql;
      },
    });
    const failures = report.files.flatMap((f) => [...(f.error ? [f.error.message] : []), ...f.cases.filter((c) => !c.passed).map((c) => `${c.name}: ${c.failure}`)]);
    expect(failures).toEqual([]);
    expect(report.passed).toBe(10);
  });

  test("an mcp case on a target of another kind, or naming two things, fails with a reason", async () => {
    const dir = await write("mcp-bad", {
      "config.yaml": MCP_CONFIG,
      "bad.test.yaml": `cases:
${AGENT("two things", "    request: { mcp: { server: files, tool: a, prompt: b } }\n    expect: { effect: deny }")}
${AGENT("sql without classifier", '    request: { mcp: { server: db, tool: query, sql: "select 1" } }\n    expect: { effect: deny }')}
`,
    });
    const report = await runPolicyTests(dir);
    const failures = report.files.flatMap((f) => f.cases.map((c) => c.failure ?? ""));
    expect(failures[0]).toContain("at most one of tool, prompt and resource");
    expect(failures[1]).toContain("needs the SQL classifier");
  });
});

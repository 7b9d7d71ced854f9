import { describe, expect, test } from "bun:test";
import type { Action, Identity, McpRequestFacts } from "../../core/types.ts";
import { loadConfigFromSources } from "../../config/load.ts";
import { compilePolicy, type Policy } from "../compile.ts";
import { GatewayError } from "../../core/errors.ts";

async function policyOf(yaml: string): Promise<Policy> {
  const config = await loadConfigFromSources([{ file: "p.yaml", text: yaml }], { baseDir: "/tmp", env: {} });
  return compilePolicy(config);
}
const agent: Identity = { method: "oidc", subject: "bot", issuer: "https://idp.example", groups: ["agents"] };
const call = (tool: string, args?: Record<string, unknown>, extra: Partial<McpRequestFacts> = {}): McpRequestFacts => ({
  kind: "mcp",
  direction: "client",
  method: "tools/call",
  server: "files",
  tool,
  ...(args === undefined ? {} : { arguments: args }),
  ...extra,
});
const act = (request: McpRequestFacts): Action => ({ identity: agent, target: "tools", request, time: 0 });
const effect = (p: Policy, r: McpRequestFacts) => p.decide(act(r)).effect;
const rule = (p: Policy, r: McpRequestFacts) => p.decide(act(r)).rule;

describe("mcp rules: servers, methods, tools, resources, prompts", () => {
  test("an allow of tools on a server allows those calls and nothing else", async () => {
    const p = await policyOf(`rules:
  - { name: read, effect: allow, groups: [agents], mcp: { servers: [files], tools: [read_file, list_*] } }
`);
    expect(effect(p, call("read_file"))).toBe("allow");
    expect(effect(p, call("list_directory"))).toBe("allow");
    expect(effect(p, call("write_file"))).toBe("deny");
    expect(effect(p, call("read_file", undefined, { server: "other" }))).toBe("deny");
    // A tool name is matched exactly by an allow rule.
    expect(effect(p, call("Read_File"))).toBe("deny");
    // tools are about tools/call only.
    expect(effect(p, { kind: "mcp", direction: "client", method: "tools/list", server: "files" })).toBe("deny");
  });

  test("a deny of a tool is not dodged by case, compatibility forms or invisible characters", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow, mcp: { servers: [files] } }
  - { name: no-delete, effect: deny, mcp: { tools: [delete_file] } }
`);
    for (const t of ["delete_file", "Delete_File", "DELETE_FILE", "ｄｅｌｅｔｅ_ｆｉｌｅ", "delete\u200b_file", "dele\u00adte_file"]) {
      expect(rule(p, call(t))).toBe("no-delete");
    }
    expect(rule(p, call("read_file"))).toBe("all");
  });

  test("a tools/call without a tool name: deny rules match, allow rules do not", async () => {
    const p = await policyOf(`rules:
  - { name: read, effect: allow, mcp: { tools: ["*"] } }
`);
    const nameless: McpRequestFacts = { kind: "mcp", direction: "client", method: "tools/call", server: "files" };
    expect(effect(p, nameless)).toBe("deny");
    const d = await policyOf(`rules:
  - { name: all, effect: allow, mcp: { servers: ["*"] } }
  - { name: no-x, effect: deny, mcp: { tools: [x] } }
`);
    expect(rule(d, nameless)).toBe("no-x");
  });

  test("server-initiated requests need a rule whose methods name them", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow, mcp: { servers: [files] } }
`);
    const sampling: McpRequestFacts = { kind: "mcp", direction: "server", method: "sampling/createMessage", server: "files" };
    expect(effect(p, sampling)).toBe("deny");
    expect(effect(p, call("anything"))).toBe("allow");
    const q = await policyOf(`rules:
  - { name: sample, effect: allow, mcp: { servers: [files], methods: [sampling/createMessage] } }
`);
    expect(effect(q, sampling)).toBe("allow");
    expect(effect(q, { ...sampling, method: "roots/list" })).toBe("deny");
    // A deny rule without methods covers the server's requests too.
    const r = await policyOf(`rules:
  - { name: sample, effect: allow, mcp: { methods: ["**"] } }
  - { name: not-files, effect: deny, mcp: { servers: [files] } }
`);
    expect(rule(r, sampling)).toBe("not-files");
  });

  test("resources: URI globs, and URIs with dot segments or escapes cannot be read", async () => {
    const p = await policyOf(`rules:
  - { name: docs, effect: allow, mcp: { resources: ["file:///srv/docs/**"] } }
  - { name: no-secret, effect: deny, mcp: { resources: ["file:///srv/docs/secret/**"] } }
`);
    const read = (uri: string): McpRequestFacts => ({ kind: "mcp", direction: "client", method: "resources/read", server: "files", resource: uri });
    expect(effect(p, read("file:///srv/docs/a/b.md"))).toBe("allow");
    expect(effect(p, read("file:///srv/other"))).toBe("deny");
    for (const uri of ["file:///srv/docs/../etc/passwd", "file:///srv/docs/%2e%2e/etc/passwd", "file:///srv/docs/a%2Fb", "file:///srv/docs/.", "file:///srv/docs\\..\\x", "file:///srv/docs/a\u0000"]) {
      expect(rule(p, read(uri))).toBe("no-secret");
    }
    expect(rule(p, read("FILE:///SRV/DOCS/SECRET/k"))).toBe("no-secret");
    expect(effect(p, read("file:///srv/docs/secret/k"))).toBe("deny");
    // resources are about reading and subscribing, not calls.
    expect(effect(p, call("x"))).toBe("deny");
  });

  test("prompts: prompts/get by name", async () => {
    const p = await policyOf(`rules:
  - { name: prompts, effect: allow, mcp: { prompts: [simple_prompt] } }
`);
    const get = (name: string): McpRequestFacts => ({ kind: "mcp", direction: "client", method: "prompts/get", server: "everything", prompt: name });
    expect(effect(p, get("simple_prompt"))).toBe("allow");
    expect(effect(p, get("complex_prompt"))).toBe("deny");
  });

  test("a prompts/get without a prompt name: deny rules match, allow rules do not", async () => {
    const p = await policyOf(`rules:
  - { name: any, effect: allow, mcp: { prompts: ["*"] } }
  - { name: no-admin, effect: deny, mcp: { prompts: [admin_*] } }
`);
    const nameless: McpRequestFacts = { kind: "mcp", direction: "client", method: "prompts/get", server: "s" };
    expect(rule(p, nameless)).toBe("no-admin");
    expect(rule(p, { ...nameless, prompt: "Admin_Reset" })).toBe("no-admin");
    expect(rule(p, { ...nameless, prompt: "summary" })).toBe("any");
  });

  test("methods are globs over the JSON-RPC method", async () => {
    const p = await policyOf(`rules:
  - { name: lists, effect: allow, mcp: { methods: ["*/list"] } }
`);
    expect(effect(p, { kind: "mcp", direction: "client", method: "tools/list", server: "files" })).toBe("allow");
    expect(effect(p, { kind: "mcp", direction: "client", method: "resources/templates/list", server: "files" })).toBe("deny");
    expect(effect(p, call("x"))).toBe("deny");
  });

  test("an mcp section does not match other kinds, and other sections do not match mcp", async () => {
    const p = await policyOf(`rules:
  - { name: h, effect: allow, http: { paths: ["/**"] } }
`);
    expect(effect(p, call("x"))).toBe("deny");
    const q = await policyOf(`rules:
  - { name: m, effect: allow, mcp: { servers: ["*"] } }
`);
    expect(q.decide({ identity: agent, target: "t", request: { kind: "http", method: "GET", path: "/" }, time: 0 }).effect).toBe("deny");
  });
});

describe("mcp rules: arguments", () => {
  const yaml = `rules:
  - name: read-data
    effect: allow
    mcp:
      tools: [read_file, read_multiple_files]
      arguments:
        path: { under: /srv/data, optional: true }
        paths: { under: /srv/data, optional: true }
  - name: no-keys
    effect: deny
    mcp:
      arguments:
        path: { under: /srv/data/keys }
`;
  test("under: normalised paths stay under the root, escapes are refused", async () => {
    const p = await policyOf(yaml);
    expect(effect(p, call("read_file", { path: "/srv/data/a.txt" }))).toBe("allow");
    expect(effect(p, call("read_file", { path: "/srv/data" }))).toBe("allow");
    expect(effect(p, call("read_file", { path: "/srv/data/./x//y" }))).toBe("allow");
    expect(effect(p, call("read_file", { path: "/srv/database/x" }))).toBe("deny");
    expect(effect(p, call("read_file", { path: "/srv/data/../../etc/passwd" }))).toBe("deny");
    expect(effect(p, call("read_file", { path: "/srv/data/x/../../etc" }))).toBe("deny");
    for (const bad of ["srv/data/a", "~/a", "/srv/data/a\u0000b", "/srv/data/%2e%2e/etc", "/srv/data\\..\\etc", "/srv/data/a\nb", 42, { p: 1 }, null]) {
      expect(effect(p, call("read_file", { path: bad }))).toBe("deny");
    }
  });

  test("under: deny rules match escapes into their root and anything unreadable", async () => {
    const p = await policyOf(yaml);
    expect(rule(p, call("read_file", { path: "/srv/data/keys/id_rsa" }))).toBe("no-keys");
    expect(rule(p, call("read_file", { path: "/srv/data/x/../keys/id_rsa" }))).toBe("no-keys");
    expect(rule(p, call("read_file", { path: "/srv/data/KEYS/id_rsa" }))).toBe("no-keys");
    // Fullwidth full stops become ".." under NFKC: a server that normalises would climb.
    expect(rule(p, call("read_file", { path: "/srv/data/public/\uff0e\uff0e/keys/id_rsa" }))).toBe("no-keys");
    expect(effect(p, call("read_file", { path: "/srv/data/public/\uff0e\uff0e/x" }))).toBe("allow");
    expect(rule(p, call("read_file", { path: "/srv/data/%6beys/id" }))).toBe("no-keys");
    expect(rule(p, call("read_file", { path: 7 }))).toBe("no-keys");
    // Absent: the deny rule has nothing to match; the allow rule's condition is optional.
    expect(rule(p, call("read_file", {}))).toBe("read-data");
  });

  test("list values: allow needs every element, deny any", async () => {
    const p = await policyOf(yaml);
    expect(effect(p, call("read_multiple_files", { paths: ["/srv/data/a", "/srv/data/b"] }))).toBe("allow");
    expect(effect(p, call("read_multiple_files", { paths: ["/srv/data/a", "/etc/passwd"] }))).toBe("deny");
    expect(effect(p, call("read_multiple_files", { paths: ["/srv/data/a", ["/srv/data/b"]] }))).toBe("deny");
  });

  test("an argument in another spelling than the rule's cannot be read", async () => {
    const p = await policyOf(yaml);
    expect(effect(p, call("read_file", { Path: "/etc/passwd" }))).toBe("deny");
    expect(rule(p, call("read_file", { path: "/srv/data/a", PATH: "/srv/data/keys/x" }))).toBe("no-keys");
  });

  test("with the pinned input schema, an undeclared or mistyped argument fails closed", async () => {
    const p = await policyOf(yaml);
    const schema = { type: "object", properties: { path: { type: "string" }, head: { type: "number" } }, required: ["path"] };
    expect(effect(p, call("read_file", { path: "/srv/data/a", head: 3 }, { inputSchema: schema }))).toBe("allow");
    expect(effect(p, call("read_file", { path: "/srv/data/a", tail: 3 }, { inputSchema: schema }))).toBe("deny");
    expect(rule(p, call("read_file", { path: "/srv/data/a", tail: 3 }, { inputSchema: schema }))).toBe("no-keys");
    expect(rule(p, call("read_file", { path: "/srv/data/a", head: "3" }, { inputSchema: schema }))).toBe("no-keys");
    // Without the schema, the extra argument is the server's business.
    expect(effect(p, call("read_file", { path: "/srv/data/a", tail: 3 }))).toBe("allow");
  });

  test("glob, regex, min, max, one_of", async () => {
    const p = await policyOf(`rules:
  - name: search
    effect: allow
    mcp:
      tools: [search]
      arguments:
        query: { regex: "[a-z ]{1,40}" }
        limit: { min: 1, max: 100, optional: true }
        scope: { one_of: [public, internal] }
        file: { glob: "*.md", optional: true }
`);
    const ok = { query: "hello world", limit: 10, scope: "public" };
    expect(effect(p, call("search", ok))).toBe("allow");
    expect(effect(p, call("search", { ...ok, limit: 101 }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, limit: "10" }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, limit: Number.NaN }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, query: "hello; DROP" }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, query: "x\nhello" }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, scope: "Public" }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, scope: "secret" }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, file: "a.md" }))).toBe("allow");
    expect(effect(p, call("search", { ...ok, file: "x/a.md" }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, file: 3 }))).toBe("deny");
    expect(effect(p, call("search", { ...ok, scope: ["public"] }))).toBe("allow");
    expect(effect(p, call("search", { ...ok, scope: { v: "public" } }))).toBe("deny");
    const { scope: _, ...noScope } = ok;
    expect(effect(p, call("search", noScope))).toBe("deny");
  });

  test("hosts: parsed with URL; user info, backslashes, escapes and whitespace cannot be read", async () => {
    const p = await policyOf(`rules:
  - { name: fetch, effect: allow, mcp: { tools: [fetch], arguments: { url: { hosts: [example.com, "*.docs.example.com", 127.0.0.1] } } } }
  - { name: no-meta, effect: deny, mcp: { tools: [fetch], arguments: { url: { hosts: [169.254.169.254] } } } }
`);
    const f = (url: unknown) => effect(p, call("fetch", { url }));
    expect(f("https://example.com/a")).toBe("allow");
    expect(f("https://EXAMPLE.com./a")).toBe("allow");
    expect(f("https://a.docs.example.com/x")).toBe("allow");
    expect(f("https://docs.example.com/x")).toBe("deny");
    expect(f("http://2130706433/")).toBe("allow"); // 127.0.0.1 as the URL parser reads it
    expect(f("https://ｅｘａｍｐｌｅ.com/")).toBe("allow"); // IDN mapping folds fullwidth letters
    for (const bad of [
      "https://example.com@evil.com/",
      "https://evil.com#@example.com",
      "https://example.com\\@evil.com/",
      "https://exa%6dple.com/",
      "https://exam\tple.com/",
      "https://user:pw@example.com/",
      "file:///etc/passwd",
      "javascript:alert(1)",
      "//example.com/",
      "https://exаmple.com/", // Cyrillic а: another domain
      "https://example.com.evil.com/",
      42,
    ]) {
      expect(f(bad)).toBe("deny");
    }
    expect(rule(p, call("fetch", { url: "http://169.254.169.254/latest" }))).toBe("no-meta");
    expect(rule(p, call("fetch", { url: "http://0xa9.0xfe.0xa9.0xfe/latest" }))).toBe("no-meta");
    expect(rule(p, call("fetch", { url: "http://u@169.254.169.254/" }))).toBe("no-meta");
  });

  test("deny rules: a value of the wrong type, or an object where a scalar is checked, matches", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow, mcp: { methods: ["**"] } }
  - { name: no-big, effect: deny, mcp: { arguments: { limit: { min: 1000 } } } }
  - { name: no-prod, effect: deny, mcp: { arguments: { env: { one_of: [prod] } } } }
  - { name: no-rm, effect: deny, mcp: { arguments: { cmd: { regex: "rm .*" } } } }
`);
    expect(rule(p, call("x", { limit: 5000 }))).toBe("no-big");
    expect(rule(p, call("x", { limit: "5000" }))).toBe("no-big");
    expect(rule(p, call("x", { limit: 5 }))).toBe("all");
    expect(rule(p, call("x", { env: "PROD" }))).toBe("no-prod");
    expect(rule(p, call("x", { env: { name: "prod" } }))).toBe("no-prod");
    expect(rule(p, call("x", { env: ["dev", "prod"] }))).toBe("no-prod");
    expect(rule(p, call("x", { env: "dev" }))).toBe("all");
    expect(rule(p, call("x", { cmd: "RM -rf /" }))).toBe("no-rm");
    expect(rule(p, call("x", { cmd: 7 }))).toBe("no-rm");
  });

  test("arguments are about tools/call and prompts/get", async () => {
    const p = await policyOf(`rules:
  - { name: all, effect: allow, mcp: { methods: ["**"] } }
  - { name: no-root, effect: deny, mcp: { arguments: { path: { under: / } } } }
`);
    expect(effect(p, { kind: "mcp", direction: "client", method: "tools/list", server: "files" })).toBe("allow");
    expect(rule(p, call("x", { path: "/a" }))).toBe("no-root");
    expect(rule(p, { kind: "mcp", direction: "client", method: "prompts/get", server: "files", prompt: "p", arguments: { path: "/a" } })).toBe("no-root");
  });

  test("a sql section: an argument beside the SQL that the pinned schema does not declare fails it closed", async () => {
    const p = await policyOf(`rules:
  - { name: read, effect: allow, mcp: { tools: [query], sql: { classes: [read], tables: ["sales.*"] } } }
  - { name: no-hr, effect: deny, mcp: { sql: { tables: ["hr.*"] } } }
`);
    const schema = { type: "object", properties: { sql: { type: "string" } } };
    const sql = { classes: ["read"], relations: ["sales.orders"], functions: [] };
    expect(effect(p, call("query", { sql: "select 1 from sales.orders" }, { sql, inputSchema: schema }))).toBe("allow");
    expect(rule(p, call("query", { sql: "select 1 from sales.orders", params: ["x"] }, { sql, inputSchema: schema }))).toBe("no-hr");
    expect(effect(p, call("query", { sql: "select 1 from sales.orders", params: ["x"] }, { sql }))).toBe("allow");
  });

  test("bad conditions are policy errors naming where", async () => {
    const bad = async (cond: string) => {
      try {
        await policyOf(`rules:\n  - { name: r, effect: allow, mcp: { arguments: { a: ${cond} } } }\n`);
      } catch (e) {
        return e instanceof GatewayError ? e.message : String(e);
      }
      return "compiled";
    };
    expect(await bad("{ under: relative/x }")).toContain("absolute");
    expect(await bad("{ under: /a/../b }")).toContain("absolute");
    expect(await bad('{ regex: "(" }')).toContain("invalid regex");
    expect(await bad("{ min: 5, max: 1 }")).toContain("above max");
    expect(await bad('{ hosts: ["a@b"] }')).toContain("invalid host");
    expect(await bad("{ optional: true }")).toContain("nothing to check");
    expect(await bad("{ nope: 1 }")).not.toBe("compiled");
  });
});

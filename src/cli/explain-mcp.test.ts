// gatehouse explain for MCP requests (--tool/--args, --resource, --prompt, --method), and its
// --as-test cases run by gatehouse test against the same configuration.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { explainCommand } from "./explain.ts";
import { testCommand } from "./test.ts";

let root: string;
const CONFIG = `
targets:
  - name: tools
    kind: mcp
    listen: "127.0.0.1:0"
    servers:
      - { name: files, command: [node, server-filesystem.js, /srv/data] }
      - { name: db, command: [node, server-postgres.js], sql: { tool: query, argument: sql } }
rules:
  - name: agents-read-files
    groups: [agents]
    targets: [tools]
    mcp: { servers: [files], tools: [read_file], arguments: { path: { under: /srv/data } } }
    effect: allow
    mask: { detectors: [email] }
  - name: no-keys
    mcp: { tools: [read_file], arguments: { path: { under: /srv/data/keys } } }
    effect: deny
    message: keys stay on the server
  - name: analysts-sql
    groups: [agents]
    mcp: { servers: [db], tools: [query], sql: { classes: [read], tables: ["sales.*"] } }
    effect: allow
`;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "gatehouse-explain-mcp-"));
  await writeFile(join(root, "gatehouse.yaml"), CONFIG);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(command: typeof explainCommand, args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s), color: false, env: {}, signal: new AbortController().signal };
  const code = await command.run(args, io);
  return { code, out, err };
}
const explain = (...args: string[]) => run(explainCommand, ["--config", root, "--as", "bot", "--groups", "agents", ...args]);

describe("gatehouse explain: MCP", () => {
  test("a tool call with its arguments: seen, the rules, the decision and its masks", async () => {
    const r = await explain("--server", "files", "--tool", "read_file", "--args", '{"path": "/srv/data/report.txt"}');
    expect(r.code).toBe(0);
    expect(r.out).toContain("tools/call");
    expect(r.out).toContain('tool:      "read_file"');
    expect(r.out).toContain("✓ agents-read-files");
    expect(r.out).toContain("decision: allow by rule agents-read-files");
    expect(r.out).toContain("masks: detectors [email]");
  });

  test("a path that climbs out is refused, and the agent is told in JSON-RPC", async () => {
    const r = await explain("--server", "files", "--tool", "read_file", "--args", '{"path": "/srv/data/../../etc/passwd"}');
    expect(r.out).toContain("decision: deny");
    expect(r.out).toContain("JSON-RPC error -32003");
    const k = await explain("--server", "files", "--tool", "read_file", "--args", '{"path": "/srv/data/x/../keys/id"}');
    expect(k.out).toContain("decision: deny by rule no-keys: keys stay on the server");
  });

  test("a SQL tool's argument goes through the PostgreSQL classifier", async () => {
    const ok = await explain("--server", "db", "--tool", "query", "--args", '{"sql": "select * from sales.orders"}');
    expect(ok.out).toContain("sql:       classes read; tables sales.orders");
    expect(ok.out).toContain("decision: allow by rule analysts-sql");
    const drop = await explain("--server", "db", "--tool", "query", "--args", '{"sql": "COMMIT; DROP TABLE sales.orders"}');
    expect(drop.out).toContain("classes transaction, ddl.drop.table");
    expect(drop.out).toContain("decision: deny");
    const bad = await explain("--server", "db", "--tool", "query", "--args", '{"sql": "SELEC 1"}');
    expect(bad.out).toContain("builtin:mcp-sql-unreadable");
    const json = await explain("--json", "--server", "db", "--tool", "query", "--args", '{"sql": "select pg_read_file(\'/etc/passwd\')"}');
    expect(JSON.parse(json.out).requests[0].decision.rule).toBe("builtin:dangerous-function");
  });

  test("resources, lists and server-initiated requests", async () => {
    const r = await explain("--server", "files", "--resource", "file:///srv/data/../etc/passwd");
    expect(r.out).toContain("method:    resources/read");
    expect(r.out).toContain("decision: deny");
    const list = await explain("--server", "files", "--method", "tools/list");
    expect(list.out).toContain("method:    tools/list");
    const sampling = await explain("--json", "--server", "files", "--method", "sampling/createMessage");
    const j = JSON.parse(sampling.out);
    expect(j.requests[0].request.direction).toBe("server");
    expect(j.requests[0].decision.effect).toBe("deny");
  });

  test("bad usage: no server among several, an unknown server, arguments that are not a JSON object", async () => {
    await expect(explain("--tool", "read_file")).rejects.toThrow(/several servers/);
    await expect(explain("--server", "nope", "--tool", "x")).rejects.toThrow(/no server "nope"/);
    await expect(explain("--server", "files", "--tool", "x", "--args", "[1]")).rejects.toThrow(/JSON object/);
    await expect(explain("--server", "files", "--tool", "x", "--args", '{"a": 1, "a": 2}')).rejects.toThrow(/--args/);
  });

  test("--as-test writes cases that gatehouse test passes", async () => {
    const cases = [
      await explain("--as-test", "read ok", "--server", "files", "--tool", "read_file", "--args", '{"path": "/srv/data/a"}'),
      await explain("--as-test", "keys", "--server", "files", "--tool", "read_file", "--args", '{"path": "/srv/data/keys/a"}'),
      await explain("--as-test", "drop", "--server", "db", "--tool", "query", "--args", '{"sql": "select 1; drop table sales.x"}'),
      await explain("--as-test", "file read", "--server", "db", "--tool", "query", "--args", '{"sql": "select pg_read_file(\'/x\')"}'),
    ].map((r) => r.out.split("\n").filter((l) => !l.startsWith("#")).join("\n"));
    await writeFile(join(root, "mcp.test.yaml"), `cases:\n${cases.map((c) => c.replace(/^/gm, "  ")).join("\n")}\n`);
    const r = await run(testCommand, [join(root, "mcp.test.yaml")]);
    expect(r.err).toBe("");
    expect(r.out).toContain("4 passed");
    expect(r.code).toBe(0);
  });
});

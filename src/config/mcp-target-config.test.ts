// The `kind: mcp` target's configuration: what the schema and the value checks accept and refuse.
import { expect, test } from "bun:test";
import { GatewayError } from "../core/errors.ts";
import { loadConfigFromSources } from "./load.ts";

const fromText = (text: string) => loadConfigFromSources([{ file: "policies/x.yaml", text }], { baseDir: "/etc/gatehouse", env: { UP_TOKEN: "t0ken", KEY: "k" } });

const yaml = (servers: string, extra = "") => `targets:
  - name: tools
    kind: mcp
    listen: 127.0.0.1:7450
${extra}    servers:
${servers}`;

async function failure(text: string): Promise<string> {
  try {
    await fromText(text);
  } catch (e) {
    if (e instanceof GatewayError) return e.message;
    throw e;
  }
  throw new Error("expected the load to fail");
}

test("HTTP, legacy SSE and stdio servers with secret references, pins and limits load", async () => {
  const config = await fromText(
    yaml(
      `      - { name: remote, url: "http://10.0.0.5:3001/mcp", headers: { authorization: "Bearer \${env:UP_TOKEN}" } }
      - { name: old, url: "http://10.0.0.6/sse", transport: sse }
      - { name: files, command: [node, /opt/fs/index.js, /srv], env: { API_KEY: "\${env:KEY}" }, cwd: /srv }
      - { name: db, command: [node, /opt/pg/index.js], sql: { tool: query, argument: sql } }
`,
      `    pins: mcp-pins.json\n    resource_url: https://gw.example\n    limits: { body_bytes: 64KB, result_bytes: 1048576, call_timeout: 30s, calls: { max: 100, window: 1m }, tool_calls: { max: 10, window: 1m } }\n`,
    ),
  );
  const t = config.targets[0]!;
  expect(t.kind).toBe("mcp");
  if (t.kind !== "mcp") return;
  expect(t.servers.map((s) => s.name)).toEqual(["remote", "old", "files", "db"]);
  expect(t.servers[0]!.headers!["authorization"]).toBe("Bearer t0ken");
  expect(t.servers[2]!.env!["API_KEY"]).toBe("k");
});

test("a server needs exactly one of url and command, and the options of its kind", async () => {
  expect(await failure(yaml(`      - { name: both, url: "http://x/mcp", command: [node] }\n`))).toContain("exactly one of url");
  expect(await failure(yaml(`      - { name: none }\n`))).toContain("exactly one of url");
  expect(await failure(yaml(`      - { name: s, url: "http://x/mcp", env: { A: b } }\n`))).toContain("env and cwd are for a stdio server");
  expect(await failure(yaml(`      - { name: s, command: [node], transport: sse }\n`))).toContain("headers and transport are for an HTTP upstream");
  expect(await failure(yaml(`      - { name: s, command: [node] }\n      - { name: s, command: [node] }\n`))).toContain('a second server named "s"');
  expect(await failure(yaml(`      - { name: s, url: "ftp://x" }\n`))).toContain("servers[0].url");
  expect(await failure(yaml(`      - { name: s, command: [node], env: { "BAD-NAME": x } }\n`))).toContain("env");
});

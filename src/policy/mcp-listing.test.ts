import { describe, expect, test } from "bun:test";
import type { Identity } from "../core/types.ts";
import { loadConfigFromSources } from "../config/load.ts";
import { compilePolicy } from "./compile.ts";
import { mayList } from "./mcp-listing.ts";

const agent: Identity = { method: "oidc", subject: "bot", issuer: "https://idp.example", groups: ["agents"] };

describe("mayList", () => {
  test("shows what some call could use, hides what none could", async () => {
    const config = await loadConfigFromSources(
      [
        {
          file: "p.yaml",
          text: `rules:
  - { name: read, effect: allow, groups: [agents], mcp: { servers: [files], tools: [read_file], arguments: { path: { under: /srv/data } } } }
  - { name: sql, effect: allow, groups: [agents], mcp: { servers: [db], tools: [query], sql: { classes: [read], tables: ["sales.*"] } } }
  - { name: held, effect: review, approvers: [leads], mcp: { servers: [files], tools: [write_file] } }
  - { name: write, effect: allow, groups: [agents], mcp: { servers: [files], tools: [write_file] } }
  - { name: no-keys, effect: deny, mcp: { tools: [read_file], arguments: { path: { under: /srv/data/keys } } } }
  - { name: no-move, effect: deny, mcp: { tools: [move_file] } }
  - { name: docs, effect: allow, mcp: { resources: ["file:///srv/docs/**"] } }
`,
        },
      ],
      { baseDir: "/tmp", env: {} },
    );
    const p = compilePolicy(config);
    const ctx = (server: string) => ({ identity: agent, target: "tools", server, time: 0 });
    expect(mayList(p, ctx("files"), { tool: "read_file" })).toBe(true);
    expect(mayList(p, ctx("files"), { tool: "write_file" })).toBe(true);
    expect(mayList(p, ctx("files"), { tool: "move_file" })).toBe(false);
    expect(mayList(p, ctx("files"), { tool: "delete_file" })).toBe(false);
    expect(mayList(p, ctx("db"), { tool: "query" })).toBe(true);
    expect(mayList(p, ctx("db"), { tool: "read_file" })).toBe(false);
    expect(mayList(p, ctx("files"), { resource: "file:///srv/docs/a.md" })).toBe(true);
    expect(mayList(p, ctx("files"), { resource: "file:///etc/passwd" })).toBe(false);
    expect(mayList(p, ctx("files"), { resourceTemplate: "file:///srv/docs/{name}" })).toBe(true);
    expect(mayList(p, ctx("files"), { prompt: "p" })).toBe(false);
    const stranger: Identity = { ...agent, groups: [] };
    expect(mayList(p, { ...ctx("files"), identity: stranger }, { tool: "read_file" })).toBe(false);
  });
});

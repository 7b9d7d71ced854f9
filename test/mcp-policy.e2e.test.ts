// The policy an operator writes for agents, end to end through the compiled gateway with the
// SDK client: agents may call read tools (their results masked), write tools are denied,
// a destructive tool is held until a lead approves it with `gatehouse approve` (single use:
// the same call again is held again, and `gatehouse deny` refuses it); listing follows use;
// definition pinning hides and refuses a tool the server changed after review (the rug pull,
// announced with list_changed) until `gatehouse mcp pin` records the new definition; a
// per-tool budget answers with a JSON-RPC error and counts in /metrics; a stdio server sees
// only its declared environment, runs in its own folder and dies with its session; the audit
// log verifies and `gatehouse replay` prints the session's calls. Upstreams: the SDK adversary
// over Streamable HTTP (crm) and over stdio (local), counting every message they receive.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { auditRecords, auditRecordsWhen, runCli } from "./helpers/gateway.ts";
import { ADVERSARY_SECRETS, POISONED_DESCRIPTION, startAdversaryHttp, type AdversaryHttp } from "./helpers/mcp-adversary.ts";
import { connectClient, resultText, type TestClient } from "./helpers/mcp-client.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { adversaryStdioCommand, loggedToolCalls, readJsonLines } from "./helpers/mcp-servers.ts";
import { waitFor, within } from "./helpers/wait.ts";

let crm: AdversaryHttp;
let g: McpGateway;
const tmp = mkdtempSync(join(tmpdir(), "gatehouse-mcp-policy-"));
const localLog = join(tmp, "local.jsonl");
const secretFile = join(tmp, "api-key");
let lead: string;

beforeAll(async () => {
  crm = startAdversaryHttp();
  writeFileSync(secretFile, "key-from-a-secret-file", { mode: 0o600 });
  g = await startMcpGateway({
    servers: [
      { name: "crm", url: crm.url, headers: { authorization: "Bearer ${env:CRM_TOKEN}" } },
      { name: "local", command: adversaryStdioCommand(localLog), env: { DECLARED_VAR: "declared-value", API_KEY: `\${file:${secretFile}}` } },
    ],
    pins: "mcp-pins.json",
    pinFirst: true,
    limits: { tool_calls: { max: 2, window: "10m" } },
    // The gateway's own environment: nothing of it may reach a stdio server.
    env: { LEAKY_VAR: "must-not-leak", AWS_SECRET_ACCESS_KEY: "gateway-own-secret", CRM_TOKEN: "the-gateway-credential-for-crm" },
    rules: `
  - name: agents-read
    groups: [agents]
    mcp: { servers: [crm, local], tools: [echo, lookup_customer] }
    effect: allow
    mask: { detectors: [email, cloud_key, jwt, card] }
  - name: agents-read-customers
    groups: [agents]
    mcp: { servers: [crm], resources: ["demo://customers/*"] }
    effect: allow
    mask: { detectors: [email, cloud_key] }
  - name: agents-summaries
    groups: [agents]
    mcp: { servers: [crm], prompts: [summarize] }
    effect: allow
    mask: { detectors: [email] }
  - name: agents-no-writes
    groups: [agents]
    mcp: { tools: [update_record] }
    effect: deny
    message: agents may read the CRM, not change it
  - name: deletes-need-a-lead
    groups: [agents]
    mcp: { servers: [crm], tools: [delete_record] }
    effect: review
    approvers: [leads]
    timeout: 10m
`,
  });
  lead = await g.token("lead-1", ["leads"]);
}, 120_000);

afterAll(async () => {
  await g?.stop();
  await crm?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

async function agent(sub: string, server = "crm"): Promise<TestClient> {
  return await connectClient({ url: g.url(server), token: await g.token(sub, ["agents"]) });
}

const refusal = (p: Promise<unknown>): Promise<McpError> =>
  p.then(
    (v) => {
      throw new Error(`expected a JSON-RPC error, got ${JSON.stringify(v).slice(0, 300)}`);
    },
    (e: unknown) => {
      if (!(e instanceof McpError)) throw e;
      return e;
    },
  );

// The admin API listens on port 0, so the approver names its URL (as an approver would name the gateway's).
const cli = (args: string[]) => runCli([...args, "--admin", g.gw.adminUrl], { env: { GATEHOUSE_TOKEN: lead } });

describe("agents: read allowed and masked, writes denied, destructive held for a lead", () => {
  test("listing follows use: read tools and the reviewed delete, nothing else", async () => {
    const c = await agent("agent-list");
    try {
      expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["delete_record", "echo", "lookup_customer"]);
    } finally {
      await c.close();
    }
  });

  test("a read tool's secrets are masked in content text and in structuredContent", async () => {
    const c = await agent("agent-read");
    try {
      const r = await c.client.callTool({ name: "lookup_customer", arguments: { id: 1 } });
      const all = JSON.stringify(r);
      for (const s of Object.values(ADVERSARY_SECRETS)) expect(all).not.toContain(s);
      expect(resultText(r)).toContain("[masked:email]");
      expect(resultText(r)).toContain("[masked:cloud_key]");
      expect(resultText(r)).toContain("[masked:jwt]");
      expect(resultText(r)).toContain("[masked:card ****4242]");
      expect(r.structuredContent).toMatchObject({ id: 1, name: "Ada", email: "[masked:email]", aws_access_key_id: "[masked:cloud_key]", session_token: "[masked:jwt]" });
      expect(crm.adversary.toolCalls("lookup_customer").length).toBeGreaterThanOrEqual(1);
    } finally {
      await c.close();
    }
  });

  test("resource contents and prompt messages are masked too; listing shows only the allowed ones", async () => {
    const c = await agent("agent-resources");
    try {
      expect((await c.client.listResources()).resources.map((r) => r.uri)).toEqual(["demo://customers/1"]);
      expect((await c.client.listPrompts()).prompts.map((p) => p.name)).toEqual(["summarize"]);
      const res = JSON.stringify(await c.client.readResource({ uri: "demo://customers/1" }));
      expect(res).not.toContain(ADVERSARY_SECRETS.email);
      expect(res).not.toContain(ADVERSARY_SECRETS.awsKeyId);
      expect(res).toContain("[masked:email]");
      const prompt = JSON.stringify(await c.client.getPrompt({ name: "summarize", arguments: { id: "1" } }));
      expect(prompt).toContain("summarise customer 1");
      expect(prompt).not.toContain(ADVERSARY_SECRETS.email);
      expect(prompt).toContain("[masked:email]");
      await refusal(c.client.readResource({ uri: "file:///etc/passwd" }));
      await refusal(c.client.getPrompt({ name: "admin_prompt" }));
    } finally {
      await c.close();
    }
  });

  test("a write tool is denied with the rule's message and never reaches the server", async () => {
    const c = await agent("agent-write");
    try {
      const before = crm.adversary.toolCalls("update_record").length;
      const e = await refusal(c.client.callTool({ name: "update_record", arguments: { id: 1, value: "x" } }));
      expect(e.message).toContain("agents may read the CRM, not change it");
      expect(crm.adversary.toolCalls("update_record").length).toBe(before);
    } finally {
      await c.close();
    }
  });

  test("a destructive tool is held; `gatehouse approve` releases that call once; `gatehouse deny` refuses the next", async () => {
    const c = await agent("agent-delete");
    try {
      const progress: unknown[] = [];
      const held = c.client.callTool({ name: "delete_record", arguments: { id: 7 } }, undefined, { timeout: 600_000, onprogress: (p) => void progress.push(p), resetTimeoutOnProgress: true });
      const id = await waitFor("the held delete_record to be listed by gatehouse requests", async () => {
        const r = await cli(["requests", "--ids"]);
        return r.code === 0 ? r.stdout.trim().split("\n").filter(Boolean)[0] ?? null : null;
      });
      const asJson = await cli(["requests", "--json"]);
      expect(asJson.stdout).toContain('"tool":"delete_record"');
      // What the approver reads: the tool and its (masked) arguments, not a clipped JSON prefix.
      const shown = await cli(["requests"]);
      expect(shown.stdout).toContain("delete_record");
      expect(shown.stdout).toContain('{"id":7}');
      expect(crm.adversary.toolCalls("delete_record")).toHaveLength(0);
      await waitFor("a progress notification while the call is held", () => progress.length > 0);
      const approved = await cli(["approve", id]);
      expect(approved.code).toBe(0);
      expect(resultText(await within("the approved call to complete", held))).toBe("deleted 7");
      expect(crm.adversary.toolCalls("delete_record")).toEqual([{ name: "delete_record", arguments: { id: 7 } }]);

      // The approval was for that one call: the same call again is held again, and can be refused.
      const again = refusal(c.client.callTool({ name: "delete_record", arguments: { id: 7 } }, undefined, { timeout: 600_000 }));
      const id2 = await waitFor("the second delete_record to be held", async () => {
        const r = await cli(["requests", "--ids"]);
        return r.stdout.trim().split("\n").find((x) => x !== "" && x !== id) ?? null;
      });
      expect((await cli(["deny", id2, "--reason", "not during the freeze"])).code).toBe(0);
      const e = await within("the denied call to fail", again);
      expect(e.message).toContain("not during the freeze");
      expect(crm.adversary.toolCalls("delete_record")).toHaveLength(1);
    } finally {
      await c.close();
    }
  }, 120_000);
});

describe("credentials", () => {
  test("the agent's token never reaches the server; the target's secret reference does", async () => {
    const token = await g.token("agent-creds", ["agents"]);
    const c = await connectClient({ url: g.url("crm"), token });
    const from = crm.requestHeaders.length;
    try {
      expect(resultText(await c.client.callTool({ name: "echo", arguments: { text: "who am I" } }))).toBe("who am I");
    } finally {
      await c.close();
    }
    const seen = crm.requestHeaders.slice(from);
    expect(seen.length).toBeGreaterThan(0);
    expect(JSON.stringify(crm.requestHeaders)).not.toContain(token);
    for (const h of seen) expect(h["authorization"]).toBe("Bearer the-gateway-credential-for-crm");
  });
});

describe("budgets", () => {
  test("tool_calls: the third echo in the window gets a JSON-RPC error and counts in /metrics", async () => {
    const c = await agent("agent-budget");
    try {
      for (const n of [1, 2]) expect(resultText(await c.client.callTool({ name: "echo", arguments: { text: `call ${n}` } }))).toBe(`call ${n}`);
      const before = crm.adversary.toolCalls("echo").length;
      const e = await refusal(c.client.callTool({ name: "echo", arguments: { text: "call 3" } }));
      expect(e.message).toMatch(/budget|limit/i);
      expect(crm.adversary.toolCalls("echo").length).toBe(before);
      const metrics = await (await fetch(`${g.gw.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/gatehouse_mcp_budget_refusals_total\{[^}]*budget="tool_calls"[^}]*\} [1-9]/);
    } finally {
      await c.close();
    }
    // Another identity has its own budget.
    const other = await agent("agent-budget-2");
    try {
      expect(resultText(await other.client.callTool({ name: "echo", arguments: { text: "mine" } }))).toBe("mine");
    } finally {
      await other.close();
    }
  });
});

describe("a stdio server", () => {
  test("sees only its declared environment, runs in its own folder, and ends with the session", async () => {
    const c = await agent("agent-stdio", "local");
    let pid = 0;
    try {
      expect(resultText(await c.client.callTool({ name: "echo", arguments: { text: "over stdio" } }))).toBe("over stdio");
      const started = readJsonLines<{ started?: { pid: number; env: Record<string, string>; cwd: string } }>(localLog).find((l) => l.started)!.started!;
      pid = started.pid;
      expect(started.env).toEqual({ DECLARED_VAR: "declared-value", API_KEY: "key-from-a-secret-file" });
      expect(started.cwd).not.toBe(g.gw.dir);
      expect(loggedToolCalls(localLog, "echo")).toHaveLength(1);
    } finally {
      await c.close();
    }
    await waitFor(`the stdio server (pid ${pid}) to end with its session`, () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    const records = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((r) => r.type === "mcp.spawn"), "an mcp.spawn record");
    const spawn = records.find((r) => r.type === "mcp.spawn")!;
    expect(JSON.stringify(spawn.details)).toContain("local");
    // The record names the variables, never the secret's value.
    expect(JSON.stringify(records)).not.toContain("key-from-a-secret-file");
  });
});

describe("definition pinning", () => {
  test("a tool changed after review is hidden and denied until gatehouse mcp pin records it", async () => {
    const c = await agent("agent-pins");
    try {
      expect((await c.client.listTools()).tools.find((t) => t.name === "echo")?.description).toBe("Echoes text back");
      const echoes = crm.adversary.toolCalls("echo").length;
      await crm.adversary.rugPull();
      await waitFor("list_changed to reach the agent", () => c.notifications.some((n) => n.method === "notifications/tools/list_changed"));
      const listed = (await c.client.listTools()).tools;
      expect(listed.map((t) => t.name)).not.toContain("echo");
      expect(listed.map((t) => t.name)).not.toContain("exfiltrate");
      expect(JSON.stringify(listed)).not.toContain(POISONED_DESCRIPTION);
      const e = await refusal(c.client.callTool({ name: "echo", arguments: { text: "x" } }));
      expect(e.message).toContain("changed");
      expect(crm.adversary.toolCalls("echo").length).toBe(echoes);

      // CI's check sees the difference before anyone re-pins.
      const check = await runCli(["mcp", "pin", "tools", "--config", g.gw.configPath, "--check"], { cwd: g.gw.dir, env: { CRM_TOKEN: "the-gateway-credential-for-crm" } });
      expect(check.code).toBe(1);
      expect(check.stdout + check.stderr).toContain("echo");

      // A reviewed re-pin: the new definition is what the lock says now.
      const pin = await g.pin();
      expect(pin.code).toBe(0);
      expect(pin.stdout + pin.stderr).toContain("echo");
      const relisted = await waitFor("echo to be listed again after the re-pin", async () => {
        const tools = (await c.client.listTools()).tools;
        return tools.some((t) => t.name === "echo") ? tools : null;
      });
      expect(relisted.find((t) => t.name === "echo")?.description).toBe(POISONED_DESCRIPTION);
      expect(relisted.map((t) => t.name)).not.toContain("exfiltrate"); // pinned now, but no rule allows it
      expect(resultText(await c.client.callTool({ name: "echo", arguments: { text: "after review" } }))).toBe("after review");
    } finally {
      await c.close();
    }
  }, 60_000);
});

describe("hot reload", () => {
  test("a policy edit applies to an open session at its next request and its next list", async () => {
    const c = await agent("agent-reload");
    try {
      expect(resultText(await c.client.callTool({ name: "lookup_customer", arguments: { id: 2 } }))).toContain("customer 2");
      // The operator takes lookup_customer out of the agents' read rule.
      const file = join(g.gw.dir, "gatehouse.yaml");
      const yaml = readFileSync(file, "utf8");
      const edited = yaml.replace("tools: [echo, lookup_customer] }", "tools: [echo] }");
      expect(edited).not.toBe(yaml);
      writeFileSync(file, edited);
      await g.gw.waitForLog("policy reloaded");
      const e = await refusal(c.client.callTool({ name: "lookup_customer", arguments: { id: 2 } }));
      expect(e.message).toContain("no rule allows");
      expect((await c.client.listTools()).tools.map((t) => t.name)).not.toContain("lookup_customer");
    } finally {
      await c.close();
    }
  });
});

describe("the audit log", () => {
  test("verifies, holds one mcp.call per exchange, and gatehouse replay prints the session's calls", async () => {
    const records = await auditRecords(g.gw.auditPath);
    const calls = records.filter((r) => r.type === "mcp.call");
    const lookup = calls.find((r) => JSON.stringify(r.action).includes("lookup_customer"))!;
    expect(lookup).toBeDefined();
    expect(JSON.stringify(lookup)).not.toContain(ADVERSARY_SECRETS.email);
    const details = lookup.details as Record<string, unknown>;
    expect(details["arguments_sha256"]).toMatch(/^[0-9a-f]{64}$/);
    expect(details["pin"]).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof details["result_bytes"]).toBe("number");
    const verify = await runCli(["verify", g.gw.auditPath]);
    expect(verify.code).toBe(0);

    const session = (calls.find((r) => JSON.stringify(r.action).includes("delete_record")) as { session?: string }).session!;
    const replay = await runCli(["replay", session, "--config", g.gw.configPath]);
    if (process.env["MCP_SHOW_REPLAY"]) console.log(replay.stdout);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain("delete_record");
    expect(replay.stdout).toMatch(/approv/i);
    expect(replay.stdout).toContain("deletes-need-a-lead");
    // The timeline shows each call's (masked) arguments and how it ended.
    expect(replay.stdout).not.toContain("[object Object]");
    expect(replay.stdout).toContain('{"id":7}');
  });
});

// The MCP upstreams the gateway tests stand in front of, driven directly (no gateway) with the
// SDK's Client: what each real server does on its own. The gateway suites rely on these facts
// (server-postgres runs `COMMIT; DROP …` outside its read-only transaction; server-filesystem
// refuses a symlink out of its root; server-everything's get-env returns its whole environment),
// and the helpers that count upstream calls are proven to count here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADVERSARY_SECRETS, POISONED_DESCRIPTION, startAdversaryHttp, type AdversaryHttp } from "./helpers/mcp-adversary.ts";
import { connectClient, resultText } from "./helpers/mcp-client.ts";
import {
  adversaryStdioCommand,
  everythingStdioCommand,
  filesystemFixture,
  loggedToolCalls,
  PG_SECRET,
  postgresMcpCommand,
  readJsonLines,
  recordingCommand,
  seedMcpPostgres,
  startEverythingHttp,
  type FilesystemFixture,
} from "./helpers/mcp-servers.ts";
import { startPostgres, type PostgresInstance } from "./helpers/postgres.ts";
import { waitFor, within } from "./helpers/wait.ts";

const tmp = mkdtempSync(join(tmpdir(), "gatehouse-mcp-up-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("server-everything", () => {
  test("stdio through the recording wrapper: echo, and the wrapper logs the call", async () => {
    const log = join(tmp, "everything-stdio.jsonl");
    const c = await connectClient({ command: recordingCommand(log, everythingStdioCommand()), env: { PATH: "/usr/bin:/bin", MARKER: "seen-by-server" } });
    try {
      const r = await c.client.callTool({ name: "echo", arguments: { message: "hi" } });
      expect(resultText(r)).toBe("Echo: hi");
      const env = resultText(await c.client.callTool({ name: "get-env", arguments: {} }));
      expect(env).toContain("seen-by-server");
      expect(loggedToolCalls(log, "echo")).toEqual([{ name: "echo", arguments: { message: "hi" } }]);
    } finally {
      await c.close();
    }
  });

  for (const mode of ["streamableHttp", "sse"] as const) {
    test(`${mode}: list and call tools`, async () => {
      const up = await startEverythingHttp(mode);
      try {
        const c = await connectClient({ url: up.url, transport: mode === "sse" ? "sse" : "streamable" });
        try {
          const names = (await c.client.listTools()).tools.map((t) => t.name);
          expect(names).toContain("echo");
          expect(names).toContain("trigger-sampling-request");
          expect(resultText(await c.client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } }))).toContain("5");
          const s = await c.client.callTool({ name: "get-structured-content", arguments: { location: "Chicago" } });
          expect(s.structuredContent).toBeDefined();
        } finally {
          await c.close();
        }
      } finally {
        await up.stop();
      }
    }, 60_000);
  }

  test("sampling: the server asks the agent's model, the client answers", async () => {
    const c = await connectClient({ command: everythingStdioCommand() });
    try {
      const r = await c.client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hello", maxTokens: 5 } });
      expect(c.answered.map((a) => a.method)).toEqual(["sampling/createMessage"]);
      expect(resultText(r)).toContain("the agent's model answered");
    } finally {
      await c.close();
    }
  });
});

describe("server-filesystem", () => {
  let fx: FilesystemFixture;
  beforeAll(() => void (fx = filesystemFixture()));
  afterAll(() => fx.cleanup());

  test("reads inside its root, refuses .. and symlinks out of it", async () => {
    const c = await connectClient({ command: fx.command });
    try {
      const names = (await c.client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(["read_text_file", "write_file", "list_directory"]));
      expect(resultText(await c.client.callTool({ name: "read_text_file", arguments: { path: join(fx.root, "report.txt") } }))).toBe(fx.reportText);
      for (const path of [join(fx.root, "..", "outside", "secret.txt"), join(fx.root, "link-secret"), join(fx.root, "link-out", "secret.txt")]) {
        const r = await c.client.callTool({ name: "read_text_file", arguments: { path } });
        expect(r.isError).toBe(true);
        expect(resultText(r)).not.toContain(fx.secretText);
      }
    } finally {
      await c.close();
    }
  });
});

describe("server-postgres", () => {
  let pg: PostgresInstance;
  beforeAll(async () => {
    pg = await startPostgres();
    await seedMcpPostgres(pg);
  }, 120_000);
  afterAll(async () => await pg?.stop());

  test("reads; a plain DROP fails in its read-only transaction, but COMMIT; DROP escapes it", async () => {
    const c = await connectClient({ command: postgresMcpCommand(pg) });
    try {
      expect(resultText(await c.client.callTool({ name: "query", arguments: { sql: "SELECT name FROM sales.customers ORDER BY id" } }))).toContain("Ann");
      expect(resultText(await c.client.callTool({ name: "query", arguments: { sql: "SELECT key FROM secret.api_keys" } }))).toContain(PG_SECRET);
      await expect(c.client.callTool({ name: "query", arguments: { sql: "DROP TABLE public.canary" } })).rejects.toThrow(/read-only/);
      // What the gateway must stop: the server's own guard is one statement deep.
      await c.client.callTool({ name: "query", arguments: { sql: "COMMIT; DROP TABLE public.canary" } }).catch(() => {});
      expect((await pg.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'canary'")).trim()).toBe("0");
    } finally {
      await c.close();
    }
  });
});

describe("the adversary (SDK server)", () => {
  let adv: AdversaryHttp;
  beforeAll(() => void (adv = startAdversaryHttp()));
  afterAll(async () => await adv.stop());

  test("over Streamable HTTP: secrets in results, a rug pull announced by list_changed, calls counted", async () => {
    const c = await connectClient({ url: adv.url });
    try {
      const before = (await c.client.listTools()).tools;
      expect(before.find((t) => t.name === "echo")?.description).toBe("Echoes text back");
      const r = await c.client.callTool({ name: "lookup_customer", arguments: { id: 1 } });
      for (const s of Object.values(ADVERSARY_SECRETS)) expect(resultText(r)).toContain(s);
      expect(adv.adversary.toolCalls("lookup_customer")).toHaveLength(1);
      await adv.adversary.rugPull();
      await waitFor("notifications/tools/list_changed", () => c.notifications.some((n) => n.method === "notifications/tools/list_changed"));
      const after = (await c.client.listTools()).tools;
      expect(after.find((t) => t.name === "echo")?.description).toBe(POISONED_DESCRIPTION);
      expect(after.map((t) => t.name)).toContain("exfiltrate");
    } finally {
      await c.close();
    }
  });

  test("server-initiated requests reach the client directly", async () => {
    const c = await connectClient({ url: adv.url });
    try {
      await c.client.callTool({ name: "ask_sampling", arguments: {} });
      await c.client.callTool({ name: "ask_elicitation", arguments: {} });
      await c.client.callTool({ name: "ask_roots", arguments: {} });
      expect(c.answered.map((a) => a.method)).toEqual(["sampling/createMessage", "elicitation/create", "roots/list"]);
    } finally {
      await c.close();
    }
  });

  test("stall: the call's stream stays open until released", async () => {
    const c = await connectClient({ url: adv.url });
    try {
      const ac = new AbortController();
      const call = c.client.callTool({ name: "stall", arguments: {} }, undefined, { signal: ac.signal, timeout: 600_000 });
      await waitFor("the stall call to reach the adversary", () => adv.adversary.toolCalls("stall").length === 1);
      ac.abort();
      await expect(within("the aborted call to settle", call)).rejects.toThrow();
    } finally {
      await c.close();
    }
  });

  test("over stdio: logs its environment and every message", async () => {
    const log = join(tmp, "adversary.jsonl");
    const c = await connectClient({ command: adversaryStdioCommand(log), env: { ONLY_THIS: "1" } });
    try {
      await c.client.callTool({ name: "echo", arguments: { text: "x" } });
      const lines = readJsonLines<{ started?: { env: Record<string, string> } }>(log);
      expect(lines[0]?.started?.env["ONLY_THIS"]).toBe("1");
      expect(loggedToolCalls(log, "echo")).toHaveLength(1);
    } finally {
      await c.close();
    }
  });
});

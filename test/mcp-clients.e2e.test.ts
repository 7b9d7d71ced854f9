// Real MCP clients against the compiled gateway's MCP target: the SDK's Client over Streamable
// HTTP and over the legacy HTTP+SSE transport, the inspector's CLI (--cli mode with a header), and
// mcp-remote (the stdio bridge stdio-only agents use), both with a static Bearer header and with
// the whole OAuth flow a real client runs: a 401 whose WWW-Authenticate names the RFC 9728
// metadata, the metadata naming the authorization server (the test OpenID provider, which the
// client is told nowhere else), its discovery document, and a client-credentials token for the
// MCP server's resource URL (RFC 8707) that the gateway checks as the audience. Upstreams: the
// reference server-everything over Streamable HTTP, over legacy SSE, and over stdio.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { connectClient, resultText } from "./helpers/mcp-client.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { everythingStdioCommand, INSPECTOR_CLI_JS, MCP_REMOTE_JS, NODE, startEverythingHttp, type HttpServerProcess } from "./helpers/mcp-servers.ts";
import { startOidcProvider, type OidcProviderHandle } from "./helpers/oidc-provider.ts";
import { onFreePort } from "./helpers/ports.ts";

const SERVERS = ["everything", "legacy", "local"] as const;
let upHttp: HttpServerProcess;
let upSse: HttpServerProcess;
let idp: OidcProviderHandle;
let g: McpGateway;
let token: string;
let port: number;
const tmp = mkdtempSync(join(tmpdir(), "gatehouse-mcp-clients-"));

beforeAll(async () => {
  [upHttp, upSse, idp] = await Promise.all([startEverythingHttp("streamableHttp"), startEverythingHttp("sse"), startOidcProvider({ groups: ["agents"] })]);
  // The issuer's audience is the MCP server's resource URL, so the listen port is fixed up front
  // (see helpers/ports.ts).
  g = await onFreePort((p) => {
    port = p;
    return startMcpGateway({
      listen: `127.0.0.1:${port}`,
      servers: [
        { name: "everything", url: upHttp.url },
        { name: "legacy", url: upSse.url, transport: "sse" },
        { name: "local", command: everythingStdioCommand() },
      ],
      identity: `issuers: [${JSON.stringify({ name: "idp", issuer: idp.issuer, audience: `http://127.0.0.1:${port}/mcp/local`, groups_claim: "groups" })}]`,
      pins: "mcp-pins.json",
      pinFirst: true,
      rules: `
  - name: no-environment
    mcp: { tools: [get-env] }
    effect: deny
    message: the environment holds credentials; ask the platform team
  - name: agents-tools
    groups: [agents]
    mcp: { tools: [echo, get-sum] }
    effect: allow
`,
    });
  });
  token = await g.token("agent-1", ["agents"]);
}, 120_000);

afterAll(async () => {
  await g?.stop();
  await Promise.all([upHttp?.stop(), upSse?.stop(), idp?.close()]);
  rmSync(tmp, { recursive: true, force: true });
});

describe("the MCP SDK client", () => {
  for (const server of SERVERS) {
    for (const transport of ["streamable", "sse"] as const) {
      test(`${transport === "sse" ? "legacy SSE (/sse/)" : "Streamable HTTP (/mcp/)"} to ${server}: listing follows use, calls are decided`, async () => {
        const url = transport === "sse" ? g.sseUrl(server) : g.url(server);
        const c = await connectClient({ url, token, transport });
        try {
          expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "get-sum"]);
          expect(resultText(await c.client.callTool({ name: "echo", arguments: { message: `via ${transport}` } }))).toBe(`Echo: via ${transport}`);
          expect(resultText(await c.client.callTool({ name: "get-sum", arguments: { a: 19, b: 23 } }))).toContain("42");
          const denied = await c.client.callTool({ name: "get-env", arguments: {} }).then(
            () => null,
            (e: unknown) => e,
          );
          expect(denied).toBeInstanceOf(McpError);
          expect((denied as McpError).message).toContain("the environment holds credentials; ask the platform team");
        } finally {
          await c.close();
        }
      }, 60_000);
    }
  }

  test("a token for one MCP server does not open another: 401 invalid_token naming the audience", async () => {
    const forLocal = await idp.getToken({ audience: `http://127.0.0.1:${port}/mcp/local` });
    const ok = await connectClient({ url: g.url("local"), token: forLocal });
    await ok.close();
    const r = await fetch(g.url("everything"), {
      method: "POST",
      headers: { authorization: `Bearer ${forLocal}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } }),
    });
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate") ?? "").toContain('error="invalid_token"');
    expect(r.headers.get("www-authenticate") ?? "").toContain(`resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp/everything"`);
  });

  test("without a token: 401 with the RFC 9728 metadata URL, and the metadata names the issuer", async () => {
    const r = await fetch(g.url("local"), { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }) });
    expect(r.status).toBe(401);
    const challenge = r.headers.get("www-authenticate") ?? "";
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp/local`);
    const meta = (await (await fetch(metadataUrl!)).json()) as { resource: string; authorization_servers: string[] };
    expect(meta.resource).toBe(`http://127.0.0.1:${port}/mcp/local`);
    expect(meta.authorization_servers).toContain(idp.issuer);
  });
});

/** Runs the inspector's CLI against the gateway; returns its exit code and output. */
async function inspector(server: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // It reads its own package.json as "../package.json" relative to the working directory.
  const p = Bun.spawn([NODE, INSPECTOR_CLI_JS, "--cli", g.url(server), "--transport", "http", "--header", `Authorization: Bearer ${token}`, ...args], { cwd: dirname(INSPECTOR_CLI_JS), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

describe("the inspector CLI (@modelcontextprotocol/inspector-cli)", () => {
  test("tools/list shows what the caller may call", async () => {
    const r = await inspector("everything", "--method", "tools/list");
    expect(r.code).toBe(0);
    const listed = (JSON.parse(r.stdout) as { tools: { name: string }[] }).tools.map((t) => t.name).sort();
    expect(listed).toEqual(["echo", "get-sum"]);
  }, 60_000);

  test("tools/call echo is answered; tools/call get-env fails with the rule's message", async () => {
    const ok = await inspector("local", "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=from the inspector");
    expect(ok.code).toBe(0);
    expect(resultText(JSON.parse(ok.stdout))).toBe("Echo: from the inspector");
    const denied = await inspector("local", "--method", "tools/call", "--tool-name", "get-env");
    expect(denied.code).not.toBe(0);
    expect(denied.stdout + denied.stderr).toContain("the environment holds credentials");
  }, 60_000);
});

describe("mcp-remote (stdio bridge)", () => {
  test("with a static Bearer header", async () => {
    const home = mkdtempSync(join(tmp, "remote-"));
    const c = await connectClient({ command: [NODE, MCP_REMOTE_JS, g.url("everything"), "--header", `Authorization: Bearer ${token}`], env: { PATH: process.env["PATH"] ?? "/usr/bin", HOME: home, MCP_REMOTE_CONFIG_DIR: home } });
    try {
      expect((await c.client.listTools()).tools.map((t) => t.name).sort()).toEqual(["echo", "get-sum"]);
      expect(resultText(await c.client.callTool({ name: "echo", arguments: { message: "bridged" } }))).toBe("Echo: bridged");
      await expect(c.client.callTool({ name: "get-env", arguments: {} })).rejects.toThrow(/environment holds credentials/);
    } finally {
      await c.close();
    }
  }, 60_000);

  test("with OAuth: it finds the issuer from the protected-resource metadata and gets a token for the server's resource URL", async () => {
    const home = mkdtempSync(join(tmp, "remote-oauth-"));
    const resource = `http://127.0.0.1:${port}/mcp/local`;
    const c = await connectClient({
      // Told only the MCP server's URL and its client credentials: not the issuer, not the token endpoint.
      command: [NODE, MCP_REMOTE_JS, resource, "--client-credentials", "--static-oauth-client-info", JSON.stringify({ client_id: idp.clientId, client_secret: idp.clientSecret }), "--debug"],
      env: { PATH: process.env["PATH"] ?? "/usr/bin", HOME: home, MCP_REMOTE_CONFIG_DIR: home },
    });
    try {
      expect(resultText(await c.client.callTool({ name: "echo", arguments: { message: "with an OAuth token" } }))).toBe("Echo: with an OAuth token");
    } finally {
      await c.close();
    }
    const debugDir = join(home, readdirSync(home).find((d) => d.startsWith("mcp-remote"))!);
    const debug = readdirSync(debugDir)
      .filter((f) => f.endsWith("_debug.log"))
      .map((f) => readFileSync(join(debugDir, f), "utf8"))
      .join("");
    expect(debug).toContain(`Using resource_metadata URL from WWW-Authenticate header {"url":"http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp/local"}`);
    expect(debug).toContain(`"authorizationServers":["${idp.issuer}"]`);
    // The call ran as the OAuth client, with the provider's token (not a dev token).
    const isOauthCall = (r: { type: string; identity?: unknown; action?: unknown }) => r.type === "mcp.call" && JSON.stringify(r.identity).includes(idp.clientId) && JSON.stringify(r.action).includes('"tool":"echo"');
    const records = await auditRecordsWhen(g.gw.auditPath, (all) => all.some(isOauthCall), "the OAuth client's mcp.call of echo");
    const call = records.find(isOauthCall)!;
    expect(JSON.stringify(call.identity)).toContain(idp.issuer);
  }, 90_000);
});

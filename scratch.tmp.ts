import { mkdtempSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { mcpGatewayYaml } from "./test/helpers/mcp-gateway.ts";
import { startEverythingHttp } from "./test/helpers/mcp-servers.ts";
import { runCli } from "./test/helpers/gateway.ts";
const up = await startEverythingHttp("streamableHttp");
const dir = mkdtempSync("/tmp/mcpprof-");
writeFileSync(join(dir, "gatehouse.yaml"), mcpGatewayYaml({ servers: [{ name: "everything", url: up.url }], rules: `
  - name: agents-read
    groups: [agents]
    mcp: { servers: [everything], tools: [echo] }
    effect: allow
    mask: { detectors: [email, cloud_key, jwt, card] }
` }));
const prof = join(dir, "prof");
const p = Bun.spawn(["bun", "--cpu-prof-md", `--cpu-prof-dir=${prof}`, "src/main.ts", "serve", "--config", join(dir, "gatehouse.yaml")], { cwd: process.cwd(), stdout: "pipe", stderr: "pipe", env: { ...process.env, PATH: `${process.cwd()}/node_modules/.bin:${process.env.PATH}` } });
let out = ""; (async () => { for await (const c of p.stderr) out += new TextDecoder().decode(c); })(); (async () => { for await (const c of p.stdout) out += new TextDecoder().decode(c); })();
while (!/serving \{/.test(out)) await Bun.sleep(100);
const port = JSON.parse(/serving (\{.*\})/.exec(out)![1]!).targets.tools;
const url = `http://127.0.0.1:${port}/mcp/everything`;
const token = (await runCli(["token", "--state-dir", join(dir, "state"), "--sub", "b", "--groups", "agents"])).stdout.trim();
const base = { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${token}` };
const sessions = [];
for (let i = 0; i < 8; i++) {
  const r = await fetch(url, { method: "POST", headers: base, body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "b", version: "1" } } }) });
  await r.text();
  const h = { ...base, "mcp-session-id": r.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" };
  await (await fetch(url, { method: "POST", headers: h, body: `{"jsonrpc":"2.0","method":"notifications/initialized"}` })).text();
  sessions.push(h);
}
const end = Date.now() + 8000; let n = 0;
await Promise.all(sessions.map(async (h) => { while (Date.now() < end) { const id = n++; await (await fetch(url, { method: "POST", headers: h, body: `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":"m${id}"}}}` })).text(); } }));
console.log("calls", n);
p.kill("SIGTERM"); await p.exited; await up.stop();
console.log(readdirSync(prof).map((f) => join(prof, f)).join("\n"));

import { startMcpGateway } from "./test/helpers/mcp-gateway.ts";
import { runCli } from "./test/helpers/gateway.ts";
import { connectClient } from "./test/helpers/mcp-client.ts";
import { startAdversaryHttp } from "./test/helpers/mcp-adversary.ts";
const crm = startAdversaryHttp();
const g = await startMcpGateway({ servers: [{ name: "crm", url: crm.url }], rules: `
  - name: deletes-need-a-lead
    groups: [agents]
    mcp: { servers: [crm], tools: [delete_record] }
    effect: review
    approvers: [leads]
    timeout: 10m
` });
const lead = await g.token("lead-1", ["leads"]);
const c = await connectClient({ url: g.url("crm"), token: await g.token("a", ["agents"]) });
const held = c.client.callTool({ name: "delete_record", arguments: { id: 7 } }, undefined, { timeout: 600_000 }).then((r) => console.log("RESULT", JSON.stringify(r)), (e) => console.log("ERR", e.message));
await Bun.sleep(2000);
for (const args of [["requests", "--config", g.gw.configPath], ["requests", "--config", g.gw.configPath, "--json"]]) {
  const r = await runCli(args, { env: { GATEHOUSE_TOKEN: lead } });
  console.log(args.join(" "), r.code, r.stdout.slice(0, 800), r.stderr.slice(0, 500));
}
const r = await runCli(["tail", "--config", g.gw.configPath], {});
console.log(r.stdout.slice(-2000));
await c.close(); await g.stop(); await crm.stop();

import { startMcpGateway } from "./test/helpers/mcp-gateway.ts";
import { connectClient, resultText } from "./test/helpers/mcp-client.ts";
import { startAdversaryHttp } from "./test/helpers/mcp-adversary.ts";
import { auditRecords } from "./test/helpers/gateway.ts";
const adv = startAdversaryHttp();
const g = await startMcpGateway({ servers: [{ name: "adv", url: adv.url }], rules: `
  - name: a
    groups: [agents]
    mcp: { servers: [adv], tools: ["*"] }
    effect: allow
  - name: url-elicitation-to-docs
    groups: [agents]
    mcp: { servers: [adv], methods: [elicitation/create], arguments: { url: { hosts: [docs.example.com] } } }
    effect: allow
` });
const c = await connectClient({ url: g.url("adv"), token: await g.token("a", ["agents"]) });
console.log(resultText(await c.client.callTool({ name: "ask_url_elicitation", arguments: { url: "https://docs.example.com/sign-in" } })));
for (const r of await auditRecords(g.gw.auditPath)) if (JSON.stringify(r).includes("elicitation")) console.log(JSON.stringify(r).slice(0, 600));
await c.close(); await g.stop(); await adv.stop();

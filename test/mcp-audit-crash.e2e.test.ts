// Nothing acknowledged is lost over MCP either: agents call tools (allowed and denied) while the
// compiled gateway is killed with SIGKILL and restarted, again and again; afterwards the chain
// verifies and every call an agent saw answered (a result or the gateway's JSON-RPC denial) has
// its decision, with the arguments' digest, in the audit log.
import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { auditRecords, runCli } from "./helpers/gateway.ts";
import { startAdversaryHttp, type AdversaryHttp } from "./helpers/mcp-adversary.ts";
import { startMcpGateway, type McpGateway } from "./helpers/mcp-gateway.ts";
import { openRawSession, rawPost } from "./helpers/mcp-raw.ts";
import { waitFor } from "./helpers/wait.ts";

setDefaultTimeout(180_000);

let adv: AdversaryHttp | undefined;
let g: McpGateway | undefined;
afterAll(async () => {
  g?.gw.cleanup();
  await adv?.stop();
});

test("kill -9 while agents call tools loses no answered call's decision and leaves a verifiable chain", async () => {
  adv = startAdversaryHttp();
  g = await startMcpGateway({
    servers: [{ name: "crm", url: adv.url }],
    rules: `
  - name: agents-read
    groups: [agents]
    mcp: { servers: [crm], tools: [echo] }
    effect: allow
`,
  });
  const token = await g.token("crash", ["agents"]);
  /** Each answered call's marker text (its only argument), and whether it was allowed. */
  const answered: { marker: string; allowed: boolean }[] = [];
  let n = 0;
  for (let round = 0; round < 4; round++) {
    const url = g.url("crm");
    let running = true;
    const agent = async () => {
      let s;
      try {
        s = await openRawSession(url, token);
      } catch {
        return;
      }
      while (running) {
        const id = n++;
        const marker = `call-${round}-${id}`;
        const tool = id % 3 === 0 ? "delete_record" : "echo";
        try {
          const r = await rawPost({ url, headers: s.headers, body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name: tool, arguments: { text: marker } } }), expectIds: [id] });
          const m = r.messages.find((x) => x["id"] === id);
          if (m && "result" in m) answered.push({ marker, allowed: true });
          else if (m && "error" in m && JSON.stringify(m["error"]).includes("denied by the gateway")) answered.push({ marker, allowed: false });
        } catch {
          return; // the gateway died under us: that call was never answered
        }
      }
    };
    const agents = Array.from({ length: 4 }, agent);
    const enough = answered.length + 20 + round * 10;
    await waitFor(`${enough} answered calls (round ${round})`, () => answered.length >= enough);
    await g.gw.kill9();
    running = false;
    await Promise.all(agents);
    await g.gw.restart();
  }
  await g.gw.stop();
  expect(answered.length).toBeGreaterThan(60);
  expect(answered.some((a) => !a.allowed)).toBe(true);

  const verify = await runCli(["verify", g.gw.auditPath]);
  expect(verify.code).toBe(0);
  const decided = new Map<string, string>();
  for (const r of await auditRecords(g.gw.auditPath)) {
    if (r.type !== "decision") continue;
    const args = (r.action as { arguments?: { text?: string } } | undefined)?.arguments;
    if (typeof args?.text === "string") decided.set(args.text, (r.decision as { effect: string }).effect);
  }
  const missing = answered.filter((a) => decided.get(a.marker) !== (a.allowed ? "allow" : "deny")).map((a) => `${a.marker} (${a.allowed ? "allowed" : "denied"}): ${decided.get(a.marker) ?? "no decision record"}`);
  expect(missing).toEqual([]);
});

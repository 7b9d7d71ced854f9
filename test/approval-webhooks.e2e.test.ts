// End to end through the compiled binary: gateway.approval_webhooks. A psql statement held for
// review reaches a receiver as a signed JSON POST (the receiver checks Gatehouse-Signature with the
// shared secret, given to the gateway as a secret reference) and as a Slack message linking the
// approval page (gateway.console_url); an approver's decision through the admin API is the next
// delivery, and psql completes; each delivery is an audit record.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import type { AuditRecord } from "../src/audit/record.ts";
import { readRecords } from "../src/audit/reader.ts";
import { verifyWebhookSignature } from "../src/approvals/webhooks.ts";
import { type GatewayProcess, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { type PostgresInstance, startPostgres } from "./helpers/postgres.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

const SECRET = "whsec_e2e_0123456789abcdef";
let pg: PostgresInstance;
let gw: GatewayProcess;
let receiver: ReturnType<typeof Bun.serve>;
const got: { path: string; headers: Headers; body: string }[] = [];

beforeAll(async () => {
  pg = await startPostgres();
  await pg.psql("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1), (2);");
  receiver = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      got.push({ path: new URL(req.url).pathname, headers: req.headers, body: await req.text() });
      return new Response("ok");
    },
  });
  const yaml = `
gateway:
  state_dir: ./state
  admin: { listen: "127.0.0.1:0" }
  console_url: https://gatehouse.example:9443
  approval_webhooks:
    - { name: ops, url: "http://127.0.0.1:${receiver.port}/json", format: json, secret: "\${env:WEBHOOK_SECRET}" }
    - { name: chat, url: "http://127.0.0.1:${receiver.port}/slack", format: slack, events: [requested] }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
targets:
  - name: sales-db
    kind: postgres
    listen: 127.0.0.1:0
    upstream: { host: 127.0.0.1, port: ${pg.port}, database: postgres, user: ${pg.user}, password: "${pg.password}" }
rules:
  - name: read
    groups: [analysts]
    effect: allow
    postgres: { classes: [read] }
  - name: deletes
    groups: [analysts]
    effect: review
    approvers: [dba]
    postgres: { classes: [delete] }
`;
  gw = await startGatewayProcess({ files: { "gatehouse.yaml": yaml }, env: { WEBHOOK_SECRET: SECRET } });
});

afterAll(async () => {
  await gw?.stop();
  gw?.cleanup();
  receiver?.stop(true);
  await pg?.stop();
});

async function token(sub: string, groups: string): Promise<string> {
  const r = await runCli(["token", "--config", gw.configPath, "--sub", sub, "--groups", groups]);
  if (r.code !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}

async function records(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { record } of readRecords(gw.auditPath, { onTornTail: () => {} })) out.push(record);
  return out;
}

test("a held psql statement is POSTed signed and to Slack; the approval is POSTed too; psql completes; deliveries are audited", async () => {
  const psql = Bun.spawn(["psql", "-X", "-A", "-t", "-h", "127.0.0.1", "-p", String(gw.port("sales-db")), "-U", "ann", "-d", "sales-db", "-c", "DELETE FROM orders WHERE id = 2"], {
    env: { ...process.env, PGPASSWORD: await token("ann", "analysts"), PGSSLMODE: "disable" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const requested = await waitFor("the signed approval.requested delivery", () => got.find((g) => g.path === "/json" && g.headers.get("gatehouse-event") === "approval.requested")).catch(async (e) => {
    throw new Error(`${e}; records: ${JSON.stringify((await records()).slice(-6))}; gateway: ${gw.logs().slice(-2000)}`);
  });
  const now = Math.floor(Date.now() / 1000);
  expect(verifyWebhookSignature(SECRET, requested.headers.get("gatehouse-signature") ?? "", requested.body, now)).toBe(true);
  expect(verifyWebhookSignature("not the secret at all", requested.headers.get("gatehouse-signature") ?? "", requested.body, now)).toBe(false);
  const body = JSON.parse(requested.body);
  expect(body.approval).toMatchObject({ target: "sales-db", rule: "deletes", approvers: ["dba"], requester: { subject: "ann" } });
  expect(body.approval.request.sql).toBe("DELETE FROM orders WHERE id = 2");
  const slack = await waitFor("the Slack delivery", () => got.find((g) => g.path === "/slack"));
  const text = JSON.parse(slack.body).text as string;
  expect(text).toContain(`<https://gatehouse.example:9443/approvals?id=${body.approval.id}|Open the approval>`);
  expect(text).toContain("DELETE FROM orders WHERE id = 2");

  // An approver decides through the admin API (as `gatehouse approve` does).
  const res = await fetch(`${gw.adminUrl}/v1/requests/${body.approval.id}/approve`, { method: "POST", headers: { authorization: `Bearer ${await token("dan", "dba")}` }, body: "{}" });
  expect(res.status).toBe(200);
  expect(await within("psql to complete once approved", psql.exited)).toBe(0);
  const decided = await waitFor("the approval.decided delivery", () => got.find((g) => g.path === "/json" && g.headers.get("gatehouse-event") === "approval.decided"));
  expect(JSON.parse(decided.body)).toMatchObject({ outcome: "approved", approver: "dan" });
  expect(got.filter((g) => g.path === "/slack").length).toBe(1); // chat asked for requested only
  const delivered = await waitFor("three webhook.delivered records", async () => {
    const d = (await records()).filter((r) => r.type === "webhook.delivered");
    return d.length >= 3 ? d : undefined;
  });
  expect(delivered.map((r) => (r.details as { webhook: string }).webhook).sort()).toEqual(["chat", "ops", "ops"]);
  // The records name the webhook, never its URL (a Slack URL is a secret).
  expect(JSON.stringify(delivered)).not.toContain(`127.0.0.1:${receiver.port}`);
});

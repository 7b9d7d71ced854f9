// End to end: an approver works the compiled binary's requests / approve / deny against a
// running gateway whose configuration is a folder, as the README tells them to. `approve ID`
// lets one request through and the next identical one is held again; `approve ID --for 30m`
// lets the requester through the whole rule without asking again.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { openAuditLog } from "../src/audit/log.ts";
import { DEV_ISSUER } from "../src/identity/dev-issuer.ts";
import { type GatewayProcess, makeTempDir, runCli, startGatewayProcess } from "./helpers/gateway.ts";
import { onFreePort } from "./helpers/ports.ts";
import { waitFor } from "./helpers/wait.ts";

let upstream: ReturnType<typeof Bun.serve>;
let gw: GatewayProcess;
let base: string;
let alice: string;
let bob: string;

const noToken = { env: { GATEHOUSE_TOKEN: "" } };
const cli = (args: string[]) => runCli(args, { env: { GATEHOUSE_TOKEN: bob } });

/** The ids `requests --ids` lists for bob, through --config with the folder. */
async function pendingIds(): Promise<string[]> {
  const r = await cli(["requests", "--config", gw.configPath, "--ids"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** A held request that is not one of `seen`. */
const newHeld = (seen: string[], what: string) => waitFor(what, async () => (await pendingIds()).find((id) => !seen.includes(id)), { timeoutMs: 30_000, intervalMs: 50 });

const post = (path: string) => fetch(`${base}${path}`, { method: "POST", headers: { authorization: `Bearer ${alice}` }, body: "{}" });

beforeAll(async () => {
  upstream = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: async (req) => Response.json({ method: req.method, path: new URL(req.url).pathname }) });
  // The target binds port 0; the admin API's port is picked here because the commands under
  // test find the admin API through the config's gateway.admin.listen (see helpers/ports.ts).
  // Two files: --config is the folder, as with serve.
  gw = await onFreePort((adminPort) => startGatewayProcess({ files: files(adminPort) }));
  base = `http://127.0.0.1:${gw.port("api")}`;
  const token = async (sub: string, groups: string) => {
    const r = await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", sub, "--groups", groups, "--ttl", "15m"]);
    expect(r.code).toBe(0);
    return r.stdout.trim();
  };
  alice = await token("alice", "developers");
  bob = await token("bob", "approvers");
});

function files(adminPort: number): Record<string, string> {
  return {
      "00-gateway.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${adminPort}" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${upstream.port}" }
`,
      "10-rules.yaml": `
rules:
  - name: order-writes
    http: { methods: [POST], paths: ["/api/orders/**"] }
    effect: review
    approvers: [approvers]
    grant_max: 1h
    timeout: 10m
`,
  };
}

afterAll(() => {
  gw?.cleanup();
  upstream?.stop(true);
});

test("without a token, requests/approve/deny are a usage error that says so (exit 2), with --config a folder", async () => {
  for (const args of [["requests"], ["approve", "apr_x"], ["deny", "apr_x"]]) {
    const r = await runCli([...args, "--config", gw.configPath], noToken);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`gatehouse ${args[0]}: missing token: pass --token TOKEN or set GATEHOUSE_TOKEN`);
    expect(r.stderr).toContain(`Run 'gatehouse ${args[0]} --help' for usage.`);
    expect(r.stderr).not.toContain("cannot reach");
  }
});

test("approve ID releases one request and the next identical one is held again; approve ID --for 30m lets the next through", async () => {
  // 1. Held, listed as tail would show it, approved once.
  const first = post("/api/orders/1");
  const id1 = await newHeld([], "alice's first POST to be held");
  const list = await cli(["requests", "--config", gw.configPath]);
  expect(list.code).toBe(0);
  expect(list.stdout).toMatch(new RegExp(`^${id1} \\S+Z alice api POST /api/orders/1 rule=order-writes expires in \\d+m\\n$`));
  // The approver sees where the held HTTP request came from (the target passes the caller's address).
  const api = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/v1/requests`, { headers: { authorization: `Bearer ${bob}` } })).json()) as { requests: { id: string; remote?: string }[] };
  expect(api.requests.find((r) => r.id === id1)?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
  const once = await cli(["approve", id1, "--config", gw.configPath]);
  expect(once.stderr).toBe("");
  expect(once.code).toBe(0);
  expect(once.stdout).toBe(`approved ${id1}: alice's request POST /api/orders/1 on api runs this once; the next one is held for approval again (approve with --for 30m to grant the rule for a while)\n`);
  expect((await first).status).toBe(200);

  // 2. The same request again is held again: the one-shot approval granted nothing.
  const second = post("/api/orders/1");
  const id2 = await newHeld([id1], "alice's second, identical POST to be held again");
  const grant = await cli(["approve", id2, "--for", "30m", "--config", gw.configPath]);
  expect(grant.stderr).toBe("");
  expect(grant.code).toBe(0);
  expect(grant.stdout).toMatch(new RegExp(`^approved ${id2}: alice may now run anything rule order-writes allows on target api for 30m, until (\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d UTC\\n$`));
  expect((await second).status).toBe(200);

  // 3. Under the grant the same request (and any other the rule covers) is not held at all.
  for (const path of ["/api/orders/1", "/api/orders/2/items"]) {
    const third = post(path);
    const outcome = await Promise.race([
      third.then((r) => `answered ${r.status}`),
      newHeld([id1, id2], `alice's POST ${path} under the grant to be answered or held`).then((id) => `held as ${id}`),
    ]);
    expect(outcome).toBe("answered 200");
  }

  // 4. tail shows which approval each record belongs to.
  const tail = await runCli(["tail", "--config", gw.configPath, "--type", "approval.*"]);
  expect(tail.code).toBe(0);
  const lines = tail.stdout.trim().split("\n");
  expect(lines.filter((l) => l.includes(`approval.requested review alice api POST /api/orders/1 rule=order-writes approval=${id1}`))).toHaveLength(1);
  expect(lines.filter((l) => l.includes(`approval.granted allow bob api rule=order-writes approval=${id1} requester=alice`) && !l.includes("grant_until"))).toHaveLength(1);
  expect(lines.filter((l) => l.includes(`approval.granted allow bob api rule=order-writes approval=${id2} requester=alice grant_until=`))).toHaveLength(1);
});

test("every key the gateway wrote into the audit log is snake_case", () => {
  const camel: string[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v !== null && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        if (!/^[a-z0-9_]+$/.test(k)) camel.push(`${path}.${k}`);
        walk(x, `${path}.${k}`);
      }
  };
  const records = readFileSync(gw.auditPath, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  records.forEach((r, i) => walk(r, `#${i + 1} ${r.type}`));
  expect(records.some((r) => r.type === "approval.requested")).toBe(true);
  expect(camel).toEqual([]);
});

test("a mistyped command suggests the nearest one", async () => {
  const r = await runCli(["aprove", "apr_x"]);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe(`gatehouse: unknown command "aprove"; did you mean "approve"?\nRun 'gatehouse --help' for the list of commands.\n`);
});

test("a log written before audit keys were snake_case still loads: its pending request and its grant survive", async () => {
  const dir = makeTempDir();
  let old: GatewayProcess | undefined;
  try {
    // The records as the gateway wrote them before: camelCase details, times as ms numbers.
    mkdirSync(join(dir, "state/audit"), { recursive: true });
    const log = await openAuditLog({ path: join(dir, "state/audit/audit.log") });
    const now = Date.now();
    const who = (subject: string) => ({ method: "dev", subject, issuer: DEV_ISSUER, groups: ["developers"] });
    const held = (subject: string, approval: string) => ({
      type: "approval.requested",
      identity: who(subject),
      target: "api",
      action: { kind: "http", method: "POST", path: "/api/orders/9" },
      decision: { effect: "review" as const, rule: "order-writes", message: "needs approval" },
      details: { approval, approvers: ["approvers"], expiresAt: now + 600_000, maxGrantMs: 3_600_000 },
    });
    await log.append(held("carol", "apr_oldpending"));
    await log.append(held("dave", "apr_oldgrant"));
    await log.append({
      type: "approval.granted",
      identity: { method: "dev", subject: "bob", issuer: DEV_ISSUER, groups: ["approvers"] },
      target: "api",
      decision: { effect: "allow", rule: "order-writes" },
      details: { approval: "apr_oldgrant", approver: "bob", requester: "dave", grantUntil: now + 1_800_000 },
    });
    await log.close();

    old = await onFreePort((adminPort) => startGatewayProcess({ dir, files: files(adminPort) }));
    const port = old.port("api");
    const mint = async (sub: string, groups: string) => (await runCli(["token", "--state-dir", join(dir, "state"), "--sub", sub, "--groups", groups, "--ttl", "15m"])).stdout.trim();
    const approver = await mint("bob", "approvers");
    const pending = await runCli(["requests", "--config", dir, "--ids"], { env: { GATEHOUSE_TOKEN: approver } });
    expect(pending.stderr).toBe("");
    expect(pending.stdout).toBe("apr_oldpending\n");
    const dave = await mint("dave", "developers");
    const r = await fetch(`http://127.0.0.1:${port}/api/orders/10`, { method: "POST", headers: { authorization: `Bearer ${dave}` }, body: "{}" });
    expect(r.status).toBe(200);
    const approved = await runCli(["approve", "apr_oldpending", "--config", dir], { env: { GATEHOUSE_TOKEN: approver } });
    expect(approved.stderr).toBe("");
    expect(approved.stdout).toStartWith("approved apr_oldpending: carol's request POST /api/orders/9 on api runs this once");
    // verify reads the mixed log (old records, then new ones) as one intact chain.
    expect((await runCli(["verify", join(dir, "state/audit/audit.log")])).code).toBe(0);
  } finally {
    old?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

// The console's approvals, end to end against the compiled binary (dist/gatehouse): how long from
// a held request to its card on an approver's live stream (server-sent events), from the decision
// (the POST a click on "Approve once" sends) to the held client getting its answer, and the
// approvals page's load with many requests waiting. An HTTP target holds POST /hold/N for review;
// the approver is logged in through the dev issuer's one-click login, as a browser would be.
// Gateway CPU time (utime+stime from /proc) is reported per decision beside the wall times.
//   bun bench/console-approvals-bench.ts [--rounds 200] [--waiting 50]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { runCli, startGatewayProcess } from "../test/helpers/gateway.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "200" }, waiting: { type: "string", default: "50" } } });
const rounds = Number(values.rounds);
const waiting = Number(values.waiting);

const upstream = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => Response.json({ ok: true }) });
const gw = await startGatewayProcess({
  files: {
    "gatehouse.yaml": `
gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:0" } }
audit: { path: ./state/audit/audit.log }
identity: { dev_issuer: true }
console: { issuer: dev }
targets:
  - { name: api, kind: http, listen: "127.0.0.1:0", upstream: "http://127.0.0.1:${upstream.port}" }
rules:
  - name: holds
    http: { methods: [POST], paths: ["/hold/**"] }
    effect: review
    approvers: [approvers]
    timeout: 10m
`,
  },
});
const admin = gw.adminUrl;
const api = `http://127.0.0.1:${gw.port("api")}`;
const token = (await runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "alice", "--groups", "developers", "--ttl", "2h"])).stdout.trim();

// Log in as bob (approvers) through the dev one-click login, and read the page's CSRF token.
const loginRes = await fetch(`${admin}/login/dev`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", origin: admin }, body: new URLSearchParams({ subject: "bob", groups: "approvers" }) });
const cookie = (loginRes.headers.get("set-cookie") ?? "").split(";")[0]!;
const page = await (await fetch(`${admin}/approvals`, { headers: { cookie, accept: "text/html" } })).text();
const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1]!;

// The approver's live stream: resolves waiters when a card with that approval id arrives.
const seen = new Map<string, (at: number) => void>();
const early = new Map<string, number>();
const sse = await fetch(`${admin}/approvals/events`, { headers: { cookie } });
void (async () => {
  const dec = new TextDecoder();
  let buf = "";
  // The stream ends with the gateway at the end of the run.
  for await (const chunk of (sse.body! as AsyncIterable<Uint8Array>)) {
    const at = performance.now();
    buf += dec.decode(chunk);
    let i: number;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith("event: upsert")) continue;
      const id = /"id":"req-(apr_[0-9a-f]+)"/.exec(ev)?.[1];
      if (!id) continue;
      const w = seen.get(id);
      if (w) w(at);
      else early.set(id, at);
    }
  }
})().catch(() => {});

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, clock ticks of 10 ms
}

/** Pending ids as the admin API lists them (the approval id is not in the caller's answer until it is decided). */
async function newPending(known: Set<string>): Promise<string> {
  for (;;) {
    const res = await fetch(`${admin}/v1/requests`, { headers: { authorization: `Bearer ${(await bobToken)}` } });
    const { requests } = (await res.json()) as { requests: { id: string }[] };
    const id = requests.map((r) => r.id).find((x) => !known.has(x));
    if (id) return id;
    await Bun.sleep(1);
  }
}
const bobToken = runCli(["token", "--state-dir", `${gw.dir}/state`, "--sub", "bob", "--groups", "approvers", "--ttl", "2h"]).then((r) => r.stdout.trim());

const toCard: number[] = [];
const toClient: number[] = [];
const toAnswer: number[] = [];
const known = new Set<string>();
const cpuBefore = cpuMs(gw.proc.pid);
for (let i = 0; i < rounds; i++) {
  const sent = performance.now();
  const client = fetch(`${api}/hold/${i}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });
  const id = await newPending(known);
  known.add(id);
  const cardAt = early.get(id) ?? (await new Promise<number>((r) => seen.set(id, r)));
  toCard.push(cardAt - sent);
  const t0 = performance.now();
  let clientAt = 0;
  const done = client.then((r) => ((clientAt = performance.now()), r.status));
  const answer = await fetch(`${admin}/approvals/${id}/approve`, { method: "POST", redirect: "manual", headers: { cookie, origin: admin, "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ _csrf: csrf }) });
  const answeredAt = performance.now();
  if (answer.status !== 303) throw new Error(`approve answered ${answer.status}: ${await answer.text()}`);
  if ((await done) !== 200) throw new Error("the client was not let through");
  toClient.push(clientAt - t0);
  toAnswer.push(answeredAt - t0);
}
const cpuPerDecision = (cpuMs(gw.proc.pid) - cpuBefore) / rounds;

// The page with `waiting` requests held at once.
const held = [...Array(waiting)].map((_, i) => fetch(`${api}/hold/page-${i}`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" }));
for (;;) {
  const res = await fetch(`${admin}/v1/requests`, { headers: { authorization: `Bearer ${await bobToken}` } });
  if (((await res.json()) as { requests: unknown[] }).requests.length >= waiting) break;
  await Bun.sleep(10);
}
const pageLoads: number[] = [];
let bytes = 0;
const cpuPage0 = cpuMs(gw.proc.pid);
for (let i = 0; i < 50; i++) {
  const t = performance.now();
  const text = await (await fetch(`${admin}/approvals`, { headers: { cookie, accept: "text/html" } })).text();
  pageLoads.push(performance.now() - t);
  bytes = text.length;
}
const cpuPerPage = (cpuMs(gw.proc.pid) - cpuPage0) / 50;

const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const ms = (x: number) => `${x.toFixed(2)} ms`;
console.log(`rounds: ${rounds} (one held request at a time)`);
console.log(`held request → card on the approver's live stream: median ${ms(q(toCard, 0.5))}, p95 ${ms(q(toCard, 0.95))}`);
console.log(`decision POST → held client has its answer:        median ${ms(q(toClient, 0.5))}, p95 ${ms(q(toClient, 0.95))}`);
console.log(`decision POST → console's answer (303):             median ${ms(q(toAnswer, 0.5))}, p95 ${ms(q(toAnswer, 0.95))}`);
console.log(`gateway CPU per held+decided request (both legs, listing, stream): ${ms(cpuPerDecision)}`);
console.log(`approvals page with ${waiting} waiting (${(bytes / 1024).toFixed(0)} KiB): median ${ms(q(pageLoads, 0.5))}, p95 ${ms(q(pageLoads, 0.95))}; gateway CPU ${ms(cpuPerPage)} per load`);

for (const h of held) void h.catch(() => {});
await gw.stop();
gw.cleanup();
upstream.stop(true);
process.exit(0);

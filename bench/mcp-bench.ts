// MCP tools/call through the gateway against the same server directly, in one run: round trips
// per second, the ratio, and the added median latency, on a trivial tool (server-everything's
// `echo` over Streamable HTTP, answered as SSE, the way the reference server answers). The
// gateway runs with what a real deployment has on: a policy (an allow rule for echo among
// others), masking of the result (detectors email, cloud_key, jwt, card) and the audit log.
// Sessions are opened first (initialize + initialized, not timed); then `--sessions` clients each
// send calls one after the other for `--seconds`. Rounds alternate direct and gateway, and a
// ratio is taken within each round (the machine's speed drifts); the table gives the medians
// with the range. CPU per call of the gateway process (all its threads, from /proc) and of the
// upstream is measured in each round: on a shared 2-core machine it is the steadier figure.
// Run: bun bench/mcp-bench.ts [--seconds 5] [--sessions 8] [--rounds 3]   (needs dist/gatehouse and node)
import { readdirSync, readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { startMcpGateway } from "../test/helpers/mcp-gateway.ts";
import { startEverythingHttp } from "../test/helpers/mcp-servers.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(flag("seconds", "5"));
const sessions = Number(flag("sessions", "8"));
const rounds = Number(flag("rounds", "3"));

const TICK_US = 1_000_000 / 100; // USER_HZ

/** CPU ticks (user + system) of all threads of a process. */
function ticks(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return total;
}

interface Session {
  readonly headers: Record<string, string>;
}

const accept = "application/json, text/event-stream";

async function openSession(url: string, token: string | null): Promise<Session> {
  const base: Record<string, string> = { "content-type": "application/json", accept };
  if (token) base["authorization"] = `Bearer ${token}`;
  const init = await fetch(url, {
    method: "POST",
    headers: base,
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } }),
  });
  const sid = init.headers.get("mcp-session-id");
  const text = await init.text();
  if (!init.ok || sid === null || !text.includes('"result"')) throw new Error(`initialize on ${url}: ${init.status} ${text.slice(0, 300)}`);
  const headers = { ...base, "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" };
  const ack = await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) });
  await ack.text();
  return { headers };
}

interface RoundResult {
  calls: number;
  perSecond: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  cpuUsPerCall: number;
  upstreamCpuUsPerCall: number;
  /** This process (the load generator, the agents' side). */
  clientCpuUsPerCall: number;
}

async function drive(url: string, ss: Session[], gatewayPid: number | null, upstreamPid: number): Promise<RoundResult> {
  const latencies: number[] = [];
  let errors = 0;
  const g0 = gatewayPid === null ? 0 : ticks(gatewayPid);
  const u0 = ticks(upstreamPid);
  const c0 = process.cpuUsage();
  const start = performance.now();
  const end = start + seconds * 1000;
  let id = 1;
  await Promise.all(
    ss.map(async (s) => {
      while (performance.now() < end) {
        const n = id++;
        const t0 = performance.now();
        const r = await fetch(url, { method: "POST", headers: s.headers, body: `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello ${n}"}}}` });
        const text = await r.text();
        latencies.push(performance.now() - t0);
        if (!r.ok || !text.includes(`Echo: hello ${n}`)) errors++;
      }
    }),
  );
  const wall = (performance.now() - start) / 1000;
  const c = process.cpuUsage(c0);
  const calls = latencies.length;
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(calls - 1, Math.floor(p * calls))] ?? Number.NaN;
  return {
    calls,
    perSecond: calls / wall,
    p50ms: q(0.5),
    p99ms: q(0.99),
    errors,
    cpuUsPerCall: gatewayPid === null ? Number.NaN : ((ticks(gatewayPid) - g0) * TICK_US) / calls,
    upstreamCpuUsPerCall: ((ticks(upstreamPid) - u0) * TICK_US) / calls,
    clientCpuUsPerCall: (c.user + c.system) / calls,
  };
}

const up = await startEverythingHttp("streamableHttp");
const g = await startMcpGateway({
  servers: [{ name: "everything", url: up.url }],
  rules: `
  - name: no-env
    mcp: { servers: [everything], tools: [get-env] }
    effect: deny
  - name: agents-read
    groups: [agents]
    mcp: { servers: [everything], tools: [echo, get-sum, get-structured-content] }
    effect: allow
    mask: { detectors: [email, cloud_key, jwt, card] }
`,
});
try {
  const token = await g.token("bench", ["agents"], "2h");
  const direct = await Promise.all(Array.from({ length: sessions }, () => openSession(up.url, null)));
  const gated = await Promise.all(Array.from({ length: sessions }, () => openSession(g.url("everything"), token)));
  // Warm both paths up.
  await drive(up.url, direct, null, up.proc.pid);
  await drive(g.url("everything"), gated, g.gw.proc.pid, up.proc.pid);

  const results: { direct: RoundResult; gateway: RoundResult }[] = [];
  for (let r = 0; r < rounds; r++) {
    const d = await drive(up.url, direct, null, up.proc.pid);
    const gw = await drive(g.url("everything"), gated, g.gw.proc.pid, up.proc.pid);
    results.push({ direct: d, gateway: gw });
  }

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const range = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
  console.log(`MCP tools/call (server-everything echo, Streamable HTTP/SSE), ${new Date().toISOString()}, Bun ${Bun.version}, ${cpus().length} CPU, load ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  console.log(`${sessions} sessions, ${seconds} s per path per round, ${rounds} rounds (direct, gateway alternating)\n`);
  console.log("| path | calls/s | p50 ms | p99 ms | errors | gateway CPU µs/call | upstream CPU µs/call | client CPU µs/call |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const path of ["direct", "gateway"] as const) {
    const rs = results.map((x) => x[path]);
    console.log(
      `| ${path} | ${range(rs.map((x) => x.perSecond))} | ${range(rs.map((x) => x.p50ms), 2)} | ${range(rs.map((x) => x.p99ms), 2)} | ${rs.reduce((t, x) => t + x.errors, 0)} | ${path === "gateway" ? range(rs.map((x) => x.cpuUsPerCall)) : "—"} | ${range(rs.map((x) => x.upstreamCpuUsPerCall))} | ${range(rs.map((x) => x.clientCpuUsPerCall))} |`,
    );
  }
  const ratios = results.map((x) => x.gateway.perSecond / x.direct.perSecond);
  const added = results.map((x) => x.gateway.p50ms - x.direct.p50ms);
  console.log(`\nratio gateway/direct (per round): ${range(ratios, 2)}   goal >= 0.75`);
  console.log(`added p50 latency (per round): ${range(added, 2)} ms`);
  // On a machine where the client, the gateway and the upstream share the CPUs, throughput is
  // bounded by the CPU all of them spend per call: this ratio holds whatever else runs there.
  const cpuRatio = results.map((x) => (x.direct.clientCpuUsPerCall + x.direct.upstreamCpuUsPerCall) / (x.gateway.clientCpuUsPerCall + x.gateway.upstreamCpuUsPerCall + x.gateway.cpuUsPerCall));
  console.log(`CPU-bound ratio, (client + upstream) direct / (client + upstream + gateway) through the gateway, per round: ${range(cpuRatio, 2)}`);
} finally {
  await g.stop();
  await up.stop();
}

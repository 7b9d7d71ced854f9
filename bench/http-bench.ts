// HTTP through the gateway (full policy and audit) against the same upstream directly, in one
// run, with wrk. Prints requests/s, the ratio, and the added median latency, for four upstream
// routes. On a Bun upstream: /api/items, a constant tiny JSON (the harshest case for any proxy),
// and /api/report, which builds a 50-row JSON report per call as an internal API would. On a
// fast Node.js `http` upstream (run with node, as a user's service would be): /fast/items, a
// tiny JSON the policy leaves alone, and /fast/users, ~2 KB of JSON whose e-mail addresses the
// policy masks. A bare Bun reverse proxy (Bun.serve + fetch and return, nothing else) is
// measured too: it is the ceiling of this runtime, and the gateway's goals are set against it.
// A second bare proxy, "bare Bun proxy, own client" (Bun.serve + the gateway's own keep-alive
// HTTP/1.1 client, src/gate/http1-client.ts, and nothing else), shows what that client alone
// gives, so the gateway's ratio can be read against both; the goals stay against the first.
// The machine's speed drifts by ±10% over minutes, so each route runs several rounds of
// direct, bare proxy and gateway back to back; a ratio is taken within each round, and the
// table gives the medians with the range of the per-round ratios.
// Peak RSS (VmHWM) of the gateway and of the bare proxy is printed at the end.
// --baseline BINARY runs a second gateway (another build, e.g. before a change) in the same
// rounds, as the path "baseline gateway": a before/after comparison on the same machine state.
// --strace adds, per route, one more wrk run per gateway with strace attached (slower, so not in
// the table): write(2) calls to the audit log, other writes, and fdatasyncs, per request.
// Run: bun bench/http-bench.ts [--seconds 10] [--connections 32] [--rounds 3] [--routes /api/items,/api/report,/fast/items,/fast/users] [--baseline BINARY] [--strace]
// (needs dist/gatehouse, wrk and node)
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, waitForPort } from "../test/helpers/ports.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(flag("seconds", "10"));
const connections = Number(flag("connections", "32"));
const rounds = Number(flag("rounds", "3"));
const routes = flag("routes", "/api/items,/api/report,/fast/items,/fast/users").split(",");
const baseline = flag("baseline", "");
const straceRuns = args.includes("--strace");
const BIN = resolve(import.meta.dir, "../dist/gatehouse");
// GATEHOUSE_BENCH_CMD runs the gateway another way, e.g. from source under the profiler:
// GATEHOUSE_BENCH_CMD="bun --cpu-prof-md --cpu-prof-dir=/tmp/prof src/main.ts"
const gatewayCommand = () => (process.env["GATEHOUSE_BENCH_CMD"] ? process.env["GATEHOUSE_BENCH_CMD"].split(" ").map((p, i) => (i > 0 && p.endsWith(".ts") ? resolve(p) : p)) : [BIN]);

const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
const upPort = await freePort();
const fastPort = await freePort();
const gwPort = await freePort();
const gwFastPort = await freePort();
const baseAdminPort = await freePort();
const baseGwPort = await freePort();
const baseGwFastPort = await freePort();
const adminPort = await freePort();

const proxyPort = await freePort();
const proxyFastPort = await freePort();
const ownProxyPort = await freePort();
const ownProxyFastPort = await freePort();
// The upstream and the bare proxy run in their own processes, as they would in production.
writeFileSync(
  join(dir, "upstream.ts"),
  `const rows = Array.from({ length: 50 }, (_, i) => ({ id: i, customer: "customer-" + i, region: ["eu", "us", "apac"][i % 3], amount: (i * 37.5) % 1000 }));
Bun.serve({ hostname: "127.0.0.1", port: ${upPort}, fetch(req) {
  if (new URL(req.url).pathname === "/api/report") {
    const out = rows.map((r) => ({ ...r, tax: Math.round(r.amount * 0.19 * 100) / 100, key: new Bun.CryptoHasher("sha256").update(r.customer + Date.now()).digest("hex") }));
    out.sort((a, b) => b.amount - a.amount);
    return Response.json({ generated: new Date().toISOString(), total: out.reduce((t, r) => t + r.amount, 0), rows: out });
  }
  return Response.json({ ok: true, items: [1, 2, 3] });
} });`,
);
// The fast upstream: Node.js http, bodies prepared once, so nearly all of a request's cost is
// the proxy's. /fast/users: 16 users, ~2 KB, every one with an e-mail address the policy masks.
const users = Array.from({ length: 16 }, (_, i) => ({ id: 1000 + i, name: `User Number ${i}`, email: `user${i}.name@example${i % 3}.com`, team: ["sales", "ops", "eng", "finance"][i % 4], active: i % 5 !== 0, score: Math.round(((i * 7919) % 1000) * 1.25) / 10 }));
writeFileSync(
  join(dir, "fast-upstream.mjs"),
  `import http from "node:http";
const items = Buffer.from(JSON.stringify({ ok: true, items: [1, 2, 3] }));
const users = Buffer.from(${JSON.stringify(JSON.stringify({ page: 1, total: users.length, users }))});
http.createServer((req, res) => {
  const body = req.url === "/fast/users" ? users : items;
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
}).listen(${fastPort}, "127.0.0.1");`,
);
const proxy = (port: number, upstreamPort: number) =>
  `Bun.serve({ hostname: "127.0.0.1", port: ${port}, async fetch(req) { const u = new URL(req.url); const r = await fetch("http://127.0.0.1:${upstreamPort}" + u.pathname + u.search, { method: req.method, headers: req.headers, body: req.body, decompress: false }); return new Response(r.body, { status: r.status, headers: r.headers }); } });`;
writeFileSync(join(dir, "bare-proxy.ts"), `${proxy(proxyPort, upPort)}\n${proxy(proxyFastPort, fastPort)}\n`);
// The same with the gateway's own client: request fields passed as they came (but the ones the
// client writes itself), the answer's fields as they came (but the hop-by-hop ones).
const ownProxy = (port: number, upstreamPort: number) =>
  `{ const pool = new Http1Pool({ host: "127.0.0.1", port: ${upstreamPort} }, { maxWhole: 64 * 1024 });
Bun.serve({ hostname: "127.0.0.1", port: ${port}, async fetch(req) {
  const u = new URL(req.url);
  let fields = "";
  req.headers.forEach((v, n) => { if (!SKIP.has(n)) fields += n + ": " + v + "\\r\\n"; });
  const a = await pool.request(req.method, u.pathname + u.search, fields);
  const h = new Headers();
  for (const [n, v] of a.headers) if (!HOP.has(n.toLowerCase())) h.append(n, v);
  return new Response(a.body ?? a.stream, { status: a.status, headers: h });
} }); }`;
writeFileSync(
  join(dir, "bare-own-proxy.ts"),
  `import { Http1Pool } from ${JSON.stringify(resolve(import.meta.dir, "../src/gate/http1-client.ts"))};
const SKIP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive"]);
const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"]);
${ownProxy(ownProxyPort, upPort)}
${ownProxy(ownProxyFastPort, fastPort)}
`,
);
const up = Bun.spawn([process.execPath, join(dir, "upstream.ts")], { stdout: "inherit", stderr: "inherit" });
const fastUp = Bun.spawn(["node", join(dir, "fast-upstream.mjs")], { stdout: "inherit", stderr: "inherit" });
const bare = Bun.spawn([process.execPath, join(dir, "bare-proxy.ts")], { stdout: "inherit", stderr: "inherit" });
const bareOwn = Bun.spawn([process.execPath, join(dir, "bare-own-proxy.ts")], { stdout: "inherit", stderr: "inherit" });
writeFileSync(
  join(dir, "gatehouse.yaml"),
  `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:${adminPort} } }
audit: { path: ./state/audit/audit.log, durability: batch }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: 127.0.0.1:${gwPort}, upstream: "http://127.0.0.1:${upPort}", headers: { Authorization: "Bearer upstream" } }
  - { name: fast, kind: http, listen: 127.0.0.1:${gwFastPort}, upstream: "http://127.0.0.1:${fastPort}", headers: { Authorization: "Bearer upstream" } }
rules:
  - { name: deny-admin, http: { paths: ["/admin/**"] }, effect: deny }
  - { name: read, groups: [bench], http: { methods: [GET], paths: ["/api/**", "/fast/**"] }, effect: allow }
  - { name: users-masked, groups: [bench], http: { methods: [GET], paths: ["/fast/users"] }, effect: allow, mask: { detectors: [email] } }
`,
);
const gw = Bun.spawn([...gatewayCommand(), "serve", "--config", join(dir, "gatehouse.yaml"), "--log-level", "warn"], { cwd: dir, stdout: "inherit", stderr: "inherit" });
// The baseline gateway: the same configuration on its own ports and audit log, the same state
// folder (so the same dev-issuer key accepts the same token).
const base = baseline
  ? (() => {
      const yaml = readFileSync(join(dir, "gatehouse.yaml"), "utf8")
        .replace(`127.0.0.1:${adminPort}`, `127.0.0.1:${baseAdminPort}`)
        .replace(`127.0.0.1:${gwPort}`, `127.0.0.1:${baseGwPort}`)
        .replace(`127.0.0.1:${gwFastPort}`, `127.0.0.1:${baseGwFastPort}`)
        .replace("./state/audit/audit.log", "./state/baseline-audit/audit.log");
      writeFileSync(join(dir, "baseline.yaml"), yaml);
      return Bun.spawn([resolve(baseline), "serve", "--config", join(dir, "baseline.yaml"), "--log-level", "warn"], { cwd: dir, stdout: "inherit", stderr: "inherit" });
    })()
  : null;
await Promise.all([upPort, fastPort, gwPort, gwFastPort, proxyPort, proxyFastPort, ownProxyPort, ownProxyFastPort, ...(base ? [baseGwPort, baseGwFastPort] : [])].map((p) => waitForPort(p)));
const token = (await new Response(Bun.spawn([BIN, "token", "--state-dir", join(dir, "state"), "--sub", "bench", "--groups", "bench"], { stdout: "pipe", stderr: "ignore" }).stdout).text()).trim();

interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: string;
  /** CPU µs per request of the process serving the port (its main thread; all its threads), when it is ours. */
  mainUs: number;
  allUs: number;
}

const TICK_US = 1_000_000 / 100; // USER_HZ: /proc counts CPU time in 1/100 s

/** CPU ticks (user + system) of each thread of a process, from /proc (what earlier sessions measured). */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(tid, Number(f[11]) + Number(f[12])); // utime, stime (fields 14 and 15)
    } catch {
      // a thread that ended meanwhile
    }
  }
  return out;
}

async function wrk(url: string, pid?: number): Promise<WrkResult> {
  const before = pid === undefined ? null : threadTicks(pid);
  const p = Bun.spawn(["wrk", "-t", "1", "-c", String(connections), "-d", `${seconds}s`, "--latency", "-H", `Authorization: Bearer ${token}`, url], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? "0");
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}\\s+([0-9.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out)?.[0] ?? "none";
  let mainUs = Number.NaN;
  let allUs = Number.NaN;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? "0");
  if (pid !== undefined && before !== null && requests > 0) {
    const after = threadTicks(pid);
    let all = 0;
    for (const [tid, t] of after) all += t - (before.get(tid) ?? 0);
    mainUs = (((after.get(String(pid)) ?? 0) - (before.get(String(pid)) ?? 0)) * TICK_US) / requests;
    allUs = (all * TICK_US) / requests;
  }
  return { rps, p50ms: ms("50%"), p99ms: ms("99%"), errors, mainUs, allUs };
}

/**
 * One wrk run with strace attached to a gateway (all its threads): its write-like calls and
 * fsyncs per request, the writes split by whether their descriptor is the audit log.
 */
async function syscallsPerRequest(url: string, pid: number): Promise<string> {
  const out = join(dir, `strace-${pid}.txt`);
  const st = Bun.spawn(["strace", "-f", "-qq", "-e", "trace=write,writev,pwrite64,fdatasync,fsync,sendto,sendmsg", "-o", out, "-p", String(pid)], { stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(500); // strace attaches to every thread
  const p = Bun.spawn(["wrk", "-t", "1", "-c", String(connections), "-d", `${seconds}s`, "-H", `Authorization: Bearer ${token}`, url], { stdout: "pipe", stderr: "pipe" });
  const text = await new Response(p.stdout).text();
  st.kill("SIGINT");
  await st.exited;
  const requests = Number(/(\d+) requests in/.exec(text)?.[1] ?? "0");
  const auditFds = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (/audit[^/]*\/audit\.log/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))) auditFds.add(fd);
    } catch {
      // closed meanwhile
    }
  }
  const counts = { audit: 0, other: 0, fdatasync: 0, send: 0 };
  for (const line of readFileSync(out, "utf8").split("\n")) {
    const m = /^\d+\s+(?:<\.\.\. )?(\w+)\(?(\d+)?/.exec(line);
    if (!m || line.includes("resumed>")) continue;
    const [, call, fd] = m;
    if (call === "fdatasync" || call === "fsync") counts.fdatasync++;
    else if (call === "sendto" || call === "sendmsg") counts.send++;
    else if (fd !== undefined && auditFds.has(fd)) counts.audit++;
    else counts.other++;
  }
  const per = (n: number) => (requests > 0 ? (n / requests).toFixed(3) : "?");
  return `${requests} requests under strace: write(2) to the audit log ${per(counts.audit)}/request, other write-like calls ${per(counts.other)}, send ${per(counts.send)}, fdatasync ${per(counts.fdatasync)}`;
}

/** Peak resident set (VmHWM) of a process, in MB. */
const peakRssMb = (pid: number) => {
  try {
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "NaN");
    return (kb / 1024).toFixed(0);
  } catch {
    return "?";
  }
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

try {
  console.log(`\nHTTP, wrk -t1 -c${connections} -d${seconds}s, GET with a dev-issuer token; gateway with full policy and batch audit (a decision record per call, each carrying the completion of the connection's previous request); ${rounds} rounds of the ${base ? "five" : "four"} paths back to back after a warm-up round; medians, and the range of the per-round ratios; load average at start ${loadavg().map((l) => l.toFixed(1)).join(" ")}\n`);
  console.log("| route | path | requests/s | p50 | p99 | ratio to direct | range | ratio to bare proxy | range | ratio to bare proxy, own client | range | added p50 over bare proxy | CPU µs/request, main thread (all threads) | errors |");
  console.log("|---|---|---:|---:|---:|---:|---|---:|---|---:|---|---:|---:|---|");
  for (const route of routes) {
    const fast = route.startsWith("/fast/");
    const paths: Record<string, number> = {
      direct: fast ? fastPort : upPort,
      "bare Bun proxy": fast ? proxyFastPort : proxyPort,
      "bare Bun proxy, own client": fast ? ownProxyFastPort : ownProxyPort,
      gateway: fast ? gwFastPort : gwPort,
    };
    if (base) paths["baseline gateway"] = fast ? baseGwFastPort : baseGwPort;
    const runs: Record<string, WrkResult[]> = Object.fromEntries(Object.keys(paths).map((name) => [name, []]));
    for (const port of Object.values(paths)) await wrk(`http://127.0.0.1:${port}${route}`); // warm up
    // The processes whose CPU per request is measured: the proxies (each port's server).
    const pids: Record<string, number> = { "bare Bun proxy": bare.pid, "bare Bun proxy, own client": bareOwn.pid, gateway: gw.pid, ...(base ? { "baseline gateway": base.pid } : {}) };
    for (let i = 0; i < rounds; i++) for (const [name, port] of Object.entries(paths)) runs[name]!.push(await wrk(`http://127.0.0.1:${port}${route}`, pids[name]));
    const d = runs["direct"]!;
    const b = runs["bare Bun proxy"]!;
    const bo = runs["bare Bun proxy, own client"]!;
    const range = (xs: number[], digits = 2) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
    for (const name of Object.keys(paths)) {
      const rs = runs[name]!;
      const toDirect = rs.map((r, i) => r.rps / d[i]!.rps);
      const toBare = rs.map((r, i) => r.rps / b[i]!.rps);
      const toBareOwn = rs.map((r, i) => r.rps / bo[i]!.rps);
      // Added latency within each round, then the median of those.
      const addedP50 = median(rs.map((r, i) => r.p50ms - b[i]!.p50ms));
      const errors = rs.map((r) => r.errors).find((e) => e !== "none") ?? "none";
      const isGw = name.endsWith("gateway");
      console.log(
        `| ${route} | ${name} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50ms)).toFixed(3)} ms | ${median(rs.map((r) => r.p99ms)).toFixed(3)} ms | ${median(toDirect).toFixed(2)} | ${name === "direct" ? "" : range(toDirect)} | ${isGw ? median(toBare).toFixed(2) : ""} | ${isGw ? range(toBare) : ""} | ${isGw ? median(toBareOwn).toFixed(2) : ""} | ${isGw ? range(toBareOwn) : ""} | ${isGw ? `${addedP50.toFixed(3)} ms (${range(rs.map((r, i) => r.p50ms - b[i]!.p50ms), 3)})` : ""} | ${name === "direct" ? "" : `${median(rs.map((r) => r.mainUs)).toFixed(1)} (${median(rs.map((r) => r.allUs)).toFixed(1)})`} | ${errors} |`,
      );
    }
    if (straceRuns) {
      for (const [name, pid] of Object.entries(pids)) {
        if (name.endsWith("gateway")) console.log(`\n${route}, ${name}: ${await syscallsPerRequest(`http://127.0.0.1:${paths[name]}${route}`, pid)}\n`);
      }
    }
  }
  console.log(`\npeak RSS (VmHWM): gateway ${peakRssMb(gw.pid)} MB${base ? `, baseline gateway ${peakRssMb(base.pid)} MB` : ""}, bare Bun proxy ${peakRssMb(bare.pid)} MB, bare Bun proxy with own client ${peakRssMb(bareOwn.pid)} MB; load average at end ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  gw.kill("SIGTERM");
  base?.kill("SIGTERM");
  up.kill();
  fastUp.kill();
  bare.kill();
  bareOwn.kill();
  await gw.exited;
  await base?.exited;
  rmSync(dir, { recursive: true, force: true });
}

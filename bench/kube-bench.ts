// The Kubernetes target against the stand-in API server directly, in one run: `kubectl get pods`
// latency with hyperfine (both kubeconfigs carry a static bearer token, so no credential plugin
// runs), and list/get request loops with wrk over TLS (a 20-pod list and a single pod get). The
// gateway runs with full policy and batch audit: a decision and a request record per call.
// The stand-in runs in its own process, as an API server would. A bare TLS proxy (node:https,
// as the gateway serves, and fetch to the API server, nothing else) is measured too: the
// ceiling of a TLS-to-TLS proxy on this runtime. The machine's speed drifts, so
// wrk runs several rounds of direct then gateway back to back; ratios are taken within a round
// and the table gives medians and the range.
// Run: bun bench/kube-bench.ts [--seconds 10] [--connections 16] [--rounds 3] [--kubectl-runs 30]
//   [--baseline /tmp/gatehouse-before]: a second gateway from that binary, measured in the same
//   rounds (interleaved A/B), with the CPU time each gateway spent per request.
// (needs dist/gatehouse, wrk, hyperfine and kubectl)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, waitForPort } from "../test/helpers/ports.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(flag("seconds", "10"));
const connections = Number(flag("connections", "16"));
const rounds = Number(flag("rounds", "3"));
const kubectlRuns = Number(flag("kubectl-runs", "30"));
const baselineBin = flag("baseline", "");
// --requests list,get picks the wrk loops; --kubectl-runs 0 skips hyperfine (quicker profiling runs).
const requestKinds = flag("requests", "list,get").split(",");
const BIN = resolve(import.meta.dir, "../dist/gatehouse");
const gatewayCommand = () => (process.env["GATEHOUSE_BENCH_CMD"] ? process.env["GATEHOUSE_BENCH_CMD"].split(" ").map((p, i) => (i > 0 && p.endsWith(".ts") ? resolve(p) : p)) : [BIN]);

const dir = mkdtempSync(join(tmpdir(), "gatehouse-kube-bench-"));
const gwPort = await freePort();
const adminPort = await freePort();

// The stand-in API server in its own process; it writes where it listens and its credentials.
writeFileSync(
  join(dir, "apiserver.ts"),
  `import { startKubeApiServer } from ${JSON.stringify(resolve(import.meta.dir, "../test/helpers/kube-apiserver/index.ts"))};
const api = await startKubeApiServer({ namespaces: ["bench"] });
for (let i = 0; i < 20; i++) api.addPod("bench", "pod-" + i, { containers: ["app"], labels: { app: "bench" } });
await Bun.write(${JSON.stringify(join(dir, "api.json"))}, JSON.stringify({ url: api.url, port: api.port, token: api.token, caPem: api.caPem }));
setInterval(() => api.requests.splice(0), 1000); // the stand-in keeps every request: not here
`,
);
const apiProc = Bun.spawn([process.execPath, join(dir, "apiserver.ts")], { stdout: "inherit", stderr: "inherit" });
// Whatever fails from here, the stand-in does not outlive the benchmark.
process.on("exit", () => apiProc.kill());
let api: { url: string; port: number; token: string; caPem: string } | null = null;
for (let i = 0; i < 600 && api === null; i++) {
  try {
    api = JSON.parse(readFileSync(join(dir, "api.json"), "utf8"));
  } catch {
    await Bun.sleep(50);
  }
}
if (api === null) throw new Error("the stand-in API server did not start");
writeFileSync(join(dir, "upstream-ca.pem"), api.caPem);
const gatewayConfig = (port: number, admin: number) => `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:${admin} } }
audit: { path: ./state/audit/audit.log, durability: batch }
identity: { dev_issuer: true }
targets:
  - name: k8s
    kind: kubernetes
    listen: 127.0.0.1:${port}
    upstream: { url: ${api!.url}, ca: ./upstream-ca.pem, token: ${api!.token} }
rules:
  - { name: no-secrets, kubernetes: { resources: [secrets] }, effect: deny }
  - { name: read, groups: [bench], kubernetes: { verbs: [read], namespaces: [bench] }, effect: allow }
`;
writeFileSync(join(dir, "gatehouse.yaml"), gatewayConfig(gwPort, adminPort));
// The bare proxy: its own self-signed certificate, the gateway's upstream credential and CA.
Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "bare-key.pem"), "-out", join(dir, "bare-cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"], { stdout: "ignore", stderr: "ignore" });
const barePort = await freePort();
writeFileSync(
  join(dir, "bare-proxy.ts"),
  `import { createServer } from "node:https";
import { readFileSync } from "node:fs";
const ca = readFileSync(${JSON.stringify(join(dir, "upstream-ca.pem"))}, "utf8");
createServer({ key: readFileSync(${JSON.stringify(join(dir, "bare-key.pem"))}), cert: readFileSync(${JSON.stringify(join(dir, "bare-cert.pem"))}) }, async (req, res) => {
  const r = await fetch(${JSON.stringify(api.url)} + req.url, { headers: { authorization: "Bearer ${api.token}", accept: req.headers.accept ?? "application/json" }, tls: { ca } });
  const body = Buffer.from(await r.arrayBuffer());
  res.writeHead(r.status, { "content-type": r.headers.get("content-type") ?? "application/json", "content-length": body.length });
  res.end(body);
}).listen(${barePort}, "127.0.0.1");
`,
);
const bare = Bun.spawn([process.execPath, join(dir, "bare-proxy.ts")], { stdout: "inherit", stderr: "inherit" });
process.on("exit", () => bare.kill());
const gw = Bun.spawn([...gatewayCommand(), "serve", "--config", join(dir, "gatehouse.yaml"), "--log-level", "warn"], { cwd: dir, stdout: "inherit", stderr: "inherit" });
// The baseline gateway (--baseline): same config in its own folder (its own audit log and dev issuer).
const baseDir = join(dir, "baseline");
const basePort = await freePort();
let baseGw: ReturnType<typeof Bun.spawn> | null = null;
if (baselineBin !== "") {
  Bun.spawnSync(["mkdir", "-p", baseDir]);
  writeFileSync(join(baseDir, "upstream-ca.pem"), api.caPem);
  writeFileSync(join(baseDir, "gatehouse.yaml"), gatewayConfig(basePort, await freePort()));
  baseGw = Bun.spawn([baselineBin, "serve", "--config", join(baseDir, "gatehouse.yaml"), "--log-level", "warn"], { cwd: baseDir, stdout: "inherit", stderr: "inherit" });
  process.on("exit", () => baseGw?.kill());
  await waitForPort(basePort);
}
await waitForPort(gwPort);
await waitForPort(barePort);
const tokenFor = async (state: string) => (await new Response(Bun.spawn([BIN, "token", "--state-dir", state, "--sub", "bench", "--groups", "bench", "--ttl", "4h"], { stdout: "pipe", stderr: "ignore" }).stdout).text()).trim();
const token = await tokenFor(join(dir, "state"));
const baseToken = baseGw !== null ? await tokenFor(join(baseDir, "state")) : "";

const kubeconfig = (name: string, server: string, bearer: string, ca: string | null) => {
  const path = join(dir, `kubeconfig-${name}`);
  writeFileSync(
    path,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", ${ca ? `certificate-authority: "${ca}"` : "insecure-skip-tls-verify: true"} } }]
users: [{ name: u, user: { token: "${bearer}" } }]
contexts: [{ name: x, context: { cluster: c, user: u, namespace: bench } }]
current-context: x
`,
  );
  return path;
};
const direct = { name: "direct", port: api.port, bearer: api.token, config: kubeconfig("direct", api.url, api.token, join(dir, "upstream-ca.pem")) };
const gateway = { name: "gateway", port: gwPort, bearer: token, config: kubeconfig("gateway", `https://127.0.0.1:${gwPort}`, token, null) };
const bareProxy = { name: "bare TLS proxy", port: barePort, bearer: "unused" };
const baseline = { name: "baseline gateway", port: basePort, bearer: baseToken };
// CPU time (user + system) a process (all its threads) or one thread has used, in ms (clock ticks of 10 ms).
const cpuMs = (pid: number, tid?: number) => {
  const f = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
};
const pidOf: Record<string, number> = { gateway: gw.pid, "bare TLS proxy": bare.pid, ...(baseGw !== null ? { "baseline gateway": baseGw.pid } : {}) };

interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: string;
  /** CPU ms the proxy spent per 1000 requests, all its threads (proxies only). */
  cpuPerK?: number;
  /** The same, its main thread only. */
  mainPerK?: number;
}

async function wrk(url: string, bearer: string): Promise<WrkResult> {
  const p = Bun.spawn(["wrk", "-t", "1", "-c", String(connections), "-d", `${seconds}s`, "--latency", "-H", `Authorization: Bearer ${bearer}`, "-H", "Accept: application/json", url], { stdout: "pipe", stderr: "pipe" });
  const out = await new Response(p.stdout).text();
  await p.exited;
  const ms = (label: string) => {
    const m = new RegExp(`\\s${label}\\s+([0-9.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === "us" ? v / 1000 : m[2] === "s" ? v * 1000 : v;
  };
  return { rps: Number(/Requests\/sec:\s+([0-9.]+)/.exec(out)?.[1] ?? "0"), p50ms: ms("50%"), p99ms: ms("99%"), errors: /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(out)?.[0] ?? "none" };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const range = (xs: number[], digits = 2) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
const peakRssMb = (pid: number) => (Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "NaN") / 1024).toFixed(0);

try {
  console.log(`\nKubernetes, load average at start ${loadavg().map((l) => l.toFixed(1)).join(" ")}\n`);
  // kubectl get pods: a whole kubectl run (start, discovery from its cache, the Table list).
  if (kubectlRuns > 0) {
    const cache = join(dir, "kube-cache");
    const cmd = (p: typeof direct) => `kubectl --kubeconfig ${p.config} --cache-dir ${cache}-${p.name} get pods`;
    const hf = Bun.spawn(["hyperfine", "-N", "-w", "3", "-r", String(kubectlRuns), "--export-json", join(dir, "hyperfine.json"), cmd(direct), cmd(gateway)], { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: dir } });
    await hf.exited;
    const results = (JSON.parse(readFileSync(join(dir, "hyperfine.json"), "utf8")) as { results: { command: string; mean: number; median: number; min: number; stddev: number }[] }).results;
    console.log(`\`kubectl get pods\` (20 pods), hyperfine -N -w 3 -r ${kubectlRuns}:\n`);
    console.log("| path | median | mean ± σ | min |");
    console.log("|---|---:|---:|---:|");
    for (const [i, r] of results.entries()) console.log(`| ${i === 0 ? "direct" : "gateway"} | ${(r.median * 1000).toFixed(1)} ms | ${(r.mean * 1000).toFixed(1)} ± ${(r.stddev * 1000).toFixed(1)} ms | ${(r.min * 1000).toFixed(1)} ms |`);
    console.log(`\nadded median: ${((results[1]!.median - results[0]!.median) * 1000).toFixed(1)} ms per kubectl run\n`);
  }

  console.log(`wrk -t1 -c${connections} -d${seconds}s over TLS, ${rounds} rounds of direct, bare TLS proxy and gateway back to back after a warm-up; medians and range of per-round ratios:\n`);
  console.log("| request | path | requests/s | p50 | p99 | ratio to direct | range | added p50 | CPU ms per 1000 requests, all threads (main thread) | errors |");
  console.log("|---|---|---:|---:|---:|---:|---|---:|---:|---|");
  for (const [label, path] of (
    [
      ["list", "list 20 pods", "/api/v1/namespaces/bench/pods"],
      ["get", "get 1 pod", "/api/v1/namespaces/bench/pods/pod-7"],
    ] as const
  )
    .filter(([kind]) => requestKinds.includes(kind))
    .map(([, label, path]) => [label, path] as const)) {
    const paths = baseGw !== null ? [direct, bareProxy, baseline, gateway] : [direct, bareProxy, gateway];
    for (const p of paths) await wrk(`https://127.0.0.1:${p.port}${path}`, p.bearer);
    const runs: Record<string, WrkResult[]> = Object.fromEntries(paths.map((p) => [p.name, []]));
    for (let i = 0; i < rounds; i++)
      for (const p of i % 2 === 0 ? paths : [...paths.slice(0, 2), ...paths.slice(2).reverse()]) {
        const pid = pidOf[p.name];
        const before = pid !== undefined ? cpuMs(pid) : 0;
        const beforeMain = pid !== undefined ? cpuMs(pid, pid) : 0;
        const r = await wrk(`https://127.0.0.1:${p.port}${path}`, p.bearer);
        if (pid !== undefined) {
          r.cpuPerK = ((cpuMs(pid) - before) / (r.rps * seconds)) * 1000;
          r.mainPerK = ((cpuMs(pid, pid) - beforeMain) / (r.rps * seconds)) * 1000;
        }
        runs[p.name]!.push(r);
      }
    const d = runs["direct"]!;
    for (const name of paths.map((p) => p.name)) {
      const rs = runs[name]!;
      const ratio = rs.map((r, i) => r.rps / d[i]!.rps);
      const added = rs.map((r, i) => r.p50ms - d[i]!.p50ms);
      const errors = rs.map((r) => r.errors).find((e) => e !== "none") ?? "none";
      console.log(`| ${label} | ${name} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50ms)).toFixed(2)} ms | ${median(rs.map((r) => r.p99ms)).toFixed(2)} ms | ${median(ratio).toFixed(2)} | ${name === "direct" ? "" : range(ratio)} | ${name === "direct" ? "" : `${median(added).toFixed(2)} ms (${range(added)})`} | ${rs[0]!.cpuPerK !== undefined ? `${median(rs.map((r) => r.cpuPerK!)).toFixed(0)} (${range(rs.map((r) => r.cpuPerK!), 0)}), main ${median(rs.map((r) => r.mainPerK!)).toFixed(0)}` : ""} | ${errors} |`);
    }
  }
  console.log(`\npeak RSS (VmHWM): gateway ${peakRssMb(gw.pid)} MB, bare TLS proxy ${peakRssMb(bare.pid)} MB, stand-in API server ${peakRssMb(apiProc.pid)} MB; load average at end ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  gw.kill("SIGTERM");
  baseGw?.kill("SIGTERM");
  apiProc.kill();
  bare.kill();
  await gw.exited;
  rmSync(dir, { recursive: true, force: true });
}

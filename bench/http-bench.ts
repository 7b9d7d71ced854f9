// HTTP through the gateway (full policy and audit) against the same upstream directly, in one
// run, with wrk. Prints requests/s, the ratio, and the added median latency.
// Run: bun bench/http-bench.ts [--seconds 10] [--connections 32]   (needs dist/gatehouse and wrk)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, waitForPort } from "../test/helpers/ports.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(flag("seconds", "10"));
const connections = Number(flag("connections", "32"));
const BIN = resolve(import.meta.dir, "../dist/gatehouse");
// GATEHOUSE_BENCH_CMD runs the gateway another way, e.g. from source under the profiler:
// GATEHOUSE_BENCH_CMD="bun --cpu-prof-md --cpu-prof-dir=/tmp/prof src/main.ts"
const gatewayCommand = () => (process.env["GATEHOUSE_BENCH_CMD"] ? process.env["GATEHOUSE_BENCH_CMD"].split(" ").map((p, i) => (i > 0 && p.endsWith(".ts") ? resolve(p) : p)) : [BIN]);

const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
const upPort = await freePort();
const gwPort = await freePort();
const adminPort = await freePort();

// The upstream runs in its own process so that it does not share a core with the client.
writeFileSync(
  join(dir, "upstream.ts"),
  `Bun.serve({ hostname: "127.0.0.1", port: ${upPort}, fetch: () => Response.json({ ok: true, items: [1, 2, 3] }) });`,
);
const up = Bun.spawn([process.execPath, join(dir, "upstream.ts")], { stdout: "inherit", stderr: "inherit" });
writeFileSync(
  join(dir, "gatehouse.yaml"),
  `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:${adminPort} } }
audit: { path: ./state/audit/audit.log, durability: batch }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: 127.0.0.1:${gwPort}, upstream: "http://127.0.0.1:${upPort}", headers: { Authorization: "Bearer upstream" } }
rules:
  - { name: deny-admin, http: { paths: ["/admin/**"] }, effect: deny }
  - { name: read, groups: [bench], http: { methods: [GET], paths: ["/api/**"] }, effect: allow }
`,
);
const gw = Bun.spawn([...gatewayCommand(), "serve", "--config", join(dir, "gatehouse.yaml"), "--log-level", "warn"], { cwd: dir, stdout: "inherit", stderr: "inherit" });
await Promise.all([waitForPort(upPort), waitForPort(gwPort)]);
const token = (await new Response(Bun.spawn([BIN, "token", "--state-dir", join(dir, "state"), "--sub", "bench", "--groups", "bench"], { stdout: "pipe", stderr: "ignore" }).stdout).text()).trim();

interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: string;
}

async function wrk(url: string): Promise<WrkResult> {
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
  return { rps, p50ms: ms("50%"), p99ms: ms("99%"), errors };
}

try {
  // Warm both paths, then measure direct and gateway back to back, twice, and keep the best of each.
  await wrk(`http://127.0.0.1:${upPort}/api/items`);
  await wrk(`http://127.0.0.1:${gwPort}/api/items`);
  const direct: WrkResult[] = [];
  const gateway: WrkResult[] = [];
  for (let i = 0; i < 2; i++) {
    direct.push(await wrk(`http://127.0.0.1:${upPort}/api/items`));
    gateway.push(await wrk(`http://127.0.0.1:${gwPort}/api/items`));
  }
  const best = (rs: WrkResult[]) => rs.reduce((a, b) => (b.rps > a.rps ? b : a));
  const d = best(direct);
  const g = best(gateway);
  console.log(`\nHTTP, wrk -t1 -c${connections} -d${seconds}s, GET with a dev-issuer token, batch audit (2 decision+request records per call)\n`);
  console.log("| path | requests/s | p50 | p99 | errors |");
  console.log("|---|---:|---:|---:|---|");
  console.log(`| direct | ${d.rps.toFixed(0)} | ${d.p50ms.toFixed(3)} ms | ${d.p99ms.toFixed(3)} ms | ${d.errors} |`);
  console.log(`| gateway | ${g.rps.toFixed(0)} | ${g.p50ms.toFixed(3)} ms | ${g.p99ms.toFixed(3)} ms | ${g.errors} |`);
  console.log(`\nratio gateway/direct: ${(g.rps / d.rps).toFixed(2)}; added median latency: ${(g.p50ms - d.p50ms).toFixed(3)} ms`);
} finally {
  gw.kill("SIGTERM");
  up.kill();
  await gw.exited;
  rmSync(dir, { recursive: true, force: true });
}

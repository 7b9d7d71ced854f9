// PostgreSQL in one run, on one database, with full policy and audit on: pgbench -S with 1 and
// 8 clients, simple and prepared protocol, directly, through pgbouncer (session pooling) and
// through the gateway; then a 10-million-row SELECT with a masked column, direct vs gateway,
// with the gateway's peak memory. Prints markdown tables with tps and ratios. A bare Bun TCP
// relay (bytes copied both ways, nothing else) runs too: the ceiling of any relay written on
// this runtime.
// Run: bun bench/pg-bench.ts [--seconds 10] [--rows 10000000] [--clients 1,8] [--modes simple,prepared] [--baseline BINARY] [--stand]
// (needs dist/gatehouse; --rows 0 skips the large SELECT). --baseline runs a second gateway (another
// build, e.g. before a change) on its own ports and audit log, measured in the same rounds right
// after the gateway: a before/after comparison on the same machine state.
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, waitForPort } from "../test/helpers/ports.ts";
import { startPostgres } from "../test/helpers/postgres.ts";
import { fixtureSql } from "../test/helpers/fixtures.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const seconds = Number(flag("seconds", "10"));
const rows = Number(flag("rows", "10000000")); // 0 skips the large SELECT
const clientCounts = flag("clients", "1,8").split(",").map(Number);
const modes = flag("modes", "simple,prepared").split(",");
const baseline = flag("baseline", "");
// --stand: start everything, print how to reach each path, and wait (for perf, strace, pgbench by hand).
const stand = args.includes("--stand");
const BIN = resolve(import.meta.dir, "../dist/gatehouse");
// GATEHOUSE_BENCH_CMD runs the gateway another way, e.g. from source under the profiler:
// GATEHOUSE_BENCH_CMD="bun --cpu-prof-md --cpu-prof-dir=/tmp/prof src/main.ts"
const gatewayCommand = () => (process.env["GATEHOUSE_BENCH_CMD"] ? process.env["GATEHOUSE_BENCH_CMD"].split(" ").map((p, i) => (i > 0 && p.endsWith(".ts") ? resolve(p) : p)) : [BIN]);

const pg = await startPostgres({ authMethod: "scram-sha-256" });
const dir = mkdtempSync(join(tmpdir(), "gatehouse-pgbench-"));
const bouncerPort = await freePort();
const gwPort = await freePort();
const adminPort = await freePort();
const relayPort = await freePort();
const baseGwPort = await freePort();
const baseAdminPort = await freePort();
const procs: { kill(sig?: number | NodeJS.Signals): void; exited: Promise<number> }[] = [];

async function run(cmd: string[], env: Record<string, string> = {}): Promise<string> {
  const p = Bun.spawn(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (code !== 0) throw new Error(`${cmd.join(" ")} failed (${code}):\n${err}${out}`);
  return out + err;
}

try {
  await run(["pgbench", "-i", "-q", "-s", "10", "-h", "127.0.0.1", "-p", String(pg.port), "-U", pg.user, pg.database], { PGPASSWORD: pg.password });

  // pgbouncer 1.18 from Debian, session pooling, SCRAM upstream. It runs as the postgres user,
  // so its files live in a folder that user owns.
  const bdir = join(dir, "pgbouncer");
  mkdirSync(bdir);
  const pgUid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const pgGid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  chownSync(dir, 0, 0);
  execFileSync("chmod", ["755", dir]);
  writeFileSync(join(bdir, "userlist.txt"), `"${pg.user}" "${pg.password}"\n`);
  writeFileSync(
    join(bdir, "pgbouncer.ini"),
    `[databases]\n${pg.database} = host=127.0.0.1 port=${pg.port} dbname=${pg.database} user=${pg.user} password=${pg.password}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${bouncerPort}\nauth_type = plain\nauth_file = ${join(bdir, "userlist.txt")}\npool_mode = session\nmax_client_conn = 100\ndefault_pool_size = 20\nunix_socket_dir =\nlogfile = ${join(bdir, "pgbouncer.log")}\n`,
  );
  for (const p of [bdir, join(bdir, "userlist.txt"), join(bdir, "pgbouncer.ini")]) chownSync(p, pgUid, pgGid);
  const bouncer = Bun.spawn(["runuser", "-u", "postgres", "--", "pgbouncer", join(bdir, "pgbouncer.ini")], { stdout: "ignore", stderr: "pipe" });
  procs.push(bouncer);

  // The bare relay: Bun.listen + Bun.connect, each side's bytes written to the other, with
  // backpressure. No parsing, no policy, no audit; the client authenticates to PostgreSQL itself.
  writeFileSync(
    join(dir, "bare-relay.ts"),
    `type S = import("bun").Socket<{ peer: S | null; queue: Uint8Array[] }>;
const send = (to: S, d: Uint8Array) => {
  if (to.data.queue.length > 0) { to.data.queue.push(d.slice()); return; }
  const n = to.write(d);
  if (n < d.byteLength) to.data.queue.push(d.slice(n));
};
const drain = (s: S) => {
  while (s.data.queue.length > 0) {
    const d = s.data.queue[0]!;
    const n = s.write(d);
    if (n < d.byteLength) { s.data.queue[0] = d.subarray(n); return; }
    s.data.queue.shift();
  }
};
Bun.listen<{ peer: S | null; queue: Uint8Array[] }>({ hostname: "127.0.0.1", port: ${relayPort}, socket: {
  open(c) {
    c.data = { peer: null, queue: [] };
    const early: Uint8Array[] = [];
    (c.data as any).early = early;
    Bun.connect<{ peer: S | null; queue: Uint8Array[] }>({ hostname: "127.0.0.1", port: ${pg.port}, socket: {
      open(u) { u.data = { peer: c as S, queue: [] }; c.data.peer = u as S; for (const d of early) send(u as S, d); },
      data(u, d) { send(u.data.peer!, d); },
      drain(u) { drain(u as S); },
      close(u) { u.data.peer?.end(); },
      error(u) { u.data.peer?.end(); },
    } }).catch(() => c.end());
  },
  data(c, d) { if (c.data.peer) send(c.data.peer, d); else (c.data as any).early.push(d.slice()); },
  drain(c) { drain(c as S); },
  close(c) { c.data.peer?.end(); },
  error(c) { c.data.peer?.end(); },
} });
`,
  );
  const relay = Bun.spawn([process.execPath, join(dir, "bare-relay.ts")], { stdout: "inherit", stderr: "inherit" });
  procs.push(relay);

  writeFileSync(
    join(dir, "gatehouse.yaml"),
    `
gateway: { state_dir: ./state, admin: { listen: 127.0.0.1:${adminPort} } }
audit: { path: ./state/audit/audit.log, durability: batch }
identity: { dev_issuer: true }
targets:
  - name: db
    kind: postgres
    listen: 127.0.0.1:${gwPort}
    upstream: { host: 127.0.0.1, port: ${pg.port}, database: ${pg.database}, user: ${pg.user}, password: "${pg.password}" }
rules:
  - name: bench-read
    groups: [bench]
    postgres: { classes: [read], tables: ["public.*", "pg_catalog.*"] }
    effect: allow
  - name: bench-session
    groups: [bench]
    postgres: { classes: [set, transaction] }
    effect: allow
  - name: masked-read
    groups: [bench]
    postgres: { classes: [read], tables: ["public.people"] }
    effect: allow
    mask: { columns: [email] }
`,
  );
  const gw = Bun.spawn([...gatewayCommand(), "serve", "--config", join(dir, "gatehouse.yaml"), "--log-level", "warn"], { cwd: dir, stdout: "inherit", stderr: "inherit" });
  procs.push(gw);
  // The baseline gateway: the same configuration on its own ports and audit log, the same state
  // folder (so the same dev issuer key and token).
  let base: ReturnType<typeof Bun.spawn> | null = null;
  if (baseline !== "") {
    const yaml = readFileSync(join(dir, "gatehouse.yaml"), "utf8")
      .replace(`listen: 127.0.0.1:${gwPort}`, `listen: 127.0.0.1:${baseGwPort}`)
      .replace(`listen: 127.0.0.1:${adminPort}`, `listen: 127.0.0.1:${baseAdminPort}`)
      .replace("./state/audit/audit.log", "./state/baseline-audit/audit.log");
    writeFileSync(join(dir, "baseline.yaml"), yaml);
    base = Bun.spawn([resolve(baseline), "serve", "--config", join(dir, "baseline.yaml"), "--log-level", "warn"], { cwd: dir, stdout: "inherit", stderr: "inherit" });
    procs.push(base);
  }
  await Promise.all([waitForPort(bouncerPort), waitForPort(gwPort), waitForPort(relayPort), ...(base !== null ? [waitForPort(baseGwPort)] : [])]);
  const token = (await run([BIN, "token", "--state-dir", join(dir, "state"), "--sub", "bench", "--groups", "bench", "--ttl", "2h"])).split("\n")[0]!.trim();

  const paths = {
    direct: { port: pg.port, password: pg.password },
    pgbouncer: { port: bouncerPort, password: pg.password },
    "bare Bun relay": { port: relayPort, password: pg.password },
    gateway: { port: gwPort, password: token },
    ...(base !== null ? { "baseline gateway": { port: baseGwPort, password: token } } : {}),
  } as Record<string, { port: number; password: string }>;
  // Main-thread CPU (user + system) of a process, in µs, from /proc (clock ticks of 10 ms).
  const mainCpuUs = (pid: number): number => {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10_000;
  };
  const cpuOf: Partial<Record<string, number>> = { "bare Bun relay": relay.pid, gateway: gw.pid, ...(base !== null ? { "baseline gateway": base.pid } : {}) };
  /** Main-thread µs per statement of the last tps() run through the relay or the gateway. */
  const perStatement: Record<string, number> = {};
  const tps = async (path: keyof typeof paths, clients: number, mode: string, secs = seconds) => {
    const { port, password } = paths[path]!;
    const pid = cpuOf[path];
    const cpu0 = pid === undefined ? 0 : mainCpuUs(pid);
    const out = await run(["pgbench", "-S", "-n", "-M", mode, "-c", String(clients), "-j", String(Math.min(clients, 2)), "-T", String(secs), "-h", "127.0.0.1", "-p", String(port), "-U", pg.user, pg.database], { PGPASSWORD: password });
    const n = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? "0");
    if (pid !== undefined && n > 0) perStatement[path] = (mainCpuUs(pid) - cpu0) / n;
    return Number(/tps = ([0-9.]+)/.exec(out)?.[1] ?? "0");
  };

  if (stand) {
    console.log(JSON.stringify({ dir, user: pg.user, database: pg.database, paths, pids: cpuOf }, null, 1));
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()).once("SIGTERM", () => resolve()));
    await cleanup();
    process.exit(0);
  }
  // A JIT runtime runs its first seconds slower: warm every path in every mode once, untimed,
  // so the first measured row does not carry the gateway's warm-up (pgbouncer and PostgreSQL
  // get the same runs).
  for (const path of Object.keys(paths) as (keyof typeof paths)[]) for (const mode of modes) await tps(path, 8, mode, 3).catch(() => 0);
  console.log(`\npgbench -S -T ${seconds}, scale 10, PostgreSQL 15 on loopback, 2 cores; full policy and batch audit on the gateway; every path warmed up first\n`);
  const baseHead = base !== null ? " baseline gateway tps | baseline/relay | baseline µs/statement | baseline/relay CPU |" : "";
  console.log(`| clients | protocol | direct tps | pgbouncer tps | bare Bun relay tps | gateway tps | relay/pgbouncer | gateway/direct | gateway/pgbouncer | gateway/relay | main-thread µs/statement relay | gateway | gateway/relay CPU |${baseHead}`);
  console.log(`|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|${base !== null ? "---:|---:|---:|---:|" : ""}`);
  for (const clients of clientCounts) {
    for (const mode of modes) {
      const d = await tps("direct", clients, mode);
      const b = await tps("pgbouncer", clients, mode);
      const r = await tps("bare Bun relay", clients, mode);
      const g = await tps("gateway", clients, mode);
      const bg = base !== null ? await tps("baseline gateway", clients, mode) : 0;
      const rc = perStatement["bare Bun relay"] ?? 0;
      const gc = perStatement["gateway"] ?? 0;
      const bc = perStatement["baseline gateway"] ?? 0;
      const baseCells = base !== null ? ` ${bg.toFixed(0)} | ${(bg / r).toFixed(2)} | ${bc.toFixed(1)} | ${(bc / rc).toFixed(2)} |` : "";
      console.log(
        `| ${clients} | ${mode} | ${d.toFixed(0)} | ${b.toFixed(0)} | ${r.toFixed(0)} | ${g.toFixed(0)} | ${(r / b).toFixed(2)} | ${(g / d).toFixed(2)} | ${(g / b).toFixed(2)} | ${(g / r).toFixed(2)} | ${rc.toFixed(1)} | ${gc.toFixed(1)} | ${(gc / rc).toFixed(2)} |${baseCells}`,
      );
    }
  }

  const rssNow = () => {
    const st = readFileSync(`/proc/${gw.pid}/status`, "utf8");
    return `RSS ${(Number(/VmRSS:\s+(\d+) kB/.exec(st)?.[1] ?? "0") / 1024).toFixed(0)} MB, peak ${(Number(/VmHWM:\s+(\d+) kB/.exec(st)?.[1] ?? "0") / 1024).toFixed(0)} MB`;
  };
  console.log(`\ngateway memory after the pgbench runs: ${rssNow()}`);
  if (rows > 0) {
  // The large masked SELECT: psql to /dev/null, timed end to end, with the gateway's peak RSS.
  await pg.psql(fixtureSql("people.sql", { schema: "public", rows }));
  const select = "SELECT id, email, note FROM public.people";
  const timeIt = async (port: number, password: string) => {
    const t0 = performance.now();
    await run(["sh", "-c", `psql -X -q -h 127.0.0.1 -p ${port} -U ${pg.user} -d ${pg.database} -c "${select}" > /dev/null`], { PGPASSWORD: password });
    return (performance.now() - t0) / 1000;
  };
  const direct = await timeIt(pg.port, pg.password);
  const through = await timeIt(gwPort, token);
  const status = readFileSync(`/proc/${gw.pid}/status`, "utf8");
  const peakMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0") / 1024;
  console.log(`\n${rows.toLocaleString("en")}-row SELECT with column email masked, psql to /dev/null\n`);
  console.log("| path | seconds | ratio | gateway peak RSS |");
  console.log("|---|---:|---:|---:|");
  console.log(`| direct | ${direct.toFixed(2)} | 1.00 | |`);
  console.log(`| gateway | ${through.toFixed(2)} | ${(through / direct).toFixed(2)} | ${peakMb.toFixed(0)} MB |`);
  }
} finally {
  await cleanup();
}

async function cleanup(): Promise<void> {
  for (const p of procs) p.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}

// Start-up time of the binary: `gatehouse version` (spawn to exit) and `gatehouse serve` with
// one HTTP target (spawn to the first TCP connection its listener accepts), each over many runs.
// The serve runs reuse one state folder (a restart: dev-issuer key and audit log exist); the
// first run, which creates them, is not counted. For serve it also gives the CPU time the
// process had used (all its threads) when it accepted, which the machine's load hardly changes.
// Runs alternate between the binaries given. The poll tries to connect every 0.5 ms, so a
// figure is late by at most that much.
// Run: bun bench/startup-bench.ts [--runs 40] [BINARY …]   (default dist/gatehouse)
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../test/helpers/ports.ts";

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 40;
// Absolute: serve runs in a temporary folder of its own.
const binaries = args.filter((a, i) => a !== "--runs" && i !== runsAt + 1).map((b) => resolve(b));
if (binaries.length === 0) binaries.push(resolve(import.meta.dir, "../dist/gatehouse"));

function tryConnect(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      done(true);
    });
    s.once("error", () => done(false));
  });
}

async function timeVersion(bin: string): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn([bin, "version"], { stdout: "ignore", stderr: "ignore" });
  await p.exited;
  return performance.now() - t0;
}

/**
 * CPU time (ms) all threads of `pid` have run so far, from /proc/PID/task/TID/schedstat (ns, per
 * thread): what a start costs, whatever else the machine is doing, unlike the wall time.
 */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return ns / 1e6;
}

async function timeServe(bin: string, dir: string, port: number): Promise<{ wall: number; cpu: number }> {
  const t0 = performance.now();
  const p = Bun.spawn([bin, "serve", "--config", join(dir, "gatehouse.yaml")], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  try {
    for (;;) {
      if (await tryConnect(port)) return { wall: performance.now() - t0, cpu: cpuMs(p.pid) };
      if (p.exitCode !== null) throw new Error(`serve exited (${p.exitCode}): ${await new Response(p.stderr).text()}`);
      if (performance.now() - t0 > 30_000) throw new Error("serve did not accept connections in 30 s");
      await Bun.sleep(0.5);
    }
  } finally {
    p.kill("SIGTERM");
    await p.exited;
  }
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
  return { min: s[0]!, median: q(0.5), p90: q(0.9), max: s[s.length - 1]! };
};
const ms = (x: number) => `${x.toFixed(1)} ms`;

interface Subject {
  readonly bin: string;
  readonly dir: string;
  readonly port: number;
  readonly version: number[];
  readonly serve: number[];
  readonly serveCpu: number[];
}

// Runs alternate between the binaries, so that a change in the machine's load (other processes
// on the same cores) falls on all of them alike.
const subjects: Subject[] = [];
try {
  for (const bin of binaries) {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-startup-"));
    const [port, admin, upstream] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(
      join(dir, "gatehouse.yaml"),
      `gateway: { state_dir: ./state, admin: { listen: "127.0.0.1:${admin}" } }
audit: { path: ./state/audit/audit.log, durability: batch }
identity: { dev_issuer: true }
targets:
  - { name: api, kind: http, listen: "127.0.0.1:${port}", upstream: "http://127.0.0.1:${upstream}" }
rules:
  - { name: read, http: { methods: [GET], paths: ["/**"] }, effect: allow }
`,
    );
    subjects.push({ bin, dir, port, version: [], serve: [], serveCpu: [] });
    await timeVersion(bin);
    await timeServe(bin, dir, port); // creates the state folder; not counted
  }
  for (let i = 0; i < runs; i++) {
    for (const s of subjects) {
      s.version.push(await timeVersion(s.bin));
      const t = await timeServe(s.bin, s.dir, s.port);
      s.serve.push(t.wall);
      s.serveCpu.push(t.cpu);
    }
  }
  console.log(`| binary | command | runs | min | median | p90 | max |`);
  console.log(`|---|---|---:|---:|---:|---:|---:|`);
  for (const s of subjects) {
    for (const [name, xs] of [["version", s.version], ["serve (HTTP target)", s.serve], ["serve: CPU time to accepting", s.serveCpu]] as const) {
      const st = stats(xs);
      console.log(`| ${s.bin.replace(`${process.cwd()}/`, "")} | ${name} | ${runs} | ${ms(st.min)} | ${ms(st.median)} | ${ms(st.p90)} | ${ms(st.max)} |`);
    }
  }
} finally {
  for (const s of subjects) rmSync(s.dir, { recursive: true, force: true });
}

// Start-up time of the binary: `gatehouse version` (spawn to exit) and `gatehouse serve` with
// one HTTP target (spawn to the first TCP connection its listener accepts), each over many runs.
// The serve runs reuse one state folder (a restart: dev-issuer key and audit log exist); the
// first run, which creates them, is not counted. The poll tries to connect every 0.5 ms, so a
// figure is late by at most that much.
// Run: bun bench/startup-bench.ts [--runs 40] [BINARY …]   (default dist/gatehouse)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../test/helpers/ports.ts";

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 40;
const binaries = args.filter((a, i) => a !== "--runs" && i !== runsAt + 1);
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

async function timeServe(bin: string, dir: string, port: number): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn([bin, "serve", "--config", join(dir, "gatehouse.yaml")], { cwd: dir, stdout: "ignore", stderr: "pipe" });
  try {
    for (;;) {
      if (await tryConnect(port)) return performance.now() - t0;
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

console.log(`| binary | command | runs | min | median | p90 | max |`);
console.log(`|---|---|---:|---:|---:|---:|---:|`);
for (const bin of binaries) {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-startup-"));
  try {
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
    await timeVersion(bin);
    await timeServe(bin, dir, port); // creates the state folder; not counted
    const version: number[] = [];
    const serve: number[] = [];
    for (let i = 0; i < runs; i++) {
      version.push(await timeVersion(bin));
      serve.push(await timeServe(bin, dir, port));
    }
    for (const [name, xs] of [["version", version], ["serve (HTTP target)", serve]] as const) {
      const s = stats(xs);
      console.log(`| ${bin.replace(`${process.cwd()}/`, "")} | ${name} | ${runs} | ${ms(s.min)} | ${ms(s.median)} | ${ms(s.p90)} | ${ms(s.max)} |`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

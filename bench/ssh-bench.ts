// SSH in one run, on one sshd, with recording on (exec output captured up to exec_output_limit,
// the hash of all of it kept): a 200 MB exec transfer each way (`cat > /dev/null` fed a file,
// `cat FILE` to /dev/null) with the real OpenSSH client; the round trip of a keystroke echoed by
// bash in a pty shell (ssh2 client library, one byte out, its echo back); connections per second
// (ssh … true, sequential and concurrent). Each directly to sshd, through an OpenSSH bastion (a
// second sshd whose ForceCommand runs ssh to the first: the peer that, like the gateway, ends one
// SSH connection and opens another) and through the gateway. Paths alternate inside each round,
// rounds repeat; prints markdown with MB/s, ratios to direct, the gateway's CPU and peak RSS.
// Run: bun bench/ssh-bench.ts [--rounds 3] [--seconds 5] [--mb 200] [--keys 500] [--concurrency 4]
//      [--cipher aes128-gcm@openssh.com] [--skip transfer,keys,conns] [--ssh2] [--gateway-env K=V,…]
//      [--baseline BINARY] (a second gateway from another build, e.g. main's, as a fourth path in the same rounds)
// (needs dist/gatehouse; runs as root, like test/helpers/sshd.ts, which makes the test user)
import { chmodSync, chownSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, type ConnectConfig } from "ssh2";
import { BINARY } from "../test/helpers/gateway.ts";
import { type SshGateway, sshGatewayYaml, sshLogin, startSshGateway, type SshGatewayOptions } from "../test/helpers/ssh-gateway.ts";
import { makeTempDir, startGatewayProcess } from "../test/helpers/gateway.ts";
import { type SshdInstance, startSshd } from "../test/helpers/sshd.ts";
import { within } from "../test/helpers/wait.ts";

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const rounds = Number(flag("rounds", "3"));
const seconds = Number(flag("seconds", "5"));
const mb = Number(flag("mb", "200"));
const keys = Number(flag("keys", "500"));
const concurrency = Number(flag("concurrency", "4"));
const cipher = flag("cipher", "");
const skip = new Set(flag("skip", "").split(",").filter(Boolean));
const withSsh2 = args.includes("--ssh2");
// --gateway-env K=V[,K=V]: the gateway's environment, e.g. MIMALLOC_PURGE_DELAY=-1 (see README).
const gatewayEnv = Object.fromEntries(flag("gateway-env", "").split(",").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
const baselineBinary = flag("baseline", "");
const BYTES = mb * 1024 * 1024;

type PathName = "direct" | "OpenSSH bastion" | "gateway" | "gateway (baseline)";
const PATHS: readonly PathName[] = ["direct", "OpenSSH bastion", "gateway", ...(baselineBinary ? (["gateway (baseline)"] as const) : [])];
const isGateway = (p: PathName) => p === "gateway" || p === "gateway (baseline)";

const TICK_US = 10_000; // /proc clock ticks (USER_HZ 100)
const statFields = (pid: number, task?: number) => {
  const s = readFileSync(task === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${task}/stat`, "utf8");
  return s.slice(s.lastIndexOf(")") + 2).split(" ");
};
/** CPU µs of a process, all threads (utime + stime). */
const cpuUs = (pid: number) => {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) * TICK_US;
};
const statusKb = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "0");
/**
 * CPU of the descendants of `root` (sshd's connection processes and what they run), sampled
 * every 20 ms while a transfer runs: sshd does not leave its children's CPU in its own cutime.
 * The last < 20 ms of a process that exits between two samples are missed.
 */
function descendantsCpu(root: number): { stop(): number } {
  const seen = new Map<number, number>();
  const walk = (pid: number) => {
    let kids: string[] = [];
    try {
      kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(" ").filter(Boolean);
    } catch {
      return;
    }
    for (const k of kids) {
      const kid = Number(k);
      try {
        seen.set(kid, cpuUs(kid));
      } catch {}
      walk(kid);
    }
  };
  walk(root);
  const base = new Map(seen);
  const timer = setInterval(() => walk(root), 20);
  return {
    stop() {
      walk(root);
      clearInterval(timer);
      let sum = 0;
      for (const [pid, us] of seen) sum += us - (base.get(pid) ?? 0);
      return sum / 1e6;
    },
  };
}
/** Resets VmHWM to the current RSS, so the next read is the peak since. */
const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, "5");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const range = (xs: number[], digits = 2) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;

const dir = mkdtempSync(join(tmpdir(), "gatehouse-sshbench-"));
chmodSync(dir, 0o755);
let sshd: SshdInstance | null = null;
let bastion: SshdInstance | null = null;
let g: SshGateway | null = null;
let gBase: SshGateway | null = null;

/** startSshGateway with another binary (--baseline). */
async function startBaselineGateway(sshd: SshdInstance, binary: string, opts: SshGatewayOptions): Promise<SshGateway> {
  const gdir = makeTempDir("gatehouse-ssh-baseline-");
  writeFileSync(join(gdir, "upstream_key"), sshd.clientKey, { mode: 0o600 });
  const gw = await startGatewayProcess({ dir: gdir, files: { "gatehouse.yaml": sshGatewayYaml(sshd, opts) }, ...(opts.env ? { env: opts.env } : {}), argvPrefix: ["sh", "-c", 'b="$1"; shift 2; exec "$b" "$@"', "sh", binary] });
  const port = gw.port("web");
  const hostPublicKey = readFileSync(join(gdir, "state/ssh/web/ssh_host_ed25519_key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
  const knownHosts = join(gdir, "known_hosts");
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  return { gw, port, knownHosts, hostPublicKey, target: "web" };
}

try {
  sshd = await startSshd();
  const sshdPid = Number(readFileSync(join(sshd.dir, "sshd.pid"), "utf8").trim());

  // The file to download: random bytes (nothing compresses them), readable by the test user.
  const blob = join(dir, `blob-${mb}M`);
  const fd = openSync(blob, "w");
  const chunk = randomBytes(4 * 1024 * 1024);
  for (let left = BYTES; left > 0; left -= chunk.length) writeSync(fd, chunk, 0, Math.min(left, chunk.length));
  closeSync(fd);
  chmodSync(blob, 0o644);

  const key = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const directKey = key("direct_key", sshd.clientKey);
  const directKnown = key("direct_known_hosts", `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);

  // The OpenSSH bastion: a second sshd whose ForceCommand logs in to the first with ssh, as the
  // test user (so its key and known_hosts belong to that user).
  const testUid = Number(execFileSync("id", ["-u", sshd.user]).toString().trim());
  const hopKey = key("hop_key", sshd.clientKey);
  const hopKnown = key("hop_known_hosts", `[127.0.0.1]:${sshd.port} ${sshd.hostPublicKey}\n`);
  for (const f of [hopKey, hopKnown]) chownSync(f, testUid, -1);
  const hopOpts = `-q -F /dev/null -i ${hopKey} -o IdentitiesOnly=yes -o UserKnownHostsFile=${hopKnown} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -p ${sshd.port}${cipher ? ` -c ${cipher}` : ""}`;
  const hop = join(dir, "bastion.sh");
  writeFileSync(
    hop,
    `#!/bin/sh\nK=\${APP_KEX:+-oKexAlgorithms=$APP_KEX}\nif [ -z "$SSH_ORIGINAL_COMMAND" ]; then exec ssh ${hopOpts} $K -tt ${sshd.user}@127.0.0.1; else exec ssh ${hopOpts} $K ${sshd.user}@127.0.0.1 "$SSH_ORIGINAL_COMMAND"; fi\n`,
    { mode: 0o755 },
  );
  bastion = await startSshd({ config: [`ForceCommand ${hop}`] });
  const bastionPid = Number(readFileSync(join(bastion.dir, "sshd.pid"), "utf8").trim());
  const bastionKey = key("bastion_key", bastion.clientKey);
  const bastionKnown = key("bastion_known_hosts", `[127.0.0.1]:${bastion.port} ${bastion.hostPublicKey}\n`);

  // The gateway: one ssh target in front of sshd, a machine identity that logs in with a key,
  // exec output captured up to 1 MiB per stream (the hash of all of it kept), batch audit.
  const botKey = join(dir, "bot_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "bench-bot", "-f", botKey]);
  const botPublic = readFileSync(`${botKey}.pub`, "utf8").trim();
  const gatewayOptions: SshGatewayOptions = {
    rules: `
  - name: bench
    groups: [bench]
    targets: [web]
    effect: allow
`,
    target: ["exec_output_limit: 1MiB"],
    env: gatewayEnv,
    identity: `machine_keys: [{ name: bench-bot, sha256: "${"b".repeat(64)}", groups: [bench], ssh_public_keys: ["${botPublic}"] }]`,
  };
  g = await startSshGateway(sshd, gatewayOptions);
  if (baselineBinary) gBase = await startBaselineGateway(sshd, baselineBinary, gatewayOptions);
  const gwPid = g.gw.proc.pid;
  const pidOf = (path: PathName) => (path === "gateway (baseline)" ? gBase!.gw.proc.pid : gwPid);
  const gwLogin = sshLogin(g, { keyFile: botKey });

  const common = ["-F", "/dev/null", "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", ...(cipher ? ["-c", cipher] : [])];
  const sshArgv: Record<PathName, string[]> = {
    direct: ["ssh", ...common, "-p", String(sshd.port), "-i", directKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${directKnown}`, `${sshd.user}@127.0.0.1`],
    "OpenSSH bastion": ["ssh", ...common, "-p", String(bastion.port), "-i", bastionKey, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", `UserKnownHostsFile=${bastionKnown}`, `${sshd.user}@127.0.0.1`],
    gateway: ["ssh", ...gwLogin.args, ...(cipher ? ["-c", cipher] : []), "bench@127.0.0.1"],
    "gateway (baseline)": gBase ? ["ssh", ...sshLogin(gBase, { keyFile: botKey }).args, ...(cipher ? ["-c", cipher] : []), "bench@127.0.0.1"] : [],
  };
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/root" };

  const ssh = async (path: PathName, command: string, io: { stdin?: string; stdout?: "pipe" | "ignore"; extra?: string[] } = {}) => {
    const argv = [...sshArgv[path]];
    if (io.extra) argv.splice(1, 0, ...io.extra);
    const p = Bun.spawn([...argv, command], { env, stdin: io.stdin ? Bun.file(io.stdin) : "ignore", stdout: io.stdout ?? "ignore", stderr: "pipe" });
    const [out, err, code] = await Promise.all([io.stdout === "pipe" ? new Response(p.stdout as ReadableStream).text() : Promise.resolve(""), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`${path}: ssh ${command} exited ${code}: ${err}`);
    const cpu = p.resourceUsage()?.cpuTime;
    return { out, err, clientCpuUs: cpu ? Number(cpu.total) : 0 };
  };

  // Which cipher and MAC each leg uses, from ssh -v.
  const negotiated: Record<string, string> = {};
  for (const path of PATHS) {
    const { err } = await ssh(path, "true", { extra: ["-v"] });
    const m = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(err);
    const k = /kex: algorithm: (\S+)/.exec(err);
    negotiated[path] = `${m ? `${m[1]}${m[2] === "<implicit>" ? "" : ` + ${m[2]}`}` : "?"}, kex ${k?.[1] ?? "?"}`;
  }

  console.log(`\n## SSH bench ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC, commit ${execFileSync("git", ["rev-parse", "--short", "HEAD"]).toString().trim()}, ${rounds} rounds, load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}\n`);
  console.log(`client: ${spawnSync("ssh", ["-V"], { encoding: "utf8" }).stderr.trim()}; gateway: ${execFileSync(BINARY, ["version"], { encoding: "utf8" }).trim()}${baselineBinary ? `; gateway (baseline): ${execFileSync(baselineBinary, ["version"], { encoding: "utf8" }).trim()}` : ""}`);
  if (Object.keys(gatewayEnv).length > 0) console.log(`gateway environment: ${JSON.stringify(gatewayEnv)}`);
  console.log(`caller-side cipher: ${PATHS.map((p) => `${p} ${negotiated[p]}`).join("; ")}${cipher ? ` (forced with -c ${cipher})` : ""}`);
  console.log("gateway → sshd: ssh2's choice, aes128-gcm@openssh.com (node:crypto), kex curve25519-sha256@libssh.org; bastion → sshd: OpenSSH's defaults unless --cipher\n");

  // ---- 200 MB transfers -------------------------------------------------------------------
  if (!skip.has("transfer")) {
    // Untimed check of each path and direction (and warm-up): the bytes arrive whole.
    const want = execFileSync("sha256sum", [blob]).toString().split(" ")[0];
    for (const path of PATHS) {
      const up = (await ssh(path, "wc -c", { stdin: blob, stdout: "pipe" })).out.trim();
      if (Number(up) !== BYTES) throw new Error(`${path}: upload arrived as ${up} bytes, not ${BYTES}`);
      const down = (await ssh(path, `sha256sum ${blob}`, { stdout: "pipe" })).out.split(" ")[0];
      if (down !== want) throw new Error(`${path}: sha256sum upstream differs`);
      const p = Bun.spawn(["sh", "-c", `"$@" | sha256sum`, "sh", ...sshArgv[path], `cat ${blob}`], { env, stdout: "pipe", stderr: "pipe" });
      const got = (await new Response(p.stdout).text()).split(" ")[0];
      if ((await p.exited) !== 0 || got !== want) throw new Error(`${path}: the download's sha256 ${got} is not the file's ${want}`);
    }
    type Sample = { mbs: number; clientCpu: number; sshdCpu: number; middleCpu?: number; gwPeakMb?: number; seconds: number };
    const samples: Record<string, Sample[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const dirn of ["upload", "download"] as const) {
        // Rotate the order each round so no path always runs first.
        const order = PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!);
        for (const path of order) {
          const upstreamCpu = descendantsCpu(sshdPid);
          const bastionCpu = descendantsCpu(bastionPid);
          const g0 = cpuUs(pidOf(path));
          if (isGateway(path)) resetPeak(pidOf(path));
          const t0 = performance.now();
          const res = dirn === "upload" ? await ssh(path, "cat > /dev/null", { stdin: blob }) : await ssh(path, `cat ${blob}`);
          const secs = (performance.now() - t0) / 1000;
          const g1 = cpuUs(pidOf(path));
          const peak = statusKb(pidOf(path), "VmHWM") / 1024;
          const sample: Sample = { mbs: mb / secs, clientCpu: res.clientCpuUs / 1e6, sshdCpu: upstreamCpu.stop(), seconds: secs };
          const bastionUsed = bastionCpu.stop();
          if (isGateway(path)) {
            sample.middleCpu = (g1 - g0) / 1e6;
            sample.gwPeakMb = peak;
          }
          if (path === "OpenSSH bastion") sample.middleCpu = bastionUsed;
          (samples[`${dirn}|${path}`] ??= []).push(sample);
        }
      }
    }
    console.log(`### ${mb} MB exec transfer, OpenSSH client (MB/s = MiB/s; each cell: median of ${rounds}, range)\n`);
    console.log("| direction | path | MB/s | ratio to direct (per round) | client ssh CPU s | upstream sshd CPU s | gateway or bastion CPU s (% of one core) | gateway peak RSS |");
    console.log("|---|---|---:|---:|---:|---:|---:|---:|");
    for (const dirn of ["upload", "download"]) {
      const direct = samples[`${dirn}|direct`]!;
      for (const path of PATHS) {
        const s = samples[`${dirn}|${path}`]!;
        const ratios = s.map((x, i) => x.mbs / direct[i]!.mbs);
        const gw = path !== "direct" ? `${median(s.map((x) => x.middleCpu!)).toFixed(2)} (${median(s.map((x) => (100 * x.middleCpu!) / x.seconds)).toFixed(0)}%)` : "";
        const peak = isGateway(path) ? `${Math.max(...s.map((x) => x.gwPeakMb!)).toFixed(0)} MB` : "";
        console.log(
          `| ${dirn} | ${path} | ${median(s.map((x) => x.mbs)).toFixed(1)} (${range(s.map((x) => x.mbs), 1)}) | ${path === "direct" ? "1.00" : `${median(ratios).toFixed(2)} (${range(ratios)})`} | ${median(s.map((x) => x.clientCpu)).toFixed(2)} | ${median(s.map((x) => x.sshdCpu)).toFixed(2)} | ${gw} | ${peak} |`,
        );
      }
    }
    console.log("\nCPU seconds per transfer. upstream sshd: the upstream's sshd processes and what they ran (cat), sampled every 20 ms from /proc; bastion: its sshd processes and the ssh they ran, the same way; gateway: all its threads.\n");
  }

  // ---- ssh2 client library download (optional) ------------------------------------------------
  const ssh2Config = (path: PathName): ConnectConfig => {
    const pin = (pub: string) => (k: Buffer) => k.equals(Buffer.from(pub.split(" ")[1]!, "base64"));
    if (path === "direct") return { host: "127.0.0.1", port: sshd!.port, username: sshd!.user, privateKey: sshd!.clientKey, hostVerifier: pin(sshd!.hostPublicKey) };
    if (path === "OpenSSH bastion") return { host: "127.0.0.1", port: bastion!.port, username: sshd!.user, privateKey: bastion!.clientKey, hostVerifier: pin(bastion!.hostPublicKey) };
    const gg = path === "gateway (baseline)" ? gBase! : g!;
    return { host: "127.0.0.1", port: gg.port, username: "bench", privateKey: readFileSync(botKey), hostVerifier: pin(gg.hostPublicKey) };
  };
  const connect = async (path: PathName) => {
    const c = new Client();
    const ready = new Promise<void>((resolve, reject) => {
      c.once("ready", () => resolve());
      c.once("error", reject);
    });
    c.connect(ssh2Config(path));
    await within(`the ssh2 client to log in (${path})`, ready, { timeoutMs: 30_000 });
    return c;
  };
  if (withSsh2 && !skip.has("transfer")) {
    const res: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const path of PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!)) {
        const c = await connect(path);
        const t0 = performance.now();
        const n = await new Promise<number>((resolve, reject) =>
          c.exec(`cat ${blob}`, (err, ch) => {
            if (err) return reject(err);
            let got = 0;
            ch.on("data", (d: Buffer) => (got += d.length));
            ch.on("close", () => resolve(got));
          }),
        );
        (res[path] ??= []).push(mb / ((performance.now() - t0) / 1000));
        c.end();
        if (n !== BYTES) throw new Error(`${path}: ssh2 download got ${n} bytes`);
      }
    }
    console.log(`### ${mb} MB download with the ssh2 client library (in the bench's process)\n`);
    console.log("| path | MB/s | ratio to direct |");
    console.log("|---|---:|---:|");
    for (const path of PATHS) console.log(`| ${path} | ${median(res[path]!).toFixed(1)} (${range(res[path]!, 1)}) | ${(median(res[path]!) / median(res["direct"]!)).toFixed(2)} |`);
    console.log();
  }

  // ---- keystroke echo -------------------------------------------------------------------------
  if (!skip.has("keys")) {
    // The real OpenSSH client with -tt: the remote side gets a pty (bash's readline echoes each
    // key itself), the local side is a pipe that hands ssh each byte as it is written. (The ssh2
    // client library cannot be used here: it waits for the answer to pty-req before it sends
    // `shell`, and the gateway answers pty-req only when the next request comes; see README.)
    const openShell = async (path: PathName) => {
      const argv = [...sshArgv[path]];
      argv.splice(1, 0, "-tt");
      const p = Bun.spawn(argv, { env, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
      let buf = "";
      let wake = null as (() => void) | null;
      void (async () => {
        for await (const d of p.stdout) {
          buf += Buffer.from(d).toString("latin1");
          wake?.();
        }
      })();
      const until = (ok: () => boolean, what: string) =>
        within(`${what} (${path})`, new Promise<void>((resolve) => {
          if (ok()) return resolve();
          wake = () => {
            if (ok()) {
              wake = null;
              resolve();
            }
          };
        }), { timeoutMs: 20_000 });
      const write = (s: string) => {
        p.stdin.write(s);
        void p.stdin.flush();
      };
      // A plain prompt, then wait for it (the echo of the command spells it RE''ADY, not READY).
      write("PS1='RE''ADY> '\n");
      await until(() => buf.includes("READY> "), "the shell's prompt");
      const close = async () => {
        write("exit\n");
        void p.stdin.end();
        await within(`ssh -tt to exit (${path})`, p.exited, { timeoutMs: 20_000 }).catch(() => p.kill());
      };
      return { write, close, until, reset: () => (buf = ""), seen: (s: string) => buf.includes(s) };
    };
    const lat: Record<string, number[]> = {};
    const p50s: Record<string, number[]> = {};
    for (let r = 0; r < rounds; r++) {
      for (const path of PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!)) {
        const sh = await openShell(path);
        const mine: number[] = [];
        const warm = 50;
        for (let i = 0; i < keys + warm; i++) {
          // "x" echoes as "x"; the backspace after it as "\b" and an erase: no "x" in it.
          sh.reset();
          const t0 = performance.now();
          sh.write("x");
          await sh.until(() => sh.seen("x"), "the echo of x");
          const dt = performance.now() - t0;
          if (i >= warm) mine.push(dt);
          sh.reset();
          sh.write("\x7f");
          await sh.until(() => sh.seen("\b"), "the echo of a backspace");
        }
        await sh.close();
        (lat[path] ??= []).push(...mine);
        (p50s[path] ??= []).push(median(mine));
      }
    }
    console.log(`### Keystroke echo in a bash shell with a pty (OpenSSH ssh -tt, keys written to its stdin; ${keys} keys per path per round, after 50 untimed)\n`);
    console.log("| path | p50 ms | p99 ms | per-round p50 | added p50 vs direct (per round) |");
    console.log("|---|---:|---:|---:|---:|");
    for (const path of PATHS) {
      const added = p50s[path]!.map((x, i) => x - p50s["direct"]![i]!);
      console.log(`| ${path} | ${median(lat[path]!).toFixed(3)} | ${pct(lat[path]!, 99).toFixed(3)} | ${range(p50s[path]!, 3)} | ${path === "direct" ? "" : `${(median(lat[path]!) - median(lat["direct"]!)).toFixed(3)} (${range(added, 3)})`} |`);
    }
    console.log();
  }

  // ---- connections per second -------------------------------------------------------------------
  if (!skip.has("conns")) {
    const res: Record<string, number[]> = {};
    const gwCpuPer: Partial<Record<PathName, number[]>> = {};
    // OpenSSH 9 clients offer sntrup761x25519-sha512 first (post-quantum; ssh2, so the gateway,
    // does not have it): the default, then curve25519-sha256 forced on every OpenSSH leg.
    const KEX = { default: [] as string[], curve25519: ["-o", "KexAlgorithms=curve25519-sha256", "-o", "SetEnv=APP_KEX=curve25519-sha256"] };
    for (let r = 0; r < rounds; r++) {
      for (const [kex, kexArgs] of Object.entries(KEX)) for (const conc of [1, concurrency]) {
        for (const path of PATHS.map((_, i) => PATHS[(i + r) % PATHS.length]!)) {
          const deadline = performance.now() + seconds * 1000;
          const g0 = cpuUs(pidOf(path));
          let n = 0;
          const t0 = performance.now();
          await Promise.all(
            Array.from({ length: conc }, async () => {
              while (performance.now() < deadline) {
                await ssh(path, "true", { extra: kexArgs });
                n++;
              }
            }),
          );
          const rate = n / ((performance.now() - t0) / 1000);
          if (isGateway(path)) (gwCpuPer[path] ??= []).push((cpuUs(pidOf(path)) - g0) / 1000 / n);
          (res[`${kex}|${conc}|${path}`] ??= []).push(rate);
        }
      }
    }
    console.log(`### Connections per second: ssh … true (connect, key exchange, public key login, exec, close), ${seconds} s per cell\n`);
    console.log("| OpenSSH kex | concurrent | path | connections/s | ratio to direct (per round) |");
    console.log("|---|---:|---|---:|---:|");
    for (const kex of Object.keys(KEX)) for (const conc of [1, concurrency]) {
      const direct = res[`${kex}|${conc}|direct`]!;
      for (const path of PATHS) {
        const s = res[`${kex}|${conc}|${path}`]!;
        const ratios = s.map((x, i) => x / direct[i]!);
        console.log(`| ${kex} | ${conc} | ${path} | ${median(s).toFixed(1)} (${range(s, 1)}) | ${path === "direct" ? "1.00" : `${median(ratios).toFixed(2)} (${range(ratios)})`} |`);
      }
    }
    for (const [path, per] of Object.entries(gwCpuPer)) console.log(`\n${path} CPU per connection: ${median(per).toFixed(1)} ms (${range(per, 1)}); RSS at the end ${(statusKb(pidOf(path as PathName), "VmRSS") / 1024).toFixed(0)} MB`);
    console.log();
  }
} finally {
  await g?.gw.stop();
  g?.gw.cleanup();
  await gBase?.gw.stop();
  gBase?.gw.cleanup();
  await bastion?.stop();
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
}

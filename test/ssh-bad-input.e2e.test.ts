// End to end: callers that misbehave get a clean close or a clear refusal, and the gateway and
// other sessions go on: garbage instead of the version banner, a banner that never ends,
// malformed packets after a good banner, a socket that never says anything (login_timeout), a
// thousand channels at once on one connection, and wrong tokens again and again.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { Client, type ClientChannel } from "ssh2";
import { readdirSync, readFileSync } from "node:fs";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { devToken, runSsh, type SshGateway, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";
import { waitFor, within } from "./helpers/wait.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
let token: string;

beforeAll(async () => {
  sshd = await startSshd();
  g = await startSshGateway(sshd, { rules: "  - name: agents\n    groups: [agents]\n    effect: allow\n", target: ["login_timeout: 2s"] });
  token = await devToken(g, "alice", "agents");
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

/** Still serving: a fresh ssh exec works. */
async function stillServes(): Promise<void> {
  const r = await runSsh(g, { token }, [], { command: "echo alive" });
  expect(r.stdout).toBe("alive\n");
}

/** A raw TCP client that sends `bytes` (if any) and resolves with what it got once the gateway closes it. */
function raw(bytes: (Buffer | string)[]): Promise<string> {
  return new Promise((resolve) => {
    let got = "";
    const s: Socket = connect(g.port, "127.0.0.1", () => {
      for (const b of bytes) s.write(b);
    });
    s.on("data", (d) => (got += d.toString("latin1")));
    s.on("error", () => {});
    s.on("close", () => resolve(got));
  });
}

test("garbage instead of the version banner: the connection is closed; others go on", async () => {
  const got = await within("the gateway to close a socket that sent HTTP", raw(["GET / HTTP/1.1\r\nHost: x\r\n\r\n"]));
  expect(got.startsWith("SSH-2.0-gatehouse")).toBe(true);
  await stillServes();
});

test("a banner that never ends is cut off, not buffered for ever", async () => {
  await within("the gateway to close a socket whose banner never ends", raw(["SSH-2.0-", "x".repeat(256 * 1024)]));
  await stillServes();
});

test("malformed packets after a good banner close that connection only", async () => {
  const junk = Buffer.alloc(64 * 1024, 0xff);
  await within("the gateway to close a socket sending junk packets", raw(["SSH-2.0-OpenSSH_9.2\r\n", junk]));
  await stillServes();
});

test("a socket that never sends anything is closed after login_timeout", async () => {
  await within("the gateway to close an idle socket", raw([]), { timeoutMs: 30_000 });
  // And one that sends a banner but never logs in.
  await within("the gateway to close a socket that never logs in", raw(["SSH-2.0-OpenSSH_9.2\r\n"]), { timeoutMs: 30_000 });
  await stillServes();
});

function login(password: string): Promise<Client> {
  const c = new Client();
  return new Promise((resolve, reject) => {
    c.once("ready", () => resolve(c));
    c.once("error", reject);
    c.connect({ host: "127.0.0.1", port: g.port, username: "deploy", password, hostVerifier: () => true });
  });
}

test("a thousand channels at once on one connection: each runs or is refused with a reason, nothing hangs", async () => {
  const c = await within("login", login(token));
  const outcomes = await within(
    "1000 execs to finish or be refused",
    Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        new Promise<string>((resolve) => {
          c.exec(`echo ${i}`, (err: Error | undefined, ch: ClientChannel) => {
            if (err) return resolve(`refused: ${err.message}`);
            let out = "";
            let errText = "";
            ch.on("data", (d: Buffer) => (out += d.toString()));
            ch.stderr.on("data", (d: Buffer) => (errText += d.toString()));
            ch.on("close", () => resolve(out === `${i}\n` ? "ran" : `failed: ${errText.trim()}`));
          });
        }),
      ),
    ),
    { timeoutMs: 90_000 },
  );
  const kinds = new Map<string, number>();
  for (const o of outcomes) kinds.set(o.replace(/\d+/g, "N"), (kinds.get(o.replace(/\d+/g, "N")) ?? 0) + 1);
  expect(outcomes.filter((o) => o === "ran").length).toBeGreaterThan(0);
  // What did not run says why: too many channels here, or the upstream's own session limit.
  for (const o of outcomes) if (o !== "ran") expect(o).toMatch(/channels are open on this connection already|upstream refused/);
  // The same connection still works once they are closed.
  const after = await new Promise<string>((resolve, reject) =>
    c.exec("echo after", (err: Error | undefined, ch: ClientChannel) => {
      if (err) return reject(err);
      let out = "";
      ch.on("data", (d: Buffer) => (out += d.toString()));
      ch.on("close", () => resolve(out));
    }),
  );
  expect(after).toBe("after\n");
  c.end();
  await stillServes();
});

test("wrong tokens again and again: each refused and audited; one connection gets at most 6 tries", async () => {
  for (let i = 0; i < 5; i++) {
    const r = await runSsh(g, { token: `wrong-${i}` }, [], { command: "true" });
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("login to web refused");
  }
  // One connection trying password after password is dropped after the sixth.
  const c = new Client();
  let tries = 0;
  const closed = new Promise<string>((resolve) => {
    c.on("error", (e: Error) => resolve(e.message));
    c.on("close", () => resolve("closed"));
  });
  c.connect({
    host: "127.0.0.1",
    port: g.port,
    username: "deploy",
    hostVerifier: () => true,
    authHandler: (_methods, _partial, next) => {
      tries++;
      if (tries <= 50) next({ type: "password", username: "deploy", password: `wrong-again-${tries}` });
      else (next as unknown as (m: false) => void)(false);
    },
  });
  await within("the gateway to drop the connection", closed);
  expect(tries).toBeLessThanOrEqual(7);
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.filter((r) => r.type === "auth.rejected").length >= 11, "eleven auth.rejected records");
  expect(recs.filter((r) => r.type === "auth.rejected").length).toBe(11);
  await stillServes();
});

/** The pid of a process running exactly `argv` (read from /proc), or null. */
function processWithArgv(argv: string[]): string | null {
  const want = `${argv.join("\0")}\0`;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "latin1") === want) return pid;
    } catch {
      // Gone meanwhile.
    }
  }
  return null;
}

/** Resident and peak memory of the gateway process, bytes. */
function gatewayMemory(): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${g.gw.proc.pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

test("a client that stops reading stalls the upstream: the gateway holds a few windows, not the stream", async () => {
  const c = await within("login", login(token));
  const size = 200_000_000;
  const marker = `gh-stall-${process.pid}`;
  const before = gatewayMemory();
  let received = 0;
  let release!: () => void;
  const stalled = new Promise<void>((r) => (release = r));
  const done = new Promise<number | null>((resolve, reject) => {
    c.exec(`head -c ${size} /dev/zero; : ${marker}`, (err: Error | undefined, ch: ClientChannel) => {
      if (err) return reject(err);
      let code: number | null = null;
      ch.pause();
      ch.on("exit", (x: number) => (code = x));
      ch.on("close", () => resolve(code));
      stalled.then(() => {
        ch.on("data", (d: Buffer) => (received += d.length));
        ch.resume();
      });
    });
  });
  // The upstream's writer, and how much it has written: it stops growing once every buffer on the
  // way is full (the client reads nothing). Were the gateway to buffer without bound, head would
  // write all 200 MB and exit.
  const writer = await waitFor("the upstream's head to start", () => processWithArgv(["head", "-c", String(size), "/dev/zero"]));
  const written = () => {
    try {
      return Number(/^wchar: (\d+)/m.exec(readFileSync(`/proc/${writer}/io`, "utf8"))?.[1]);
    } catch {
      return size; // it exited: it wrote everything
    }
  };
  let last = -1;
  let steady = 0;
  const plateau = await waitFor("the upstream's writes to stall", () => {
    const now = written();
    steady = now === last ? steady + 1 : 0;
    last = now;
    return steady >= 10 || now >= size ? now : null;
  }, { intervalMs: 100, timeoutMs: 60_000 });
  expect(plateau).toBeLessThan(32 * 1024 * 1024);
  expect(gatewayMemory().rss - before.rss).toBeLessThan(64 * 1024 * 1024);
  release();
  expect(await within("the whole stream once the client reads", done, { timeoutMs: 90_000 })).toBe(0);
  expect(received).toBe(size);
  // Peak memory over the whole transfer stayed within a few windows of where it started.
  expect(gatewayMemory().hwm - before.hwm).toBeLessThan(96 * 1024 * 1024);
  c.end();
});

test("callers get AES-GCM (no CTR + HMAC); a client without it gets OpenSSH's 'no matching cipher'", async () => {
  const ok = await runSsh(g, { token }, ["-v"], { command: "echo gcm" });
  expect(ok.stdout).toBe("gcm\n");
  expect(ok.stderr).toContain("cipher: aes128-gcm@openssh.com");
  const ctr = await runSsh(g, { token }, ["-o", "Ciphers=aes128-ctr,aes256-ctr"], { command: "echo ctr" });
  expect(ctr.code).not.toBe(0);
  expect(ctr.stderr).toContain("no matching cipher found");
  await stillServes();
});

test("a target's ciphers: list lets older clients in with aes128-ctr", async () => {
  const old = await startSshGateway(sshd, { rules: "  - name: agents\n    groups: [agents]\n    effect: allow\n", target: ["ciphers: [aes128-gcm@openssh.com, aes128-ctr]"] });
  try {
    const t = await devToken(old, "alice", "agents");
    const r = await runSsh(old, { token: t }, ["-v", "-o", "Ciphers=aes128-ctr"], { command: "echo ctr" });
    expect(r.stdout).toBe("ctr\n");
    expect(r.stderr).toContain("cipher: aes128-ctr");
  } finally {
    await old.gw.stop();
    old.gw.cleanup();
  }
});

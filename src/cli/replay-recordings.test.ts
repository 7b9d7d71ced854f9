import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { playCast } from "./replay-cast.ts";
import { replayCommand } from "./replay.ts";

// Made by fixtures/recordings/make-fixtures.ts with the gateway's own writer.
const FIXTURES = join(import.meta.dir, "../../fixtures/recordings");
const LOG = join(FIXTURES, "audit.log");
const CAST = join(FIXTURES, "ssh_shell01.cast");
const tmp = mkdtempSync(join(tmpdir(), "gatehouse-replay-rec-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await replayCommand.run(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env: {}, signal: new AbortController().signal });
  return { code, out, err };
}

const castOutput = () =>
  readFileSync(CAST, "utf8")
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => JSON.parse(l) as [number, string, string])
    .filter((e) => e[1] === "o")
    .map((e) => e[2])
    .join("");

test("a recorded shell session is played: its output on stdout, after its hash is checked", async () => {
  const r = await run(["ssh_shell01", LOG, "--recordings", FIXTURES, "--no-wait"]);
  expect(r.code).toBe(0);
  expect(r.out).toBe(castOutput());
  expect(r.out).toContain("héllo\r\n");
  expect(r.err).toContain(`gatehouse replay: session ssh_shell01, recording ${CAST} (sha-256 as recorded, seq 3)\n`);
  expect(r.err).toContain("end of recording: 7 output events, 5.6 s, 80x24");
  // The real-pace path (sped up 1000 times) gives the same output.
  const paced = await run(["ssh_shell01", LOG, "--recordings", FIXTURES, "--speed", "1000"]);
  expect(paced.code).toBe(0);
  expect(paced.out).toBe(r.out);
});

test("pauses follow the recording: --speed divides them, --idle-limit caps them, --no-wait drops them", async () => {
  const pauses = async (speed: number, idleLimit: number | null, noWait = false) => {
    const asked: number[] = [];
    let out = "";
    await playCast(CAST, { speed, idleLimit, noWait, write: (t) => void (out += t), sleep: async (ms) => (asked.push(Math.round(ms)), true) });
    expect(out).toBe(castOutput());
    return asked;
  };
  expect(await pauses(1, null)).toEqual([120, 780, 150, 50, 3000, 900, 600]);
  expect(await pauses(2, null)).toEqual([60, 390, 75, 25, 1500, 450, 300]);
  expect(await pauses(1, 0.5)).toEqual([120, 500, 150, 50, 500, 500, 500]);
  expect(await pauses(1, null, true)).toEqual([]);
  // An abort stops playing where it is.
  let shown = 0;
  const stopped = await playCast(CAST, { speed: 1, idleLimit: null, noWait: false, write: () => void shown++, sleep: async () => shown < 2 });
  expect(stopped.stopped).toBe(true);
  expect(shown).toBe(2);
});

test("a changed or missing recording is not played", async () => {
  const copy = join(tmp, "changed");
  cpSync(FIXTURES, copy, { recursive: true });
  writeFileSync(join(copy, "ssh_shell01.cast"), readFileSync(CAST, "utf8").replace("3 days", "9 days"));
  const r = await run(["ssh_shell01", join(copy, "audit.log"), "--recordings", copy, "--no-wait"]);
  expect(r.code).toBe(1);
  expect(r.out).toBe("");
  expect(r.err).toMatch(/^gatehouse replay: not played: recording of session ssh_shell01: .*ssh_shell01\.cast was changed: its sha-256 is [0-9a-f]{64}, the record says 3244194c/);
  const missing = await run(["ssh_shell01", LOG, "--no-wait"]);
  expect(missing.code).toBe(1);
  expect(missing.err).toContain("recording of session ssh_shell01: /var/lib/gatehouse/recordings/ssh_shell01.cast is missing");
});

test("exec and SFTP sessions, and --transcript, print a transcript", async () => {
  const r = await run(["ssh_exec01", LOG]);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(r.out).toBe(
    [
      "session ssh_exec01 on web1 — deploy-bot (agents)",
      "2026-12-06T21:00:06.000Z  START  from 10.0.0.7:41000, SSH user deploy, login by publickey, client OpenSSH_9.2p1",
      "21:00:06.010  #1 ALLOW (agents-read)",
      "                 exec: systemctl status nginx (as deploy)",
      "                 → exit 0 · 0 bytes in · 1480 bytes out · 0.1 s · stdout 1480 bytes, first 1024 kept in ssh_exec01-1.stdout",
      "21:00:06.100  #2 DENY (no rule): no rule allows this command (it chains commands: ;)",
      "                 exec: true; rm -rf / (as deploy)",
      "                 → exit 126 · 0 bytes in · 0 bytes out · 0.0 s",
      "21:00:06.200  #3 ALLOW (agents-read)",
      "                 sftp read /etc/nginx/nginx.conf (as deploy)",
      "21:00:06.250  sftp.op sftp read /etc/nginx/nginx.conf (as deploy)",
      "                 → status ok · 2310 bytes",
      "21:00:06.300  #4 DENY (no-etc-writes): nothing under /etc is written",
      "                 sftp rename /tmp/a → /etc/passwd (as deploy)",
      "21:00:06.400  END    after 0.4 s: 2 channels",
      "",
    ].join("\n"),
  );
  const shell = await run(["ssh_shell01", LOG, "--transcript"]);
  expect(shell.code).toBe(0);
  expect(shell.out).toContain("#1 ALLOW (ops-shell)\n                 shell (as alice)\n");
  expect(shell.out).toContain("→ exit 0 · 32 bytes in · 410 bytes out · 5.7 s · recorded in ssh_shell01.cast (8 events)\n");
  const bad = await run(["ssh_shell01", LOG, "--speed", "0"]);
  expect(bad.code).toBe(2);
  expect(bad.err).toContain("--speed takes a number above 0");
});

import { afterAll, expect, test } from "bun:test";
import { cpSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openAuditLog } from "../audit/log.ts";
import { openExecCapture } from "../recording/exec-capture.ts";
import { recordingFile } from "../recording/recording-ref.ts";
import { openTerminalRecording } from "../recording/terminal-recording.ts";
import { verifyCommand } from "./verify.ts";

const root = mkdtempSync(join(tmpdir(), "gatehouse-verify-rec-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const enc = (s: string) => new TextEncoder().encode(s);

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await verifyCommand.run(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), color: false, env: {}, signal: new AbortController().signal });
  return { code, out, err };
}

/** A state folder with a shell session's recording and an exec's captured output, linked from the log. */
async function stateWithRecordings(name: string) {
  const state = join(root, name);
  const cast = recordingFile(state, "ssh_s1");
  const rec = await openTerminalRecording({ file: cast, width: 80, height: 24 });
  rec.output(enc("$ uptime\r\n up 3 days\r\n"));
  const recording = await rec.close();
  const cap = openExecCapture({ prefix: recordingFile(state, "ssh_s2", "-1"), limit: 8 });
  cap.stdout(enc("0123456789abcdef"));
  cap.stderr(enc("oops\n")); // past the limit: no stderr file, only its hash
  const output = await cap.close();
  const log = await openAuditLog({ path: join(state, "audit.log") });
  await log.append({ type: "session.start", session: "ssh_s1", target: "web", details: {} });
  await log.append({ type: "session.end", session: "ssh_s1", target: "web", details: { recording } });
  await log.append({ type: "exec", session: "ssh_s2", target: "web", details: { command: "cat x", exit_status: 0, output } });
  await log.close();
  return { state, log: join(state, "audit.log"), cast, stdout: output.stdout.file! };
}

test("linked recordings that are intact are counted; their hashes checked", async () => {
  const s = await stateWithRecordings("ok");
  const r = await run([s.log]);
  expect(r.code).toBe(0);
  expect(r.out).toContain("ok: 3 records, chain intact\n");
  expect(r.out).toContain("recordings: 2 linked files, every size and sha-256 as recorded\n");
  const j = await run([s.log, "--json"]);
  expect(JSON.parse(j.out)).toMatchObject({ ok: true, records: 3, recordings: 2 });
});

test("a changed recording fails verify, naming the session and the file", async () => {
  const s = await stateWithRecordings("changed");
  // Same size, one character different: only the hash can tell.
  writeFileSync(s.cast, readFileSync(s.cast, "utf8").replace("3 days", "4 days"));
  const r = await run([s.log]);
  expect(r.code).toBe(1);
  expect(r.out).toBe(`FAILED: ${s.log}:2 (seq 2): recording of session ssh_s1: ${s.cast} was changed: its sha-256 is ${new Bun.CryptoHasher("sha256").update(readFileSync(s.cast)).digest("hex")}, the record says ${JSON.parse(readFileSync(s.log, "utf8").split("\n")[1]!).details.recording.sha256}\n1 records before it are intact\n`);
  writeFileSync(s.stdout, "01234567+");
  writeFileSync(s.cast, readFileSync(s.cast, "utf8").replace("4 days", "3 days"));
  const out = await run([s.log]);
  expect(out.code).toBe(1);
  expect(out.out).toContain(`(seq 3): captured stdout of session ssh_s2: ${s.stdout} was changed: it has 9 bytes, the record says 8`);
});

test("a missing recording fails; --skip-recordings passes and says so; --recordings DIR finds a copy", async () => {
  const s = await stateWithRecordings("missing");
  const copy = join(root, "copied-recordings");
  cpSync(join(s.state, "recordings"), copy, { recursive: true });
  unlinkSync(s.cast);
  const r = await run([s.log]);
  expect(r.code).toBe(1);
  expect(r.out).toContain(`recording of session ssh_s1: ${s.cast} is missing`);
  const skip = await run([s.log, "--skip-recordings"]);
  expect(skip.code).toBe(0);
  expect(skip.out).toContain("recordings: NOT checked (--skip-recordings)\n");
  const elsewhere = await run([s.log, "--recordings", copy]);
  expect(elsewhere.code).toBe(0);
  expect(elsewhere.out).toContain("recordings: 2 linked files");
  const both = await run([s.log, "--recordings", copy, "--skip-recordings"]);
  expect(both.code).toBe(2);
});

test("the replay fixtures (a log copied without its state folder) verify with --recordings", async () => {
  const fixtures = join(import.meta.dir, "../../fixtures/recordings");
  const r = await run([join(fixtures, "audit.log"), "--recordings", fixtures]);
  expect(r.code).toBe(0);
  expect(r.out).toContain("ok: 13 records, chain intact\n");
  expect(r.out).toContain("recordings: 2 linked files, every size and sha-256 as recorded\n");
});

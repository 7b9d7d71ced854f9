// End to end: OpenSSH's sftp (batch mode) and scp (SFTP mode, the default of OpenSSH 9) through
// the compiled gateway to a real sshd: every file operation is decided on its own; allowed ones
// change the upstream's files, a refused write gets "Permission denied" and leaves the file as
// it was while the session goes on; each operation is recorded with its bytes.
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { auditRecordsWhen } from "./helpers/gateway.ts";
import { type SshGateway, sshLogin, startSshGateway } from "./helpers/ssh-gateway.ts";
import { type SshdInstance, startSshd } from "./helpers/sshd.ts";

setDefaultTimeout(120_000);

let sshd: SshdInstance;
let g: SshGateway;
/** Upstream folder the test account may write to; `locked/` in it is read-only by policy. */
let dir: string;
let local: string;
let keyFile: string;

beforeAll(async () => {
  sshd = await startSshd();
  dir = mkdtempSync(join(tmpdir(), "gh-sftp-up-"));
  chmodSync(dir, 0o777);
  mkdirSync(join(dir, "locked"), { mode: 0o777 });
  chmodSync(join(dir, "locked"), 0o777);
  writeFileSync(join(dir, "locked", "keep.txt"), "original\n");
  chmodSync(join(dir, "locked", "keep.txt"), 0o666);
  local = mkdtempSync(join(tmpdir(), "gh-sftp-local-"));
  const keyDir = mkdtempSync(join(tmpdir(), "gh-sftp-key-"));
  keyFile = join(keyDir, "id_ed25519");
  Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
  const pub = readFileSync(`${keyFile}.pub`, "utf8").trim();
  g = await startSshGateway(sshd, {
    identity: `machine_keys: [{ name: uploader, sha256: "${"c".repeat(64)}", groups: [uploaders], ssh_public_keys: ["${pub}"] }]`,
    rules: `
  - name: uploads
    groups: [uploaders]
    ssh: { actions: [sftp], operations: [read, write, list, mkdir, setstat], paths: ["${dir}", "${dir}/**"] }
    effect: allow
  - name: find-home
    groups: [uploaders]
    ssh: { actions: [sftp], operations: [list] }
    effect: allow
  - name: locked-read-only
    groups: [uploaders]
    ssh: { actions: [sftp], operations: [write, remove, rename, setstat], paths: ["${dir}/locked/**"] }
    effect: deny
    message: "files in locked/ are read-only"
`,
  });
});

afterAll(async () => {
  await g?.gw.stop();
  g?.gw.cleanup();
  await sshd?.stop();
});

/** sftp or scp with the uploader's key, pinned gateway host key, `-P` for the port. */
function client(program: "sftp" | "scp", extra: string[]): { code: number; out: string } {
  const { args } = sshLogin(g, { keyFile });
  const withPort = args.map((a) => (a === "-p" ? "-P" : a));
  const r = Bun.spawnSync([program, ...withPort, ...extra], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: `${r.stdout.toString()}${r.stderr.toString()}` };
}

test("sftp batch: mkdir, put, ls and get go through; a write into locked/ is refused and the session goes on", async () => {
  const payload = randomBytes(300_000);
  writeFileSync(join(local, "up.bin"), payload);
  writeFileSync(join(local, "evil.txt"), "overwritten\n");
  const batch = join(local, "batch");
  writeFileSync(batch, [`mkdir ${dir}/sub`, `put ${join(local, "up.bin")} ${dir}/sub/up.bin`, `-put ${join(local, "evil.txt")} ${dir}/locked/keep.txt`, `ls ${dir}/sub`, `get ${dir}/sub/up.bin ${join(local, "down.bin")}`, ""].join("\n"));
  const r = client("sftp", ["-b", batch, "deploy@127.0.0.1"]);
  expect(r.out).toContain(`dest open "${dir}/locked/keep.txt": Permission denied`);
  expect(r.out).toMatch(/sftp> ls .*\/sub\n\S*up\.bin/);
  expect(r.code).toBe(0);
  expect(readFileSync(join(dir, "sub", "up.bin"))).toEqual(payload);
  expect(readFileSync(join(local, "down.bin"))).toEqual(payload);
  expect(readFileSync(join(dir, "locked", "keep.txt"), "utf8")).toBe("original\n");
  const recs = await auditRecordsWhen(g.gw.auditPath, (all) => all.some((x) => x.type === "channel.end" && (x.action as { action?: string })?.action === "sftp"), "the sftp channel's end");
  const ops = recs.filter((x) => x.type === "sftp").map((x) => ({ ...(x.action as object), ...(x.details as object) }) as Record<string, unknown>);
  expect(ops).toContainEqual(expect.objectContaining({ operation: "write", path: `${dir}/sub/up.bin`, bytes_written: 300_000 }));
  expect(ops).toContainEqual(expect.objectContaining({ operation: "read", path: `${dir}/sub/up.bin`, bytes_read: 300_000 }));
  const refused = recs.find((x) => x.type === "decision" && x.decision?.effect === "deny" && (x.action as { path?: string })?.path === `${dir}/locked/keep.txt`);
  expect(refused?.decision?.rule).toBe("locked-read-only");
  const end = recs.find((x) => x.type === "channel.end" && (x.action as { action?: string })?.action === "sftp")!;
  expect((end.details as { operations_denied: number }).operations_denied).toBe(1);
});

test("scp (SFTP mode) copies a file up and back, and is refused inside locked/", () => {
  const payload = randomBytes(100_000);
  writeFileSync(join(local, "scp.bin"), payload);
  const up = client("scp", ["-q", join(local, "scp.bin"), `deploy@127.0.0.1:${dir}/scp.bin`]);
  expect(up).toEqual({ code: 0, out: "" });
  expect(readFileSync(join(dir, "scp.bin"))).toEqual(payload);
  const back = client("scp", ["-q", `deploy@127.0.0.1:${dir}/scp.bin`, join(local, "scp-back.bin")]);
  expect(back.code).toBe(0);
  expect(readFileSync(join(local, "scp-back.bin"))).toEqual(payload);
  const denied = client("scp", ["-q", join(local, "scp.bin"), `deploy@127.0.0.1:${dir}/locked/keep.txt`]);
  expect(denied.code).toBe(1);
  expect(denied.out).toContain("Permission denied");
  expect(readFileSync(join(dir, "locked", "keep.txt"), "utf8")).toBe("original\n");
});

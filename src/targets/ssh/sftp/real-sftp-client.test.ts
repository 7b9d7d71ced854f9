// OpenSSH's own sftp (batch mode) and scp (SFTP mode) talking through the filter to a real
// sftp-server: sftp -D and scp -S start sftp-proxy-fixture.ts in place of ssh.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findSftpServer } from "./sftp-server-pipe.ts";

if (findSftpServer() === null) throw new Error("OpenSSH sftp-server not found (apt-get install openssh-server)");
const proxy = join(import.meta.dir, "sftp-proxy-fixture.ts");

let root: string;
let home: string;
let local: string;
let fakeSsh: string;
const original = "original\n";
const payload = new Uint8Array(150_000).map((_, i) => (i * 31 + 7) & 0xff);

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "gatehouse-sftp-client-")));
  home = join(root, "home");
  local = join(root, "local");
  mkdirSync(join(home, "locked"), { recursive: true });
  mkdirSync(join(local, "tree", "inner"), { recursive: true });
  writeFileSync(join(home, "locked", "keep.txt"), original);
  writeFileSync(join(local, "up.bin"), payload);
  writeFileSync(join(local, "tree", "a.txt"), "a\n");
  writeFileSync(join(local, "tree", "inner", "b.txt"), "b\n");
  // scp -S runs this in place of ssh, with ssh's arguments, which it does not need.
  fakeSsh = join(root, "fake-ssh.sh");
  writeFileSync(fakeSsh, `#!/bin/sh\nexec '${process.execPath}' '${proxy}'\n`);
  chmodSync(fakeSsh, 0o755);
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(argv, {
    cwd: local,
    env: { ...process.env, SFTP_PROXY_HOME: home, SFTP_PROXY_LOCKED: join(home, "locked"), SFTP_PROXY_LOG: join(root, "proxy.log") },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out: out + err };
}

describe("OpenSSH clients through the filter", () => {
  test("sftp batch: put, get, ls, mkdir, rename, rm work; a denied put says Permission denied, changes nothing, and the batch goes on", async () => {
    const batch = join(root, "batch");
    writeFileSync(
      batch,
      [
        "put up.bin up.bin",
        "-put up.bin locked/keep.txt",
        "get up.bin down.bin",
        "ls",
        "mkdir sub",
        "rename up.bin sub/moved.bin",
        "ls sub",
        "rm sub/moved.bin",
        "rmdir sub",
        "-get /etc/passwd pw.txt",
        "get locked/keep.txt keep-copy.txt",
        "",
      ].join("\n"),
    );
    const r = await run(["sftp", "-b", batch, "-D", `${process.execPath} ${proxy}`]);
    expect(r.out).toContain(`dest open "${home}/locked/keep.txt": Permission denied`);
    expect(r.code).toBe(0);
    expect(readFileSync(join(home, "locked", "keep.txt"), "utf8")).toBe(original);
    expect(new Uint8Array(readFileSync(join(local, "down.bin")))).toEqual(payload);
    expect(r.out).toMatch(/sftp> ls sub\n\S*moved\.bin/);
    expect(existsSync(join(home, "sub"))).toBe(false);
    expect(existsSync(join(home, "up.bin"))).toBe(false);
    expect(existsSync(join(local, "pw.txt"))).toBe(false);
    expect(readFileSync(join(local, "keep-copy.txt"), "utf8")).toBe(original);
    const log = readFileSync(join(root, "proxy.log"), "utf8");
    expect(log).toContain(`"operation":"write","path":"${home}/locked/keep.txt","request":"OPEN"`);
    expect(log).toContain(`"operation":"list","path":"/etc/passwd"`);
    expect(log).toContain(`{"event":"finished","type":"handle","kind":"file","path":"${home}/up.bin","operation":"write","operations":["write"],"bytesRead":0,"bytesWritten":150000,"closedBy":"client"}`);
  });

  test("scp (SFTP mode, relative paths and no REALPATH first): upload, download, recursive copy; a denied upload fails and the file stays", async () => {
    const up = await run(["scp", "-S", fakeSsh, "up.bin", "host:copied.bin"]);
    expect(up).toEqual({ code: 0, out: "" });
    expect(new Uint8Array(readFileSync(join(home, "copied.bin")))).toEqual(payload);

    const deniedUp = await run(["scp", "-S", fakeSsh, "up.bin", "host:locked/keep.txt"]);
    expect(deniedUp.code).toBe(1);
    expect(deniedUp.out).toContain('dest open "locked/keep.txt": Permission denied');
    expect(readFileSync(join(home, "locked", "keep.txt"), "utf8")).toBe(original);

    const down = await run(["scp", "-S", fakeSsh, "host:copied.bin", "back.bin"]);
    expect(down.code).toBe(0);
    expect(new Uint8Array(readFileSync(join(local, "back.bin")))).toEqual(payload);

    const tree = await run(["scp", "-r", "-S", fakeSsh, "tree", "host:tree2"]);
    expect(tree.code).toBe(0);
    expect(readFileSync(join(home, "tree2", "inner", "b.txt"), "utf8")).toBe("b\n");

    const etc = await run(["scp", "-S", fakeSsh, "host:/etc/passwd", "pw.txt"]);
    expect(etc.code).toBe(1);
    expect(existsSync(join(local, "pw.txt"))).toBe(false);
  });
});

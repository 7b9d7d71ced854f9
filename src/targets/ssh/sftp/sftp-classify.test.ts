import { describe, expect, test } from "bun:test";
import { type ClassifyContext, type SftpHandleInfo, type SftpPlan, classifySftpRequest, openOperations } from "./sftp-classify.ts";
import { SftpExtension, SftpOpenFlag, SftpStatus } from "./sftp-constants.ts";
import type { SftpRequest } from "./sftp-requests.ts";

const h = (n: number) => new Uint8Array([0, 0, 0, n]);
const HANDLES = new Map<number, SftpHandleInfo>([
  [1, { kind: "file", path: "/home/u/r.txt", operations: ["read"], closing: false }],
  [2, { kind: "file", path: "/home/u/w.txt", operations: ["write"], closing: false }],
  [3, { kind: "dir", path: "/home/u", operations: ["list"], closing: false }],
  [4, { kind: "file", path: "/home/u/c.txt", operations: ["read", "write"], closing: true }],
]);
const ctx = (home: string | null = "/home/u"): ClassifyContext => ({ home, handle: (x) => HANDLES.get(x[3] as number) });
type Req = Exclude<SftpRequest, { type: "INIT" }>;
const plan = (req: Req, home: string | null = "/home/u"): SftpPlan => classifySftpRequest(req, ctx(home));
const checks = (req: Req) => {
  const p = plan(req);
  if (p.kind !== "decide") throw new Error(`expected decide, got ${JSON.stringify(p)}`);
  return p.checks.map((c) => [c.operation, c.path, ...(c.toPath !== undefined ? [c.toPath] : [])]);
};
const ext = (id: number, request: Extract<Req, { type: "EXTENDED" }>["request"]): Req => ({ type: "EXTENDED", id, request });

describe("OPEN pflags", () => {
  test.each([
    [SftpOpenFlag.READ, ["read"]],
    [0, ["read"]],
    [SftpOpenFlag.WRITE, ["write"]],
    [SftpOpenFlag.READ | SftpOpenFlag.WRITE, ["read", "write"]],
    [SftpOpenFlag.WRITE | SftpOpenFlag.CREAT | SftpOpenFlag.TRUNC, ["write"]],
    [SftpOpenFlag.APPEND, ["read", "write"]],
    [SftpOpenFlag.READ | SftpOpenFlag.TRUNC, ["read", "write"]],
    [SftpOpenFlag.CREAT, ["read", "write"]],
    [SftpOpenFlag.READ | SftpOpenFlag.EXCL, ["read"]],
  ])("pflags %p → %p", (pflags, ops) => {
    expect(openOperations(pflags)).toEqual(ops as never);
  });

  test("OPEN decides each operation on the normalised path and remembers what the handle is for", () => {
    const p = plan({ type: "OPEN", id: 1, path: "../../etc/passwd", pflags: SftpOpenFlag.READ | SftpOpenFlag.WRITE, attrs: {} });
    expect(p).toEqual({
      kind: "decide",
      checks: [
        { operation: "read", path: "/etc/passwd", request: "OPEN" },
        { operation: "write", path: "/etc/passwd", request: "OPEN" },
      ],
      opens: { kind: "file", path: "/etc/passwd", operations: ["read", "write"] },
    });
  });
});

describe("classifySftpRequest: every request type", () => {
  test.each<[string, Req, string[][]]>([
    ["OPENDIR", { type: "OPENDIR", id: 1, path: "d" }, [["list", "/home/u/d"]]],
    ["STAT", { type: "STAT", id: 1, path: "/x/./y" }, [["list", "/x/y"]]],
    ["LSTAT", { type: "LSTAT", id: 1, path: "l" }, [["list", "/home/u/l"]]],
    ["READLINK", { type: "READLINK", id: 1, path: "l" }, [["list", "/home/u/l"]]],
    ["REALPATH (home known)", { type: "REALPATH", id: 1, path: "." }, [["list", "/home/u"]]],
    ["REALPATH other", { type: "REALPATH", id: 1, path: "a/.." }, [["list", "/home/u"]]],
    ["REMOVE", { type: "REMOVE", id: 1, path: "f" }, [["remove", "/home/u/f"]]],
    ["RMDIR", { type: "RMDIR", id: 1, path: "/tmp/d/" }, [["remove", "/tmp/d"]]],
    ["MKDIR", { type: "MKDIR", id: 1, path: "n", attrs: {} }, [["mkdir", "/home/u/n"]]],
    ["SETSTAT", { type: "SETSTAT", id: 1, path: "f", attrs: { permissions: 0o777 } }, [["setstat", "/home/u/f"]]],
    ["FSETSTAT (decided on the handle's path)", { type: "FSETSTAT", id: 1, handle: h(1), attrs: {} }, [["setstat", "/home/u/r.txt"]]],
    ["RENAME (both names)", { type: "RENAME", id: 1, oldPath: "a", newPath: "/etc/cron.d/a" }, [["rename", "/home/u/a", "/etc/cron.d/a"], ["rename", "/etc/cron.d/a"]]],
    ["posix-rename", ext(1, { name: SftpExtension.posixRename, oldPath: "/srv/x", newPath: "y" }), [["rename", "/srv/x", "/home/u/y"], ["rename", "/home/u/y"]]],
    // PROTOCOL 4.1: target first.
    ["SYMLINK (both ends)", { type: "SYMLINK", id: 1, targetPath: "/etc//passwd", linkPath: "/tmp/l" }, [["write", "/tmp/l", "/etc/passwd"], ["write", "/etc/passwd"]]],
    ["hardlink (both ends, old from the working directory)", ext(1, { name: SftpExtension.hardlink, oldPath: "../other/f", newPath: "l" }), [["write", "/home/u/l", "/home/other/f"], ["write", "/home/other/f"]]],
    ["statvfs", ext(1, { name: SftpExtension.statvfs, path: "/" }), [["list", "/"]]],
    ["lsetstat", ext(1, { name: SftpExtension.lsetstat, path: "l", attrs: {} }), [["setstat", "/home/u/l"]]],
    ["expand-path ~", ext(1, { name: SftpExtension.expandPath, path: "~" }), [["list", "/home/u"]]],
    ["expand-path ~/x", ext(1, { name: SftpExtension.expandPath, path: "~/x/../y" }), [["list", "/home/u/y"]]],
    ["expand-path relative", ext(1, { name: SftpExtension.expandPath, path: "../v" }), [["list", "/home/v"]]],
    ["home-directory (own)", ext(1, { name: SftpExtension.homeDirectory, username: "" }), [["list", "/home/u"]]],
  ])("%s", (_name, req, want) => {
    expect(checks(req)).toEqual(want);
  });

  test.each<[string, Req]>([
    ["READ on a read handle", { type: "READ", id: 1, handle: h(1), offset: 0n, length: 10 }],
    ["WRITE on a write handle", { type: "WRITE", id: 1, handle: h(2), offset: 0n, data: new Uint8Array(1) }],
    ["CLOSE", { type: "CLOSE", id: 1, handle: h(1) }],
    ["FSTAT (covered by the OPEN)", { type: "FSTAT", id: 1, handle: h(2) }],
    ["READDIR on a directory handle", { type: "READDIR", id: 1, handle: h(3) }],
    ["fstatvfs", ext(1, { name: SftpExtension.fstatvfs, handle: h(3) })],
    ["fsync on a write handle", ext(1, { name: SftpExtension.fsync, handle: h(2) })],
    ["copy-data read → write handle", ext(1, { name: SftpExtension.copyData, readHandle: h(1), readOffset: 0n, readLength: 0n, writeHandle: h(2), writeOffset: 0n })],
    ["limits", ext(1, { name: SftpExtension.limits })],
    ["users-groups-by-id", ext(1, { name: SftpExtension.usersGroupsById, uids: [0], gids: [0] })],
  ])("%s is forwarded without a new decision", (_name, req) => {
    expect(plan(req)).toEqual({ kind: "forward" });
  });

  test.each<[string, Req, string]>([
    ["READ on a write-only handle", { type: "READ", id: 1, handle: h(2), offset: 0n, length: 1 }, "READ: /home/u/w.txt was opened for write, not read"],
    ["WRITE on a read-only handle", { type: "WRITE", id: 1, handle: h(1), offset: 0n, data: new Uint8Array(1) }, "WRITE: /home/u/r.txt was opened for read, not write"],
    ["READ on a directory handle", { type: "READ", id: 1, handle: h(3), offset: 0n, length: 1 }, "READ: handle of /home/u is a directory handle"],
    ["READDIR on a file handle", { type: "READDIR", id: 1, handle: h(1) }, "READDIR: handle of /home/u/r.txt is a file handle"],
    ["a handle the server never gave", { type: "READ", id: 1, handle: h(9), offset: 0n, length: 1 }, "READ: unknown handle 00000009"],
    ["a handle being closed", { type: "WRITE", id: 1, handle: h(4), offset: 0n, data: new Uint8Array(1) }, "WRITE: handle 00000004 is being closed"],
    ["fsync on a read handle", ext(1, { name: SftpExtension.fsync, handle: h(1) }), "fsync@openssh.com: /home/u/r.txt was opened for read, not write"],
    ["copy-data into a read handle", ext(1, { name: SftpExtension.copyData, readHandle: h(1), readOffset: 0n, readLength: 0n, writeHandle: h(1), writeOffset: 0n }), "copy-data: /home/u/r.txt was opened for read, not write"],
    ["copy-data from a write handle", ext(1, { name: SftpExtension.copyData, readHandle: h(2), readOffset: 0n, readLength: 0n, writeHandle: h(2), writeOffset: 0n }), "copy-data: /home/u/w.txt was opened for write, not read"],
    ["FSETSTAT on an unknown handle", { type: "FSETSTAT", id: 1, handle: h(8), attrs: {} }, "FSETSTAT: unknown handle 00000008"],
    [
      "SYMLINK with a relative target (read from the link's directory; it would change meaning when moved)",
      { type: "SYMLINK", id: 1, targetPath: "../../../etc/shadow", linkPath: "sub/l" },
      'SYMLINK: the gateway makes symbolic links with absolute targets only ("../../../etc/shadow" would point elsewhere once the link moves): use "/etc/shadow"',
    ],
    ["an unknown extension", ext(1, { name: "evil@example.com", unknown: true, data: new Uint8Array() }), 'SFTP extension "evil@example.com" is not allowed by the gateway'],
    ["expand-path ~user", ext(1, { name: SftpExtension.expandPath, path: "~root/.ssh" }), 'expand-path@openssh.com: the gateway cannot tell where "~root" is'],
    ["home-directory of another user", ext(1, { name: SftpExtension.homeDirectory, username: "root" }), `home-directory: the gateway cannot tell where user "root"'s home directory is`],
  ])("%s is refused", (_name, req, message) => {
    expect(plan(req)).toEqual({ kind: "refuse", code: SftpStatus.PERMISSION_DENIED, message });
  });

  test("without a home: REALPATH \".\" is forwarded to learn it, other relative paths wait for it, absolute ones are decided", () => {
    expect(plan({ type: "REALPATH", id: 1, path: "." }, null)).toEqual({ kind: "forward", learnHome: true });
    expect(plan({ type: "REALPATH", id: 1, path: "" }, null)).toEqual({ kind: "forward", learnHome: true });
    expect(plan({ type: "OPEN", id: 1, path: "a", pflags: 1, attrs: {} }, null)).toEqual({ kind: "needs-home" });
    expect(plan({ type: "RENAME", id: 1, oldPath: "/abs", newPath: "rel" }, null)).toEqual({ kind: "needs-home" });
    expect(plan({ type: "SYMLINK", id: 1, targetPath: "/t", linkPath: "/tmp/l" }, null)).toMatchObject({ kind: "decide" });
    expect(plan({ type: "STAT", id: 1, path: "/etc" }, null)).toMatchObject({ kind: "decide", checks: [{ operation: "list", path: "/etc" }] });
    expect(plan(ext(1, { name: SftpExtension.homeDirectory, username: "" }), null)).toEqual({ kind: "forward" });
  });

  test("links ask the server first: a symlink's target must not be a directory, a hard link's source not a symlink", () => {
    expect(plan({ type: "SYMLINK", id: 1, targetPath: "/srv/data/", linkPath: "l" })).toMatchObject({
      kind: "decide",
      probe: { request: "STAT", path: "/srv/data", refuseIf: "directory", message: "SYMLINK: /srv/data is a directory, and a link to it would carry the paths under it past the policy" },
    });
    expect(plan(ext(1, { name: SftpExtension.hardlink, oldPath: "a", newPath: "b" }))).toMatchObject({
      kind: "decide",
      probe: { request: "LSTAT", path: "/home/u/a", refuseIf: "symlink" },
    });
  });
});

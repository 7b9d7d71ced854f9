import { describe, expect, test } from "bun:test";
import { SftpWriter } from "./sftp-bytes.ts";
import { SftpExtension, SftpPacketType, SftpStatus } from "./sftp-constants.ts";
import { type SftpReply, encodeSftpReply, encodeSftpStatus, parseSftpReply } from "./sftp-replies.ts";
import { type SftpRequest, encodeSftpRequest, parseSftpRequest } from "./sftp-requests.ts";

const h = (n: number) => new Uint8Array([0, 0, 0, n]);
const attrsFull = { size: 123456789012n, uid: 1000, gid: 100, permissions: 0o100644, atime: 1700000000, mtime: 1700000001, extended: [["x@example.com", new Uint8Array([1, 2])] as const] };

const EVERY_REQUEST: SftpRequest[] = [
  { type: "INIT", version: 3, extensions: [] },
  { type: "OPEN", id: 1, path: "/home/u/a.txt", pflags: 0x1a, attrs: { permissions: 0o644 } },
  { type: "CLOSE", id: 2, handle: h(1) },
  { type: "READ", id: 3, handle: h(1), offset: 2n ** 40n, length: 32768 },
  { type: "WRITE", id: 4, handle: h(1), offset: 0n, data: new Uint8Array([1, 2, 3]) },
  { type: "LSTAT", id: 5, path: "l" },
  { type: "FSTAT", id: 6, handle: h(2) },
  { type: "SETSTAT", id: 7, path: "/p", attrs: attrsFull },
  { type: "FSETSTAT", id: 8, handle: h(3), attrs: { atime: 1, mtime: 2 } },
  { type: "OPENDIR", id: 9, path: "dir" },
  { type: "READDIR", id: 10, handle: h(4) },
  { type: "REMOVE", id: 11, path: "gone" },
  { type: "MKDIR", id: 12, path: "new", attrs: {} },
  { type: "RMDIR", id: 13, path: "old" },
  { type: "REALPATH", id: 14, path: "." },
  { type: "STAT", id: 15, path: "/ü/ñ" },
  { type: "RENAME", id: 16, oldPath: "a", newPath: "b" },
  { type: "READLINK", id: 17, path: "link" },
  { type: "SYMLINK", id: 18, targetPath: "target", linkPath: "link" },
  { type: "EXTENDED", id: 19, request: { name: SftpExtension.posixRename, oldPath: "a", newPath: "b" } },
  { type: "EXTENDED", id: 20, request: { name: SftpExtension.statvfs, path: "/" } },
  { type: "EXTENDED", id: 21, request: { name: SftpExtension.fstatvfs, handle: h(5) } },
  { type: "EXTENDED", id: 22, request: { name: SftpExtension.hardlink, oldPath: "a", newPath: "b" } },
  { type: "EXTENDED", id: 23, request: { name: SftpExtension.fsync, handle: h(6) } },
  { type: "EXTENDED", id: 24, request: { name: SftpExtension.lsetstat, path: "l", attrs: { permissions: 0o600 } } },
  { type: "EXTENDED", id: 25, request: { name: SftpExtension.limits } },
  { type: "EXTENDED", id: 26, request: { name: SftpExtension.expandPath, path: "~/x" } },
  { type: "EXTENDED", id: 27, request: { name: SftpExtension.copyData, readHandle: h(7), readOffset: 1n, readLength: 0n, writeHandle: h(8), writeOffset: 9n } },
  { type: "EXTENDED", id: 28, request: { name: SftpExtension.homeDirectory, username: "" } },
  { type: "EXTENDED", id: 29, request: { name: SftpExtension.usersGroupsById, uids: [0, 1000], gids: [] } },
  { type: "EXTENDED", id: 30, request: { name: "evil@example.com", unknown: true, data: new Uint8Array([9, 9]) } },
];

const EVERY_REPLY: SftpReply[] = [
  { type: "VERSION", version: 3, extensions: [["posix-rename@openssh.com", "1"], ["statvfs@openssh.com", "2"]] },
  { type: "STATUS", id: 1, code: SftpStatus.PERMISSION_DENIED, message: "no", language: "en" },
  { type: "HANDLE", id: 2, handle: h(0) },
  { type: "DATA", id: 3, data: new Uint8Array(300).fill(1) },
  { type: "NAME", id: 4, entries: [{ filename: "a", longname: "-rw-r--r-- 1 u u 0 Jan 1 a", attrs: { size: 0n, permissions: 0o644 } }, { filename: "b", longname: "b", attrs: {} }] },
  { type: "ATTRS", id: 5, attrs: attrsFull },
  { type: "EXTENDED_REPLY", id: 6, data: new Uint8Array(32) },
];

describe("SFTP requests", () => {
  test.each(EVERY_REQUEST.map((r) => [r.type === "EXTENDED" ? r.request.name : r.type, r] as const))("%s round-trips", (_name, req) => {
    const bytes = encodeSftpRequest(req);
    expect(new DataView(bytes.buffer).getUint32(0)).toBe(bytes.length - 4);
    expect(bytes[4]).toBe(SftpPacketType[req.type]);
    expect(parseSftpRequest(bytes.subarray(4))).toEqual(req);
  });

  const body = (w: SftpWriter) => w.finish().subarray(4);

  test("a path that is not UTF-8, or holds a NUL, is unreadable (answered, not guessed at)", () => {
    const bad = body(new SftpWriter().u8(SftpPacketType.STAT).u32(7).bytes(new Uint8Array([0x2f, 0xff, 0x61])));
    expect(parseSftpRequest(bad)).toEqual({ type: "invalid", packetType: 17, id: 7, reason: "STAT (17): path is not valid UTF-8" });
    const nul = body(new SftpWriter().u8(SftpPacketType.REMOVE).u32(8).bytes(new TextEncoder().encode("/ok\0/etc/passwd")));
    expect(parseSftpRequest(nul)).toMatchObject({ type: "invalid", id: 8, reason: "REMOVE (13): path contains a NUL byte" });
  });

  test("short fields, trailing bytes, and unknown types are invalid with their id", () => {
    expect(parseSftpRequest(body(new SftpWriter().u8(SftpPacketType.OPEN).u32(3).u32(100)))).toMatchObject({ type: "invalid", id: 3, reason: "OPEN (3): path runs past the end of the packet" });
    expect(parseSftpRequest(body(new SftpWriter().u8(SftpPacketType.STAT).u32(4).string("/a").u8(0)))).toMatchObject({ type: "invalid", id: 4, reason: "STAT (17): 1 unexpected bytes after STAT (17)" });
    expect(parseSftpRequest(body(new SftpWriter().u8(99).u32(5)))).toMatchObject({ type: "invalid", packetType: 99, id: 5, reason: "unknown SFTP request type 99" });
    expect(parseSftpRequest(new Uint8Array([SftpPacketType.STAT, 0, 0]))).toMatchObject({ type: "invalid", reason: "STAT (17) is too short to hold a request id" });
    expect(parseSftpRequest(new Uint8Array([SftpPacketType.INIT, 0]))).toMatchObject({ type: "invalid", reason: "INIT: version runs past the end of the packet" });
    // users-groups-by-id lists are uint32 arrays.
    const ugid = body(new SftpWriter().u8(SftpPacketType.EXTENDED).u32(6).string(SftpExtension.usersGroupsById).bytes(new Uint8Array(3)).bytes(new Uint8Array(0)));
    expect(parseSftpRequest(ugid)).toMatchObject({ type: "invalid", id: 6, reason: "EXTENDED (200): uids is not a list of uint32" });
  });

  test("an ATTRS with more extended pairs than sftp-server takes is invalid", () => {
    const b = body(new SftpWriter().u8(SftpPacketType.SETSTAT).u32(9).string("/a").u32(0x80000000).u32(0x100001));
    expect(parseSftpRequest(b)).toMatchObject({ type: "invalid", id: 9, reason: "SETSTAT (9): 1048577 extended attributes (sftp-server takes at most 1048576)" });
  });
});

describe("SFTP replies", () => {
  test.each(EVERY_REPLY.map((r) => [r.type, r] as const))("%s round-trips", (_name, reply) => {
    const bytes = encodeSftpReply(reply);
    expect(parseSftpReply(bytes.subarray(4))).toEqual(reply);
  });

  test("the denial status decodes back to PERMISSION_DENIED with the message", () => {
    const bytes = encodeSftpStatus(42, SftpStatus.PERMISSION_DENIED, "rule no-etc: writes under /etc are not allowed");
    expect(Array.from(bytes.subarray(0, 13))).toEqual([0, 0, 0, bytes.length - 4, 101, 0, 0, 0, 42, 0, 0, 0, 3]);
    expect(parseSftpReply(bytes.subarray(4))).toEqual({ type: "STATUS", id: 42, code: 3, message: "rule no-etc: writes under /etc are not allowed", language: "en" });
  });

  test("a draft-02 STATUS without message and language reads as empty strings", () => {
    const b = new SftpWriter().u8(SftpPacketType.STATUS).u32(1).u32(0).finish();
    expect(parseSftpReply(b.subarray(4))).toEqual({ type: "STATUS", id: 1, code: 0, message: "", language: "" });
  });

  test("an unknown reply type and a short reply throw", () => {
    expect(() => parseSftpReply(new SftpWriter().u8(150).u32(1).finish().subarray(4))).toThrow("unknown SFTP reply type 150");
    expect(() => parseSftpReply(new SftpWriter().u8(SftpPacketType.HANDLE).u32(1).u32(10).finish().subarray(4))).toThrow("handle runs past the end of the packet");
  });
});

import { describe, expect, test } from "bun:test";
import { normaliseSftpPath, parentOf, resolveSftpPath } from "./sftp-path.ts";

describe("normaliseSftpPath", () => {
  test.each([
    ["../../etc/passwd", "/home/u", "/etc/passwd"],
    ["a//b/./c/..", "/home/u", "/home/u/a/b"],
    ["/../../..", "/home/u", "/"],
    ["..", "/", "/"],
    ["../../../../../../../etc/shadow", "/home/u", "/etc/shadow"],
    ["", "/home/u", "/home/u"],
    [".", "/home/u", "/home/u"],
    ["./", "/home/u", "/home/u"],
    ["/srv//data///x/", "/home/u", "/srv/data/x"],
    ["/srv/./data/../data/x", "/home/u", "/srv/data/x"],
    ["x/../../u2/f", "/home/u", "/home/u2/f"],
    ["...", "/home/u", "/home/u/..."],
    ["~", "/home/u", "/home/u/~"],
    ["a\\..\\b", "/home/u", "/home/u/a\\..\\b"],
    ["//etc", "/home/u", "/etc"],
  ])("%p from %p → %p", (path, home, want) => {
    expect(normaliseSftpPath(path, home)).toBe(want);
  });

  test("absolute paths need no home; relative ones do", () => {
    expect(normaliseSftpPath("/a/../b", null)).toBe("/b");
    expect(normaliseSftpPath("b", null)).toBeNull();
    expect(normaliseSftpPath("", null)).toBeNull();
  });

  test("resolveSftpPath and parentOf", () => {
    expect(resolveSftpPath("/home/u/dir", "../x")).toBe("/home/u/x");
    expect(parentOf("/home/u/l")).toBe("/home/u");
    expect(parentOf("/l")).toBe("/");
    expect(parentOf("/")).toBe("/");
  });
});

import { expect, test } from "bun:test";
import { sftpRequestFacts } from "./sftp-facts.ts";

test("an SFTP check becomes the ssh request facts policy matches", () => {
  expect(sftpRequestFacts("deploy", { operation: "rename", path: "/srv/a", toPath: "/srv/b", request: "RENAME" })).toEqual({
    kind: "ssh",
    action: "sftp",
    user: "deploy",
    operation: "rename",
    path: "/srv/a",
    toPath: "/srv/b",
  });
  expect(sftpRequestFacts("u", { operation: "list", path: "/", request: "STAT" })).toEqual({ kind: "ssh", action: "sftp", user: "u", operation: "list", path: "/" });
});

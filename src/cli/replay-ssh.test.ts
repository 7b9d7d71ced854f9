import { expect, test } from "bun:test";
import { sshActionText } from "./replay-ssh.ts";

test("an SFTP rename reads with its new name, as records have it (to_path) and as older logs did (toPath)", () => {
  const rename = { kind: "ssh", action: "sftp", user: "deploy", operation: "rename", path: "/tmp/a" };
  expect(sshActionText({ ...rename, to_path: "/srv/b" })).toBe("sftp rename /tmp/a → /srv/b (as deploy)");
  expect(sshActionText({ ...rename, toPath: "/srv/b" })).toBe("sftp rename /tmp/a → /srv/b (as deploy)");
});

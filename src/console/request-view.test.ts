import { expect, test } from "bun:test";
import { requestText } from "./request-view.ts";

test("a held SFTP rename shows its new name, from a record (to_path, a request rebuilt at start) or from the facts in memory (toPath)", () => {
  const rename = { kind: "ssh", action: "sftp", user: "deploy", operation: "rename", path: "/tmp/a" };
  expect(requestText({ ...rename, to_path: "/srv/b" }).text).toBe("rename /tmp/a → /srv/b");
  expect(requestText({ ...rename, toPath: "/srv/b" }).text).toBe("rename /tmp/a → /srv/b");
});

// The filter between a client and a REAL OpenSSH sftp-server: files really change when allowed,
// stay as they were when denied, and the session goes on after a denial.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SftpCheck } from "./sftp-classify.ts";
import { SftpExtension, SftpOpenFlag, SftpPacketType, SftpStatus } from "./sftp-constants.ts";
import { SftpWriter } from "./sftp-bytes.ts";
import type { SftpVerdict } from "./sftp-filter.ts";
import { type SftpServerPipe, findSftpServer, startSftpServerPipe } from "./sftp-server-pipe.ts";
import { SftpStatusError, SftpTestClient } from "./sftp-test-client.ts";

const server = findSftpServer();
if (server === null) throw new Error("OpenSSH sftp-server not found (apt-get install openssh-server)");

let home: string;
let pipe: SftpServerPipe;
let client: SftpTestClient;

/** Deny writes, renames, removals and links under locked/, and everything under /etc; allow the rest. Asynchronous, like the gate. */
async function decide(c: SftpCheck): Promise<SftpVerdict> {
  await Promise.resolve();
  if (c.path === "/etc" || c.path.startsWith("/etc/")) return { allow: false, message: `rule no-etc: ${c.operation} on ${c.path} is not allowed` };
  if (c.path.startsWith(`${home}/locked`) && c.operation !== "read" && c.operation !== "list") {
    return { allow: false, message: `rule locked-read-only: ${c.operation} on ${c.path} is not allowed` };
  }
  return { allow: true };
}

const denied = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    if (e instanceof SftpStatusError && e.status.code === SftpStatus.PERMISSION_DENIED) return e.status.message;
    throw e;
  }
  throw new Error("expected PERMISSION_DENIED, the request succeeded");
};

beforeAll(async () => {
  home = realpathSync(mkdtempSync(join(tmpdir(), "gatehouse-sftp-")));
  mkdirSync(join(home, "locked"));
  writeFileSync(join(home, "locked", "keep.txt"), "original\n");
  pipe = startSftpServerPipe({ server, cwd: home, decide, toClient: (b) => client.receive(b) });
  client = new SftpTestClient((b) => pipe.filter.fromClient(b));
  const version = await client.init();
  expect(version).toMatchObject({ type: "VERSION", version: 3 });
  expect((version as unknown as { extensions: [string, string][] }).extensions.map(([n]) => n)).toContain(SftpExtension.posixRename);
});

afterAll(async () => {
  await pipe?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("SftpFilter against OpenSSH sftp-server", () => {
  test("REALPATH \".\" teaches the filter the home directory", async () => {
    const r = await client.expect({ type: "REALPATH", path: "." }, "NAME");
    expect(r.entries[0]?.filename).toBe(home);
    expect(pipe.filter.home).toBe(home);
  });

  test("put, get, ls, mkdir, rename, rm really change the files", async () => {
    const data = new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff);
    await client.put("up.bin", data);
    expect(new Uint8Array(readFileSync(join(home, "up.bin")))).toEqual(data);
    expect(await client.get("up.bin")).toEqual(data);
    expect(await client.ls(".")).toEqual(["locked", "up.bin"]);
    await client.ok({ type: "MKDIR", path: "sub", attrs: {} });
    expect(existsSync(join(home, "sub"))).toBe(true);
    await client.rename("up.bin", "sub/moved.bin");
    expect(existsSync(join(home, "up.bin"))).toBe(false);
    expect(new Uint8Array(readFileSync(join(home, "sub", "moved.bin")))).toEqual(data);
    await client.ok({ type: "RENAME", oldPath: "sub/moved.bin", newPath: "sub/again.bin" });
    await client.ok({ type: "REMOVE", path: "sub/again.bin" });
    await client.ok({ type: "RMDIR", path: "sub" });
    expect(existsSync(join(home, "sub"))).toBe(false);

    const handles = pipe.finished.filter((f) => f.type === "handle");
    expect(handles).toContainEqual({ type: "handle", kind: "file", path: `${home}/up.bin`, operation: "write", operations: ["write"], bytesRead: 0, bytesWritten: 200_000, closedBy: "client" });
    expect(handles).toContainEqual({ type: "handle", kind: "file", path: `${home}/up.bin`, operation: "read", operations: ["read"], bytesRead: 200_000, bytesWritten: 0, closedBy: "client" });
    expect(handles).toContainEqual({ type: "handle", kind: "dir", path: home, operation: "list", operations: ["list"], bytesRead: 0, bytesWritten: 0, closedBy: "client" });
    const requests = pipe.finished.filter((f) => f.type === "request").map((f) => (f.type === "request" ? [f.operation, f.path, f.toPath, f.status] : []));
    expect(requests).toEqual([
      ["mkdir", `${home}/sub`, undefined, SftpStatus.OK],
      ["rename", `${home}/up.bin`, `${home}/sub/moved.bin`, SftpStatus.OK],
      ["rename", `${home}/sub/moved.bin`, `${home}/sub/again.bin`, SftpStatus.OK],
      ["remove", `${home}/sub/again.bin`, undefined, SftpStatus.OK],
      ["remove", `${home}/sub`, undefined, SftpStatus.OK],
    ]);
  });

  test("a denied write leaves the disk unchanged, answers PERMISSION_DENIED with the rule's message, and the next operation works", async () => {
    const message = await denied(client.put("locked/keep.txt", new TextEncoder().encode("overwritten\n")));
    expect(message).toBe(`rule locked-read-only: write on ${home}/locked/keep.txt is not allowed`);
    expect(readFileSync(join(home, "locked", "keep.txt"), "utf8")).toBe("original\n");
    // Reading it is allowed, and works right after the denial.
    expect(new TextDecoder().decode(await client.get("locked/keep.txt"))).toBe("original\n");
  });

  test("../../ cannot climb out of the policy: the normalised path is decided", async () => {
    const up = "../".repeat(home.split("/").length + 2);
    expect(await denied(client.get(`${up}etc/passwd`))).toBe("rule no-etc: read on /etc/passwd is not allowed");
    expect(await denied(client.request({ type: "STAT", path: "/etc//./hosts" }).then((r) => (r.type === "STATUS" ? Promise.reject(new SftpStatusError(r)) : r)))).toBe(
      "rule no-etc: list on /etc/hosts is not allowed",
    );
  });

  test("renames, links and removals touching locked/ are denied on either end and change nothing", async () => {
    writeFileSync(join(home, "free.txt"), "free\n");
    expect(await denied(client.rename("free.txt", "locked/free.txt"))).toContain("rename on");
    expect(await denied(client.rename("locked/keep.txt", "stolen.txt"))).toContain("rename on");
    expect(await denied(client.ok({ type: "SYMLINK", targetPath: `${home}/locked/keep.txt`, linkPath: "link" }))).toBe(`rule locked-read-only: write on ${home}/locked/keep.txt is not allowed`);
    expect(await denied(client.ok({ type: "EXTENDED", request: { name: SftpExtension.hardlink, oldPath: "locked/keep.txt", newPath: "hard" } }))).toContain("write on");
    expect(await denied(client.ok({ type: "REMOVE", path: "locked/keep.txt" }))).toContain("remove on");
    expect(await denied(client.ok({ type: "SETSTAT", path: "locked/keep.txt", attrs: { permissions: 0o777 } }))).toContain("setstat on");
    expect(readFileSync(join(home, "locked", "keep.txt"), "utf8")).toBe("original\n");
    expect(existsSync(join(home, "link")) || existsSync(join(home, "hard")) || existsSync(join(home, "stolen.txt"))).toBe(false);
    expect(existsSync(join(home, "free.txt"))).toBe(true);
    // A read-only handle cannot be written or fsetstat'ed into locked/.
    const { handle } = await client.expect({ type: "OPEN", path: "locked/keep.txt", pflags: SftpOpenFlag.READ, attrs: {} }, "HANDLE");
    expect(await denied(client.ok({ type: "WRITE", handle, offset: 0n, data: new Uint8Array([1]) }))).toContain("was opened for read, not write");
    expect(await denied(client.ok({ type: "FSETSTAT", handle, attrs: { permissions: 0o777 } }))).toContain("setstat on");
    await client.ok({ type: "CLOSE", handle });
    expect(readFileSync(join(home, "locked", "keep.txt"), "utf8")).toBe("original\n");
  });

  test("unknown extensions and unreadable requests get an answer, and the session goes on", async () => {
    const unknown = await client.request({ type: "EXTENDED", request: { name: "evil@example.com", unknown: true, data: new Uint8Array([1]) } });
    expect(unknown).toMatchObject({ type: "STATUS", code: SftpStatus.PERMISSION_DENIED, message: 'SFTP extension "evil@example.com" is not allowed by the gateway' });
    const nul = new SftpWriter().u8(SftpPacketType.REMOVE).u32(9000).bytes(new TextEncoder().encode("free.txt\0/etc/passwd")).finish();
    expect(await client.raw(9000, nul)).toMatchObject({ type: "STATUS", id: 9000, code: SftpStatus.BAD_MESSAGE });
    expect(existsSync(join(home, "free.txt"))).toBe(true);
    const limits = await client.expect({ type: "EXTENDED", request: { name: SftpExtension.limits } }, "EXTENDED_REPLY");
    expect(new DataView(limits.data.buffer, limits.data.byteOffset).getBigUint64(0)).toBe(262144n);
    expect(await client.ls("locked")).toEqual(["keep.txt"]);
    expect(pipe.errors).toEqual([]);
  });

  test("symbolic links: to a file with an absolute target, yes; to a directory, or with a relative target, no", async () => {
    mkdirSync(join(home, "open-dir"));
    await client.ok({ type: "SYMLINK", targetPath: `${home}/free.txt`, linkPath: "to-file" });
    expect(readlinkSync(join(home, "to-file"))).toBe(`${home}/free.txt`);
    // open-dir is allowed for writing, yet a link to a directory is refused: through it, every path
    // under the directory would be reached by a name the policy did not see.
    expect(await denied(client.ok({ type: "SYMLINK", targetPath: home, linkPath: "open-dir/up" }))).toBe(
      `SYMLINK: ${home} is a directory, and a link to it would carry the paths under it past the policy`,
    );
    expect(await denied(client.ok({ type: "SYMLINK", targetPath: "free.txt", linkPath: "rel" }))).toContain("absolute targets only");
    // A hard link to the symbolic link would be a second, undecided symbolic link.
    expect(await denied(client.ok({ type: "EXTENDED", request: { name: SftpExtension.hardlink, oldPath: "to-file", newPath: "open-dir/h" } }))).toContain("is a symbolic link");
    expect(existsSync(join(home, "open-dir", "up")) || existsSync(join(home, "rel")) || existsSync(join(home, "open-dir", "h"))).toBe(false);
    // A hard link to a plain file in an allowed place works.
    await client.ok({ type: "EXTENDED", request: { name: SftpExtension.hardlink, oldPath: "free.txt", newPath: "open-dir/hard.txt" } });
    expect(readFileSync(join(home, "open-dir", "hard.txt"), "utf8")).toBe("free\n");
    expect(pipe.errors).toEqual([]);
  });
});

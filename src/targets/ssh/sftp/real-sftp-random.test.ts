// Random sessions against a real sftp-server through the filter, with a policy that closes one
// directory entirely: whatever the requests (.., links, renames, handles, copy-data), nothing in it
// changes and none of its names or bytes reach the client. Seeded, so a failure can be replayed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SftpExtension, SftpOpenFlag } from "./sftp-constants.ts";
import type { SftpCheck } from "./sftp-classify.ts";
import { type SftpServerPipe, findSftpServer, startSftpServerPipe } from "./sftp-server-pipe.ts";
import { type RequestWithoutId, SftpTestClient } from "./sftp-test-client.ts";

const server = findSftpServer();
if (server === null) throw new Error("OpenSSH sftp-server not found (apt-get install openssh-server)");

const CANARY = "CANARY-7f3a91";
const CANARY_NAME = "canary-name-55c2";

let root: string;
let home: string;
let secret: string;

/** Everything about a tree that a write, rename, link or chmod would change. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} mode=${st.mode.toString(8)} nlink=${st.nlink} size=${st.size} mtime=${st.mtimeMs} uid=${st.uid}`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return out;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), "gatehouse-sftp-random-")));
  home = join(root, "home");
  secret = join(home, "secret");
  mkdirSync(join(secret, "inner"), { recursive: true });
  mkdirSync(join(home, "free"));
  writeFileSync(join(secret, "a.txt"), `${CANARY} a\n`);
  writeFileSync(join(secret, `${CANARY_NAME}.txt`), `${CANARY} b\n`);
  writeFileSync(join(secret, "inner", "c.txt"), `${CANARY} c\n`);
  writeFileSync(join(home, "free", "b.txt"), "free b\n");
  writeFileSync(join(root, "outside.txt"), "outside\n");
});

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("random sessions through the filter", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    test(`seed ${seed}: the closed directory stays closed`, async () => {
      const before = snapshot(secret);
      const outsideBefore = readdirSync(root).sort();
      const received: Uint8Array[] = [];
      const inside = (p: string) => p === secret || p.startsWith(`${secret}/`);
      const decide = (c: SftpCheck) =>
        Promise.resolve(
          // Only `path` is matched (as a policy that ignores toPath would): the filter must ask about both ends itself.
          inside(c.path) || !(c.path === home || c.path.startsWith(`${home}/`))
            ? { allow: false as const, message: `closed: ${c.operation} ${c.path}` }
            : { allow: true as const },
        );
      let client!: SftpTestClient;
      const pipe: SftpServerPipe = startSftpServerPipe({
        server,
        cwd: home,
        decide,
        toClient: (b) => {
          received.push(b.slice());
          client.receive(b);
        },
      });
      client = new SftpTestClient((b) => pipe.filter.fromClient(b));
      await client.init();

      const rnd = mulberry32(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
      const pieces = ["secret", "free", "secret/a.txt", "free/b.txt", "x", "..", ".", "", "l1", "l2", "free/d", "secret/inner", "h1", "inner", "a.txt", "l1/a.txt", "l2/secret/a.txt", "l1/secret/a.txt", "free/d/secret", "l2/secret"];
      const path = (): string => {
        const parts = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(pieces));
        const rel = parts.join(pick(["/", "//", "/./"]));
        return pick(["", "", `${home}/`, `${home}/free/../`, "/", `${root}/`]) + rel;
      };
      const handles: Uint8Array[] = [];
      const handle = (): Uint8Array => (handles.length > 0 && rnd() < 0.9 ? pick(handles) : new Uint8Array([0, 0, 0, Math.floor(rnd() * 8)]));
      const ops: (() => RequestWithoutId)[] = [
        () => ({ type: "OPEN", path: path(), pflags: pick([SftpOpenFlag.READ, SftpOpenFlag.WRITE | SftpOpenFlag.CREAT | SftpOpenFlag.TRUNC, SftpOpenFlag.READ | SftpOpenFlag.WRITE, SftpOpenFlag.APPEND | SftpOpenFlag.CREAT, 0]), attrs: {} }),
        () => ({ type: "OPENDIR", path: path() }),
        () => ({ type: "READDIR", handle: handle() }),
        () => ({ type: "READ", handle: handle(), offset: 0n, length: 4096 }),
        () => ({ type: "WRITE", handle: handle(), offset: BigInt(Math.floor(rnd() * 10)), data: new TextEncoder().encode("overwrite!") }),
        () => ({ type: "CLOSE", handle: handle() }),
        () => ({ type: "FSTAT", handle: handle() }),
        () => ({ type: "FSETSTAT", handle: handle(), attrs: { permissions: 0o777 } }),
        () => ({ type: "STAT", path: path() }),
        () => ({ type: "LSTAT", path: path() }),
        () => ({ type: "READLINK", path: path() }),
        () => ({ type: "REALPATH", path: path() }),
        () => ({ type: "SETSTAT", path: path(), attrs: { permissions: 0o700 } }),
        () => ({ type: "REMOVE", path: path() }),
        () => ({ type: "RMDIR", path: path() }),
        () => ({ type: "MKDIR", path: path(), attrs: {} }),
        () => ({ type: "RENAME", oldPath: path(), newPath: path() }),
        () => ({ type: "SYMLINK", targetPath: pick([path(), `${home}/${pick(pieces)}`, `${secret}`, `${secret}/a.txt`, ".."]), linkPath: path() }),
        // Links in likely places to likely targets, so that paths through them come up often.
        () => ({ type: "SYMLINK", targetPath: pick([home, secret, `${secret}/a.txt`, `${secret}/inner`, `${home}/free`, "secret", "../secret/a.txt"]), linkPath: pick(["l1", "l2", "free/d"]) }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.hardlink, oldPath: pick(["secret/a.txt", "l1", "l2", "free/b.txt"]), newPath: pick(["l1", "l2", "h1"]) } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.posixRename, oldPath: path(), newPath: path() } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.hardlink, oldPath: path(), newPath: path() } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.lsetstat, path: path(), attrs: { permissions: 0o666 } } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.expandPath, path: pick(["~", "~/secret", "~/free/../secret/a.txt", path()]) } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.statvfs, path: path() } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.fsync, handle: handle() } }),
        () => ({ type: "EXTENDED", request: { name: SftpExtension.copyData, readHandle: handle(), readOffset: 0n, readLength: 0n, writeHandle: handle(), writeOffset: 0n } }),
      ];
      let allowed = 0;
      for (let i = 0; i < 500; i++) {
        // Pipelined in small bursts, as real clients send them.
        const burst = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => client.request(pick(ops)()));
        for (const r of await Promise.all(burst)) {
          if (r.type === "HANDLE") handles.push(r.handle.slice());
          if (r.type !== "STATUS" || r.code !== 3) allowed++;
        }
      }
      await pipe.stop();

      expect(pipe.errors).toEqual([]);
      // The session did real work, not only refusals.
      expect(allowed).toBeGreaterThan(200);
      expect(snapshot(secret)).toEqual(before);
      expect(readdirSync(root).sort()).toEqual(outsideBefore);
      expect(readFileSync(join(root, "outside.txt"), "utf8")).toBe("outside\n");
      const all = Buffer.concat(received).toString("latin1");
      expect(all.includes(CANARY)).toBe(false);
      expect(all.includes(CANARY_NAME)).toBe(false);
    });
  }
});

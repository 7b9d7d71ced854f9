// pipeSftp between Node streams and a real sftp-server: files move both ways, refusals arrive,
// and a client that does not read its replies stops the server instead of filling the gateway.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcessByStdio, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { SftpOpenFlag, SftpStatus } from "./sftp-constants.ts";
import { type SftpPipe, pipeSftp } from "./sftp-pipe.ts";
import type { SftpReply } from "./sftp-replies.ts";
import { findSftpServer } from "./sftp-server-pipe.ts";
import { SftpTestClient } from "./sftp-test-client.ts";

const server = findSftpServer();
if (server === null) throw new Error("OpenSSH sftp-server not found (apt-get install openssh-server)");

let home: string;
const BIG = 8 * 1024 * 1024;

/** Waits, a bounded number of event-loop turns (never a timer), until `cond` holds. */
async function until(what: string, cond: () => boolean, turns = 200_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`gave up waiting for ${what}`);
}

interface Rig {
  proc: ChildProcessByStdio<Writable, Readable, null>;
  upstream: Readable;
  toGateway: PassThrough;
  toClient: PassThrough;
  pipe: SftpPipe;
  client: SftpTestClient;
}

type Decide = Parameters<typeof pipeSftp>[1]["decide"];
const readOnlyRo: Decide = (c) => (c.path.startsWith(`${home}/ro`) && c.operation !== "read" ? { allow: false, message: `read-only: ${c.path}` } : { allow: true });

function rig(decide: Decide = readOnlyRo): Rig {
  const proc = spawn(server as string, ["-e", "-l", "ERROR"], { cwd: home, stdio: ["pipe", "pipe", "inherit"] });
  const upstream = proc.stdout;
  const toGateway = new PassThrough();
  const toClient = new PassThrough();
  const pipe = pipeSftp({ callerIn: toGateway, callerOut: toClient, upstreamIn: proc.stdout, upstreamOut: proc.stdin }, {
    decide,
    onError: (e) => {
      throw e;
    },
  });
  const client = new SftpTestClient((b) => toGateway.write(b));
  return { proc, upstream, toGateway, toClient, pipe, client };
}

async function stop(r: Rig): Promise<void> {
  r.pipe.close();
  r.proc.stdin.end();
  await new Promise((res) => (r.proc.exitCode !== null ? res(null) : r.proc.once("exit", res)));
}

beforeAll(() => {
  home = realpathSync(mkdtempSync(join(tmpdir(), "gatehouse-sftp-pipe-")));
  writeFileSync(join(home, "big.bin"), new Uint8Array(BIG).map((_, i) => (i * 13) & 0xff));
  writeFileSync(join(home, "ro.txt"), "keep\n");
});

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe("pipeSftp", () => {
  test("put and get through Node streams; a refusal arrives and the session goes on", async () => {
    const r = rig();
    r.toClient.on("data", (c: Buffer) => r.client.receive(c));
    await r.client.init();
    const data = new Uint8Array(300_000).fill(0x5a);
    await r.client.put("up.bin", data);
    expect(new Uint8Array(readFileSync(join(home, "up.bin")))).toEqual(data);
    const denied = await r.client.request({ type: "OPEN", path: "ro.txt", pflags: SftpOpenFlag.WRITE | SftpOpenFlag.TRUNC, attrs: {} });
    expect(denied).toMatchObject({ type: "STATUS", code: SftpStatus.PERMISSION_DENIED, message: `read-only: ${home}/ro.txt` });
    expect(readFileSync(join(home, "ro.txt"), "utf8")).toBe("keep\n");
    expect(await r.client.get("up.bin")).toEqual(data);
    await stop(r);
  });

  test("a client that does not read its replies pauses the server's stream; the gateway holds little, and all arrives once it reads", async () => {
    const r = rig();
    const onData = (c: Buffer) => r.client.receive(c);
    r.toClient.on("data", onData);
    await r.client.init();
    const open = await r.client.request({ type: "OPEN", path: "big.bin", pflags: SftpOpenFlag.READ, attrs: {} });
    // From now on nothing reads toClient: its buffer fills, and the pipe should pause the upstream.
    r.toClient.off("data", onData);
    r.toClient.pause();
    if (open.type !== "HANDLE") throw new Error(`OPEN answered ${open.type}`);
    const chunk = 32 * 1024;
    const reads: Promise<SftpReply>[] = [];
    for (let at = 0; at < BIG; at += chunk) reads.push(r.client.request({ type: "READ", handle: open.handle, offset: BigInt(at), length: chunk }));
    await until("the pipe to pause the upstream", () => r.upstream.isPaused());
    // The server goes on until its stdout pipe is full; give it every chance, then measure.
    let most = 0;
    for (let i = 0; i < 2000; i++) {
      most = Math.max(most, r.toClient.readableLength + r.toClient.writableLength + r.upstream.readableLength);
      await new Promise((res) => setImmediate(res));
    }
    expect(r.upstream.isPaused()).toBe(true);
    expect(most).toBeLessThan(1024 * 1024);
    if (process.env.SFTP_PIPE_REPORT) console.log(`most bytes held while the client did not read: ${most}`);
    // Now the client reads, and every byte of the 8 MiB arrives.
    r.toClient.on("data", onData);
    r.toClient.resume();
    let total = 0;
    for (const reply of await Promise.all(reads)) {
      if (reply.type !== "DATA") throw new Error(`READ answered ${reply.type}`);
      total += reply.data.length;
    }
    expect(total).toBe(BIG);
    await stop(r);
  });

  test("while decisions wait, the client's stream is paused once the filter holds enough, and resumed when they come", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const r = rig(async (c) => {
      await gate;
      return readOnlyRo(c);
    });
    r.toClient.on("data", (c: Buffer) => r.client.receive(c));
    await r.client.init();
    const stats = Array.from({ length: 200 }, (_, i) => r.client.request({ type: "STAT", path: i % 2 === 0 ? "big.bin" : "." }));
    await until("the pipe to pause the client", () => r.toGateway.isPaused());
    expect(r.pipe.filter.queued).toBeLessThan(200);
    release();
    const replies = await Promise.all(stats);
    expect(replies.every((x) => x.type === "ATTRS")).toBe(true);
    await until("the client to be read again", () => !r.toGateway.isPaused());
    await stop(r);
  });
});

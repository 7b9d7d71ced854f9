import { describe, expect, test } from "bun:test";
import type { GatewayError } from "../../../core/errors.ts";
import { SftpWriter } from "./sftp-bytes.ts";
import type { SftpCheck } from "./sftp-classify.ts";
import { SFTP_MAX_PACKET_LENGTH, SftpExtension, SftpOpenFlag, SftpPacketType, SftpStatus } from "./sftp-constants.ts";
import { OWN_REQUEST_ID, type SftpFinished, SftpFilter, type SftpFilterOptions, type SftpVerdict } from "./sftp-filter.ts";
import { decodeSftpPackets } from "./sftp-frames.ts";
import { type SftpReply, encodeSftpReply, parseSftpReply } from "./sftp-replies.ts";
import { type SftpRequest, encodeSftpRequest, parseSftpRequest } from "./sftp-requests.ts";

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const h = (n: number) => new Uint8Array([0, 0, 0, n]);
const INIT = encodeSftpRequest({ type: "INIT", version: 3, extensions: [] });
const VERSION = encodeSftpReply({ type: "VERSION", version: 3, extensions: [["posix-rename@openssh.com", "1"]] });
const req = (r: SftpRequest) => encodeSftpRequest(r);
const rep = (r: SftpReply) => encodeSftpReply(r);
const ok = (id: number) => rep({ type: "STATUS", id, code: SftpStatus.OK, message: "Success", language: "" });

/** A filter wired to arrays, with a policy: deny anything under /etc, allow the rest. */
function harness(over: Partial<SftpFilterOptions> = {}) {
  const up: Uint8Array[] = [];
  const down: Uint8Array[] = [];
  const errors: GatewayError[] = [];
  const finished: SftpFinished[] = [];
  const checks: SftpCheck[] = [];
  let resumed = 0;
  const filter = new SftpFilter({
    decide: (c) => {
      checks.push(c);
      return c.path === "/etc" || c.path.startsWith("/etc/") ? { allow: false, message: `no ${c.operation} under /etc (${c.path})` } : { allow: true };
    },
    forwardUp: (b) => up.push(b.slice()),
    replyDown: (b) => down.push(b.slice()),
    onError: (e) => errors.push(e),
    onFinished: (r) => finished.push(r),
    onResume: () => resumed++,
    home: "/home/u",
    ...over,
  });
  return {
    filter,
    up,
    down,
    errors,
    finished,
    checks,
    resumed: () => resumed,
    /** What the server received, parsed. */
    upRequests: () => decodeSftpPackets(concat(up)).packets.map((p) => parseSftpRequest(p.body)),
    /** What the client received, parsed (fails if the stream is not whole packets). */
    downReplies: () => {
      const all = concat(down);
      const d = decodeSftpPackets(all, SFTP_MAX_PACKET_LENGTH, "server");
      expect(d.used).toBe(all.length);
      return d.packets.map((p) => parseSftpReply(p.body));
    },
    start() {
      expect(filter.fromClient(INIT)).toBe(true);
      filter.fromUpstream(VERSION);
    },
  };
}

/** A promise and the function that settles it, for decisions that wait. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Waits (bounded, by turns of the event loop, never by time) until `cond` holds. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await Promise.resolve();
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("SftpFilter", () => {
  test("INIT and VERSION pass through unchanged", () => {
    const t = harness();
    t.start();
    expect(concat(t.up)).toEqual(INIT);
    expect(concat(t.down)).toEqual(VERSION);
    expect(t.errors).toEqual([]);
  });

  test("a denied request gets PERMISSION_DENIED with the message, is not forwarded, and the session goes on", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "OPEN", id: 7, path: "../../etc/passwd", pflags: SftpOpenFlag.READ, attrs: {} }));
    t.filter.fromClient(req({ type: "STAT", id: 8, path: "docs" }));
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT", "STAT"]);
    expect(t.upRequests()[1]).toMatchObject({ id: 8, path: "docs" });
    expect(t.downReplies()[1]).toEqual({ type: "STATUS", id: 7, code: SftpStatus.PERMISSION_DENIED, message: "no read under /etc (/etc/passwd)", language: "en" });
    expect(t.checks.map((c) => [c.operation, c.path, c.request])).toEqual([
      ["read", "/etc/passwd", "OPEN"],
      ["list", "/home/u/docs", "STAT"],
    ]);
  });

  test("a handle learned from the HANDLE reply: READ and WRITE are covered, bytes are counted, CLOSE reports them", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "OPEN", id: 1, path: "f.txt", pflags: SftpOpenFlag.READ | SftpOpenFlag.WRITE, attrs: {} }));
    t.filter.fromUpstream(rep({ type: "HANDLE", id: 1, handle: h(0) }));
    t.filter.fromClient(req({ type: "WRITE", id: 2, handle: h(0), offset: 0n, data: new Uint8Array(100) }));
    t.filter.fromClient(req({ type: "WRITE", id: 3, handle: h(0), offset: 100n, data: new Uint8Array(50) }));
    t.filter.fromUpstream(concat([ok(2), rep({ type: "STATUS", id: 3, code: SftpStatus.FAILURE, message: "disk full", language: "" })]));
    t.filter.fromClient(req({ type: "READ", id: 4, handle: h(0), offset: 0n, length: 4096 }));
    t.filter.fromUpstream(rep({ type: "DATA", id: 4, data: new Uint8Array(100) }));
    t.filter.fromClient(req({ type: "CLOSE", id: 5, handle: h(0) }));
    // Until the server answers the CLOSE, the handle is unusable but not yet finished.
    t.filter.fromClient(req({ type: "READ", id: 6, handle: h(0), offset: 0n, length: 1 }));
    expect(t.finished).toEqual([]);
    t.filter.fromUpstream(ok(5));
    expect(t.finished).toEqual([{ type: "handle", kind: "file", path: "/home/u/f.txt", operation: "write", operations: ["read", "write"], bytesRead: 100, bytesWritten: 100, closedBy: "client" }]);
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT", "OPEN", "WRITE", "WRITE", "READ", "CLOSE"]);
    expect(t.downReplies().at(-2)).toMatchObject({ type: "STATUS", id: 6, code: SftpStatus.PERMISSION_DENIED, message: "READ: handle 00000000 is being closed" });
    expect(t.filter.openHandles).toBe(0);
    // After the close, the handle is unknown.
    t.filter.fromClient(req({ type: "READ", id: 7, handle: h(0), offset: 0n, length: 1 }));
    expect(t.downReplies().at(-1)).toMatchObject({ id: 7, code: SftpStatus.PERMISSION_DENIED, message: "READ: unknown handle 00000000" });
  });

  test("a denied OPEN yields no handle: a HANDLE reply with its id (from a confused or hostile server) teaches nothing", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "OPEN", id: 1, path: "/etc/shadow", pflags: SftpOpenFlag.READ, attrs: {} }));
    t.filter.fromUpstream(rep({ type: "HANDLE", id: 1, handle: h(3) }));
    t.filter.fromClient(req({ type: "READ", id: 2, handle: h(3), offset: 0n, length: 10 }));
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT"]);
    expect(t.downReplies().at(-1)).toMatchObject({ id: 2, code: SftpStatus.PERMISSION_DENIED });
  });

  test("a request waiting for a decision holds the ones behind it; a refusal is answered at once", async () => {
    const gate = deferred<SftpVerdict>();
    const t = harness({ decide: (c) => (c.operation === "rename" ? gate.promise : c.path.startsWith("/etc") ? { allow: false, message: "no" } : { allow: true }) });
    t.start();
    t.filter.fromClient(req({ type: "STAT", id: 1, path: "a" }));
    t.filter.fromClient(concat([req({ type: "RENAME", id: 2, oldPath: "a", newPath: "b" }), req({ type: "REMOVE", id: 3, path: "b" }), req({ type: "REMOVE", id: 4, path: "/etc/x" })]));
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT", "STAT"]);
    expect(t.filter.queued).toBe(3);
    gate.resolve({ allow: true });
    await until("the REMOVE after the RENAME to be forwarded", () => t.upRequests().length === 4);
    expect(t.upRequests().map((r) => (r.type === "INIT" ? "INIT" : `${r.type} ${r.id}`))).toEqual(["INIT", "STAT 1", "RENAME 2", "REMOVE 3"]);
    // The refusal of 4 reaches the client before the server has answered 1, 2 or 3.
    expect(t.downReplies().map((r) => (r.type === "VERSION" ? "VERSION" : `${r.type} ${r.id}`))).toEqual(["VERSION", "STATUS 4"]);
  });

  test("a rename is decided on both names; a denied target stops it", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "EXTENDED", id: 1, request: { name: SftpExtension.posixRename, oldPath: "notes", newPath: "/etc/cron.d/job" } }));
    expect(t.checks.map((c) => [c.operation, c.path, c.toPath])).toEqual([
      ["rename", "/home/u/notes", "/etc/cron.d/job"],
      ["rename", "/etc/cron.d/job", undefined],
    ]);
    expect(t.upRequests().length).toBe(1);
    expect(t.downReplies()[1]).toMatchObject({ id: 1, code: SftpStatus.PERMISSION_DENIED, message: "no rename under /etc (/etc/cron.d/job)" });
  });

  test("a symlink pointing into a denied place is refused even though its own name is allowed", async () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "SYMLINK", id: 1, targetPath: "/etc/passwd", linkPath: "innocent" }));
    const probe = t.upRequests()[1];
    expect(probe).toMatchObject({ type: "STAT", path: "/etc/passwd" });
    t.filter.fromUpstream(rep({ type: "ATTRS", id: (probe as { id: number }).id, attrs: { permissions: 0o100644 } }));
    await until("the refusal", () => t.down.length === 2);
    expect(t.upRequests().length).toBe(2);
    expect(t.downReplies()[1]).toMatchObject({ id: 1, code: SftpStatus.PERMISSION_DENIED, message: "no write under /etc (/etc/passwd)" });
  });

  test("links: the server is asked first; a directory target, a symlink source or an unclear answer refuses; a missing target is fine", async () => {
    const t = harness();
    t.start();
    const probeAnswer = async (answer: (id: number) => Uint8Array) => {
      const probe = t.upRequests().at(-1) as { id: number; type: string };
      expect(probe.id).toBeGreaterThan(0xffff0000);
      t.filter.fromUpstream(answer(probe.id));
      await until("the filter to be done with the request", () => t.filter.queued === 0);
    };
    t.filter.fromClient(req({ type: "SYMLINK", id: 1, targetPath: "/srv/dir", linkPath: "l1" }));
    await probeAnswer((id) => rep({ type: "ATTRS", id, attrs: { permissions: 0o040755 } }));
    t.filter.fromClient(req({ type: "EXTENDED", id: 2, request: { name: SftpExtension.hardlink, oldPath: "sym", newPath: "h" } }));
    await probeAnswer((id) => rep({ type: "ATTRS", id, attrs: { permissions: 0o120777 } }));
    t.filter.fromClient(req({ type: "SYMLINK", id: 3, targetPath: "/srv/x", linkPath: "l3" }));
    await probeAnswer((id) => rep({ type: "STATUS", id, code: SftpStatus.PERMISSION_DENIED, message: "Permission denied", language: "" }));
    t.filter.fromClient(req({ type: "SYMLINK", id: 4, targetPath: "/srv/new", linkPath: "l4" }));
    await probeAnswer((id) => rep({ type: "STATUS", id, code: SftpStatus.NO_SUCH_FILE, message: "No such file", language: "" }));
    t.filter.fromClient(req({ type: "SYMLINK", id: 5, targetPath: "/srv/file", linkPath: "l5" }));
    await probeAnswer((id) => rep({ type: "ATTRS", id, attrs: { permissions: 0o100600 } }));
    const replies = t.downReplies().slice(1);
    expect(replies).toMatchObject([
      { id: 1, code: SftpStatus.PERMISSION_DENIED, message: "SYMLINK: /srv/dir is a directory, and a link to it would carry the paths under it past the policy" },
      { id: 2, code: SftpStatus.PERMISSION_DENIED, message: "hardlink@openssh.com: /home/u/sym is a symbolic link; the gateway does not copy symbolic links by hard link" },
      { id: 3, code: SftpStatus.PERMISSION_DENIED, message: "the gateway cannot tell what /srv/x is (Permission denied), so it does not link it" },
    ]);
    // The probes' answers never reach the client; 4 and 5 went to the server after theirs.
    expect(t.upRequests().map((r) => (r.type === "SYMLINK" ? `SYMLINK ${r.id}` : r.type))).toEqual(["INIT", "STAT", "LSTAT", "STAT", "STAT", "SYMLINK 4", "STAT", "SYMLINK 5"]);
  });

  test("a changing request reports the server's answer when it comes", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "MKDIR", id: 1, path: "new", attrs: {} }));
    t.filter.fromClient(req({ type: "STAT", id: 2, path: "new" }));
    t.filter.fromUpstream(concat([ok(1), rep({ type: "ATTRS", id: 2, attrs: {} })]));
    expect(t.finished).toEqual([{ type: "request", request: "MKDIR", operation: "mkdir", path: "/home/u/new", status: 0, message: "Success" }]);
  });

  test("the server's replies go down as whole packets, so our refusal never lands inside one", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "OPEN", id: 1, path: "f", pflags: SftpOpenFlag.READ, attrs: {} }));
    t.filter.fromUpstream(rep({ type: "HANDLE", id: 1, handle: h(0) }));
    t.filter.fromClient(req({ type: "READ", id: 2, handle: h(0), offset: 0n, length: 1000 }));
    const data = rep({ type: "DATA", id: 2, data: new Uint8Array(1000).fill(0x41) });
    const downBefore = t.down.length;
    t.filter.fromUpstream(data.subarray(0, 500));
    expect(t.down.length).toBe(downBefore);
    t.filter.fromClient(req({ type: "REMOVE", id: 3, path: "/etc/hosts" }));
    t.filter.fromUpstream(data.subarray(500));
    expect(t.downReplies().map((r) => (r.type === "VERSION" ? "VERSION" : `${r.type} ${r.id}`))).toEqual(["VERSION", "HANDLE 1", "STATUS 3", "DATA 2"]);
  });

  test("both streams split at every byte boundary: the same bytes reach the server and the client", () => {
    const clientStream = concat([
      INIT,
      req({ type: "OPEN", id: 1, path: "f", pflags: SftpOpenFlag.READ | SftpOpenFlag.WRITE, attrs: {} }),
      req({ type: "REMOVE", id: 2, path: "/etc/x" }),
    ]);
    const later = concat([req({ type: "WRITE", id: 3, handle: h(0), offset: 0n, data: new Uint8Array(40).fill(3) }), req({ type: "READ", id: 4, handle: h(0), offset: 0n, length: 40 }), req({ type: "CLOSE", id: 5, handle: h(0) })]);
    const serverStream = concat([VERSION, rep({ type: "HANDLE", id: 1, handle: h(0) })]);
    const serverLater = concat([ok(3), rep({ type: "DATA", id: 4, data: new Uint8Array(40).fill(3) }), ok(5)]);
    const run = (cut: number) => {
      const t = harness();
      const split = (b: Uint8Array, f: (x: Uint8Array) => unknown) => {
        const at = Math.min(cut, b.length);
        f(b.subarray(0, at));
        f(b.subarray(at));
      };
      split(clientStream, (x) => t.filter.fromClient(x));
      split(serverStream, (x) => t.filter.fromUpstream(x));
      split(later, (x) => t.filter.fromClient(x));
      split(serverLater, (x) => t.filter.fromUpstream(x));
      return { up: concat(t.up), down: concat(t.down), finished: t.finished, errors: t.errors };
    };
    const whole = run(0);
    expect(whole.errors).toEqual([]);
    expect(whole.finished).toMatchObject([{ type: "handle", bytesRead: 40, bytesWritten: 40 }]);
    const longest = Math.max(clientStream.length, serverStream.length, later.length, serverLater.length);
    for (let cut = 1; cut <= longest; cut++) expect(run(cut)).toEqual(whole);
  });

  test("whole packets of one chunk go down as one view of it", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(concat([req({ type: "STAT", id: 1, path: "/a" }), req({ type: "STAT", id: 2, path: "/b" })]));
    const chunk = concat([rep({ type: "ATTRS", id: 1, attrs: {} }), rep({ type: "ATTRS", id: 2, attrs: {} })]);
    const seen: Uint8Array[] = [];
    (t.filter as unknown as { options: SftpFilterOptions }).options.replyDown = (b) => seen.push(b);
    t.filter.fromUpstream(chunk);
    expect(seen.length).toBe(1);
    expect(seen[0]?.buffer).toBe(chunk.buffer);
    expect(seen[0]?.length).toBe(chunk.length);
  });

  test("without a home: the filter asks the server where it is (REALPATH \".\" of its own), and relative requests wait for the answer", () => {
    const t = harness({ home: undefined });
    t.start();
    expect(t.upRequests()).toEqual([{ type: "INIT", version: 3, extensions: [] }, { type: "REALPATH", id: OWN_REQUEST_ID, path: "." }]);
    t.filter.fromClient(concat([req({ type: "OPEN", id: 1, path: "../../etc/passwd", pflags: 1, attrs: {} }), req({ type: "STAT", id: 2, path: "x" })]));
    expect(t.upRequests().length).toBe(2);
    expect(t.checks).toEqual([]);
    t.filter.fromUpstream(rep({ type: "NAME", id: OWN_REQUEST_ID, entries: [{ filename: "/home/u", longname: "/home/u", attrs: {} }] }));
    expect(t.filter.home).toBe("/home/u");
    expect(t.checks.map((c) => c.path)).toEqual(["/etc/passwd", "/home/u/x"]);
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT", "REALPATH", "STAT"]);
    // The answer to our own REALPATH is not the client's.
    expect(t.downReplies().map((r) => (r.type === "VERSION" ? "VERSION" : `${r.type} ${r.id}`))).toEqual(["VERSION", "STATUS 1"]);
  });

  test("without a home: the client's own REALPATH \".\" is forwarded (it reveals only the home) and teaches it too", () => {
    const t = harness({ home: undefined });
    t.start();
    t.filter.fromClient(concat([req({ type: "REALPATH", id: 1, path: "." }), req({ type: "STAT", id: 2, path: "x" })]));
    t.filter.fromUpstream(rep({ type: "NAME", id: 1, entries: [{ filename: "/home/v", longname: "/home/v", attrs: {} }] }));
    expect(t.filter.home).toBe("/home/v");
    expect(t.checks.map((c) => c.path)).toEqual(["/home/v/x"]);
    // Our own answer, arriving later, changes nothing and is swallowed.
    t.filter.fromUpstream(rep({ type: "NAME", id: OWN_REQUEST_ID, entries: [{ filename: "/elsewhere", longname: "", attrs: {} }] }));
    expect(t.filter.home).toBe("/home/v");
    expect(t.downReplies().map((r) => (r.type === "VERSION" ? "VERSION" : `${r.type} ${r.id}`))).toEqual(["VERSION", "NAME 1"]);
  });

  test("a client request with the id of our own REALPATH waits for it, then goes", () => {
    const t = harness({ home: undefined });
    t.start();
    t.filter.fromClient(req({ type: "STAT", id: OWN_REQUEST_ID, path: "/tmp" }));
    expect(t.upRequests().length).toBe(2);
    t.filter.fromUpstream(rep({ type: "NAME", id: OWN_REQUEST_ID, entries: [{ filename: "/home/u", longname: "", attrs: {} }] }));
    expect(t.upRequests().at(-1)).toEqual({ type: "STAT", id: OWN_REQUEST_ID, path: "/tmp" });
    t.filter.fromUpstream(rep({ type: "ATTRS", id: OWN_REQUEST_ID, attrs: {} }));
    expect(t.downReplies().at(-1)).toEqual({ type: "ATTRS", id: OWN_REQUEST_ID, attrs: {} });
  });

  test("when the server will not say where it is, a relative path is refused with a reason; absolute ones work", () => {
    const t = harness({ home: undefined });
    t.start();
    t.filter.fromUpstream(rep({ type: "STATUS", id: OWN_REQUEST_ID, code: SftpStatus.NO_SUCH_FILE, message: "gone", language: "" }));
    t.filter.fromClient(req({ type: "REMOVE", id: 1, path: "x" }));
    t.filter.fromClient(req({ type: "REMOVE", id: 2, path: "/tmp/x" }));
    expect(t.filter.home).toBeNull();
    expect(t.downReplies()[1]).toMatchObject({ id: 1, code: SftpStatus.PERMISSION_DENIED, message: expect.stringContaining("does not know the home directory") });
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT", "REALPATH", "REMOVE"]);
  });

  test("a second request with the id of a pending one is refused (its HANDLE must not stand for another path)", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "OPEN", id: 5, path: "a", pflags: 1, attrs: {} }));
    t.filter.fromClient(req({ type: "OPEN", id: 5, path: "b", pflags: 2, attrs: {} }));
    expect(t.upRequests().length).toBe(2);
    expect(t.downReplies()[1]).toMatchObject({ id: 5, code: SftpStatus.BAD_MESSAGE, message: "request id 5 is already in use by a pending request" });
    t.filter.fromUpstream(rep({ type: "HANDLE", id: 5, handle: h(1) }));
    t.filter.fromClient(req({ type: "WRITE", id: 6, handle: h(1), offset: 0n, data: new Uint8Array(1) }));
    expect(t.downReplies().at(-1)).toMatchObject({ id: 6, message: "WRITE: /home/u/a was opened for read, not write" });
  });

  test("a request the gateway cannot read gets BAD_MESSAGE and the session goes on; an unknown type OP_UNSUPPORTED", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(new SftpWriter().u8(SftpPacketType.OPEN).u32(1).bytes(new Uint8Array([0xc3, 0x28])).u32(1).u32(0).finish());
    t.filter.fromClient(new SftpWriter().u8(77).u32(2).finish());
    t.filter.fromClient(req({ type: "STAT", id: 3, path: "/tmp" }));
    const replies = t.downReplies();
    expect(replies[1]).toMatchObject({ id: 1, code: SftpStatus.BAD_MESSAGE, message: "the gateway cannot read this request: OPEN (3): path is not valid UTF-8" });
    expect(replies[2]).toMatchObject({ id: 2, code: SftpStatus.OP_UNSUPPORTED });
    expect(t.upRequests().map((r) => r.type)).toEqual(["INIT", "STAT"]);
    expect(t.errors).toEqual([]);
  });

  test("a decide that throws or rejects refuses (fail closed)", async () => {
    let n = 0;
    const t = harness({
      decide: () => {
        n++;
        if (n === 1) throw new Error("audit log is full");
        return Promise.reject(new Error("policy store gone"));
      },
    });
    t.start();
    t.filter.fromClient(req({ type: "STAT", id: 1, path: "/a" }));
    t.filter.fromClient(req({ type: "STAT", id: 2, path: "/b" }));
    await until("both refusals", () => t.down.length === 3);
    expect(t.downReplies().slice(1)).toMatchObject([
      { id: 1, code: SftpStatus.PERMISSION_DENIED, message: "the gateway could not decide list on /a: audit log is full" },
      { id: 2, code: SftpStatus.PERMISSION_DENIED, message: "the gateway could not decide list on /b: policy store gone" },
    ]);
    expect(t.upRequests().length).toBe(1);
  });

  test("an undecided queue is bounded: fromClient asks to pause, onResume says when to go on, and a client that ignores it is dropped", async () => {
    const gate = deferred<SftpVerdict>();
    const t = harness({ decide: () => gate.promise, maxQueued: 8, hardLimitBytes: 4096 });
    t.start();
    const answers: boolean[] = [];
    for (let i = 1; i <= 10; i++) answers.push(t.filter.fromClient(req({ type: "STAT", id: i, path: `/f${i}` })));
    expect(answers).toEqual([true, true, true, true, true, true, true, false, false, false]);
    expect(t.resumed()).toBe(0);
    gate.resolve({ allow: true });
    await until("the queue to drain", () => t.filter.queued === 0);
    expect(t.resumed()).toBe(1);
    expect(t.upRequests().length).toBe(11);

    const stuck = deferred<SftpVerdict>();
    const t2 = harness({ decide: () => stuck.promise, hardLimitBytes: 4096 });
    t2.start();
    for (let i = 1; i <= 400 && t2.errors.length === 0; i++) t2.filter.fromClient(req({ type: "STAT", id: i, path: `/f${i}` }));
    expect(t2.errors[0]?.message).toMatch(/^SFTP client kept sending while the gateway asked it to wait: \d+ requests, \d+ bytes held, the limit is 4096 bytes$/);
    expect(t2.filter.closed).toBe(true);
  });

  test("a queued request is copied: the caller may reuse its chunk", async () => {
    const gate = deferred<SftpVerdict>();
    const t = harness({ decide: () => gate.promise });
    t.start();
    const chunk = req({ type: "STAT", id: 1, path: "/keep/me" });
    const copy = chunk.slice();
    t.filter.fromClient(chunk);
    chunk.fill(0);
    gate.resolve({ allow: true });
    await until("the forward", () => t.up.length === 2);
    expect(t.up[1]).toEqual(copy);
    // What a forwarded request's reply needs (its handle) is kept apart from the chunk too.
    // Decisions answer at once now: the CLOSE is forwarded during the call, from the chunk itself.
    (t.filter as unknown as { options: SftpFilterOptions }).options.decide = () => ({ allow: true });
    t.filter.fromClient(req({ type: "OPEN", id: 2, path: "/o", pflags: 1, attrs: {} }));
    t.filter.fromUpstream(rep({ type: "HANDLE", id: 2, handle: h(0) }));
    const close = req({ type: "CLOSE", id: 3, handle: h(0) });
    t.filter.fromClient(close);
    close.fill(9);
    t.filter.fromUpstream(ok(3));
    expect(t.finished).toMatchObject([{ type: "handle", path: "/o", closedBy: "client" }]);
    expect(t.filter.openHandles).toBe(0);
  });

  test("versions: the client must offer at least 3 and the server must answer 3", () => {
    const old = harness();
    old.filter.fromClient(encodeSftpRequest({ type: "INIT", version: 2, extensions: [] }));
    expect(old.errors[0]?.message).toBe("SFTP client speaks version 2: the gateway relays version 3 only");
    expect(old.up).toEqual([]);
    const newer = harness();
    newer.filter.fromClient(encodeSftpRequest({ type: "INIT", version: 6, extensions: [] }));
    expect(newer.up.length).toBe(1);
    newer.filter.fromUpstream(encodeSftpReply({ type: "VERSION", version: 6, extensions: [] }));
    expect(newer.errors[0]?.message).toBe("SFTP server speaks version 6: the gateway relays version 3 only");
    expect(newer.down).toEqual([]);
  });

  test("a request before INIT, a second INIT, an oversized packet: fatal errors, reported once, open handles finished", () => {
    const early = harness();
    early.filter.fromClient(req({ type: "STAT", id: 1, path: "/" }));
    expect(early.errors.map((e) => e.message)).toEqual(["SFTP client sent STAT (17) before INIT"]);
    expect(early.up).toEqual([]);

    const twice = harness();
    twice.start();
    twice.filter.fromClient(INIT);
    expect(twice.errors.map((e) => e.message)).toEqual(["SFTP client sent INIT twice"]);

    const big = harness();
    big.start();
    big.filter.fromClient(req({ type: "OPEN", id: 1, path: "f", pflags: 1, attrs: {} }));
    big.filter.fromUpstream(rep({ type: "HANDLE", id: 1, handle: h(0) }));
    const header = new Uint8Array([0, 4, 0, 1, SftpPacketType.WRITE]);
    expect(big.filter.fromClient(header)).toBe(false);
    expect(big.errors.map((e) => [e.code, e.message])).toEqual([["E_PROTOCOL", "SFTP packet from the client is too large: 262145 bytes, the limit is 262144"]]);
    expect(big.finished).toMatchObject([{ type: "handle", path: "/home/u/f", closedBy: "session-end" }]);
    expect(big.filter.fromClient(req({ type: "STAT", id: 2, path: "/" }))).toBe(false);
    expect(big.errors.length).toBe(1);
  });

  test("a malformed reply from the server is fatal too", () => {
    const t = harness();
    t.start();
    t.filter.fromUpstream(new SftpWriter().u8(SftpPacketType.HANDLE).u32(1).u32(99).finish());
    expect(t.errors.map((e) => e.message)).toEqual(["malformed SFTP reply from the server: handle runs past the end of the packet"]);
  });

  test("a handle the server gives out again after a close stands for the new file", () => {
    const t = harness();
    t.start();
    t.filter.fromClient(req({ type: "OPEN", id: 1, path: "a", pflags: SftpOpenFlag.READ, attrs: {} }));
    t.filter.fromUpstream(rep({ type: "HANDLE", id: 1, handle: h(0) }));
    t.filter.fromClient(concat([req({ type: "CLOSE", id: 2, handle: h(0) }), req({ type: "OPEN", id: 3, path: "b", pflags: SftpOpenFlag.WRITE, attrs: {} })]));
    t.filter.fromUpstream(concat([ok(2), rep({ type: "HANDLE", id: 3, handle: h(0) })]));
    t.filter.fromClient(req({ type: "WRITE", id: 4, handle: h(0), offset: 0n, data: new Uint8Array(3) }));
    t.filter.fromUpstream(ok(4));
    t.filter.close();
    expect(t.finished.map((f) => (f.type === "handle" ? [f.path, f.operation, f.bytesWritten, f.closedBy] : []))).toEqual([
      ["/home/u/a", "read", 0, "client"],
      ["/home/u/b", "write", 3, "session-end"],
    ]);
  });
});

// A small raw SFTP v3 client for tests: requests out as bytes, replies matched by id. It knows
// just enough (put, get, ls) to drive a real sftp-server through the filter.
import { SftpExtension, SftpOpenFlag, SftpStatus } from "./sftp-constants.ts";
import { SftpFrameReader } from "./sftp-frames.ts";
import { type SftpReply, parseSftpReply } from "./sftp-replies.ts";
import { type SftpRequest, encodeSftpRequest } from "./sftp-requests.ts";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type RequestWithoutId = DistributiveOmit<Exclude<SftpRequest, { type: "INIT" }>, "id">;

export class SftpStatusError extends Error {
  constructor(readonly status: Extract<SftpReply, { type: "STATUS" }>) {
    super(`SFTP status ${status.code}: ${status.message}`);
  }
}

export class SftpTestClient {
  private readonly frames = new SftpFrameReader("server");
  private readonly waiting = new Map<number, (r: SftpReply) => void>();
  private versionWaiter: ((r: SftpReply) => void) | null = null;
  private nextId = 1;

  constructor(private readonly send: (bytes: Uint8Array) => void) {}

  /** Bytes from the server side (through the filter). */
  receive(chunk: Uint8Array): void {
    for (const f of this.frames.push(chunk)) {
      const reply = parseSftpReply(f.body);
      if (reply.type === "VERSION") {
        this.versionWaiter?.(reply);
        continue;
      }
      const w = this.waiting.get(reply.id);
      if (w === undefined) throw new Error(`reply to unknown request id ${reply.id}`);
      this.waiting.delete(reply.id);
      w(reply);
    }
  }

  init(version = 3): Promise<SftpReply> {
    return new Promise((resolve) => {
      this.versionWaiter = resolve;
      this.send(encodeSftpRequest({ type: "INIT", version, extensions: [] }));
    });
  }

  request(req: RequestWithoutId): Promise<SftpReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send(encodeSftpRequest({ ...req, id } as SftpRequest));
    });
  }

  /** Sends raw bytes (a hand-made packet) and waits for the reply with `id`. */
  raw(id: number, bytes: Uint8Array): Promise<SftpReply> {
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send(bytes);
    });
  }

  /** The reply if it is of `type`, else throws (a STATUS as SftpStatusError). */
  async expect<T extends SftpReply["type"]>(req: RequestWithoutId, type: T): Promise<Extract<SftpReply, { type: T }>> {
    const r = await this.request(req);
    if (r.type === type) return r as Extract<SftpReply, { type: T }>;
    if (r.type === "STATUS") throw new SftpStatusError(r);
    throw new Error(`expected ${type}, got ${r.type}`);
  }

  async ok(req: RequestWithoutId): Promise<void> {
    const r = await this.expect(req, "STATUS");
    if (r.code !== SftpStatus.OK) throw new SftpStatusError(r);
  }

  async put(path: string, data: Uint8Array, chunk = 32768): Promise<void> {
    const { handle } = await this.expect({ type: "OPEN", path, pflags: SftpOpenFlag.WRITE | SftpOpenFlag.CREAT | SftpOpenFlag.TRUNC, attrs: {} }, "HANDLE");
    // Pipelined, as OpenSSH's sftp does.
    const writes: Promise<void>[] = [];
    for (let at = 0; at < data.length; at += chunk) writes.push(this.ok({ type: "WRITE", handle, offset: BigInt(at), data: data.subarray(at, at + chunk) }));
    await Promise.all(writes);
    await this.ok({ type: "CLOSE", handle });
  }

  async get(path: string, chunk = 32768): Promise<Uint8Array> {
    const { handle } = await this.expect({ type: "OPEN", path, pflags: SftpOpenFlag.READ, attrs: {} }, "HANDLE");
    const parts: Uint8Array[] = [];
    for (let at = 0n; ; ) {
      const r = await this.request({ type: "READ", handle, offset: at, length: chunk });
      if (r.type === "STATUS" && r.code === SftpStatus.EOF) break;
      if (r.type !== "DATA") throw r.type === "STATUS" ? new SftpStatusError(r) : new Error(`READ answered with ${r.type}`);
      parts.push(r.data.slice());
      at += BigInt(r.data.length);
    }
    await this.ok({ type: "CLOSE", handle });
    return Buffer.concat(parts);
  }

  async ls(path: string): Promise<string[]> {
    const { handle } = await this.expect({ type: "OPENDIR", path }, "HANDLE");
    const names: string[] = [];
    for (;;) {
      const r = await this.request({ type: "READDIR", handle });
      if (r.type === "STATUS" && r.code === SftpStatus.EOF) break;
      if (r.type !== "NAME") throw r.type === "STATUS" ? new SftpStatusError(r) : new Error(`READDIR answered with ${r.type}`);
      for (const e of r.entries) names.push(e.filename);
    }
    await this.ok({ type: "CLOSE", handle });
    return names.filter((n) => n !== "." && n !== "..").sort();
  }

  rename(oldPath: string, newPath: string): Promise<void> {
    return this.ok({ type: "EXTENDED", request: { name: SftpExtension.posixRename, oldPath, newPath } });
  }
}

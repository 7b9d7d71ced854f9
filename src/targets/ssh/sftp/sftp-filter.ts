// The SFTP gate of one `subsystem sftp` channel: client packets in, each one decided (as read,
// write, remove, rename, mkdir, list or setstat on a normalised path) before it is forwarded up;
// a refused one is answered here with SSH_FX_PERMISSION_DENIED and the session goes on. Server
// replies are read (to learn handles, the home directory and byte counts) and passed down unchanged,
// as whole packets, so that the gateway's own answers never land inside one of the server's.
//
// Order: requests are forwarded in the order the client sent them; one waiting for a decision
// holds every request behind it (a later REMOVE must not overtake an earlier RENAME). Refusals
// are answered at once, possibly before replies to earlier forwarded requests: SFTP matches
// replies by request id, and draft-02 §3 lets a server answer requests in any order.
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import type { SftpOperation } from "../../../core/types.ts";
import { MalformedSftp } from "./sftp-bytes.ts";
import { type ClassifyContext, type SftpCheck, type SftpHandleInfo, classifySftpRequest } from "./sftp-classify.ts";
import { SFTP_VERSION, SftpStatus, describePacketType } from "./sftp-constants.ts";
import { SftpFrameReader } from "./sftp-frames.ts";
import { normaliseSftpPath } from "./sftp-path.ts";
import { type SftpReply, encodeSftpStatus, parseSftpReply } from "./sftp-replies.ts";
import { type SftpRequest, encodeSftpRequest, parseSftpRequest } from "./sftp-requests.ts";

export type SftpVerdict = { readonly allow: true } | { readonly allow: false; readonly message: string };

/** What the filter reports when a handle closes, or a request that changes files is answered. */
export type SftpFinished =
  | {
      readonly type: "handle";
      readonly kind: "file" | "dir";
      readonly path: string;
      /** "write" when the handle was opened for writing, else "read" (files) or "list" (directories). */
      readonly operation: SftpOperation;
      readonly operations: readonly SftpOperation[];
      readonly bytesRead: number;
      /** Bytes of WRITE requests the server acknowledged with OK. */
      readonly bytesWritten: number;
      /** "client": its CLOSE was answered; "session-end": the session ended with the handle open. */
      readonly closedBy: "client" | "session-end";
    }
  | {
      readonly type: "request";
      readonly request: string;
      readonly operation: SftpOperation;
      readonly path: string;
      readonly toPath?: string;
      /** The server's SSH_FX_* status code for it. */
      readonly status: number;
      readonly message: string;
    };

export interface SftpFilterOptions {
  /** Ask the policy (and write the audit record) for one check. May answer synchronously. */
  decide(check: SftpCheck): SftpVerdict | Promise<SftpVerdict>;
  /** Bytes for the upstream server, whole packets, in order. */
  forwardUp(bytes: Uint8Array): void;
  /** Bytes for the client: the server's replies unchanged, and the gateway's own refusals. */
  replyDown(bytes: Uint8Array): void;
  /** A fatal protocol error (malformed or oversized packet, wrong version): close the channel. Called once. */
  onError(error: GatewayError): void;
  onFinished?(record: SftpFinished): void;
  /** fromClient returned false earlier and the filter can take more now. */
  onResume?(): void;
  /** The server's working directory, when the caller knows it; else learned from the first REALPATH ".". */
  home?: string;
  /** Requests held while one waits for a decision before fromClient asks the caller to pause (64). */
  maxQueued?: number;
  /** Bytes held the same way (1 MiB). */
  maxQueuedBytes?: number;
  /**
   * Bytes held past which the client is dropped (16 MiB): it kept sending after being asked to
   * wait. Set it above the channel window the caller grants, which it cannot take back.
   */
  hardLimitBytes?: number;
}

interface HandleState extends SftpHandleInfo {
  closing: boolean;
  bytesRead: number;
  bytesWritten: number;
}

/** What a forwarded request's reply will tell us (plain values: the request's bytes may be reused). */
interface InFlight {
  readonly type: SftpRequest["type"];
  readonly opens?: Omit<SftpHandleInfo, "closing">;
  readonly handle?: HandleState;
  readonly handleKey?: string;
  readonly writeBytes?: number;
  readonly learnHome?: boolean;
  readonly record?: SftpCheck;
}

interface SendFacts {
  readonly opens?: Omit<SftpHandleInfo, "closing">;
  readonly learnHome?: boolean;
  readonly record?: SftpCheck;
}

const ALLOW: SftpVerdict = { allow: true };
/** The id of the filter's own REALPATH "." (the top of the range; clients count up from 0 or 1). */
export const OWN_REQUEST_ID = 0xffffffff;
const MUTATING = new Set<SftpOperation>(["write", "remove", "rename", "mkdir", "setstat"]);

const keyOf = (handle: Uint8Array): string => Buffer.from(handle).toString("latin1");
const isThenable = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === "function";

export class SftpFilter {
  private readonly clientFrames = new SftpFrameReader("client");
  private readonly upstreamFrames = new SftpFrameReader("server");
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private busy = false;
  private waitingHome = false;
  private homePending = 0;
  private initSent = false;
  private versionSeen = false;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly handles = new Map<string, HandleState>();
  /** Our own REALPATH "." is pending (its reply is not the client's). */
  private ownRealpath = false;
  private paused = false;
  private done = false;
  private homeDir: string | null;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly hardLimitBytes: number;
  private readonly context: ClassifyContext;

  constructor(private readonly options: SftpFilterOptions) {
    this.homeDir = options.home === undefined ? null : normaliseSftpPath(options.home, "/");
    this.maxQueued = options.maxQueued ?? 64;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1024 * 1024;
    this.hardLimitBytes = options.hardLimitBytes ?? 16 * 1024 * 1024;
    const handles = this.handles;
    const self = this;
    this.context = {
      get home() {
        return self.homeDir;
      },
      handle: (h) => handles.get(keyOf(h)),
    };
  }

  /** The server's working directory as the filter knows it (normalised), or null. */
  get home(): string | null {
    return this.homeDir;
  }

  /** Client requests received and not yet forwarded or answered. */
  get queued(): number {
    return this.queue.length;
  }

  /** Handles open through the filter. */
  get openHandles(): number {
    return this.handles.size;
  }

  /** True once a fatal error was reported or close() was called; input is then ignored. */
  get closed(): boolean {
    return this.done;
  }

  /**
   * Bytes from the client. Returns false when the caller should stop reading the client (stop
   * growing the channel window) until onResume. The chunk may be reused after the call returns.
   */
  fromClient(chunk: Uint8Array): boolean {
    if (this.done) return false;
    try {
      for (const frame of this.clientFrames.push(chunk)) {
        this.queue.push(frame.raw);
        this.queuedBytes += frame.raw.length;
      }
    } catch (e) {
      this.fail(e);
      return false;
    }
    if (this.queuedBytes > this.hardLimitBytes) {
      this.fail(new GatewayError("E_PROTOCOL", `SFTP client kept sending while the gateway asked it to wait: ${this.queuedBytes} bytes held, the limit is ${this.hardLimitBytes}`));
      return false;
    }
    this.pump();
    // What stays queued may be a view of the caller's chunk: keep a copy of our own.
    for (let i = 0; i < this.queue.length; i++) {
      const raw = this.queue[i] as Uint8Array;
      if (raw.buffer === chunk.buffer) this.queue[i] = raw.slice();
    }
    return !this.mustPause();
  }

  /**
   * Bytes from the server: read, then passed to replyDown unchanged in whole packets (the whole
   * chunk at once when it holds whole packets only; a packet split across chunks when complete).
   */
  fromUpstream(chunk: Uint8Array): void {
    if (this.done) return;
    // Contiguous whole packets of this chunk go down as one view of it.
    let runStart = -1;
    let runEnd = -1;
    const flush = (): void => {
      if (runStart >= 0) this.options.replyDown(chunk.subarray(runStart, runEnd));
      runStart = runEnd = -1;
    };
    try {
      for (const frame of this.upstreamFrames.push(chunk)) {
        const mine = this.onReply(frame.body);
        const offset = frame.raw.buffer === chunk.buffer ? frame.raw.byteOffset - chunk.byteOffset : -1;
        if (mine || offset < 0 || offset !== runEnd) flush();
        if (mine) continue;
        if (offset < 0) {
          this.options.replyDown(frame.raw);
        } else {
          if (runStart < 0) runStart = offset;
          runEnd = offset + frame.raw.length;
        }
      }
    } catch (e) {
      this.fail(e instanceof MalformedSftp ? new GatewayError("E_PROTOCOL", `malformed SFTP reply from the server: ${e.reason}`) : e);
      return;
    }
    flush();
    if (this.waitingHome && (this.homeDir !== null || this.homePending === 0)) {
      this.waitingHome = false;
      this.busy = false;
      this.pump();
    }
  }

  /** The session is over: report handles still open, ignore what comes after. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.finishOpenHandles();
  }

  private finishOpenHandles(): void {
    for (const h of this.handles.values()) this.finishHandle(h, "session-end");
    this.handles.clear();
  }

  private fail(e: unknown): void {
    if (this.done) return;
    this.done = true;
    this.finishOpenHandles();
    const error = e instanceof GatewayError ? e : new GatewayError("E_INTERNAL", `SFTP filter failed: ${errorMessage(e)}`, { cause: e });
    this.options.onError(error);
  }

  private mustPause(): boolean {
    const pause = this.queue.length >= this.maxQueued || this.queuedBytes >= this.maxQueuedBytes;
    if (pause) this.paused = true;
    return pause;
  }

  private maybeResume(): void {
    if (!this.paused || this.done) return;
    if (this.queue.length < this.maxQueued / 2 && this.queuedBytes < this.maxQueuedBytes / 2) {
      this.paused = false;
      this.options.onResume?.();
    }
  }

  private refuse(id: number, code: number, message: string): void {
    this.options.replyDown(encodeSftpStatus(id, code, message));
  }

  /** Takes requests from the head of the queue until one must wait. */
  private pump(): void {
    while (!this.busy && !this.done && this.queue.length > 0) {
      const raw = this.queue[0] as Uint8Array;
      const waiting = this.step(raw);
      if (waiting === "home") {
        this.busy = true;
        this.waitingHome = true;
        return;
      }
      if (waiting !== null) {
        this.busy = true;
        waiting.then(
          () => {
            this.busy = false;
            this.dequeue();
            this.pump();
          },
          (e: unknown) => this.fail(e),
        );
        return;
      }
      this.dequeue();
    }
  }

  private dequeue(): void {
    const raw = this.queue.shift();
    if (raw !== undefined) this.queuedBytes -= raw.length;
    this.maybeResume();
  }

  /** Handles the request at the head of the queue: null when done with it, else what it waits for. */
  private step(raw: Uint8Array): Promise<void> | "home" | null {
    const req = parseSftpRequest(raw.subarray(4));
    if (req.type === "invalid") {
      if (req.id === undefined || !this.initSent) {
        this.fail(new GatewayError("E_PROTOCOL", `malformed SFTP request from the client: ${req.reason}`));
        return null;
      }
      const unknownType = req.reason.startsWith("unknown SFTP request");
      this.refuse(req.id, unknownType ? SftpStatus.OP_UNSUPPORTED : SftpStatus.BAD_MESSAGE, `the gateway cannot read this request: ${req.reason}`);
      return null;
    }
    if (req.type === "INIT") {
      if (this.initSent) {
        this.fail(new GatewayError("E_PROTOCOL", "SFTP client sent INIT twice"));
      } else if (req.version < SFTP_VERSION) {
        this.fail(new GatewayError("E_PROTOCOL", `SFTP client speaks version ${req.version}: the gateway relays version ${SFTP_VERSION} only`));
      } else {
        // A client offering a later version gets the server's 3 in VERSION, and speaks 3.
        this.initSent = true;
        this.options.forwardUp(raw);
        // Clients may use relative paths without asking where they are (scp does): ask for them.
        if (this.homeDir === null) {
          this.ownRealpath = true;
          this.homePending++;
          this.options.forwardUp(encodeSftpRequest({ type: "REALPATH", id: OWN_REQUEST_ID, path: "." }));
        }
      }
      return null;
    }
    if (!this.initSent) {
      this.fail(new GatewayError("E_PROTOCOL", `SFTP client sent ${describePacketType(raw[4] as number)} before INIT`));
      return null;
    }
    // A client request that shares our own REALPATH's id waits until that is answered.
    if (req.id === OWN_REQUEST_ID && this.ownRealpath) return "home";
    if (this.inFlight.has(req.id)) {
      // Replies are matched by id; a second request with a pending id would let the first
      // one's HANDLE stand for the second one's path.
      this.refuse(req.id, SftpStatus.BAD_MESSAGE, `request id ${req.id} is already in use by a pending request`);
      return null;
    }
    const plan = classifySftpRequest(req, this.context);
    switch (plan.kind) {
      case "refuse":
        this.refuse(req.id, plan.code, plan.message);
        return null;
      case "forward":
        this.send(raw, req, plan.learnHome ? { learnHome: true } : {});
        return null;
      case "needs-home":
        if (this.homePending > 0) return "home";
        this.refuse(req.id, SftpStatus.PERMISSION_DENIED, 'relative path, and the gateway does not know the home directory yet: send REALPATH "." first or use an absolute path');
        return null;
      case "decide": {
        const first = plan.checks[0];
        const record = first !== undefined && MUTATING.has(first.operation) && plan.opens === undefined ? first : undefined;
        const facts: SendFacts = { ...(plan.opens ? { opens: plan.opens } : {}), ...(record ? { record } : {}) };
        const apply = (bytes: Uint8Array, request: Exclude<SftpRequest, { type: "INIT" }>, v: SftpVerdict): void => {
          if (this.done) return;
          if (!v.allow) this.refuse(request.id, SftpStatus.PERMISSION_DENIED, v.message);
          else this.send(bytes, request, facts);
        };
        const verdict = this.runChecks(plan.checks, 0);
        if (!isThenable(verdict)) {
          apply(raw, req, verdict);
          return null;
        }
        // The answer comes after the caller may have reused its chunk: keep a copy of our own.
        const own = raw.slice();
        this.queue[0] = own;
        const ownReq = parseSftpRequest(own.subarray(4)) as typeof req;
        return verdict.then((v) => apply(own, ownReq, v));
      }
    }
  }

  /** Every check must allow; stops at the first refusal. Synchronous while decide answers so. */
  private runChecks(checks: readonly SftpCheck[], from: number): SftpVerdict | Promise<SftpVerdict> {
    for (let i = from; i < checks.length; i++) {
      const v = this.decideOne(checks[i] as SftpCheck);
      if (isThenable(v)) return v.then((r) => (r.allow ? this.runChecks(checks, i + 1) : r));
      if (!v.allow) return v;
    }
    return ALLOW;
  }

  /** A decide that throws or rejects refuses: fail closed. */
  private decideOne(check: SftpCheck): SftpVerdict | Promise<SftpVerdict> {
    const failed = (e: unknown): SftpVerdict => ({ allow: false, message: `the gateway could not decide ${check.operation} on ${check.path}: ${errorMessage(e)}` });
    try {
      const v = this.options.decide(check);
      return isThenable(v) ? v.then((r) => r, failed) : v;
    } catch (e) {
      return failed(e);
    }
  }

  private send(raw: Uint8Array, req: Exclude<SftpRequest, { type: "INIT" }>, facts: SendFacts): void {
    let flight: InFlight = { type: req.type, ...facts };
    if (req.type === "READ" || req.type === "WRITE" || req.type === "CLOSE") {
      const handleKey = keyOf(req.handle);
      const handle = this.handles.get(handleKey);
      if (handle !== undefined && req.type === "CLOSE") handle.closing = true;
      flight = { ...flight, handleKey, ...(handle ? { handle } : {}), ...(req.type === "WRITE" ? { writeBytes: req.data.length } : {}) };
    }
    if (facts.learnHome) this.homePending++;
    this.inFlight.set(req.id, flight);
    this.options.forwardUp(raw);
  }

  /** Reads one reply; true when it answers the filter's own request (not for the client). */
  private onReply(body: Uint8Array): boolean {
    const reply = parseSftpReply(body);
    if (reply.type === "VERSION") {
      if (this.versionSeen) throw new GatewayError("E_PROTOCOL", "SFTP server sent VERSION twice");
      if (reply.version !== SFTP_VERSION) throw new GatewayError("E_PROTOCOL", `SFTP server speaks version ${reply.version}: the gateway relays version ${SFTP_VERSION} only`);
      this.versionSeen = true;
      return false;
    }
    if (reply.id === OWN_REQUEST_ID && this.ownRealpath) {
      this.ownRealpath = false;
      this.learnHome(reply);
      return true;
    }
    const flight = this.inFlight.get(reply.id);
    if (flight === undefined) return false;
    this.inFlight.delete(reply.id);
    if (flight.learnHome) this.learnHome(reply);
    const h = flight.handle;
    if (flight.opens && reply.type === "HANDLE") {
      this.handles.set(keyOf(reply.handle), { ...flight.opens, closing: false, bytesRead: 0, bytesWritten: 0 });
    } else if (flight.type === "READ" && h && reply.type === "DATA") {
      h.bytesRead += reply.data.length;
    } else if (flight.type === "WRITE" && h && reply.type === "STATUS" && reply.code === SftpStatus.OK) {
      h.bytesWritten += flight.writeBytes ?? 0;
    } else if (flight.type === "CLOSE" && h && flight.handleKey !== undefined) {
      // The server may have given the same handle out again already; forget only this one.
      if (this.handles.get(flight.handleKey) === h) this.handles.delete(flight.handleKey);
      this.finishHandle(h, "client");
    } else if (flight.record && reply.type === "STATUS") {
      const r = flight.record;
      this.options.onFinished?.({
        type: "request",
        request: r.request,
        operation: r.operation,
        path: r.path,
        ...(r.toPath !== undefined ? { toPath: r.toPath } : {}),
        status: reply.code,
        message: reply.message,
      });
    }
    return false;
  }

  private learnHome(reply: SftpReply): void {
    this.homePending--;
    if (this.homeDir !== null || reply.type !== "NAME") return;
    const name = reply.entries.length === 1 ? reply.entries[0]?.filename : undefined;
    // Only a clean absolute path can anchor relative ones.
    if (name === undefined || !name.startsWith("/") || name.includes("\uFFFD")) return;
    this.homeDir = normaliseSftpPath(name, "/");
  }

  private finishHandle(h: HandleState, closedBy: "client" | "session-end"): void {
    this.options.onFinished?.({
      type: "handle",
      kind: h.kind,
      path: h.path,
      operation: h.operations.includes("write") ? "write" : (h.operations[0] ?? "read"),
      operations: h.operations,
      bytesRead: h.bytesRead,
      bytesWritten: h.bytesWritten,
      closedBy,
    });
  }
}

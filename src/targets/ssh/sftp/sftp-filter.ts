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
//
// Wiring (one filter per `subsystem sftp` channel): client channel data → fromClient; upstream
// channel data → fromUpstream; forwardUp/replyDown write to the upstream/client channel. Flow
// control stays with the caller's channels: stop reading the client while fromClient has returned
// false (until onResume) or while the upstream channel is not drained; stop reading the upstream
// while the client channel is not drained. onError → close both channels; channel closed → close().
import { GatewayError, errorMessage } from "../../../core/errors.ts";
import type { SftpOperation } from "../../../core/types.ts";
import { MalformedSftp } from "./sftp-bytes.ts";
import { type SftpCheck, type SftpProbe, classifySftpRequest } from "./sftp-classify.ts";
import { SFTP_VERSION, SftpStatus, describePacketType } from "./sftp-constants.ts";
import { SftpFrameReader } from "./sftp-frames.ts";
import { type SftpReply, encodeSftpStatus } from "./sftp-replies.ts";
import { type SftpRequest, encodeSftpRequest, parseSftpRequest } from "./sftp-requests.ts";
import { type ForwardFacts, type SftpFinished, SftpSession } from "./sftp-session.ts";

export { OWN_REQUEST_ID, type SftpFinished } from "./sftp-session.ts";

export type SftpVerdict = { readonly allow: true } | { readonly allow: false; readonly message: string };

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

const ALLOW: SftpVerdict = { allow: true };
/** Held requests past which the client is dropped whatever their size (tiny ones cost more than their bytes). */
const MAX_HELD_REQUESTS = 65536;
const MUTATING = new Set<SftpOperation>(["write", "remove", "rename", "mkdir", "setstat"]);
const S_IFMT = 0o170000;
const FILE_TYPE = { directory: 0o040000, symlink: 0o120000 } as const;

/** Why a probe's answer refuses the request, or null when it may be decided. */
function probeRefusal(probe: SftpProbe, reply: SftpReply): string | null {
  if (reply.type === "STATUS" && reply.code === SftpStatus.NO_SUCH_FILE) return null;
  if (reply.type === "ATTRS" && reply.attrs.permissions !== undefined) {
    return (reply.attrs.permissions & S_IFMT) === FILE_TYPE[probe.refuseIf] ? probe.message : null;
  }
  const why = reply.type === "STATUS" ? reply.message || `status ${reply.code}` : `a ${reply.type} reply`;
  return `the gateway cannot tell what ${probe.path} is (${why}), so it does not link it`;
}

const isThenable = <T>(v: T | Promise<T>): v is Promise<T> => typeof (v as { then?: unknown } | null)?.then === "function";

export class SftpFilter {
  private readonly clientFrames = new SftpFrameReader("client");
  private readonly upstreamFrames = new SftpFrameReader("server");
  private readonly session: SftpSession;
  /** Client packets not yet forwarded or answered; the head may wait for a decision or the home. */
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  private busy = false;
  private waitingHome = false;
  private initSent = false;
  private paused = false;
  private done = false;
  private readonly maxQueued: number;
  private readonly maxQueuedBytes: number;
  private readonly hardLimitBytes: number;

  constructor(private readonly options: SftpFilterOptions) {
    this.session = new SftpSession(options.home, (r) => options.onFinished?.(r));
    this.maxQueued = options.maxQueued ?? 64;
    this.maxQueuedBytes = options.maxQueuedBytes ?? 1024 * 1024;
    this.hardLimitBytes = options.hardLimitBytes ?? 16 * 1024 * 1024;
  }

  /** The server's working directory as the filter knows it (normalised), or null. */
  get home(): string | null {
    return this.session.home;
  }

  /** Client requests received and not yet forwarded or answered. */
  get queued(): number {
    return this.queue.length;
  }

  /** Handles open through the filter. */
  get openHandles(): number {
    return this.session.openHandles;
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
    let added = 0;
    try {
      for (const frame of this.clientFrames.push(chunk)) {
        this.queue.push(frame.raw);
        this.queuedBytes += frame.raw.length;
        added++;
      }
    } catch (e) {
      this.fail(e);
      return false;
    }
    if (this.queuedBytes > this.hardLimitBytes || this.queue.length > MAX_HELD_REQUESTS) {
      this.fail(
        new GatewayError("E_PROTOCOL", `SFTP client kept sending while the gateway asked it to wait: ${this.queue.length} requests, ${this.queuedBytes} bytes held, the limit is ${this.hardLimitBytes} bytes`),
      );
      return false;
    }
    this.pump();
    // What stays queued of this chunk may be a view of it: keep a copy of our own. (Only this
    // call's packets, the tail of the queue: earlier ones were copied by their own call.)
    for (let i = this.queue.length - Math.min(added, this.queue.length); i < this.queue.length; i++) {
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
        const mine = this.session.onReply(frame.body);
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
    if (this.waitingHome && (this.session.home !== null || !this.session.learningHome)) {
      this.waitingHome = false;
      this.busy = false;
      this.pump();
    }
  }

  /** The session is over: report handles still open, ignore what comes after. */
  close(): void {
    if (this.done) return;
    this.done = true;
    this.session.finishAll();
  }

  private fail(e: unknown): void {
    if (this.done) return;
    this.done = true;
    this.session.finishAll();
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
      // Not from inside the pump: a caller that resumes its source may call fromClient at once.
      queueMicrotask(() => {
        if (!this.done) this.options.onResume?.();
      });
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
      this.refuse(req.id, req.unknownType ? SftpStatus.OP_UNSUPPORTED : SftpStatus.BAD_MESSAGE, `the gateway cannot read this request: ${req.reason}`);
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
        const own = this.session.ownHomeRequest();
        if (own !== null) this.options.forwardUp(encodeSftpRequest(own));
      }
      return null;
    }
    if (!this.initSent) {
      this.fail(new GatewayError("E_PROTOCOL", `SFTP client sent ${describePacketType(raw[4] as number)} before INIT`));
      return null;
    }
    const idState = this.session.idState(req.id);
    // A client request that shares our own REALPATH's id waits until that is answered.
    if (idState === "ours") return "home";
    if (idState === "pending") {
      // Replies are matched by id; a second request with a pending id would let the first
      // one's HANDLE stand for the second one's path.
      this.refuse(req.id, SftpStatus.BAD_MESSAGE, `request id ${req.id} is already in use by a pending request`);
      return null;
    }
    const plan = classifySftpRequest(req, this.session.context);
    switch (plan.kind) {
      case "refuse":
        this.refuse(req.id, plan.code, plan.message);
        return null;
      case "forward":
        this.send(raw, req, plan.learnHome ? { learnHome: true } : {});
        return null;
      case "needs-home":
        if (this.session.learningHome) return "home";
        this.refuse(req.id, SftpStatus.PERMISSION_DENIED, 'relative path, and the gateway does not know the home directory yet: send REALPATH "." first or use an absolute path');
        return null;
      case "decide": {
        const first = plan.checks[0];
        const record = first !== undefined && MUTATING.has(first.operation) && plan.opens === undefined ? first : undefined;
        const facts: ForwardFacts = { ...(plan.opens ? { opens: plan.opens } : {}), ...(record ? { record } : {}) };
        const apply = (bytes: Uint8Array, request: Exclude<SftpRequest, { type: "INIT" }>, v: SftpVerdict): void => {
          if (this.done) return;
          if (!v.allow) this.refuse(request.id, SftpStatus.PERMISSION_DENIED, v.message);
          else this.send(bytes, request, facts);
        };
        const probe = plan.probe;
        if (probe === undefined) {
          const verdict = this.runChecks(plan.checks, 0);
          if (!isThenable(verdict)) {
            apply(raw, req, verdict);
            return null;
          }
          const [own, ownReq] = this.keepHead(raw, req);
          return verdict.then((v) => apply(own, ownReq, v));
        }
        // Ask the server first (after every request forwarded so far, before this one).
        const asked = this.session.ownRequest((id) => ({ type: probe.request, id, path: probe.path }));
        this.options.forwardUp(encodeSftpRequest(asked.request));
        const [own, ownReq] = this.keepHead(raw, req);
        return asked.reply.then(async (reply) => {
          const refusal = probeRefusal(probe, reply);
          if (refusal !== null) return apply(own, ownReq, { allow: false, message: refusal });
          apply(own, ownReq, await this.runChecks(plan.checks, 0));
        });
      }
    }
  }

  /** The head request will be handled later, after the caller may have reused its chunk: keep a copy of our own. */
  private keepHead<R extends SftpRequest>(raw: Uint8Array, req: R): [Uint8Array, R] {
    const own = raw.slice();
    this.queue[0] = own;
    return [own, parseSftpRequest(own.subarray(4)) as R];
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

  private send(raw: Uint8Array, req: Exclude<SftpRequest, { type: "INIT" }>, facts: ForwardFacts): void {
    this.session.forwarded(req, facts);
    this.options.forwardUp(raw);
  }
}

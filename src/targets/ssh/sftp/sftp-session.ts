// What the SFTP filter knows of one session, learned from the server's replies: the handles it
// gave out (and for what they were allowed), the requests awaiting a reply, the home directory
// (where relative paths start), and the byte counts each handle has carried.
import { GatewayError } from "../../../core/errors.ts";
import type { SftpOperation } from "../../../core/types.ts";
import type { ClassifyContext, SftpCheck, SftpHandleInfo } from "./sftp-classify.ts";
import { SFTP_VERSION, SftpStatus } from "./sftp-constants.ts";
import { normaliseSftpPath } from "./sftp-path.ts";
import { type SftpReply, parseSftpReply } from "./sftp-replies.ts";
import type { SftpRequest } from "./sftp-requests.ts";

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

/** What a forwarded request will teach when its reply comes. */
export interface ForwardFacts {
  /** The handle a HANDLE reply will stand for. */
  readonly opens?: Omit<SftpHandleInfo, "closing">;
  /** A REALPATH "." whose answer is the home directory. */
  readonly learnHome?: boolean;
  /** A change to report (with the server's status) when answered. */
  readonly record?: SftpCheck;
}

/** The id of the filter's own REALPATH "." (the top of the range; clients count up from 0 or 1). */
export const OWN_REQUEST_ID = 0xffffffff;
/** The filter's other own requests (probes) take ids counting down from below it, within this range. */
const OWN_ID_FLOOR = 0xffff0000;

interface HandleState extends SftpHandleInfo {
  closing: boolean;
  bytesRead: number;
  bytesWritten: number;
}

/** Plain values only: the request's bytes may be reused by the caller once forwarded. */
interface InFlight extends ForwardFacts {
  readonly type: SftpRequest["type"];
  readonly handle?: HandleState;
  readonly handleKey?: string;
  readonly writeBytes?: number;
}

const keyOf = (handle: Uint8Array): string => Buffer.from(handle).toString("latin1");

export class SftpSession {
  private readonly handles = new Map<string, HandleState>();
  private readonly inFlight = new Map<number, InFlight>();
  private homeDir: string | null;
  private learning = 0;
  private ownRealpath = false;
  private readonly own = new Map<number, (reply: SftpReply) => void>();
  private nextOwnId = OWN_REQUEST_ID - 1;
  private versionSeen = false;
  readonly context: ClassifyContext;

  constructor(
    home: string | undefined,
    private readonly onFinished: (r: SftpFinished) => void,
  ) {
    this.homeDir = home === undefined ? null : normaliseSftpPath(home, "/");
    const self = this;
    this.context = {
      get home() {
        return self.homeDir;
      },
      handle: (h) => self.handles.get(keyOf(h)),
    };
  }

  get home(): string | null {
    return this.homeDir;
  }

  /** REALPATH "." requests (ours or the client's) not yet answered. */
  get learningHome(): boolean {
    return this.learning > 0;
  }

  get openHandles(): number {
    return this.handles.size;
  }

  /** A client request with this id cannot go yet: the id is ours, or already awaits a reply. */
  idState(id: number): "free" | "ours" | "pending" {
    if ((id === OWN_REQUEST_ID && this.ownRealpath) || this.own.has(id)) return "ours";
    return this.inFlight.has(id) ? "pending" : "free";
  }

  /** When the home is unknown, the REALPATH "." the filter should send of its own (once, after INIT). */
  ownHomeRequest(): Extract<SftpRequest, { type: "REALPATH" }> | null {
    if (this.homeDir !== null || this.ownRealpath) return null;
    this.ownRealpath = true;
    this.learning++;
    return { type: "REALPATH", id: OWN_REQUEST_ID, path: "." };
  }

  /**
   * A request of the filter's own (to probe the server), with an id of its own; the caller sends
   * it, and its reply resolves `reply` instead of reaching the client.
   */
  ownRequest(make: (id: number) => Exclude<SftpRequest, { type: "INIT" }>): { request: Exclude<SftpRequest, { type: "INIT" }>; reply: Promise<SftpReply> } {
    let id = this.nextOwnId;
    while (this.own.has(id) || this.inFlight.has(id)) id = id <= OWN_ID_FLOOR ? OWN_REQUEST_ID - 1 : id - 1;
    this.nextOwnId = id <= OWN_ID_FLOOR ? OWN_REQUEST_ID - 1 : id - 1;
    const reply = new Promise<SftpReply>((resolve) => this.own.set(id, resolve));
    return { request: make(id), reply };
  }

  /** A client request is about to be forwarded: remember what its reply will mean. */
  forwarded(req: Exclude<SftpRequest, { type: "INIT" }>, facts: ForwardFacts): void {
    let flight: InFlight = { type: req.type, ...facts };
    if (req.type === "READ" || req.type === "WRITE" || req.type === "CLOSE") {
      const handleKey = keyOf(req.handle);
      const handle = this.handles.get(handleKey);
      // From now on the handle is unusable through the gateway, even if the close fails.
      if (handle !== undefined && req.type === "CLOSE") handle.closing = true;
      flight = { ...flight, handleKey, ...(handle ? { handle } : {}), ...(req.type === "WRITE" ? { writeBytes: req.data.length } : {}) };
    }
    if (facts.learnHome) this.learning++;
    this.inFlight.set(req.id, flight);
  }

  /** Reads one server packet body; true when it answers the filter's own request (not the client's). Throws on bad replies. */
  onReply(body: Uint8Array): boolean {
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
    const mine = this.own.get(reply.id);
    if (mine !== undefined) {
      this.own.delete(reply.id);
      mine(reply);
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
      this.onFinished({
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

  /** The session ended: report the handles still open. */
  finishAll(): void {
    for (const h of this.handles.values()) this.finishHandle(h, "session-end");
    this.handles.clear();
  }

  private learnHome(reply: SftpReply): void {
    this.learning--;
    if (this.homeDir !== null || reply.type !== "NAME") return;
    const name = reply.entries.length === 1 ? reply.entries[0]?.filename : undefined;
    // Only a clean absolute path can anchor relative ones.
    if (name === undefined || !name.startsWith("/") || name.includes("\uFFFD")) return;
    this.homeDir = normaliseSftpPath(name, "/");
  }

  private finishHandle(h: HandleState, closedBy: "client" | "session-end"): void {
    this.onFinished({
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

// Relays one WebSocket between the caller's socket (after our 101) and the API server's (after
// its 101), frame by frame with the pure codec: messages from the caller are unmasked, shown to
// the session (which may record them) and sent on masked, as a client must; messages from the
// API server are shown to the session (which may mask, record or read the status channel) and
// sent on unmasked. Ping, pong and close pass through. Flow control is the sockets': when one
// side's socket buffer is full the other side is not read until it drains, so a caller that
// never reads blocks the API server rather than growing the gateway. A caller's malformed frame
// ends this relay with a close frame naming the error; nothing else is touched.
import type { Duplex } from "node:stream";
import { CLOSE, OPCODE, WebSocketDecoder, WebSocketProtocolError, closePayload, encodeFrame, type WebSocketEvent } from "../../gate/websocket-codec.ts";

/** Largest message relayed either way (kubectl's are 32 KiB at most). */
export const MAX_MESSAGE = 8 * 1024 * 1024;
/** How long a close handshake may take before the sockets are cut. */
const CLOSE_GRACE_MS = 5_000;

export interface RelayEnd {
  /** Close code and reason the session ended with (1006 when a socket went away without one). */
  readonly code: number;
  readonly reason: string;
  /** Who ended it: the caller, the API server, or the gateway (protocol error, expiry, revocation). */
  readonly by: "caller" | "upstream" | "gateway";
  /** A protocol error in the caller's frames, when that ended it. */
  readonly error?: string;
  /** Payload bytes of data messages each way. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
}

export interface RelaySession {
  /** A data message from the caller; forward it (or something else) with relay.toUpstream. Default: as it is. */
  fromCaller?(opcode: number, data: Uint8Array, relay: WebSocketRelay): void;
  /** A data message from the API server; forward with relay.toCaller. Default: as it is. */
  fromUpstream?(opcode: number, data: Uint8Array, relay: WebSocketRelay): void;
  /** Both sockets are done. */
  ended(end: RelayEnd): void;
}

export class WebSocketRelay {
  private readonly fromCallerDecoder = new WebSocketDecoder({ masked: true, maxMessage: MAX_MESSAGE });
  private readonly fromUpstreamDecoder = new WebSocketDecoder({ masked: false, maxMessage: MAX_MESSAGE });
  private bytesIn = 0;
  private bytesOut = 0;
  private messagesIn = 0;
  private messagesOut = 0;
  private callerClosed = false;
  private upstreamClosed = false;
  private closeSentToCaller = false;
  private closeSentUpstream = false;
  private end: { code: number; reason: string; by: RelayEnd["by"]; error?: string } | null = null;
  private finished = false;
  private graceTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly caller: Duplex,
    private readonly upstream: Duplex,
    private readonly session: RelaySession,
  ) {}

  /** Starts relaying; `callerHead` and `upstreamHead` are bytes already read past each handshake. */
  start(callerHead: Uint8Array, upstreamHead: Uint8Array): void {
    this.caller.on("data", (c: Buffer) => this.onCallerData(c));
    this.upstream.on("data", (c: Buffer) => this.onUpstreamData(c));
    this.caller.on("drain", () => this.upstream.resume());
    this.upstream.on("drain", () => this.caller.resume());
    this.caller.on("error", () => undefined);
    this.upstream.on("error", () => undefined);
    this.caller.on("close", () => {
      this.callerClosed = true;
      this.settle("caller", CLOSE.abnormal, "the caller's connection closed");
      if (!this.upstreamClosed) this.closeUpstream(CLOSE.goingAway, "the caller went away");
      this.maybeFinish();
    });
    this.upstream.on("close", () => {
      this.upstreamClosed = true;
      this.settle("upstream", CLOSE.abnormal, "the API server's connection closed");
      if (!this.callerClosed) this.closeCaller(CLOSE.internalError, "the API server's connection closed");
      this.maybeFinish();
    });
    if (upstreamHead.length > 0) this.onUpstreamData(upstreamHead);
    if (callerHead.length > 0) this.onCallerData(callerHead);
    this.caller.resume();
    this.upstream.resume();
  }

  /** Sends a data message to the API server (masked). Returns false when its socket is full. */
  toUpstream(opcode: number, data: Uint8Array): boolean {
    if (this.closeSentUpstream || this.upstreamClosed) return true;
    this.bytesIn += data.length;
    this.messagesIn++;
    const ok = this.upstream.write(encodeFrame(opcode, data, true));
    if (!ok) this.caller.pause();
    return ok;
  }

  /** Sends a data message to the caller (unmasked). Returns false when its socket is full. */
  toCaller(opcode: number, data: Uint8Array): boolean {
    if (this.closeSentToCaller || this.callerClosed) return true;
    this.bytesOut += data.length;
    this.messagesOut++;
    const ok = this.caller.write(encodeFrame(opcode, data, false));
    if (!ok) this.upstream.pause();
    return ok;
  }

  /** Stops reading the caller (a session's own queue is full) until resumeCaller. */
  pauseCaller(): void {
    this.caller.pause();
  }

  resumeCaller(): void {
    if (!this.upstream.writableNeedDrain) this.caller.resume();
  }

  /** The gateway ends the session (expiry, revocation, a recording that failed): both sides get `code`. */
  shutdown(code: number, reason: string): void {
    this.settle("gateway", code, reason);
    this.closeCaller(code, reason);
    this.closeUpstream(CLOSE.goingAway, reason);
  }

  private settle(by: RelayEnd["by"], code: number, reason: string, error?: string): void {
    this.end ??= { by, code, reason, ...(error !== undefined ? { error } : {}) };
  }

  private onCallerData(chunk: Uint8Array): void {
    let events: WebSocketEvent[];
    try {
      events = this.fromCallerDecoder.push(chunk);
    } catch (e) {
      const err = e instanceof WebSocketProtocolError ? e : new WebSocketProtocolError(CLOSE.protocolError, String(e));
      this.settle("gateway", err.code, err.message, err.message);
      this.closeCaller(err.code, `gatehouse: ${err.message}`);
      this.closeUpstream(CLOSE.goingAway, "the caller sent a malformed frame");
      return;
    }
    for (const ev of events) {
      if (this.callerClosed || this.closeSentToCaller) break;
      switch (ev.type) {
        case "message":
          if (this.session.fromCaller) this.session.fromCaller(ev.opcode, ev.data, this);
          else this.toUpstream(ev.opcode, ev.data);
          break;
        case "ping":
        case "pong":
          if (!this.closeSentUpstream) this.upstream.write(encodeFrame(ev.type === "ping" ? OPCODE.ping : OPCODE.pong, ev.data, true));
          break;
        case "close":
          this.settle("caller", ev.code, ev.reason);
          this.closeUpstream(ev.code === CLOSE.noStatus ? CLOSE.normal : ev.code, ev.reason);
          break;
      }
    }
  }

  private onUpstreamData(chunk: Uint8Array): void {
    let events: WebSocketEvent[];
    try {
      events = this.fromUpstreamDecoder.push(chunk);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.settle("gateway", CLOSE.internalError, `the API server sent a malformed frame: ${message}`);
      this.closeCaller(CLOSE.internalError, `gatehouse: the API server sent a malformed frame`);
      this.closeUpstream(CLOSE.protocolError, message);
      return;
    }
    for (const ev of events) {
      switch (ev.type) {
        case "message":
          if (this.session.fromUpstream) this.session.fromUpstream(ev.opcode, ev.data, this);
          else this.toCaller(ev.opcode, ev.data);
          break;
        case "ping":
        case "pong":
          if (!this.closeSentToCaller) this.caller.write(encodeFrame(ev.type === "ping" ? OPCODE.ping : OPCODE.pong, ev.data, false));
          break;
        case "close":
          this.settle("upstream", ev.code, ev.reason);
          this.closeCaller(ev.code === CLOSE.noStatus ? CLOSE.normal : ev.code, ev.reason);
          // The API server's close answers ours, or starts its own: either way its side is done.
          this.closeUpstream(ev.code === CLOSE.noStatus ? CLOSE.normal : ev.code, "");
          this.upstream.end();
          break;
      }
    }
  }

  private closeCaller(code: number, reason: string): void {
    if (this.closeSentToCaller || this.callerClosed) return;
    this.closeSentToCaller = true;
    this.caller.write(encodeFrame(OPCODE.close, closePayload(code, reason), false));
    // The server closes the TCP connection first (RFC 6455 §7.1.1).
    this.caller.end();
    this.armGrace();
  }

  private closeUpstream(code: number, reason: string): void {
    if (this.closeSentUpstream || this.upstreamClosed) return;
    this.closeSentUpstream = true;
    this.upstream.write(encodeFrame(OPCODE.close, closePayload(code, reason), true));
    this.armGrace();
  }

  private armGrace(): void {
    if (this.graceTimer !== null) return;
    this.graceTimer = setTimeout(() => {
      this.caller.destroy();
      this.upstream.destroy();
    }, CLOSE_GRACE_MS);
    this.graceTimer.unref?.();
  }

  private maybeFinish(): void {
    if (this.finished || !this.callerClosed || !this.upstreamClosed) return;
    this.finished = true;
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    const end = this.end ?? { by: "gateway" as const, code: CLOSE.abnormal, reason: "" };
    this.session.ended({ ...end, bytesIn: this.bytesIn, bytesOut: this.bytesOut, messagesIn: this.messagesIn, messagesOut: this.messagesOut });
  }
}

export { OPCODE, CLOSE };

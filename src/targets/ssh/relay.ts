// Bytes of one started channel (a shell, an exec, an SFTP subsystem, a forwarded connection)
// between the caller's channel and its upstream twin, with backpressure both ways: a stream
// that cannot take more pauses the other side, and ssh2 then stops opening the SSH window, so a
// slow reader slows the writer at the far end and nothing piles up here. For a session the
// upstream's exit status or signal goes to the caller before the close, after every byte.
import type { Writable } from "node:stream";
import type { Channel, ClientChannel, ServerChannel } from "ssh2";
import { type InputFilter, type OutputFilter, filteredInput, filteredOutput } from "./relay-filters.ts";
import { sendExit } from "./ssh-wire.ts";

export type { InputFilter, OutputFilter } from "./relay-filters.ts";

export interface ChannelExit {
  readonly code?: number;
  readonly signal?: string;
  readonly coreDumped?: boolean;
  readonly message?: string;
}

export interface RelayResult {
  /** Caller → upstream. */
  readonly bytesIn: number;
  /** Upstream → caller, stdout and stderr. */
  readonly bytesOut: number;
  /** Null for a forwarded connection, or when the upstream sent none. */
  readonly exit: ChannelExit | null;
  /** Who closed first. */
  readonly closedBy: "upstream" | "caller";
}

export interface RelayTaps {
  /** Each chunk the caller sends (after it is counted). */
  readonly input?: (chunk: Buffer) => void;
  /** Each chunk the upstream sends; `stderr` for extended data. */
  readonly output?: (chunk: Buffer, stderr: boolean) => void;
}

/** Whether the caller's side of the channel still takes data (ssh2 drops writes, without calling back, once it does not). */
function sending(caller: Channel | ServerChannel): boolean {
  const state = (caller as unknown as { outgoing?: { state?: string } }).outgoing?.state;
  return state === "open";
}

/** Resolves once everything written to `w` so far has been handed to the SSH connection. */
function flushed(w: Writable, caller: Channel | ServerChannel): Promise<void> {
  if (w.writableLength === 0 || w.destroyed || w.writableEnded || !sending(caller)) return Promise.resolve();
  // Writes complete in order: an empty one completes after every write before it.
  return new Promise((resolve) => w.write(Buffer.alloc(0), () => resolve()));
}

/**
 * Starts remembering the exit status of an upstream session channel. Call it in the callback
 * that hands over the channel: a short command's data, EOF, exit-status and close can arrive in
 * one read, and ssh2 emits `exit` while that read is parsed, before any later listener exists.
 */
export function watchExit(upstream: ClientChannel): () => ChannelExit | null {
  let exit: ChannelExit | null = null;
  upstream.on("exit", (code: number | null, signal?: string, coreDumped?: boolean, message?: string) => {
    exit = code !== null && code !== undefined ? { code } : { ...(signal ? { signal } : {}), ...(coreDumped ? { coreDumped } : {}), ...(message ? { message } : {}) };
  });
  return () => exit;
}

export interface RelayOptions {
  /** Aborted when the caller's channel or connection is gone. */
  readonly gone: AbortSignal;
  /** Told the size of every chunk relayed either way (the target's memory pacing, see gate/memory-pacer.ts). */
  readonly relayed?: (bytes: number) => void;
  readonly taps?: RelayTaps;
  /** A session channel (stderr, exit status): its exit as watchExit saw it. Absent for a forwarded connection. */
  readonly exit?: () => ChannelExit | null;
  /**
   * Moves the data between the two (instead of piping it as it is), e.g. the SFTP filter; returns
   * what stops it. Flow control is then its business; the caller's EOF still ends the upstream.
   */
  readonly connect?: (caller: ServerChannel | Channel, upstream: ClientChannel | Channel) => { close(): void };
  /**
   * Rewrites the upstream's output (stdout, and stderr for a session) on its way to the caller,
   * e.g. the stream masker: `emit` writes to the caller and returns false when it is full.
   * Taps then see what the caller gets.
   */
  readonly output?: (stderr: boolean, emit: (bytes: Uint8Array) => boolean) => OutputFilter;
  /** Checks the caller's input on its way (instead of piping it): `forward` writes upstream. */
  readonly input?: (forward: (bytes: Buffer) => void, resume: () => void) => InputFilter;
}

/** Relays until both sides are done; never rejects. */
export function relay(caller: ServerChannel | Channel, upstream: ClientChannel | Channel, opts: RelayOptions): Promise<RelayResult> {
  const { gone, taps = {} } = opts;
  const isSession = opts.exit !== undefined;
  let bytesIn = 0;
  let bytesOut = 0;
  let closedBy: "upstream" | "caller" | null = null;
  return new Promise((resolve) => {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      gone.removeEventListener("abort", callerGone);
      mover?.close();
      resolve({ bytesIn, bytesOut, exit: opts.exit?.() ?? null, closedBy: closedBy ?? "upstream" });
    };
    const relayed = opts.relayed ?? (() => {});
    caller.on("data", (chunk: Buffer) => {
      bytesIn += chunk.length;
      relayed(chunk.length);
      taps.input?.(chunk);
    });
    // With an output filter the taps see what the caller gets, else what the upstream sent.
    const rawTap = opts.output === undefined ? taps.output : undefined;
    upstream.on("data", (chunk: Buffer) => {
      bytesOut += chunk.length;
      relayed(chunk.length);
      rawTap?.(chunk, false);
    });
    caller.on("error", () => {});
    upstream.on("error", () => {});
    // The caller's EOF becomes the upstream's (pipe ends it). The upstream's EOF is passed on by
    // hand (eof()) once every byte before it went out: ssh2 drops writes after an EOF, and ending
    // the caller's channel would close it before the exit status.
    const mover = opts.connect?.(caller, upstream) ?? null;
    if (mover !== null) caller.once("end", () => upstream.end());
    else {
      if (opts.input !== undefined) filteredInput(caller, upstream, opts.input);
      else caller.pipe(upstream);
      if (opts.output === undefined) upstream.pipe(caller, { end: false });
    }
    const outFilter = mover === null && opts.output !== undefined ? filteredOutput(upstream, caller, opts.output, false, taps.output) : null;
    let outputsOpen = 1;
    let eofSent = false;
    // For a session, the EOF waits for the exit status (or the upstream's close) and goes right
    // after it. OpenSSH's ControlMaster closes a channel as soon as both EOFs are through, and
    // sshd may send its EOF before the exit status: passed on in that order, the status came
    // too late and the client reported 255 (7 runs in 100 before this).
    let exitSent = false;
    const sendExitOnce = () => {
      const exit = opts.exit?.() ?? null;
      if (exitSent || exit === null) return;
      exitSent = true;
      sendExit(caller, exit);
    };
    let upstreamClosed = false;
    let outputsFlushed = false;
    const sendEof = () => {
      if (eofSent || !outputsFlushed) return;
      if (isSession && opts.exit?.() === null && !upstreamClosed) return;
      sendExitOnce();
      if ("eof" in caller) (caller as Channel).eof();
      eofSent = true;
      done();
    };
    if (isSession) upstream.on("exit", sendEof);
    const outputEnded = () => {
      if (--outputsOpen > 0) return;
      const writables = [caller, ...(isSession ? [(caller as ServerChannel).stderr] : [])];
      void Promise.all(writables.map((w) => flushed(w, caller))).then(() => {
        outputsFlushed = true;
        sendEof();
      });
    };
    upstream.once("end", () => {
      outFilter?.end();
      outputEnded();
    });
    if (isSession) {
      const stderr = (upstream as ClientChannel).stderr;
      outputsOpen++;
      stderr.on("data", (chunk: Buffer) => {
        bytesOut += chunk.length;
        relayed(chunk.length);
        rawTap?.(chunk, true);
      });
      const errFilter = opts.output !== undefined ? filteredOutput(stderr, (caller as ServerChannel).stderr, opts.output, true, taps.output) : null;
      if (errFilter === null) stderr.pipe((caller as ServerChannel).stderr, { end: false });
      stderr.once("end", () => {
        errFilter?.end();
        outputEnded();
      });
    }
    upstream.once("close", () => {
      upstreamClosed = true;
      closedBy ??= "upstream";
      sendEof();
      done();
    });
    // Every byte the upstream sent went to the caller, then its EOF, and the upstream closed.
    function done(): void {
      if (!eofSent || !upstreamClosed || finished) return;
      sendExitOnce();
      caller.end();
      finish();
    }
    // The caller went away (closed its channel or its connection): close the upstream's too.
    // The caller's stream events cannot be waited for then: a dead channel that was paused
    // never ends, and writes to it are dropped without a callback.
    function callerGone(): void {
      closedBy ??= "caller";
      upstream.close();
      finish();
    }
    caller.once("close", callerGone);
    if (gone.aborted) callerGone();
    else gone.addEventListener("abort", callerGone, { once: true });
  });
}

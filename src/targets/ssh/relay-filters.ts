// Filters a relay may put on a channel's streams instead of piping them: the caller's input
// through the shell line gate, the upstream's output through the stream masker. Each keeps the
// relay's backpressure: a stream that cannot take more pauses the one feeding it.
import type { Readable, Writable } from "node:stream";

/** The caller's input through `make` to the upstream; the caller is paused while either holds it up. */
export function filteredInput(caller: Readable, upstream: Writable, make: (forward: (bytes: Buffer) => void, resume: () => void) => InputFilter): void {
  let held = false;
  let full = false;
  let ended = false;
  let endSent = false;
  const flow = (): void => {
    if (held || full) {
      caller.pause();
      return;
    }
    caller.resume();
    if (ended && !endSent) {
      endSent = true;
      upstream.end();
    }
  };
  const filter = make(
    (bytes) => {
      if (!upstream.write(bytes) && !full) {
        full = true;
        upstream.once("drain", () => {
          full = false;
          flow();
        });
      }
    },
    () => {
      held = false;
      flow();
    },
  );
  caller.on("data", (chunk: Buffer) => {
    if (!filter.write(chunk)) held = true;
    flow();
  });
  // EOF goes upstream after what the filter still holds.
  caller.once("end", () => {
    ended = true;
    flow();
  });
}

/** What stands between the caller's input and the upstream (the shell line gate). */
export interface InputFilter {
  /** False while it holds input: the caller is paused until `resume` is called. */
  write(chunk: Buffer): boolean;
}

export interface OutputFilter {
  /** Returns false when the caller is full (the upstream is paused until it drains). */
  write(chunk: Uint8Array): boolean;
  /** The upstream's stream ended: emit what is held. */
  end(): void;
}

/** Upstream output through `filter` to `to`, pausing `from` while `to` is full. */
export function filteredOutput(from: Readable, to: Writable, make: (stderr: boolean, emit: (bytes: Uint8Array) => boolean) => OutputFilter, stderr: boolean, tap: ((chunk: Buffer, stderr: boolean) => void) | undefined): OutputFilter {
  const filter = make(stderr, (bytes) => {
    tap?.(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), stderr);
    return to.write(bytes);
  });
  from.on("data", (chunk: Buffer) => {
    if (!filter.write(chunk) && !from.isPaused()) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  });
  return filter;
}
